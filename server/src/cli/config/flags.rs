//! The flags of `hoffnung node`: the top layer of the configuration.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use super::{ForkedAuthors, LogFormat, Profile};

/// The flags of `hoffnung node` that override the other layers; `None`
/// leaves a key to the layers below.
#[derive(Debug, Default, Clone, Serialize, clap::Args)]
pub struct Flags {
    /// Directory for the node's data: SQLite database and node key
    /// [env: HOFFNUNG_DATA_DIR] [default: $XDG_DATA_HOME/hoffnung]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Defaults for a kind of machine: `small` for small devices
    /// [env: HOFFNUNG_PROFILE] [default: default]
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Database URL, `sqlite:<path>`, `postgres://…` or `mysql://…` (MariaDB/MySQL)
    /// [env: HOFFNUNG_DATABASE_URL] [default: SQLite in the data dir]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Folder of the blob files (a cache of the database, rebuilt when
    /// missing) [env: HOFFNUNG_BLOBS_DIR] [default: blobs in the data dir]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blobs_dir: Option<String>,
    /// Address the HTTP server binds to [env: HOFFNUNG_HTTP_BIND] [default: 127.0.0.1]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_bind: Option<IpAddr>,
    /// Port of the GraphQL API [env: HOFFNUNG_HTTP_PORT] [default: 2020]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_port: Option<u16>,
    /// HTTP connections open at once, WebSockets included
    /// [env: HOFFNUNG_HTTP_MAX_CONNECTIONS] [default: 10000, less if the descriptor limit is low]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_max_connections: Option<usize>,
    /// Seconds a client has to send a request's header; also how long idle
    /// connections are kept [env: HOFFNUNG_HTTP_TIMEOUT] [default: 10]
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_timeout: Option<u64>,
    /// Largest request body in bytes [env: HOFFNUNG_HTTP_MAX_BODY] [default: 4194304]
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_max_body: Option<usize>,
    /// Origin a browser page may call the API from, e.g. `https://app.example`
    /// (repeatable, or comma-separated) [env: HOFFNUNG_CORS_ORIGINS] [default: any]
    #[arg(long = "cors-origin", value_delimiter = ',')]
    #[serde(rename = "cors_origins", skip_serializing_if = "Vec::is_empty")]
    pub cors_origin: Vec<String>,
    /// Accept only this schema id (repeatable, or comma-separated)
    /// [env: HOFFNUNG_ALLOW_SCHEMA] [default: all]
    #[arg(long = "allow-schema", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_schema: Vec<String>,
    /// Log level or tracing filter [env: HOFFNUNG_LOG_LEVEL] [default: info]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Log format [env: HOFFNUNG_LOG_FORMAT] [default: human]
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Do not run the materializer [env: HOFFNUNG_MATERIALIZER=false]
    #[arg(long = "no-materializer", action = clap::ArgAction::SetTrue)]
    #[serde(skip)]
    pub no_materializer: bool,
    /// MiB of current views the materializer keeps in memory
    /// [env: HOFFNUNG_MATERIALIZER_CACHE] [default: 128]
    #[arg(long, value_name = "MIB")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub materializer_cache: Option<u64>,
    /// How long after a document is deleted the payloads of its operations
    /// are purged: seconds, `30m`, `12h`, `7d`, or `never`
    /// [env: HOFFNUNG_PURGE_DELETED_AFTER] [default: 7d]
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge_deleted_after: Option<String>,
    /// When an author forks a log: `freeze` that log from the fork on, or
    /// `block` everything of the author [env: HOFFNUNG_FORKED_AUTHORS]
    /// [default: freeze]
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forked_authors: Option<ForkedAuthors>,
    /// The most documents one page of a collection query may hold
    /// [env: HOFFNUNG_MAX_PAGE_SIZE] [default: 10000]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_page_size: Option<u32>,
    /// The most GraphQL subscriptions the node holds
    /// [env: HOFFNUNG_MAX_SUBSCRIPTIONS] [default: 10000]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_subscriptions: Option<usize>,
    /// The most GraphQL subscriptions one WebSocket connection holds
    /// [env: HOFFNUNG_MAX_SUBSCRIPTIONS_PER_CONNECTION] [default: 100]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_subscriptions_per_connection: Option<usize>,
    /// Address of the node-to-node port [env: HOFFNUNG_P2P_BIND] [default: 0.0.0.0]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p2p_bind: Option<IpAddr>,
    /// Node-to-node port, QUIC (UDP) and TCP [env: HOFFNUNG_P2P_PORT] [default: 2022]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p2p_port: Option<u16>,
    /// Follow this node: `host:port` (QUIC) or a multiaddr (repeatable)
    /// [env: HOFFNUNG_PEERS, comma-separated]
    #[arg(long = "peer", value_delimiter = ',')]
    #[serde(rename = "peers", skip_serializing_if = "Vec::is_empty")]
    pub peer: Vec<String>,
    /// No mDNS discovery on the local network [env: HOFFNUNG_MDNS=false]
    #[arg(long = "no-mdns", action = clap::ArgAction::SetTrue)]
    #[serde(skip)]
    pub no_mdns: bool,
    /// No networking at all [env: HOFFNUNG_REPLICATION=false]
    #[arg(long = "no-replication", action = clap::ArgAction::SetTrue)]
    #[serde(skip)]
    pub no_replication: bool,
    /// Do not serve the built-in apps (the chat app at /apps/chat/)
    /// [env: HOFFNUNG_APPS=false]
    #[arg(long = "no-apps", action = clap::ArgAction::SetTrue)]
    #[serde(skip)]
    pub no_apps: bool,
}
