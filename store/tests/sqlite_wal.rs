//! SQLite's write-ahead log under the store's writer: it starts over under
//! continuous writes, and answers wait for it to be flushed.

use hoffnung_core::KeyPair;
use hoffnung_store::test_utils::field_definitions;
use hoffnung_store::{IngestError, Store, StoreConfig};

/// SQLite checkpoints run beside the writer, and under a steady stream of
/// commits (which background checkpoints alone never see end) the writer
/// still lets the WAL start over once it passes `wal_restart_frames`: the
/// WAL file stays a fraction of what was written through it.
#[tokio::test]
async fn sqlite_wal_starts_over_under_continuous_writes() {
    let db = hoffnung_store::test_utils::TestDb::sqlite();
    let config = StoreConfig {
        wal_restart_frames: 500,
        // Scaled down with the restart size: the WAL may grow by one
        // pause's worth of writes before a checkpoint sees its length.
        checkpoint_pause: std::time::Duration::from_millis(20),
        bulk_batch: 100,
        ..Default::default()
    };
    let store = Store::connect(&db.url, config).await.unwrap();
    let key = KeyPair::from_private_key(&[7; 32]);
    let items = field_definitions(&key, 0, 20_000);
    // Two writers' worth of jobs queued at all times: commits never pause.
    let (a, b) = items.split_at(10_000);
    let (ra, rb) = tokio::join!(
        store.ingest_bulk(a, &hoffnung_store::SystemSchemas),
        store.ingest_bulk(b, &hoffnung_store::SystemSchemas)
    );
    let stored = ra
        .unwrap()
        .iter()
        .chain(rb.unwrap().iter())
        .filter(|r| r.is_ok())
        .count();
    // The second half's logs are independent of the first's.
    assert_eq!(stored, 20_000);
    assert_eq!(store.entry_count().await.unwrap(), 20_000);
    let path = db.url.trim_start_matches("sqlite:").to_string();
    let db_size = std::fs::metadata(&path).unwrap().len();
    let wal_size = std::fs::metadata(format!("{path}-wal")).unwrap().len();
    // Every page of the database went through the WAL, most of them many
    // times (each commit dirties index pages anew): without the restarts
    // the WAL ends up about six times the database here.
    assert!(
        wal_size < 2 * db_size,
        "WAL {wal_size} bytes, database {db_size} bytes"
    );
    store.close().await;
}

/// SQLite: the writer commits without a flush of its own, and a separate
/// thread flushes the WAL file before any answer goes out. An answer (an
/// acceptance, and a rejection that rests on an earlier entry) comes only
/// after a flush of the real WAL file; the WAL file is found and synced, or
/// the store would answer with a write failure.
#[tokio::test]
async fn sqlite_answers_only_after_the_wal_is_flushed() {
    let db = hoffnung_store::test_utils::TestDb::sqlite();
    let store = Store::connect(&db.url, StoreConfig::default())
        .await
        .unwrap();
    assert_eq!(store.wal_flushes(), 0);
    let key = KeyPair::from_private_key(&[9; 32]);
    let items = field_definitions(&key, 0, 50);
    let (entry, operation) = &items[0];
    store
        .ingest(entry, operation, &hoffnung_store::SystemSchemas)
        .await
        .unwrap();
    let after_first = store.wal_flushes();
    assert!(after_first >= 1, "answered before any flush");
    let again = store
        .ingest(entry, operation, &hoffnung_store::SystemSchemas)
        .await;
    assert!(matches!(again, Err(IngestError::Duplicate(_))), "{again:?}");
    // Many at once: all answered, each after a flush (shared or not).
    let results = store
        .ingest_bulk(&items[1..], &hoffnung_store::SystemSchemas)
        .await
        .unwrap();
    assert!(results.iter().all(|r| r.is_ok()));
    assert!(store.wal_flushes() > after_first);
    store.close().await;
}
