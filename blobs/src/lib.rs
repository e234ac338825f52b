//! Blob files. A `blob_v1` document names its bytes as a pinned list of
//! `blob_piece_v1` views; once every piece is here, its bytes are written to
//! `<dir>/<view id>` (checked against `length`, through a temporary file,
//! synced, then renamed), so HTTP can stream a file instead of reading
//! pieces from the database for every request.
//!
//! The files are a cache of the database: a missing or damaged (wrong
//! size) file is assembled again from the pieces, at start-up and on a
//! request. A blob whose pieces are missing waits for the change feed to
//! report them, without polling; one whose pieces contradict it (sizes,
//! schema) is never served. Files of views that are neither current nor
//! pinned by a current view are removed.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod assemble;
mod worker;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hoffnung_core::{DocumentId, DocumentViewId, OperationValue, Schema, SchemaId};
use hoffnung_schema_registry::SchemaRegistry;
use hoffnung_store::{Store, StoreError, ViewRow, ViewTable};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use assemble::Assembled;

/// Builds of different views run at once; one view is built once.
const LOCKS: usize = 64;

/// Why blobs could not be kept or served.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob folder {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BlobError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A blob ready to be streamed: an open file of exactly `length` bytes.
#[derive(Debug)]
pub struct BlobFile {
    pub file: tokio::fs::File,
    pub length: u64,
    pub mime_type: String,
    pub document_id: DocumentId,
    pub view_id: DocumentViewId,
}

/// Counters since start (metrics, tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobStats {
    /// Files written (first time or again).
    pub assembled: u64,
    /// Files found missing or damaged and assembled again.
    pub repaired: u64,
    /// Blob views whose pieces contradict them: never served.
    pub invalid: u64,
    /// Assemblies started (including those that found pieces missing).
    pub attempts: u64,
    /// Blob views waiting for pieces now.
    pub waiting: u64,
    /// Files removed because no current view uses them.
    pub removed: u64,
}

/// A `blob_v1` view as the blob files need it.
#[derive(Debug, Clone)]
pub(crate) struct BlobView {
    pub(crate) document_id: DocumentId,
    pub(crate) view_id: DocumentViewId,
    pub(crate) length: i64,
    pub(crate) mime_type: String,
    pub(crate) pieces: Vec<DocumentViewId>,
}

impl BlobView {
    /// `None` for a deleted view or one that lacks a field.
    pub(crate) fn of(row: &ViewRow) -> Option<Self> {
        let fields = row.fields.as_ref()?;
        let (
            Some(OperationValue::Int(length)),
            Some(OperationValue::Str(mime_type)),
            Some(OperationValue::PinnedRelationList(pieces)),
        ) = (
            fields.get("length"),
            fields.get("mime_type"),
            fields.get("pieces"),
        )
        else {
            return None;
        };
        Some(Self {
            document_id: row.document_id,
            view_id: row.view_id.clone(),
            length: *length,
            mime_type: mime_type.clone(),
            pieces: pieces.clone(),
        })
    }
}

/// The file name of a view: its id, or for a view of many operations
/// whose id would not fit a file name, the hash of its id.
pub fn file_name(view_id: &DocumentViewId) -> String {
    let id = view_id.to_string();
    if id.len() <= 200 {
        id
    } else {
        format!("h{}", view_id.view_hash().to_hex())
    }
}

/// The blob files of one node. Cheap to clone.
#[derive(Clone)]
pub struct Blobs {
    inner: Arc<Inner>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

pub(crate) struct Inner {
    store: Store,
    registry: Arc<SchemaRegistry>,
    dir: PathBuf,
    blob_table: Arc<ViewTable>,
    piece_table: Arc<ViewTable>,
    /// Whether the `blob_v1` tables exist (they never go away).
    tables: AtomicBool,
    locks: Vec<tokio::sync::Mutex<()>>,
    state: Mutex<State>,
    assembled: AtomicU64,
    repaired: AtomicU64,
    invalid: AtomicU64,
    attempts: AtomicU64,
    removed: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Piece view id → the blob views waiting for it.
    waiting: HashMap<DocumentViewId, HashSet<DocumentViewId>>,
    /// Blob views waiting for pieces.
    blobs: HashMap<DocumentViewId, BlobView>,
    /// Blob views found to contradict their pieces.
    invalid: HashSet<DocumentViewId>,
}

impl Blobs {
    /// Keeps blob files in `dir` (created if missing): removes what an
    /// interrupted write left, then checks every current blob's file and
    /// follows the store's change feed.
    pub async fn start(
        store: Store,
        registry: Arc<SchemaRegistry>,
        dir: PathBuf,
    ) -> Result<Self, BlobError> {
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| BlobError::io(&dir, e))?;
        assemble::remove_unfinished(&dir).await?;
        let system = |id: &SchemaId| {
            let schema = Schema::system(id).ok_or_else(|| {
                StoreError::Corrupt(hoffnung_store::Failure::new("system schema"))
            })?;
            Ok::<_, BlobError>(store.views().table(&schema))
        };
        let inner = Arc::new(Inner {
            blob_table: system(&SchemaId::BLOB_V1)?,
            piece_table: system(&SchemaId::BLOB_PIECE_V1)?,
            store,
            registry,
            dir,
            tables: AtomicBool::new(false),
            locks: (0..LOCKS).map(|_| tokio::sync::Mutex::new(())).collect(),
            state: Mutex::default(),
            assembled: AtomicU64::new(0),
            repaired: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            removed: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        // Subscribed before the first scan, so no change falls between.
        let changes = inner.store.view_changes();
        tasks.spawn(worker::run(inner.clone(), changes, stop.clone()));
        tasks.close();
        Ok(Self { inner, stop, tasks })
    }

    /// The folder the files are in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The blob of a document (its current view) or one of its views,
    /// ready to stream; `None` if there is no such blob view here, it is
    /// deleted, its pieces are not all here, or they contradict it.
    pub async fn find(
        &self,
        document_id: &DocumentId,
        view_id: Option<&DocumentViewId>,
    ) -> Result<Option<BlobFile>, BlobError> {
        let inner = &self.inner;
        if !inner.tables_exist().await? {
            return Ok(None);
        }
        let row = match view_id {
            None => {
                inner
                    .store
                    .current_view(&inner.blob_table, document_id)
                    .await?
            }
            Some(v) => inner
                .store
                .stored_view(&inner.blob_table, v)
                .await?
                .filter(|r| r.document_id == *document_id),
        };
        let Some(blob) = row.as_ref().and_then(BlobView::of) else {
            return Ok(None);
        };
        // A clean-up may remove the file between assembling and opening.
        for _ in 0..2 {
            let Some(path) = inner.ensure(&blob, false).await? else {
                return Ok(None);
            };
            match tokio::fs::File::open(&path).await {
                Ok(file) => {
                    return Ok(Some(BlobFile {
                        file,
                        length: blob.length as u64,
                        mime_type: blob.mime_type.clone(),
                        document_id: blob.document_id,
                        view_id: blob.view_id.clone(),
                    }))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(BlobError::io(&path, e)),
            }
        }
        Ok(None)
    }

    pub fn stats(&self) -> BlobStats {
        let i = &self.inner;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BlobStats {
            assembled: load(&i.assembled),
            repaired: load(&i.repaired),
            invalid: load(&i.invalid),
            attempts: load(&i.attempts),
            waiting: i.state().blobs.len() as u64,
            removed: load(&i.removed),
        }
    }

    /// Stops following the store (an assembly in progress is dropped with
    /// its temporary file) and returns once the worker has ended.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.wait().await;
    }

    /// The worker's task (empty once it has stopped).
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the maps are whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn tables_exist(&self) -> Result<bool, StoreError> {
        if self.tables.load(Ordering::Acquire) {
            return Ok(true);
        }
        let exist = self.store.has_view_table(&SchemaId::BLOB_V1).await?
            && self.store.has_view_table(&SchemaId::BLOB_PIECE_V1).await?;
        self.tables.store(exist, Ordering::Release);
        Ok(exist)
    }

    fn path(&self, view_id: &DocumentViewId) -> PathBuf {
        self.dir.join(file_name(view_id))
    }

    /// The path of the blob's complete file, assembling it if it is
    /// missing or has the wrong size; `None` if it cannot be assembled
    /// (pieces missing: the blob waits for them; or contradicting).
    ///
    /// A blob waiting for pieces is tried again only when `woken` (the
    /// change feed reported one of them), not on every request.
    async fn ensure(&self, blob: &BlobView, woken: bool) -> Result<Option<PathBuf>, BlobError> {
        let lock = &self.locks[lock_index(&blob.view_id)];
        let _building = lock.lock().await;
        // Asked under the lock: whoever held it may just have found out.
        {
            let state = self.state();
            if state.invalid.contains(&blob.view_id)
                || (!woken && state.blobs.contains_key(&blob.view_id))
            {
                return Ok(None);
            }
        }
        let path = self.path(&blob.view_id);
        let found = match tokio::fs::metadata(&path).await {
            Ok(m) if m.len() == blob.length as u64 => return Ok(Some(path)),
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(BlobError::io(&path, e)),
        };
        self.attempts.fetch_add(1, Ordering::Relaxed);
        match assemble::assemble(self, blob, &path).await? {
            Assembled::Ready => {
                self.assembled.fetch_add(1, Ordering::Relaxed);
                if let Some(size) = found {
                    self.repaired.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(view = %blob.view_id, size, length = blob.length, "blob file had the wrong size: assembled again");
                }
                self.state().blobs.remove(&blob.view_id);
                tracing::debug!(view = %blob.view_id, length = blob.length, "blob file written");
                Ok(Some(path))
            }
            Assembled::Missing(pieces) => {
                let mut state = self.state();
                for piece in pieces {
                    state
                        .waiting
                        .entry(piece)
                        .or_default()
                        .insert(blob.view_id.clone());
                }
                state.blobs.insert(blob.view_id.clone(), blob.clone());
                Ok(None)
            }
            Assembled::Invalid(why) => {
                self.invalid.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(view = %blob.view_id, why, "blob contradicts its pieces: not served");
                let mut state = self.state();
                state.blobs.remove(&blob.view_id);
                state.invalid.insert(blob.view_id.clone());
                Ok(None)
            }
        }
    }

    /// The blobs that waited for this piece view, no longer waiting for it.
    fn woken_by(&self, piece: &DocumentViewId) -> Vec<BlobView> {
        let mut state = self.state();
        let Some(blobs) = state.waiting.remove(piece) else {
            return Vec::new();
        };
        blobs
            .iter()
            .filter_map(|b| state.blobs.get(b).cloned())
            .collect()
    }
}

fn lock_index(view_id: &DocumentViewId) -> usize {
    let hash = view_id.view_hash();
    usize::from(hash.as_bytes()[2]) % LOCKS
}
