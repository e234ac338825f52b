//! `hoffnung export` and `hoffnung import`: entries to and from a portable
//! file, read from and written to a node's database directly.
//!
//! The file is JSON Lines: a header `{"format": "hoffnung-entries",
//! "version": 1, "count": N}`, then one `{"entry": hex, "operation": hex}`
//! per entry in the exporting node's ingest order, so that every entry comes
//! after the entries it depends on, then one `{"fork": {"a": hex, "b": hex}}`
//! per proof of a forked log (the frozen part of such a log is not
//! exported). An entry whose operation was purged (its document was deleted)
//! is `{"entry": hex, "purged": true}`, the entry alone. An import verifies
//! every entry through the same bulk ingest path as replication, then checks
//! and records the proofs. It takes no purged entry, nor anything after one
//! in its log (as replication sends none): those are counted apart.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use hoffnung_core::{ForkProof, PlainOperation, SchemaId};
use hoffnung_schema_registry::{Pipeline, SchemaRegistry};
use hoffnung_store::{EntryFilter, IngestError, Store, StoreConfig};
use indicatif::ProgressBar;
use serde_json::{json, Value};

const FORMAT: &str = "hoffnung-entries";
const VERSION: u64 = 1;
const CHUNK: usize = 4096;

/// A progress bar on a terminal, plain lines (every 10 %) otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    next_line: u64,
    verb: &'static str,
}

impl Progress {
    fn new(total: u64, verb: &'static str) -> Self {
        let bar = crate::logging::progress_bar(total, verb, "{pos}/{len} entries ({per_sec}");
        Self {
            bar,
            total,
            done: 0,
            next_line: 0,
            verb,
        }
    }

    fn add(&mut self, n: u64) {
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None => {
                if self.done >= self.next_line || self.done == self.total {
                    eprintln!("{} {}/{} entries", self.verb, self.done, self.total);
                    self.next_line = self.done + (self.total / 10).max(1);
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Writes the entries that pass `filter` to `out` (`-`: stdout).
pub async fn export(
    database_url: &str,
    config: StoreConfig,
    out: &Path,
    filter: EntryFilter,
) -> anyhow::Result<u64> {
    let store = open(database_url, config).await?;
    let total = store.count_entries(&filter).await?;
    let writer: Box<dyn Write> = if out.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?)
    };
    let mut writer = BufWriter::new(writer);
    writeln!(
        writer,
        "{}",
        json!({ "format": FORMAT, "version": VERSION, "count": total })
    )?;
    let mut progress = Progress::new(total, "exported");
    let mut after = 0;
    let mut written = 0;
    loop {
        let batch = store.entries_after(after, CHUNK as u32, &filter).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        for e in &batch {
            if e.is_purged() {
                writeln!(
                    writer,
                    "{{\"entry\":\"{}\",\"purged\":true}}",
                    hex::encode(&e.entry)
                )?;
                continue;
            }
            writeln!(
                writer,
                "{{\"entry\":\"{}\",\"operation\":\"{}\"}}",
                hex::encode(&e.entry),
                hex::encode(&e.operation)
            )?;
        }
        written += batch.len() as u64;
        progress.add(batch.len() as u64);
    }
    for record in store.forks().await? {
        let author = record.proof.public_key();
        if filter.authors.is_empty() || filter.authors.contains(&author) {
            writeln!(
                writer,
                "{}",
                json!({ "fork": { "a": record.proof.a().to_hex(), "b": record.proof.b().to_hex() } })
            )?;
        }
    }
    writer.flush()?;
    progress.finish();
    store.close().await;
    Ok(written)
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: u64,
    pub already_present: u64,
    /// Rejections by error code.
    pub rejected: BTreeMap<&'static str, u64>,
    pub first_rejection: Option<String>,
    /// Entries at or above the fork of a forked log, or of a blocked forked
    /// author (not stored, not a failure).
    pub forked: u64,
    /// Proofs of forks read (and recorded, for the logs the database holds).
    pub forks: u64,
    /// Entries whose operations were purged, and those after them in their
    /// logs (not taken, not a failure).
    pub purged: u64,
}

/// Reads an export file and ingests its entries into the database.
pub async fn import(
    database_url: &str,
    config: StoreConfig,
    file: &Path,
    allow: Option<std::collections::HashSet<SchemaId>>,
) -> anyhow::Result<ImportReport> {
    let (entries, forks, purged) = read_file(file)?;
    let store = open(database_url, config).await?;
    // System entries (schema and field definitions) first: the registry
    // then knows every schema the other entries use.
    let (system, application): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(_, op)| {
        PlainOperation::decode(op).is_ok_and(|o| matches!(o.schema_id, SchemaId::System(..)))
    });
    let mut progress = Progress::new((system.len() + application.len()) as u64, "imported");
    let mut report = ImportReport {
        purged,
        ..Default::default()
    };
    let started = Instant::now();
    let registry = Arc::new(SchemaRegistry::load(&store, allow).await?);
    // The node's pipeline: the same policy, and the registry learns each
    // schema as its definition is stored.
    let pipeline = Pipeline::new(store.clone(), registry);
    for chunk in system.chunks(CHUNK).chain(application.chunks(CHUNK)) {
        let results = pipeline.ingest(chunk).await?;
        tally(&mut report, results);
        progress.add(chunk.len() as u64);
    }
    progress.finish();
    report.forks = forks.len() as u64;
    store.record_forks(forks).await?;
    store.close().await;
    tracing::info!(
        imported = report.imported,
        seconds = started.elapsed().as_secs_f64(),
        "import done"
    );
    Ok(report)
}

fn tally(report: &mut ImportReport, results: Vec<Result<hoffnung_store::Ingested, IngestError>>) {
    for r in results {
        match r {
            Ok(_) => report.imported += 1,
            Err(IngestError::Duplicate(_)) => report.already_present += 1,
            Err(IngestError::LogForked { .. } | IngestError::AuthorForked(_)) => report.forked += 1,
            Err(e) => {
                *report.rejected.entry(e.code().as_str()).or_default() += 1;
                report.first_rejection.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

type Pair = (Vec<u8>, Vec<u8>);

/// The entries to import, the proofs of forks, and how many entries were
/// left out as purged (see the module's comment).
fn read_file(path: &Path) -> anyhow::Result<(Vec<Pair>, Vec<ForkProof>, u64)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header: Value = match lines.next() {
        Some(line) => serde_json::from_str(&line?)
            .map_err(|e| anyhow!("line 1: not a {FORMAT} header: {e}"))?,
        None => bail!("{} is empty", path.display()),
    };
    if header["format"] != FORMAT {
        bail!(
            "{} is not a hoffnung export (no `format: {FORMAT}` header)",
            path.display()
        );
    }
    if header["version"] != VERSION {
        bail!(
            "{} has format version {}; this hoffnung reads version {VERSION}",
            path.display(),
            header["version"]
        );
    }
    let mut out = Vec::new();
    let mut forks = Vec::new();
    let mut cut = std::collections::HashSet::new();
    let mut purged = 0u64;
    for (i, line) in lines.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 2;
        let v: Value =
            serde_json::from_str(&line).map_err(|e| anyhow!("line {n}: not JSON: {e}"))?;
        let field = |v: &Value, k: &str| -> anyhow::Result<Vec<u8>> {
            let s = v[k].as_str().ok_or_else(|| anyhow!("line {n}: no `{k}`"))?;
            hex::decode(s).map_err(|e| anyhow!("line {n}: `{k}` is not hex: {e}"))
        };
        if let Some(fork) = v.get("fork") {
            let proof = ForkProof::new(&field(fork, "a")?, &field(fork, "b")?)
                .map_err(|e| anyhow!("line {n}: not a proof of a fork: {e}"))?;
            forks.push(proof);
            continue;
        }
        let entry = field(&v, "entry")?;
        let log = hoffnung_core::EncodedEntry::decode(&entry)
            .map(|e| (e.entry().public_key, e.entry().log_id))
            .map_err(|e| anyhow!("line {n}: not an entry: {e}"))?;
        if v["purged"] == true {
            cut.insert(log);
        }
        if cut.contains(&log) {
            purged += 1;
            continue;
        }
        out.push((entry, field(&v, "operation")?));
    }
    if let Some(count) = header["count"].as_u64() {
        if count != out.len() as u64 + purged {
            bail!(
                "{} is truncated: the header says {count} entries, the file holds {}",
                path.display(),
                out.len() as u64 + purged
            );
        }
    }
    Ok((out, forks, purged))
}

async fn open(database_url: &str, config: StoreConfig) -> anyhow::Result<Store> {
    Store::connect(database_url, config)
        .await
        .with_context(|| format!("opening the database {database_url}"))
}
