//! The node's configuration: defaults < `config.toml` < `HOFFNUNG_*`
//! environment variables < command-line flags, merged into one [`Config`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};

/// Every key of `config.toml`; each is also `HOFFNUNG_<KEY>` and `--<key>`.
pub const KEYS: [&str; 26] = [
    "profile",
    "data_dir",
    "database_url",
    "blobs_dir",
    "http_bind",
    "http_port",
    "http_max_connections",
    "http_timeout",
    "http_max_body",
    "cors_origins",
    "allow_schema",
    "log_level",
    "log_format",
    "materializer",
    "materializer_cache",
    "purge_deleted_after",
    "forked_authors",
    "max_page_size",
    "max_subscriptions",
    "max_subscriptions_per_connection",
    "replication",
    "p2p_bind",
    "p2p_port",
    "peers",
    "mdns",
    "apps",
];

/// `HOFFNUNG_*` variables that are not config keys but are read elsewhere.
const OTHER_VARIABLES: [&str; 8] = [
    "HOFFNUNG_CONFIG",
    "HOFFNUNG_NODE",
    "HOFFNUNG_KEY_FILE",
    "HOFFNUNG_TEST_LOG",
    "HOFFNUNG_POSTGRES_TEST_URL",
    "HOFFNUNG_MYSQL_TEST_URL",
    "HOFFNUNG_WASM_PKG",
    "HOFFNUNG_CHROMIUM",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// What a fork of one of an author's logs costs the author (see
/// [`hoffnung_store::ForkedAuthors`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ForkedAuthors {
    /// The forked log is frozen from the fork on.
    #[default]
    Freeze,
    /// Nothing of the author is accepted, served or shown any more.
    Block,
}

/// Defaults for a kind of machine; a key set in any layer still wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Speed first: large caches, the database file mapped into memory.
    #[default]
    Default,
    /// Small devices (docs/benchmarks.md, "A small device"): 4 MiB of
    /// views, database connections with 2 MiB of page cache each, no
    /// memory map, a writer that remembers less, freed memory given back at
    /// once.
    Small,
}

/// The merged configuration of `hoffnung node`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The defaults the other keys start from.
    #[serde(default)]
    pub profile: Profile,
    /// Holds the SQLite database and the node key.
    pub data_dir: PathBuf,
    /// `sqlite:<path>`, `postgres://…` or `mysql://…`; empty: SQLite in `data_dir`.
    #[serde(default)]
    pub database_url: String,
    /// Where blob files are kept; empty: `blobs` in `data_dir`.
    #[serde(default)]
    pub blobs_dir: String,
    pub http_bind: IpAddr,
    pub http_port: u16,
    /// HTTP connections open at once (WebSockets included).
    pub http_max_connections: usize,
    /// Seconds a client has to send a request's header (and how long an
    /// idle connection or a WebSocket without `connection_init` is kept);
    /// a body gets three times as long.
    pub http_timeout: u64,
    /// Largest request body in bytes.
    pub http_max_body: usize,
    /// Origins browser pages may call the API from; empty or `["*"]`: any.
    #[serde(deserialize_with = "string_or_list")]
    pub cors_origins: Vec<String>,
    /// Schema ids to accept; empty or `["*"]`: all.
    #[serde(deserialize_with = "string_or_list")]
    pub allow_schema: Vec<String>,
    /// A level (`info`) or a tracing filter (`hoffnung=debug,sqlx=warn`).
    pub log_level: String,
    pub log_format: LogFormat,
    /// Run the materializer (document views and queries need it).
    pub materializer: bool,
    /// MiB of current views the materializer keeps in memory.
    pub materializer_cache: u64,
    /// How long after a document is deleted its payloads are purged
    /// (`duration::parse`: `7d`, `0`, `never`). A number of seconds may
    /// come as a number (`HOFFNUNG_PURGE_DELETED_AFTER=3600`, or unquoted).
    #[serde(deserialize_with = "string_or_number")]
    pub purge_deleted_after: String,
    /// `freeze` a forked log, or `block` its author altogether.
    pub forked_authors: ForkedAuthors,
    /// The most documents one page of a collection query may hold.
    pub max_page_size: u32,
    /// The most GraphQL subscriptions the node holds.
    pub max_subscriptions: usize,
    /// The most GraphQL subscriptions one WebSocket connection holds.
    pub max_subscriptions_per_connection: usize,
    /// Replicate with other nodes over libp2p.
    pub replication: bool,
    /// Address the node-to-node port binds to.
    pub p2p_bind: IpAddr,
    /// Node-to-node port (QUIC on UDP and TCP).
    pub p2p_port: u16,
    /// Peers to connect to: `host:port` (QUIC) or multiaddrs.
    #[serde(deserialize_with = "string_or_list")]
    pub peers: Vec<String>,
    /// Discover peers on the local network.
    pub mdns: bool,
    /// Serve the built-in apps (the chat app at `/apps/chat/`).
    pub apps: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            profile: Profile::Default,
            data_dir: default_data_dir(),
            database_url: String::new(),
            blobs_dir: String::new(),
            http_bind: IpAddr::from([127, 0, 0, 1]),
            http_port: 2020,
            http_max_connections: 10_000,
            http_timeout: 10,
            http_max_body: hoffnung_server::DEFAULT_MAX_BODY,
            cors_origins: Vec::new(),
            allow_schema: Vec::new(),
            log_level: "info".into(),
            log_format: LogFormat::Human,
            materializer: true,
            materializer_cache: hoffnung_materializer::DEFAULT_CACHE_MIB,
            purge_deleted_after: "7d".into(),
            forked_authors: ForkedAuthors::Freeze,
            max_page_size: hoffnung_graphql::DEFAULT_MAX_PAGE,
            max_subscriptions: hoffnung_graphql::DEFAULT_MAX_SUBSCRIPTIONS,
            max_subscriptions_per_connection:
                hoffnung_graphql::DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
            replication: true,
            p2p_bind: IpAddr::from([0, 0, 0, 0]),
            p2p_port: 2022,
            peers: Vec::new(),
            mdns: true,
            apps: true,
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("{0}")]
    Invalid(String),
}

/// Where the config file is: `--config`, `HOFFNUNG_CONFIG`, else
/// `$XDG_CONFIG_HOME/hoffnung/config.toml` if it exists.
fn config_file(
    explicit: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> Result<Option<PathBuf>, ConfigError> {
    let explicit = explicit
        .map(Path::to_path_buf)
        .or_else(|| env.get("HOFFNUNG_CONFIG").map(PathBuf::from));
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(Some(path))
        } else {
            Err(ConfigError::Missing(path))
        };
    }
    let implicit = config_dir().join("config.toml");
    Ok(implicit.is_file().then_some(implicit))
}

impl Config {
    /// Merges the layers. `env` is the process environment (a parameter so
    /// that tests can give their own).
    pub fn load(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
        flags: &Flags,
    ) -> Result<(Config, Option<PathBuf>), ConfigError> {
        let file = config_file(file, env)?;
        let layers = |defaults: Config| {
            let mut figment = Figment::from(Serialized::defaults(defaults));
            if let Some(path) = &file {
                figment = figment.merge(Toml::file_exact(path));
            }
            // Only our keys: other HOFFNUNG_* variables are not config.
            figment = figment.merge(EnvPairs(env_pairs(env)));
            figment = figment.merge(Serialized::defaults(flags.clone()));
            for (off, key) in [
                (flags.no_materializer, "materializer"),
                (flags.no_mdns, "mdns"),
                (flags.no_replication, "replication"),
                (flags.no_apps, "apps"),
            ] {
                if off {
                    figment = figment.merge(Serialized::default(key, false));
                }
            }
            figment
        };
        // The profile first: it chooses the defaults under the layers.
        let profile: Profile = layers(Config::default())
            .extract_inner("profile")
            .map_err(describe)?;
        let config: Config = layers(Config::for_profile(profile))
            .extract()
            .map_err(describe)?;
        for id in &config.allow_schema {
            if id != "*" {
                id.parse::<hoffnung_core::SchemaId>().map_err(|e| {
                    ConfigError::Invalid(format!("allow_schema: `{id}` is not a schema id: {e}"))
                })?;
            }
        }
        duration::parse(&config.purge_deleted_after)
            .map_err(|e| ConfigError::Invalid(format!("purge_deleted_after: {e}")))?;
        if config.max_page_size == 0 {
            return Err(ConfigError::Invalid(
                "max_page_size: a page must be allowed at least one document".into(),
            ));
        }
        if config.http_max_connections == 0 || config.http_timeout == 0 {
            return Err(ConfigError::Invalid(
                "http_max_connections and http_timeout must be at least 1".into(),
            ));
        }
        if config.http_max_body < 64 * 1024 {
            return Err(ConfigError::Invalid(
                "http_max_body: at least 65536 bytes (a publish needs room)".into(),
            ));
        }
        for origin in &config.cors_origins {
            if origin != "*" && axum::http::HeaderValue::from_str(origin).is_err() {
                return Err(ConfigError::Invalid(format!(
                    "cors_origins: `{origin}` is not an origin"
                )));
            }
        }
        for peer in &config.peers {
            hoffnung_replication::parse_peer_address(peer)
                .map_err(|e| ConfigError::Invalid(format!("peers: {e}")))?;
        }
        Ok((config, file))
    }

    /// The defaults of `profile`.
    pub fn for_profile(profile: Profile) -> Self {
        let base = Self {
            profile,
            ..Self::default()
        };
        match profile {
            Profile::Default => base,
            Profile::Small => Self {
                materializer_cache: 4,
                ..base
            },
        }
    }

    /// The store's tunables of the profile, and its policy.
    pub fn store_config(&self) -> hoffnung_store::StoreConfig {
        let base = match self.profile {
            Profile::Default => hoffnung_store::StoreConfig::default(),
            Profile::Small => hoffnung_store::StoreConfig::small(),
        };
        hoffnung_store::StoreConfig {
            forked_authors: match self.forked_authors {
                ForkedAuthors::Freeze => hoffnung_store::ForkedAuthors::Freeze,
                ForkedAuthors::Block => hoffnung_store::ForkedAuthors::Block,
            },
            ..base
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite:{}", self.data_dir.join("hoffnung.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The folder of blob files in effect.
    pub fn blobs_dir(&self) -> PathBuf {
        if self.blobs_dir.is_empty() {
            self.data_dir.join("blobs")
        } else {
            PathBuf::from(&self.blobs_dir)
        }
    }

    /// The materializer's settings, `None` if it does not run
    /// (`materializer_cache` is in MiB).
    pub fn materializer_config(&self) -> Option<hoffnung_materializer::MaterializerConfig> {
        self.materializer.then(|| {
            // Checked when the configuration was loaded.
            let purge_after = duration::parse(&self.purge_deleted_after)
                .unwrap_or(Some(hoffnung_materializer::DEFAULT_PURGE_AFTER));
            hoffnung_materializer::MaterializerConfig {
                cache_bytes: self.materializer_cache.saturating_mul(1024 * 1024),
                purge_after,
                // Pieces come before their blob: however short the grace
                // period of deleted documents, an upload gets a day.
                unused_pieces_after: purge_after.map(|d| d.max(MIN_UNUSED_PIECES_AFTER)),
                ..Default::default()
            }
        })
    }

    /// The HTTP server's bounds.
    pub fn http_limits(&self) -> hoffnung_server::HttpLimits {
        let timeout = std::time::Duration::from_secs(self.http_timeout);
        let any = self.cors_origins.is_empty() || self.cors_origins.iter().any(|o| o == "*");
        hoffnung_server::HttpLimits {
            max_connections: self.http_max_connections,
            header_timeout: timeout,
            body_timeout: timeout * 3,
            max_body: self.http_max_body,
            init_timeout: timeout,
            origins: (!any).then(|| self.cors_origins.clone()),
        }
    }

    /// The schema allow list: `None` accepts all.
    pub fn allow_list(&self) -> Option<Vec<String>> {
        let ids: Vec<String> = self
            .allow_schema
            .iter()
            .filter(|s| s.as_str() != "*")
            .cloned()
            .collect();
        (!(ids.is_empty() || self.allow_schema.iter().any(|s| s == "*"))).then_some(ids)
    }

    /// The allow list parsed (`load` checked every id): `None` accepts all.
    pub fn allow_schema_ids(
        &self,
    ) -> Result<Option<std::collections::HashSet<hoffnung_core::SchemaId>>, ConfigError> {
        self.allow_list()
            .map(|ids| {
                ids.iter()
                    .map(|id| {
                        id.parse().map_err(|e| {
                            ConfigError::Invalid(format!(
                                "allow_schema: `{id}` is not a schema id: {e}"
                            ))
                        })
                    })
                    .collect()
            })
            .transpose()
    }
}

/// The least time a blob piece no blob uses is kept (see
/// `materializer_config`).
const MIN_UNUSED_PIECES_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// `HOFFNUNG_*` variables that are neither config keys nor known otherwise
/// (probably typos): the node warns about them.
pub fn unknown_variables(env: &BTreeMap<String, String>) -> Vec<String> {
    env.keys()
        .filter(|k| {
            k.strip_prefix("HOFFNUNG_").is_some_and(|key| {
                !KEYS.contains(&key.to_ascii_lowercase().as_str())
                    && !OTHER_VARIABLES.contains(&k.as_str())
            })
        })
        .cloned()
        .collect()
}

/// Our `HOFFNUNG_<KEY>` variables as (key, value) pairs.
fn env_pairs(env: &BTreeMap<String, String>) -> Vec<(String, String)> {
    env.iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("HOFFNUNG_")?.to_ascii_lowercase();
            KEYS.contains(&key.as_str()).then(|| (key, v.clone()))
        })
        .collect()
}

/// Environment pairs as a figment provider: values are parsed like figment's
/// `Env` does (numbers, booleans), and named as environment variables in
/// errors.
struct EnvPairs(Vec<(String, String)>);

impl figment::Provider for EnvPairs {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable")
            .interpolater(|_, keys| format!("HOFFNUNG_{}", keys.join("_").to_ascii_uppercase()))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (k, v) in &self.0 {
            let value: figment::value::Value = v.parse().unwrap_or_else(|_| v.as_str().into());
            dict.insert(k.clone(), value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// A figment error as "which key, from where, why".
fn describe(error: figment::Error) -> ConfigError {
    let messages: Vec<String> = error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = match &e.metadata {
                Some(m) => match &m.source {
                    Some(figment::Source::File(path)) => format!(" in {}", path.display()),
                    _ if m.name.contains("environment") => {
                        format!(" in environment variable HOFFNUNG_{}", key.to_uppercase())
                    }
                    _ if m.name.contains("Serialized") => " (command line)".to_string(),
                    _ => format!(" in {}", m.name),
                },
                None => String::new(),
            };
            if key.is_empty() {
                format!("config{source}: {}", e.kind)
            } else {
                format!("config key `{key}`{source}: {}", e.kind)
            }
        })
        .collect();
    ConfigError::Invalid(messages.join("; "))
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(u64),
    }
    Ok(match TextOrNumber::deserialize(d)? {
        TextOrNumber::Text(s) => s,
        TextOrNumber::Number(n) => n.to_string(),
    })
}

/// `$XDG_DATA_HOME/hoffnung`, else `~/.local/share/hoffnung`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("hoffnung");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/hoffnung"),
        None => PathBuf::from("hoffnung-data"),
    }
}

/// `$XDG_CONFIG_HOME/hoffnung`, else `~/.config/hoffnung`.
pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("hoffnung");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".config/hoffnung"),
        None => PathBuf::from("hoffnung-config"),
    }
}

#[cfg(test)]
mod tests;

mod duration;
mod flags;

pub use flags::Flags;
