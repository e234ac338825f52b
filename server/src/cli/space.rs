//! `hoffnung gc` and `hoffnung compact`: collecting what nothing uses, and
//! giving the space back to the file system.

use std::process::ExitCode;

use anyhow::Context;
use hoffnung_core::SchemaId;
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{DroppedSchema, SchemaSource, Store};

use crate::args::{load_config, NodeArgs};
use crate::logging::init_client_logs;

async fn open(node: &NodeArgs) -> anyhow::Result<(Store, crate::config::Config)> {
    let (config, _) = load_config(node)?;
    let url = config.database_url();
    let store = Store::connect(&url, config.store_config())
        .await
        .with_context(|| format!("opening the database {url}"))?;
    Ok((store, config))
}

/// `hoffnung gc`: collects the views that no current view pins (those
/// kept before they were collected as they became unused), records the
/// blob pieces no blob uses for their purge, and with `drop_disallowed`
/// drops the documents of schemas the allow list leaves out; with
/// `dry_run`, only tells what would go.
pub async fn gc(dry_run: bool, drop_disallowed: bool, node: &NodeArgs) -> anyhow::Result<ExitCode> {
    init_client_logs();
    let (store, config) = open(node).await?;
    // Every schema the database defines, allowed or not: a view pinned by a
    // document of any of them stays.
    let registry = SchemaRegistry::load(&store, None).await?;
    let tables: Vec<_> = registry
        .schemas()
        .iter()
        .map(|s| store.views().table(s))
        .collect();
    let found = store.collect_unused_views(&tables, dry_run).await?;
    let (mut views, mut bytes) = (0, 0);
    for u in found.iter().filter(|u| u.views > 0) {
        println!(
            "{}: {} views, about {} bytes",
            u.schema_id, u.views, u.bytes
        );
        views += u.views;
        bytes += u.bytes;
    }
    let pieces = store.unused_pieces(dry_run).await?;
    let dropped = if drop_disallowed {
        drop_disallowed_schemas(&store, &registry, &config, dry_run).await?
    } else {
        Vec::new()
    };
    store.close().await;
    let (verb, pieces_then) = if dry_run {
        ("would collect", "would be purged")
    } else {
        ("collected", "are purged")
    };
    eprintln!("{verb} {views} unused views (about {bytes} bytes)");
    eprintln!(
        "{} blob pieces no blob uses ({} bytes of data) {pieces_then} by the node after the grace period (purge_deleted_after, at least a day)",
        pieces.pieces, pieces.bytes
    );
    if drop_disallowed {
        let documents: u64 = dropped.iter().map(|d| d.documents).sum();
        let bytes: u64 = dropped.iter().map(|d| d.bytes).sum();
        for d in &dropped {
            println!(
                "{}: {} documents dropped, {} bytes of operations",
                d.schema_id, d.documents, d.bytes
            );
        }
        let verb = if dry_run { "would drop" } else { "dropped" };
        eprintln!(
            "{verb} {documents} documents of {} schemas not allowed ({bytes} bytes of operations)",
            dropped.len()
        );
    }
    if !dry_run {
        eprintln!("`hoffnung compact` gives the space back to the file system");
    }
    Ok(ExitCode::SUCCESS)
}

/// Drops the documents of every stored schema the allow list leaves out
/// (schema and field definitions stay: they say what ids mean).
async fn drop_disallowed_schemas(
    store: &Store,
    registry: &SchemaRegistry,
    config: &crate::config::Config,
    dry_run: bool,
) -> anyhow::Result<Vec<DroppedSchema>> {
    let Some(allow) = config.allow_schema_ids()? else {
        eprintln!("allow_schema allows every schema: no documents to drop");
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for id in store.stored_schema_ids().await? {
        let definition =
            id == SchemaId::SCHEMA_DEFINITION_V1 || id == SchemaId::SCHEMA_FIELD_DEFINITION_V1;
        if definition || allow.contains(&id) {
            continue;
        }
        let table = registry.schema(&id).map(|s| store.views().table(&s));
        out.push(
            store
                .drop_schema_documents(&id, table.as_deref(), dry_run)
                .await?,
        );
    }
    Ok(out)
}

/// `hoffnung compact`: rewrites the database's files without the space
/// that purges and collections freed.
pub async fn compact(node: &NodeArgs) -> anyhow::Result<ExitCode> {
    init_client_logs();
    let (store, _) = open(node).await?;
    let before = store.database_bytes().await?;
    store.compact().await?;
    let after = store.database_bytes().await?;
    store.close().await;
    eprintln!(
        "compacted: {before} bytes before, {after} after ({} returned)",
        before.saturating_sub(after)
    );
    Ok(ExitCode::SUCCESS)
}
