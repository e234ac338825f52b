//! The command line's definitions: subcommands, their arguments and flags
//! (clap derive), and loading the node's configuration from them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hoffnung_core::SchemaId;

use crate::config::{Config, Flags};

#[derive(Parser)]
#[command(
    name = "hoffnung",
    version,
    about = "A fast, wire-compatible p2panda node",
    long_about = "A fast, wire-compatible p2panda node.\n\nWithout a subcommand, runs a node (`hoffnung node`)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Publish files as blobs, and download them.
    #[command(subcommand)]
    Blob(BlobCommand),
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
    /// List the proofs of forked logs a hoffnung node holds.
    Forks {
        /// Print the proofs as JSON.
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
    /// Give the space that purged documents and collected views freed
    /// inside the database back to the file system (SQLite VACUUM, PostgreSQL VACUUM FULL, OPTIMIZE
    /// TABLE); tables are locked meanwhile, so run it while the node is quiet.
    Compact {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Collect the views that no current view pins (the node collects them
    /// as they become unused; this finds those kept before), find the blob
    /// pieces no blob uses (the node purges them after the grace period),
    /// and tell how much they held; `hoffnung compact` then gives the space
    /// back.
    Gc {
        /// Only tell what would be collected
        #[arg(long)]
        dry_run: bool,
        /// Also drop the documents of schemas that `allow_schema` no longer
        /// allows: their payloads are purged and their view tables go
        #[arg(long)]
        drop_disallowed: bool,
        #[command(flatten)]
        node: NodeArgs,
    },
}

/// The node's configuration: a config file and flags over environment and
/// defaults.
#[derive(Args)]
pub struct NodeArgs {
    /// Config file [env: HOFFNUNG_CONFIG] [default: $XDG_CONFIG_HOME/hoffnung/config.toml, if present]
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub flags: Flags,
}

/// Where the node is that a client command talks to.
#[derive(Args)]
pub struct NodeUrl {
    /// The node's URL (any p2panda 0.8 node)
    #[arg(
        long = "node",
        env = "HOFFNUNG_NODE",
        default_value = "http://127.0.0.1:2020"
    )]
    pub url: String,
}

/// A client command's node and author key.
#[derive(Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub node: NodeUrl,
    /// The author key file [env: HOFFNUNG_KEY_FILE] [default: $XDG_CONFIG_HOME/hoffnung/author.key]
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum KeyCommand {
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
pub enum SchemaCommand {
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
pub enum DocCommand {
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

#[derive(Subcommand)]
pub enum BlobCommand {
    /// Publish a file as a blob; prints its document id.
    ///
    /// The file is read and published piece by piece: pieces of 256,000
    /// bytes (`blob_piece_v1`), then the blob (`blob_v1`), as p2panda 0.8
    /// apps publish them. An empty file is refused: a p2panda 0.8 blob needs
    /// at least one piece. Waits until the node serves the blob.
    Upload {
        /// The file to publish.
        file: PathBuf,
        /// The MIME type, e.g. `image/png` [default: guessed from the
        /// content, else `application/octet-stream`]
        #[arg(long)]
        mime_type: Option<String>,
        #[command(flatten)]
        opts: DocOptions,
    },
    /// Download a blob's bytes (from the node's `/blobs/…`).
    Get {
        /// The blob's document id, or `<document id>/<view id>` for one view.
        id: String,
        /// The file to write (replaced once complete) [default: standard output]
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        node: NodeUrl,
    },
}

#[derive(Args)]
pub struct DocOptions {
    /// Return once published, without waiting for the node to show the new view.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The configuration the node would use, and the config file it came from.
pub fn load_config(args: &NodeArgs) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    Ok(Config::load(args.config.as_deref(), &env, &args.flags)?)
}
