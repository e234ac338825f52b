//! Faults of the database's machine: PostgreSQL restarted while authors
//! publish, and the disk of a SQLite database filling up. Publishes get a
//! typed error while it lasts, nothing acknowledged is lost, nothing
//! half-written stays, and the node recovers by itself.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use hoffnung_core::{Fields, KeyPair, OperationValue, SchemaId};
use hoffnung_server::NodeConfig;
use hoffnung_store::test_utils::presigned_documents;
use serde_json::json;

const NOTE: &str = "note_0020974b2f54e7557098470ad6ef648bb497e48a22a4e583787396a6075b824b5e14";

fn title(text: String) -> Fields {
    let mut f = Fields::new();
    f.insert("title".into(), OperationValue::Str(text));
    f
}

/// What a publish came to, for an author that retries as a client would.
#[derive(Debug, PartialEq)]
enum Outcome {
    Acknowledged,
    Refused(String),
}

/// Publishes one entry; retries (bounded) while the node says the database
/// is unavailable or full. `DUPLICATE_ENTRY` after a retry means an earlier
/// attempt was stored but its answer lost: acknowledged too.
async fn publish_retrying(
    node: &TestNode,
    entry: &[u8],
    op: &[u8],
    codes: &mut Vec<String>,
) -> Outcome {
    let (entry, op) = (hex::encode(entry), hex::encode(op));
    for attempt in 0..600 {
        let answer = post(
            &node.client,
            &node.node.graphql_url(),
            PUBLISH,
            json!({ "entry": entry, "operation": op }),
        )
        .await;
        match error_code(&answer) {
            None => return Outcome::Acknowledged,
            Some("DUPLICATE_ENTRY") if attempt > 0 => return Outcome::Acknowledged,
            Some(code @ ("UNAVAILABLE" | "STORAGE_FULL")) => {
                codes.push(code.to_string());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Some(code) => return Outcome::Refused(format!("{code}: {answer}")),
        }
    }
    Outcome::Refused("still unavailable after 30 s".into())
}

/// A PostgreSQL server of the test's own, in a temporary folder, that the
/// test may stop and start (the shared one must stay up for the others).
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    /// `None` (with a message) where no server can be made here: no
    /// `initdb`, or no `postgres` user to run it as.
    fn start() -> Option<Self> {
        let runs = |c: &mut Command| c.output().is_ok_and(|o| o.status.success());
        if !runs(Command::new("initdb").arg("--version"))
            || !runs(Command::new("id").arg("postgres"))
        {
            eprintln!(
                "skipped: no initdb or no postgres user here, so no private PostgreSQL server"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Self { dir, port };
        let _ = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(pg.dir.path())
            .status();
        let init = pg.as_postgres(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        pg.ctl("start");
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn as_postgres(&self, program: &str, args: &[&str]) -> std::process::Output {
        let root = Command::new("id").arg("-u").output().unwrap();
        let mut cmd = if String::from_utf8_lossy(&root.stdout).trim() == "0" {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        };
        cmd.args(args).output().unwrap()
    }

    /// `pg_ctl start|stop`, waiting until done.
    fn ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        let out = self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-m",
                "fast",
                "-w",
                action,
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.as_postgres(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_while_authors_publish() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let node = TestNode::start_with(NodeConfig::new(pg.url())).await;
    node.replay_publish_sequence().await;
    let schema: SchemaId = NOTE.parse().unwrap();

    // Four authors, each 30 documents updated twice, published in order.
    let authors: Vec<_> = (0..4u8)
        .map(|a| {
            let key = KeyPair::from_private_key(&[90 + a; 32]);
            presigned_documents(&key, &schema, 0, 30, 2, |d, r| {
                title(format!("a{a} d{d} r{r}"))
            })
            .0
        })
        .collect();
    let node = std::sync::Arc::new(node);
    let restarted = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for entries in authors.clone() {
        let (node, restarted) = (node.clone(), restarted.clone());
        tasks.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for (i, (entry, op)) in entries.iter().enumerate() {
                if i == entries.len() / 3 {
                    // A third in: publishing goes on while the server
                    // restarts.
                    restarted.notified().await;
                }
                let outcome = publish_retrying(&node, entry, op, &mut codes).await;
                assert_eq!(outcome, Outcome::Acknowledged, "entry {i}");
            }
            codes
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg.ctl("stop");
    // While it is down: publishes answer UNAVAILABLE, not INTERNAL.
    let (entry, op) = &authors[0][authors[0].len() / 3];
    let answer = post(
        &node.client,
        &node.node.graphql_url(),
        PUBLISH,
        json!({ "entry": hex::encode(entry), "operation": hex::encode(op) }),
    )
    .await;
    assert_eq!(error_code(&answer), Some("UNAVAILABLE"), "{answer}");
    restarted.notify_waiters();
    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.ctl("start");
    let mut unavailable = 0;
    for t in tasks {
        unavailable += t.await.unwrap().len();
    }
    eprintln!("{unavailable} publishes were answered UNAVAILABLE and retried");

    // Every acknowledged entry is there, and materialized.
    let materializer = node.node.materializer().unwrap();
    tokio::time::timeout(Duration::from_secs(60), materializer.caught_up())
        .await
        .expect("the materializer catches up")
        .unwrap();
    let stored = node.node.store().entry_count().await.unwrap();
    let replayed = vectors("publish_sequence")["entries"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(stored, replayed + 4 * 30 * 3);
    let answer = node
        .graphql(&format!("{{ all_{NOTE}(first: 1000, filter: {{ title: {{ contains: \" r2\" }} }}) {{ totalCount }} }}"), json!({}))
        .await;
    assert_eq!(
        answer["data"][format!("all_{NOTE}")]["totalCount"],
        120,
        "{answer}"
    );
    let node = std::sync::Arc::into_inner(node).unwrap();
    node.stop().await;
}

/// Mounts a tmpfs of `mib` MiB at `dir`; `false` where mounting is not
/// allowed (not root, or a container without the capability).
fn mount_tmpfs(dir: &Path, mib: u64) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
        .arg(dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_publishes_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    if !mount_tmpfs(dir.path(), 8) {
        eprintln!("skipped: mounting a small tmpfs is not allowed here");
        return;
    }
    let mounted = Mounted(dir.path().to_path_buf());
    let db_path = dir.path().join("hoffnung.db");
    let node = TestNode::start_with(NodeConfig::new(format!("sqlite:{}", db_path.display()))).await;
    node.replay_publish_sequence().await;
    let schema: SchemaId = NOTE.parse().unwrap();
    let key = KeyPair::from_private_key(&[77; 32]);
    // Documents of 20 KB each: 8 MiB fills within a few hundred.
    let (entries, _) = presigned_documents(&key, &schema, 0, 600, 0, |d, _| {
        title(format!("{d}:{}", "x".repeat(20_000)))
    });

    let mut acknowledged = 0;
    let mut full_at = None;
    for (i, (entry, op)) in entries.iter().enumerate() {
        let answer = node.publish(&hex::encode(entry), &hex::encode(op)).await;
        match error_code(&answer) {
            None => acknowledged += 1,
            Some("STORAGE_FULL") => {
                full_at = Some(i);
                break;
            }
            Some(_) => panic!("entry {i}: {answer}"),
        }
    }
    let full_at = full_at.expect("the disk filled up");
    assert!(acknowledged > 10, "only {acknowledged} fit");

    // Reads keep working.
    let answer = node
        .graphql(
            &format!("{{ all_{NOTE}(first: 1) {{ totalCount }} }}"),
            json!({}),
        )
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    let health = node
        .client
        .get(format!("http://{}/health", node.node.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);

    // Space freed (a bigger disk): publishing goes on from the refused entry.
    let remount = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(remount.success());
    for (i, (entry, op)) in entries.iter().enumerate().skip(full_at).take(20) {
        let answer = node.publish(&hex::encode(entry), &hex::encode(op)).await;
        assert!(
            answer["errors"].is_null(),
            "entry {i} after space was freed: {answer}"
        );
        acknowledged += 1;
    }
    let materializer = node.node.materializer().unwrap();
    tokio::time::timeout(Duration::from_secs(60), materializer.caught_up())
        .await
        .expect("the materializer catches up")
        .unwrap();
    let answer = node.graphql(&format!("{{ all_{NOTE}(first: 1000, filter: {{ title: {{ contains: \"xxxx\" }} }}) {{ totalCount }} }}"), json!({})).await;
    assert_eq!(
        answer["data"][format!("all_{NOTE}")]["totalCount"],
        acknowledged,
        "{answer}"
    );
    let replayed = vectors("publish_sequence")["entries"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(
        node.node.store().entry_count().await.unwrap(),
        replayed + acknowledged
    );
    node.stop().await;

    // Nothing half-written: the file is sound and holds what was acknowledged.
    let url = format!("sqlite:{}", db_path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    pool.close().await;
    drop(mounted);
}
