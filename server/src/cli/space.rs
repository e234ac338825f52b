//! `hoffnung gc` and `hoffnung compact`: collecting what nothing uses, and
//! giving the space back to the file system.

use std::process::ExitCode;

use anyhow::Context;
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::Store;

use crate::args::{load_config, NodeArgs};
use crate::logging::init_client_logs;

async fn open(node: &NodeArgs) -> anyhow::Result<Store> {
    let (config, _) = load_config(node)?;
    let url = config.database_url();
    Store::connect(&url, config.store_config())
        .await
        .with_context(|| format!("opening the database {url}"))
}

/// `hoffnung gc`: collects the views that no current view pins (those
/// kept before they were collected as they became unused); with
/// `dry_run`, only tells what would go.
pub async fn gc(dry_run: bool, node: &NodeArgs) -> anyhow::Result<ExitCode> {
    init_client_logs();
    let store = open(node).await?;
    // Every schema the database defines, allowed or not: a view pinned by a
    // document of any of them stays.
    let registry = SchemaRegistry::load(&store, None).await?;
    let tables: Vec<_> = registry
        .schemas()
        .iter()
        .map(|s| store.views().table(s))
        .collect();
    let found = store.collect_unused_views(&tables, dry_run).await?;
    store.close().await;
    let (mut views, mut bytes) = (0, 0);
    for u in found.iter().filter(|u| u.views > 0) {
        println!(
            "{}: {} views, about {} bytes",
            u.schema_id, u.views, u.bytes
        );
        views += u.views;
        bytes += u.bytes;
    }
    if dry_run {
        eprintln!("would collect {views} unused views (about {bytes} bytes)");
    } else {
        eprintln!(
            "collected {views} unused views (about {bytes} bytes); `hoffnung compact` gives the space back to the file system"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `hoffnung compact`: rewrites the database's files without the space
/// that purges and collections freed.
pub async fn compact(node: &NodeArgs) -> anyhow::Result<ExitCode> {
    init_client_logs();
    let store = open(node).await?;
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
