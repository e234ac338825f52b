//! The container set-up (docker-compose.yml, Dockerfile): no Docker engine
//! runs here, so these tests read the files and check every variable and
//! port against what the real binary reads (`hoffnung config`).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::hoffnung;
use yaml_rust2::{Yaml, YamlLoader};

fn repo_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn string_map(y: &Yaml) -> BTreeMap<String, String> {
    y.as_hash()
        .expect("a mapping")
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Yaml::String(s) => s.clone(),
                Yaml::Integer(i) => i.to_string(),
                Yaml::Boolean(b) => b.to_string(),
                other => panic!("unexpected value {other:?}"),
            };
            (k.as_str().expect("string key").to_string(), value)
        })
        .collect()
}

/// What `hoffnung config` makes of `env` alone (no file, no flags).
fn effective_config(env: &BTreeMap<String, String>) -> toml::Table {
    let home = tempfile::tempdir().unwrap();
    let out = hoffnung(home.path())
        .env_remove("HOFFNUNG_LOG_LEVEL")
        .env_remove("HOFFNUNG_P2P_BIND")
        .env_remove("HOFFNUNG_P2P_PORT")
        .env_remove("HOFFNUNG_MDNS")
        .envs(env)
        .arg("config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().parse().unwrap()
}

#[test]
fn compose_file_sets_only_variables_the_node_reads() {
    let docs = YamlLoader::load_from_str(&repo_file("docker-compose.yml")).unwrap();
    let compose = &docs[0];
    // The database URL names the database service with its credentials.
    let pg = string_map(&compose["services"]["postgres"]["environment"]);
    let url = format!(
        "postgres://{}:{}@postgres:5432/{}",
        pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"]
    );
    check_node(compose, "hoffnung", &url);
    assert!(compose["services"]["hoffnung"]["profiles"].is_badvalue());
}

/// The MariaDB variant: the profile `mariadb` holds both its services.
#[test]
fn compose_file_has_a_mariadb_profile() {
    let docs = YamlLoader::load_from_str(&repo_file("docker-compose.yml")).unwrap();
    let compose = &docs[0];
    let db = string_map(&compose["services"]["mariadb"]["environment"]);
    let url = format!(
        "mysql://{}:{}@mariadb:3306/{}",
        db["MARIADB_USER"], db["MARIADB_PASSWORD"], db["MARIADB_DATABASE"]
    );
    check_node(compose, "hoffnung-mariadb", &url);
    for service in ["mariadb", "hoffnung-mariadb"] {
        let profiles = &compose["services"][service]["profiles"];
        assert_eq!(profiles[0].as_str(), Some("mariadb"), "{service}");
    }
    let depends = &compose["services"]["hoffnung-mariadb"]["depends_on"]["mariadb"];
    assert_eq!(depends["condition"].as_str(), Some("service_healthy"));
}

/// Every variable of `service` reaches the node, its ports are the ones
/// the node listens on, its database is `url`, its data dir a volume.
fn check_node(compose: &Yaml, service: &str, url: &str) {
    let node = &compose["services"][service];
    assert!(!node.is_badvalue(), "a `{service}` service");
    let env = string_map(&node["environment"]);
    let config = effective_config(&env);
    for (var, value) in &env {
        let key = var
            .strip_prefix("HOFFNUNG_")
            .unwrap_or_else(|| panic!("{var} is not a HOFFNUNG_ variable"))
            .to_ascii_lowercase();
        let got = config
            .get(&key)
            .unwrap_or_else(|| panic!("{var}: the node has no config key `{key}`"));
        let got = match got {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(&got, value, "{var} reaches the node's `{key}`");
    }

    // The published port is the one the node listens on, on all interfaces.
    let port = config["http_port"].as_integer().unwrap().to_string();
    let ports: Vec<&str> = node["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        ports
            .iter()
            .any(|p| p.rsplit(':').next() == Some(port.as_str())),
        "{ports:?} publishes container port {port}"
    );
    assert_eq!(config["http_bind"].as_str(), Some("0.0.0.0"));
    let p2p = config["p2p_port"].as_integer().unwrap();
    for proto in ["udp", "tcp"] {
        assert!(
            ports
                .iter()
                .any(|p| p.ends_with(&format!(":{p2p}/{proto}"))),
            "{ports:?} publishes the node-to-node port {p2p}/{proto}"
        );
    }
    assert_eq!(config["p2p_bind"].as_str(), Some("0.0.0.0"));
    assert_eq!(config["database_url"].as_str(), Some(url));

    // The data volume is mounted where the node keeps its data.
    let data_dir = config["data_dir"].as_str().unwrap();
    let volumes: Vec<&str> = node["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        volumes.iter().any(|v| v.ends_with(&format!(":{data_dir}"))),
        "{volumes:?} mounts {data_dir}"
    );
    assert_eq!(
        node["build"].as_str(),
        Some("."),
        "built from the Dockerfile"
    );
}

#[test]
fn dockerfile_matches_the_node() {
    let dockerfile = repo_file("Dockerfile");
    // ENV lines (with continuations) as KEY=VALUE pairs.
    let joined = dockerfile.replace("\\\n", " ");
    let mut env = BTreeMap::new();
    for line in joined.lines() {
        if let Some(rest) = line.trim().strip_prefix("ENV ") {
            for pair in rest.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
                env.insert(k.to_string(), v.to_string());
            }
        }
    }
    assert!(!env.is_empty());
    let config = effective_config(&env);
    let port = config["http_port"].as_integer().unwrap();
    let p2p = config["p2p_port"].as_integer().unwrap();
    assert!(
        dockerfile.contains(&format!("EXPOSE {port} {p2p}/udp {p2p}/tcp")),
        "EXPOSE {port} {p2p}/udp {p2p}/tcp"
    );
    let data_dir = config["data_dir"].as_str().unwrap();
    assert!(dockerfile.contains(&format!("VOLUME {data_dir}")));
    assert!(dockerfile.contains("cargo build --release --locked -p hoffnung --bin hoffnung"));
    assert!(dockerfile.contains("CMD [\"node\"]"));
}
