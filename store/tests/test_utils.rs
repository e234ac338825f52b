//! The test helpers themselves: a PostgreSQL variant that
//! `HOFFNUNG_POSTGRES_TEST_URL` asks for fails when its server cannot be
//! reached, rather than passing without running.

use hoffnung_store::test_utils::TestDb;

#[tokio::test]
async fn an_unreachable_postgres_server_fails_the_test() {
    // Nothing listens on port 1 of loopback: the connection is refused.
    let url = "postgres://postgres@127.0.0.1:1/test";
    let joined = tokio::spawn(TestDb::postgres_at(url)).await;
    let panic = joined.err().expect("no database without a server");
    let panic = panic.into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains(url) && message.contains("cannot be reached"),
        "{message}"
    );
}
