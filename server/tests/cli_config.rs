//! Bad arguments and configs, and start failures, with their exact errors
//! (file, environment, flags, port in use, unreachable database); the
//! layering of file, environment and flags as `hoffnung config` shows it.

mod common;

use common::cli::*;
use common::*;

#[test]
fn bad_configs_and_start_failures_say_what_is_wrong() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let config = h.join("bad.toml");

    std::fs::write(&config, "http_port = \"eighty\"\n").unwrap();
    let err = fails(h, &["node", "--config", config.to_str().unwrap()]);
    assert!(err.contains("config key `http_port`"), "{err}");
    assert!(err.contains("bad.toml"), "{err}");

    std::fs::write(&config, "http_prot = 2020\n").unwrap();
    let err = fails(h, &["node", "--config", config.to_str().unwrap()]);
    assert!(err.contains("unknown field: found `http_prot`"), "{err}");

    std::fs::write(&config, "allow_schema = [\"not a schema\"]\n").unwrap();
    let err = fails(h, &["node", "--config", config.to_str().unwrap()]);
    assert!(
        err.contains("allow_schema: `not a schema` is not a schema id"),
        "{err}"
    );

    let err = fails(
        h,
        &["node", "--config", h.join("missing.toml").to_str().unwrap()],
    );
    assert!(err.contains("missing.toml does not exist"), "{err}");

    let err = hoffnung(h)
        .args(["node"])
        .env("HOFFNUNG_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    let err = String::from_utf8(err.stderr).unwrap();
    assert!(err.contains("HOFFNUNG_LOG_FORMAT"), "{err}");

    let err = fails(h, &["node", "--http-port", "not-a-port"]);
    assert!(
        err.contains("invalid value 'not-a-port' for '--http-port"),
        "{err}"
    );

    let err = fails(h, &["node", "--database-url", "oracle://x/y"]);
    assert!(err.contains("oracle://x/y"), "{err}");
    // Each cause once, though the wrapping errors repeat their source.
    assert_eq!(err.matches("oracle://x/y").count(), 1, "{err}");

    let err = fails(
        h,
        &[
            "node",
            "--database-url",
            "postgres://postgres@127.0.0.1:9/none",
        ],
    );
    assert!(err.contains("could not open the database"), "{err}");
    let err = fails(
        h,
        &["node", "--database-url", "mysql://root@127.0.0.1:9/none"],
    );
    assert!(err.contains("could not open the database"), "{err}");

    // A port in use.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let err = fails(h, &["node", "--http-port", &port]);
    assert!(
        err.contains(&format!("port {port} on 127.0.0.1 is in use")),
        "{err}"
    );

    // Layering as the user sees it: file < env < flag.
    std::fs::write(&config, "http_port = 3000\nlog_level = \"debug\"\n").unwrap();
    let shown = hoffnung(h)
        .args([
            "config",
            "--config",
            config.to_str().unwrap(),
            "--log-level",
            "trace",
        ])
        .env("HOFFNUNG_HTTP_PORT", "4000")
        .output()
        .unwrap();
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert!(shown.contains("http_port = 4000"), "{shown}");
    assert!(shown.contains("log_level = \"trace\""), "{shown}");
}
