//! Writing one blob's file from its pieces: a few pieces in memory at a
//! time, into a temporary file that is synced and renamed only when every
//! piece was there and their sizes add up to the blob's length.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hoffnung_core::{
    reduce_to_view, schema::MAX_BLOB_PIECE_LENGTH, DocumentViewId, OperationValue, Schema, SchemaId,
};
use hoffnung_store::ViewKey;
use tokio::io::AsyncWriteExt;

use crate::{BlobError, BlobView, Inner};

/// Pieces read per statement: at most ~1 MB of piece data in memory.
const PIECES_PER_READ: usize = 4;

/// Suffix of files being written (names of finished files are view ids).
const UNFINISHED: &str = ".tmp";

pub(crate) enum Assembled {
    /// The file is complete at its path.
    Ready,
    /// These pieces are not here (yet).
    Missing(Vec<DocumentViewId>),
    /// The pieces contradict the blob; why.
    Invalid(String),
}

/// One pinned piece.
enum Piece {
    Data(Vec<u8>),
    Missing,
    Invalid(String),
}

/// The names of the files in the blob folder, with their paths.
pub(crate) async fn files(dir: &Path) -> Result<Vec<(String, PathBuf)>, BlobError> {
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| BlobError::io(dir, e))?;
    let mut out = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| BlobError::io(dir, e))?
    {
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    Ok(out)
}

/// Removes the temporary files of writes a crash interrupted.
pub(crate) async fn remove_unfinished(dir: &Path) -> Result<(), BlobError> {
    for (name, path) in files(dir).await? {
        if is_unfinished(&name) {
            tracing::info!(file = %name, "removing an unfinished blob file");
            tokio::fs::remove_file(&path)
                .await
                .map_err(|e| BlobError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Whether a file name in the blob folder is a write in progress.
pub(crate) fn is_unfinished(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(UNFINISHED)
}

pub(crate) async fn assemble(
    inner: &Inner,
    blob: &BlobView,
    path: &Path,
) -> Result<Assembled, BlobError> {
    if blob.pieces.is_empty() {
        return Ok(Assembled::Invalid("no pieces".into()));
    }
    let Ok(length) = u64::try_from(blob.length) else {
        return Ok(Assembled::Invalid(format!("length {}", blob.length)));
    };
    let dir = &inner.dir;
    let temp = tempfile::Builder::new()
        .prefix(".")
        .suffix(UNFINISHED)
        .tempfile_in(dir)
        .map_err(|e| BlobError::io(dir, e))?;
    let (file, temp_path) = temp.into_parts();
    // Dropping `temp_path` (an error, a missing piece, cancellation)
    // removes the file.
    let mut file = tokio::fs::File::from_std(file);
    let mut written: u64 = 0;
    let mut missing = Vec::new();
    for chunk in blob.pieces.chunks(PIECES_PER_READ) {
        let mut pieces = read_pieces(inner, chunk).await?;
        for id in chunk {
            // A piece pinned twice in a chunk is read once, written twice.
            let data = if chunk.iter().filter(|c| *c == id).count() > 1 {
                pieces.get(id).cloned()
            } else {
                pieces.remove(id)
            };
            let piece = match data {
                Some(data) => Piece::Data(data),
                None => computed_piece(inner, id).await?,
            };
            let data = match piece {
                Piece::Data(d) => d,
                Piece::Missing => {
                    missing.push(id.clone());
                    continue;
                }
                Piece::Invalid(why) => return Ok(Assembled::Invalid(why)),
            };
            if data.len() > MAX_BLOB_PIECE_LENGTH {
                return Ok(Assembled::Invalid(format!(
                    "piece {id} has {} bytes",
                    data.len()
                )));
            }
            written += data.len() as u64;
            if written > length {
                return Ok(Assembled::Invalid(format!(
                    "pieces hold more than the length of {length} bytes"
                )));
            }
            if missing.is_empty() {
                file.write_all(&data)
                    .await
                    .map_err(|e| BlobError::io(&temp_path, e))?;
            }
        }
    }
    if !missing.is_empty() {
        return Ok(Assembled::Missing(missing));
    }
    if written != length {
        return Ok(Assembled::Invalid(format!(
            "pieces hold {written} bytes, the length is {length}"
        )));
    }
    file.sync_all()
        .await
        .map_err(|e| BlobError::io(&temp_path, e))?;
    drop(file);
    let (path, dir) = (path.to_path_buf(), dir.clone());
    tokio::task::spawn_blocking(move || {
        temp_path
            .persist(&path)
            .map_err(|e| BlobError::io(&path, e.error))?;
        // The rename is durable once the folder is synced.
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| BlobError::io(&dir, e))
    })
    .await
    .map_err(|e| BlobError::io(inner.dir.as_path(), std::io::Error::other(e)))??;
    Ok(Assembled::Ready)
}

/// The data of the stored piece views among `ids`.
async fn read_pieces(
    inner: &Inner,
    ids: &[DocumentViewId],
) -> Result<HashMap<DocumentViewId, Vec<u8>>, BlobError> {
    let mut keys: Vec<ViewKey> = ids.iter().cloned().map(ViewKey::View).collect();
    keys.dedup();
    let rows = inner.store.read_views(&inner.piece_table, &keys).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(_, row)| match row.fields?.remove("data") {
            Some(OperationValue::Bytes(data)) => Some((row.view_id, data)),
            _ => None,
        })
        .collect())
}

/// A piece view that is not stored as a view (it never was a current one,
/// or the materializer has not reached it): reduced from the operations.
async fn computed_piece(inner: &Inner, id: &DocumentViewId) -> Result<Piece, BlobError> {
    let Some(first) = id.ids().first() else {
        return Ok(Piece::Missing);
    };
    let Some((document, schema_id)) = inner.store.operation_origin(first).await? else {
        return Ok(Piece::Missing);
    };
    if schema_id != SchemaId::BLOB_PIECE_V1 {
        return Ok(Piece::Invalid(format!(
            "piece {id} is a view of {schema_id}, not of blob_piece_v1"
        )));
    }
    let Some(schema) = Schema::system(&SchemaId::BLOB_PIECE_V1) else {
        return Ok(Piece::Missing);
    };
    let ops = inner.store.document_operations(&document, &schema).await?;
    let Ok(view) = reduce_to_view(&ops, id) else {
        // Not every operation of the view is here yet.
        return Ok(Piece::Missing);
    };
    if view.is_deleted {
        return Ok(Piece::Invalid(format!("piece {id} is deleted")));
    }
    Ok(
        match view
            .fields
            .as_ref()
            .and_then(|f| f.get("data"))
            .map(|v| &v.value)
        {
            Some(OperationValue::Bytes(data)) => Piece::Data(data.clone()),
            _ => Piece::Invalid(format!("piece {id} has no data")),
        },
    )
}
