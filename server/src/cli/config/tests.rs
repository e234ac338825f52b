use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn layers_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "http_port = 3000\nlog_level = \"debug\"\n").unwrap();
    let e = env(&[
        ("HOFFNUNG_HTTP_PORT", "4000"),
        ("HOFFNUNG_MATERIALIZER_CACHE", "64"),
        ("HOFFNUNG_MAX_PAGE_SIZE", "20000"),
    ]);
    let (c, _) = Config::load(Some(&file), &e, &Flags::default()).unwrap();
    assert_eq!(c.http_port, 4000);
    assert_eq!(c.log_level, "debug");
    assert_eq!(c.materializer_cache, 64);
    let m = c.materializer_config().unwrap();
    assert_eq!(
        m.cache_bytes,
        64 * 1024 * 1024,
        "materializer_cache is in MiB"
    );
    assert_eq!(c.max_page_size, 20000);
    let flags = Flags {
        http_port: Some(5000),
        materializer_cache: Some(256),
        max_page_size: Some(300),
        ..Flags::default()
    };
    let (c, _) = Config::load(Some(&file), &e, &flags).unwrap();
    assert_eq!(c.http_port, 5000);
    assert_eq!(c.materializer_cache, 256);
    assert_eq!(c.max_page_size, 300);
    assert_eq!(c.forked_authors, ForkedAuthors::Freeze);
    assert_eq!(
        c.store_config().forked_authors,
        hoffnung_store::ForkedAuthors::Freeze
    );
    let block = env(&[("HOFFNUNG_FORKED_AUTHORS", "block")]);
    let (c, _) = Config::load(None, &block, &Flags::default()).unwrap();
    assert_eq!(
        c.store_config().forked_authors,
        hoffnung_store::ForkedAuthors::Block
    );
    let err = Config::load(
        None,
        &env(&[("HOFFNUNG_FORKED_AUTHORS", "ban")]),
        &Flags::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("forked_authors"), "{err}");
    let zero = env(&[("HOFFNUNG_MAX_PAGE_SIZE", "0")]);
    let err = Config::load(None, &zero, &Flags::default()).unwrap_err();
    assert!(err.to_string().contains("max_page_size"), "{err}");
}

#[test]
fn the_example_config_parses_and_states_the_defaults() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    // Every key is documented, commented out, with its default.
    for key in KEYS {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("# {key} ="))),
            "config.toml documents `{key}`"
        );
    }
    let uncommented: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| KEYS.iter().any(|k| l.starts_with(&format!("{k} ="))))
        .filter(|l| !l.starts_with("data_dir") && !l.starts_with("database_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, uncommented).unwrap();
    let (c, _) = Config::load(Some(&file), &BTreeMap::new(), &Flags::default()).unwrap();
    let d = Config::default();
    // The MiB stated are the materializer's own default.
    assert_eq!(
        c.materializer_config().unwrap().cache_bytes,
        hoffnung_materializer::MaterializerConfig::default().cache_bytes
    );
    assert_eq!(
        (c.http_bind, c.http_port, c.log_level, c.log_format),
        (d.http_bind, d.http_port, d.log_level, d.log_format)
    );
    assert_eq!(c.allow_schema, d.allow_schema);
    assert_eq!(c.materializer_cache, d.materializer_cache);
    assert_eq!(c.max_page_size, d.max_page_size);
    assert_eq!(
        (c.max_subscriptions, c.max_subscriptions_per_connection),
        (d.max_subscriptions, d.max_subscriptions_per_connection)
    );
}

#[test]
fn bad_values_name_their_key_and_source() {
    let e = env(&[("HOFFNUNG_HTTP_PORT", "eighty")]);
    let err = Config::load(None, &e, &Flags::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("http_port"), "{msg}");
    assert!(msg.contains("HOFFNUNG_HTTP_PORT"), "{msg}");
}

#[test]
fn allow_schema_accepts_a_comma_list_in_the_environment() {
    let id = "schema_field_definition_v1";
    let e = env(&[(
        "HOFFNUNG_ALLOW_SCHEMA",
        &format!("{id},schema_definition_v1"),
    )]);
    let (c, _) = Config::load(None, &e, &Flags::default()).unwrap();
    assert_eq!(c.allow_schema, vec![id, "schema_definition_v1"]);
    let e = env(&[("HOFFNUNG_ALLOW_SCHEMA", "not a schema")]);
    assert!(Config::load(None, &e, &Flags::default()).is_err());
}

#[test]
fn unknown_variables_are_found() {
    let e = env(&[
        ("HOFFNUNG_HTTP_PROT", "1"),
        ("HOFFNUNG_HTTP_PORT", "1"),
        ("HOFFNUNG_NODE", "x"),
    ]);
    assert_eq!(unknown_variables(&e), vec!["HOFFNUNG_HTTP_PROT"]);
}

#[test]
fn a_profile_sets_defaults_that_keys_override() {
    let small = env(&[("HOFFNUNG_PROFILE", "small")]);
    let (c, _) = Config::load(None, &small, &Flags::default()).unwrap();
    assert_eq!(c.profile, Profile::Small);
    assert_eq!(c.materializer_cache, 4);
    let store = c.store_config();
    assert_eq!(store.sqlite_mmap_bytes, 0);
    assert_eq!(store.max_connections, 2);
    // A key set in any layer wins over the profile's default, whichever
    // layer names the profile.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "materializer_cache = 32\n").unwrap();
    let (c, _) = Config::load(Some(&file), &small, &Flags::default()).unwrap();
    assert_eq!((c.profile, c.materializer_cache), (Profile::Small, 32));
    let flags = Flags {
        profile: Some(Profile::Small),
        ..Flags::default()
    };
    let (c, _) = Config::load(None, &BTreeMap::new(), &flags).unwrap();
    assert_eq!((c.profile, c.materializer_cache), (Profile::Small, 4));
    let (c, _) = Config::load(None, &BTreeMap::new(), &Flags::default()).unwrap();
    assert_eq!(c.profile, Profile::Default);
    assert_eq!(c.store_config().sqlite_mmap_bytes, 256 * 1024 * 1024);
    let bad = env(&[("HOFFNUNG_PROFILE", "tiny")]);
    let err = Config::load(None, &bad, &Flags::default()).unwrap_err();
    assert!(err.to_string().contains("profile"), "{err}");
}

#[test]
fn unused_blob_pieces_wait_at_least_a_day() {
    let day = std::time::Duration::from_secs(24 * 3600);
    for (after, pieces) in [
        ("10m", Some(day)),
        ("0", Some(day)),
        ("14d", Some(day * 14)),
        ("never", None),
    ] {
        let e = env(&[("HOFFNUNG_PURGE_DELETED_AFTER", after)]);
        let (c, _) = Config::load(None, &e, &Flags::default()).unwrap();
        let m = c.materializer_config().unwrap();
        assert_eq!(
            m.unused_pieces_after, pieces,
            "purge_deleted_after = {after}"
        );
    }
}
