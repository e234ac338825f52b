//! The `hoffnung` command line: runs a node, and talks to one (any p2panda
//! 0.8 node) to publish schemas and documents and to query them.

mod client;
mod config;
mod keys;
mod publish;
mod transfer;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use hoffnung_core::{KeyPair, PublicKey, SchemaId};
use hoffnung_server::{Node, NodeConfig, NodeError, ReplicationConfig};
use hoffnung_store::EntryFilter;
use serde_json::Value;

use config::{Config, Flags, LogFormat};

#[derive(Parser)]
#[command(
    name = "hoffnung",
    version,
    about = "A fast, wire-compatible p2panda node",
    long_about = "A fast, wire-compatible p2panda node.\n\nWithout a subcommand, runs a node (`hoffnung node`)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node (the default): GraphQL on 127.0.0.1:2020, SQLite in the data dir.
    Node(NodeArgs),
    /// Print the configuration `hoffnung node` would use, as TOML.
    Config(NodeArgs),
    /// Manage the author key of the command-line user.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Publish schemas.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Create, update and delete documents.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Run a GraphQL query against a node and print the JSON result.
    Query {
        /// The GraphQL document, e.g. '{ all_note_0020… { totalCount } }'.
        query: String,
        /// Variables as a JSON object.
        #[arg(long)]
        variables: Option<String>,
        #[command(flatten)]
        node: NodeUrl,
    },
    /// Show a hoffnung node's version, database, schemas, counts and backlog.
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        node: NodeUrl,
    },
    /// Write all entries (or those of some schemas or authors) to a file.
    Export {
        /// The file to write (`-`: standard output).
        file: PathBuf,
        /// Only this application schema (repeatable); schema definitions always come along.
        #[arg(long = "schema")]
        schemas: Vec<SchemaId>,
        /// Only this author's entries (repeatable), by public key.
        #[arg(long = "author")]
        authors: Vec<String>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Verify and store the entries of an export file (stop the node first,
    /// or restart it after, so that it learns the imported schemas).
    Import {
        file: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
}

/// The node's configuration: a config file and flags over environment and
/// defaults.
#[derive(Args)]
struct NodeArgs {
    /// Config file [env: HOFFNUNG_CONFIG] [default: $XDG_CONFIG_HOME/hoffnung/config.toml, if present]
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[command(flatten)]
    flags: Flags,
}

/// Where the node is that a client command talks to.
#[derive(Args)]
struct NodeUrl {
    /// The node's URL (any p2panda 0.8 node)
    #[arg(
        long = "node",
        env = "HOFFNUNG_NODE",
        default_value = "http://127.0.0.1:2020"
    )]
    url: String,
}

/// A client command's node and author key.
#[derive(Args)]
struct ClientArgs {
    #[command(flatten)]
    node: NodeUrl,
    /// The author key file [env: HOFFNUNG_KEY_FILE] [default: $XDG_CONFIG_HOME/hoffnung/author.key]
    #[arg(long)]
    key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate a new author key and print its public key.
    New {
        /// Replace an existing key file.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Print the public key of the author key.
    Show {
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Store a private key (64 hex characters; read from stdin if not given).
    Import {
        private_key: Option<String>,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Publish a schema from a JSON or TOML description; prints its id.
    ///
    /// The description: `name`, `description` and `fields`, each with `name`,
    /// `type` (str, int, float, bool, bytes, relation, relation_list,
    /// pinned_relation, pinned_relation_list) and, for relations, `schema`.
    Create {
        file: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum DocCommand {
    /// Create a document; prints its document id.
    Create {
        #[arg(long)]
        schema: SchemaId,
        /// Every field of the schema, as a JSON object.
        #[arg(long)]
        fields: String,
        #[command(flatten)]
        opts: DocOptions,
    },
    /// Update fields of a document; prints the new view id.
    Update {
        /// The document id.
        document: String,
        #[arg(long)]
        schema: SchemaId,
        /// The fields to change, as a JSON object.
        #[arg(long)]
        fields: String,
        /// The view to build on [default: the document's current view on the node]
        #[arg(long)]
        previous: Option<String>,
        #[command(flatten)]
        opts: DocOptions,
    },
    /// Delete a document; prints the view id of the deletion.
    Delete {
        document: String,
        #[arg(long)]
        schema: SchemaId,
        /// The view to build on [default: the document's current view on the node]
        #[arg(long)]
        previous: Option<String>,
        #[command(flatten)]
        opts: DocOptions,
    },
}

#[derive(Args)]
struct DocOptions {
    /// Return once published, without waiting for the node to show the new view.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    client: ClientArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each cause once: many errors print
/// their source in their own message as well (so that logs, which show one
/// error's `Display`, keep the cause), and would repeat it here.
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let command = cli.command.unwrap_or_else(|| {
        Command::Node(NodeArgs {
            config: None,
            flags: Flags::default(),
        })
    });
    match command {
        Command::Node(args) => run_node(args).await,
        Command::Config(args) => {
            let (config, file) = load_config(&args)?;
            if let Some(file) = file {
                println!("# from {}", file.display());
            }
            print!("{}", toml::to_string(&config)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(cmd) => key(cmd),
        Command::Schema(SchemaCommand::Create { file, client }) => {
            init_client_logs();
            let description = publish::SchemaFile::read(&file)?;
            let key = keys::read_key(&keys::author_key_path(client.key_file.as_deref()))?;
            let node = client::Client::new(&client.node.url)?;
            let id = publish::create_schema(&node, &key, &description).await?;
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Doc(cmd) => doc(cmd).await,
        Command::Query {
            query,
            variables,
            node,
        } => {
            let variables: Value = match variables {
                Some(v) => serde_json::from_str(&v).context("--variables is not JSON")?,
                None => Value::Null,
            };
            let client = client::Client::new(&node.url)?;
            let response = client.raw_graphql(&query, variables).await?;
            println!("{}", serde_json::to_string_pretty(&response)?);
            let failed = response
                .get("errors")
                .and_then(Value::as_array)
                .is_some_and(|e| !e.is_empty());
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Status { json, node } => {
            let status = client::Client::new(&node.url)?.status().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&node.url, &status);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            file,
            schemas,
            authors,
            node,
        } => {
            init_client_logs();
            let (config, _) = load_config(&node)?;
            let authors = authors
                .iter()
                .map(|a| parse_public_key(a))
                .collect::<anyhow::Result<_>>()?;
            // Schema and field definitions come along, so that an import knows the schemas.
            let mut schemas = schemas;
            if !schemas.is_empty() {
                schemas.push(SchemaId::SCHEMA_DEFINITION_V1);
                schemas.push(SchemaId::SCHEMA_FIELD_DEFINITION_V1);
                schemas.sort();
                schemas.dedup();
            }
            let filter = EntryFilter { schemas, authors };
            let n = transfer::export(&config.database_url(), &file, filter).await?;
            eprintln!("exported {n} entries to {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { file, node } => {
            init_client_logs();
            let (config, _) = load_config(&node)?;
            let allow = config
                .allow_list()
                .map(|ids| ids.iter().map(|s| s.parse()).collect::<Result<_, _>>())
                .transpose()?;
            let report = transfer::import(&config.database_url(), &file, allow).await?;
            let rejected: u64 = report.rejected.values().sum();
            eprintln!(
                "imported {} entries, {} already present, {} rejected",
                report.imported, report.already_present, rejected
            );
            if rejected > 0 {
                for (code, n) in &report.rejected {
                    eprintln!("  {code}: {n}");
                }
                if let Some(first) = &report.first_rejection {
                    eprintln!("  first rejection: {first}");
                }
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_config(args: &NodeArgs) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    Ok(Config::load(args.config.as_deref(), &env, &args.flags)?)
}

fn init_logs(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level).with_context(|| {
        format!(
            "config key `log_level`: `{}` is not a level or filter",
            config.log_level
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// Client commands log warnings only.
fn init_client_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run_node(args: NodeArgs) -> anyhow::Result<ExitCode> {
    let (config, file) = load_config(&args)?;
    init_logs(&config)?;
    let signals = Signals::register()?;
    let env: BTreeMap<String, String> = std::env::vars().collect();
    for var in config::unknown_variables(&env) {
        tracing::warn!(variable = %var, "unknown HOFFNUNG_ environment variable, ignored");
    }
    if let Some(file) = &file {
        tracing::info!(path = %file.display(), "config file");
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let (node_key, created) = keys::node_key(&config.data_dir)?;
    if created {
        tracing::info!(public_key = %node_key.public_key().to_hex(), "generated the node key");
    }
    let allow = config
        .allow_list()
        .map(|ids| {
            ids.iter()
                .map(|s| s.parse())
                .collect::<Result<HashSet<SchemaId>, _>>()
        })
        .transpose()?;
    let mut node_config = NodeConfig::new(config.database_url());
    node_config.http_bind = SocketAddr::new(config.http_bind, config.http_port);
    node_config.allow_schema_ids = allow;
    node_config.max_page_size = config.max_page_size;
    node_config.materializer = config.materializer_config();
    if config.replication {
        let mut r = ReplicationConfig::new(node_key.clone(), config.p2p_bind, config.p2p_port);
        r.mdns = config.mdns;
        r.peers = config
            .peers
            .iter()
            .map(|p| hoffnung_replication::parse_peer_address(p))
            .collect::<Result<_, _>>()?;
        node_config.replication = Some(r);
    }
    let node = match Node::bind(node_config).await {
        Ok(node) => node,
        Err(NodeError::Bind { addr, source }) if source.kind() == std::io::ErrorKind::AddrInUse => {
            bail!(
                "port {} on {} is in use (another node?); choose another with --http-port",
                addr.port(),
                addr.ip()
            );
        }
        Err(e) => return Err(e).context("starting the node"),
    };
    tracing::info!(
        node_key = %node_key.public_key().to_hex(),
        data_dir = %config.data_dir.display(),
        "node started"
    );
    if let Some(r) = node.replication() {
        let addrs: Vec<String> = r
            .listen_addrs()
            .await
            .iter()
            .map(|a| a.to_string())
            .collect();
        tracing::info!(peer_id = r.peer_id(), listen = ?addrs, "replicating");
    }
    println!("hoffnung: GraphQL on {}", node.graphql_url());
    signals.wait().await;
    tracing::info!("shutting down");
    node.shutdown();
    node.join().await?;
    Ok(ExitCode::SUCCESS)
}

fn key(cmd: KeyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyCommand::New { force, key_file } => {
            let path = keys::author_key_path(key_file.as_deref());
            let key = KeyPair::generate();
            keys::write_key(&path, &key, force)?;
            eprintln!("wrote {}", path.display());
            println!("{}", key.public_key().to_hex());
        }
        KeyCommand::Show { key_file } => {
            let path = keys::author_key_path(key_file.as_deref());
            println!("{}", keys::read_key(&path)?.public_key().to_hex());
        }
        KeyCommand::Import {
            private_key,
            force,
            key_file,
        } => {
            let hex = match private_key {
                Some(k) => k,
                None => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line
                }
            };
            let key = KeyPair::from_private_key_hex(hex.trim())
                .context("not a private key (64 hex characters)")?;
            let path = keys::author_key_path(key_file.as_deref());
            keys::write_key(&path, &key, force)?;
            eprintln!("wrote {}", path.display());
            println!("{}", key.public_key().to_hex());
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn doc(cmd: DocCommand) -> anyhow::Result<ExitCode> {
    use publish::DocAction;
    init_client_logs();
    let fields = |s: &str| -> anyhow::Result<Value> {
        serde_json::from_str(s).context("--fields is not JSON")
    };
    let document =
        |d: &str| -> anyhow::Result<hoffnung_core::Hash> { d.parse().context("not a document id") };
    let previous = |p: Option<String>| -> anyhow::Result<Option<hoffnung_core::DocumentViewId>> {
        p.map(|p| p.parse().context("--previous is not a document view id"))
            .transpose()
    };
    let (schema, opts, action) = match cmd {
        DocCommand::Create {
            schema,
            fields: f,
            opts,
        } => (
            schema,
            opts,
            DocAction::Create {
                fields: fields(&f)?,
            },
        ),
        DocCommand::Update {
            document: d,
            schema,
            fields: f,
            previous: p,
            opts,
        } => (
            schema,
            opts,
            DocAction::Update {
                document: document(&d)?,
                previous: previous(p)?,
                fields: fields(&f)?,
            },
        ),
        DocCommand::Delete {
            document: d,
            schema,
            previous: p,
            opts,
        } => (
            schema,
            opts,
            DocAction::Delete {
                document: document(&d)?,
                previous: previous(p)?,
            },
        ),
    };
    let key = keys::read_key(&keys::author_key_path(opts.client.key_file.as_deref()))?;
    let node = client::Client::new(&opts.client.node.url)?;
    let is_create = matches!(action, DocAction::Create { .. });
    let (document, view) = publish::document(&node, &key, &schema, action, !opts.no_wait).await?;
    println!("{}", if is_create { document } else { view });
    Ok(ExitCode::SUCCESS)
}

fn parse_public_key(s: &str) -> anyhow::Result<PublicKey> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(s, &mut bytes).with_context(|| format!("`{s}` is not a public key"))?;
    Ok(PublicKey::from_bytes(&bytes)?)
}

fn print_status(url: &str, s: &Value) {
    println!(
        "node        {url} (hoffnung {})",
        s["version"].as_str().unwrap_or("?")
    );
    println!(
        "database    {} {}",
        s["database"]["backend"].as_str().unwrap_or("?"),
        s["database"]["url"].as_str().unwrap_or("")
    );
    println!("uptime      {} s", s["uptimeSeconds"]);
    println!("entries     {}", s["entries"]);
    println!("documents   {}", s["documents"]);
    match s["materializer"]["running"].as_bool() {
        Some(true) => println!(
            "materializer cursor {}, backlog {} entries",
            s["materializer"]["cursor"], s["materializer"]["backlog"]
        ),
        _ => println!("materializer off"),
    }
    let r = &s["replication"];
    if r.is_null() {
        println!("replication off");
    } else {
        println!("peer id     {}", r["peerId"].as_str().unwrap_or("?"));
        let listen: Vec<&str> = r["listen"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!("listening   {}", listen.join(" "));
        let peers: Vec<&str> = r["peers"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!("peers       {} {}", peers.len(), peers.join(" "));
        println!(
            "replicated  {} entries received, {} sent, {} rejected; {} sessions open",
            r["entriesReceived"], r["entriesSent"], r["entriesRejected"], r["sessionsOpen"]
        );
    }
    let schemas = s["schemas"].as_array().cloned().unwrap_or_default();
    println!("schemas     {}", schemas.len());
    for schema in schemas {
        println!(
            "  {}  {}",
            schema["id"].as_str().unwrap_or("?"),
            schema["description"].as_str().unwrap_or("")
        );
    }
}

/// SIGINT and SIGTERM, registered at once: a signal that comes right after
/// start-up (before the node waits for it) must not kill the process.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
