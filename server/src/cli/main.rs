//! The `hoffnung` command line: runs a node, and talks to one (any p2panda
//! 0.8 node) to publish schemas, documents and blobs and to query them.
//!
//! `args` defines the commands, `node` runs a node, `blob` publishes and
//! downloads blobs, `commands` the others, `logging` sets up logs; this
//! file parses, dispatches and prints errors.

mod allocator;
mod args;
mod blob;
mod client;
mod commands;
mod config;
mod durable;
mod keys;
mod logging;
mod node;
mod publish;
mod space;
mod transfer;

use std::process::ExitCode;

use clap::Parser;

use args::{BlobCommand, Cli, Command, NodeArgs, SchemaCommand};
use config::Flags;

/// Memory freed after a spike goes back to the system (see the allocator's
/// entry in the workspace Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        Command::Node(args) => node::run_node(args).await,
        Command::Config(args) => commands::config(&args),
        Command::Key(cmd) => commands::key(cmd),
        Command::Schema(SchemaCommand::Create { file, client }) => {
            commands::schema_create(&file, &client).await
        }
        Command::Doc(cmd) => commands::doc(cmd).await,
        Command::Blob(BlobCommand::Upload {
            file,
            mime_type,
            opts,
        }) => blob::upload(&file, mime_type, &opts).await,
        Command::Blob(BlobCommand::Get { id, output, node }) => {
            blob::get(&id, output.as_deref(), &node).await
        }
        Command::Query {
            query,
            variables,
            node,
        } => commands::query(&query, variables, &node).await,
        Command::Status { json, node } => commands::status(json, &node).await,
        Command::Forks { json, node } => commands::forks(json, &node).await,
        Command::Export {
            file,
            schemas,
            authors,
            node,
        } => commands::export(&file, schemas, &authors, &node).await,
        Command::Import { file, node } => commands::import(&file, &node).await,
        Command::Compact { node } => space::compact(&node).await,
        Command::Gc {
            dry_run,
            drop_disallowed,
            node,
        } => space::gc(dry_run, drop_disallowed, &node).await,
    }
}
