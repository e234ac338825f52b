//! The commands besides `node`: the configuration, the author key,
//! publishing schemas and documents, queries and status of a node (any
//! p2panda 0.8 node for the client commands), export and import.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use hoffnung_core::{KeyPair, PublicKey, SchemaId};
use hoffnung_store::EntryFilter;
use serde_json::Value;

use crate::args::{load_config, ClientArgs, DocCommand, KeyCommand, NodeArgs, NodeUrl};
use crate::logging::init_client_logs;
use crate::{client, keys, publish, transfer};

/// `hoffnung config`: the configuration `hoffnung node` would use, as TOML.
pub fn config(args: &NodeArgs) -> anyhow::Result<ExitCode> {
    let (config, file) = load_config(args)?;
    if let Some(file) = file {
        println!("# from {}", file.display());
    }
    print!("{}", toml::to_string(&config)?);
    Ok(ExitCode::SUCCESS)
}

/// `hoffnung schema create`: publishes a schema description; prints its id.
pub async fn schema_create(file: &Path, client: &ClientArgs) -> anyhow::Result<ExitCode> {
    init_client_logs();
    let description = publish::SchemaFile::read(file)?;
    let key = keys::read_key(&keys::author_key_path(client.key_file.as_deref()))?;
    let node = client::Client::new(&client.node.url)?;
    let id = publish::create_schema(&node, &key, &description).await?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// `hoffnung query`: prints the JSON answer; fails if it has errors.
pub async fn query(
    query: &str,
    variables: Option<String>,
    node: &NodeUrl,
) -> anyhow::Result<ExitCode> {
    let variables: Value = match variables {
        Some(v) => serde_json::from_str(&v).context("--variables is not JSON")?,
        None => Value::Null,
    };
    let client = client::Client::new(&node.url)?;
    let response = client.raw_graphql(query, variables).await?;
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

/// `hoffnung status`: a hoffnung node's status, as text or JSON.
pub async fn status(json: bool, node: &NodeUrl) -> anyhow::Result<ExitCode> {
    let status = client::Client::new(&node.url)?.status().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_status(&node.url, &status);
    }
    Ok(ExitCode::SUCCESS)
}

/// `hoffnung forks`: the proofs of forked logs a hoffnung node holds.
pub async fn forks(json: bool, node: &NodeUrl) -> anyhow::Result<ExitCode> {
    let client = client::Client::new(&node.url)?;
    let data = client
        .graphql(
            "{ forks { publicKey logId frozenFrom kind entryA entryB detectedAt } }",
            Value::Null,
        )
        .await?;
    let forks = data["forks"].as_array().cloned().unwrap_or_default();
    if json {
        println!("{}", serde_json::to_string_pretty(&forks)?);
        return Ok(ExitCode::SUCCESS);
    }
    if forks.is_empty() {
        println!("no forked logs");
    }
    for f in &forks {
        let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
        println!(
            "author {} log {}: frozen from seq num {} ({}), learnt at {} ms\n  entry a {}\n  entry b {}",
            s("publicKey"),
            s("logId"),
            s("frozenFrom"),
            s("kind").to_lowercase().replace('_', " "),
            s("detectedAt"),
            s("entryA"),
            s("entryB"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `hoffnung export`: writes the entries (of some schemas or authors) to `file`.
pub async fn export(
    file: &Path,
    schemas: Vec<SchemaId>,
    authors: &[String],
    node: &NodeArgs,
) -> anyhow::Result<ExitCode> {
    init_client_logs();
    let (config, _) = load_config(node)?;
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
    let n = transfer::export(&config.database_url(), config.store_config(), file, filter).await?;
    eprintln!("exported {n} entries to {}", file.display());
    Ok(ExitCode::SUCCESS)
}

/// `hoffnung import`: verifies and stores the entries of `file`; fails if
/// any was rejected.
pub async fn import(file: &Path, node: &NodeArgs) -> anyhow::Result<ExitCode> {
    init_client_logs();
    let (config, _) = load_config(node)?;
    let allow = config.allow_schema_ids()?;
    let report =
        transfer::import(&config.database_url(), config.store_config(), file, allow).await?;
    let rejected: u64 = report.rejected.values().sum();
    eprintln!(
        "imported {} entries, {} already present, {} rejected; {} in forked logs, {} proofs of forks; {} of deleted documents left out (purged)",
        report.imported, report.already_present, rejected, report.forked, report.forks, report.purged
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
/// `hoffnung key new|show|import`: the command-line user's author key.
pub fn key(cmd: KeyCommand) -> anyhow::Result<ExitCode> {
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

/// `hoffnung doc create|update|delete`: prints the document or view id.
pub async fn doc(cmd: DocCommand) -> anyhow::Result<ExitCode> {
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
        "database    {}",
        s["database"]["backend"].as_str().unwrap_or("?")
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
