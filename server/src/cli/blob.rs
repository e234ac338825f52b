//! `hoffnung blob upload|get`: a file published as a p2panda 0.8 blob
//! through GraphQL (`nextArgs` + `publish`, so any p2panda 0.8 node takes
//! it), and a blob's bytes downloaded from the node's `/blobs/…`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use hoffnung_core::operation::is_valid_mime_type;
use hoffnung_core::schema::MAX_BLOB_PIECE_LENGTH;
use hoffnung_core::{
    DocumentId, DocumentViewId, Fields, Hash, Operation, OperationValue, SchemaId,
};
use indicatif::ProgressBar;
use reqwest::StatusCode;

use crate::args::{DocOptions, NodeUrl};
use crate::client::{Client, WAIT};
use crate::keys;
use crate::logging::init_client_logs;

/// What a blob is served as when the content tells nothing.
const FALLBACK_MIME_TYPE: &str = "application/octet-stream";

/// `hoffnung blob upload`: publishes the pieces, then the blob; prints the
/// blob's document id.
pub async fn upload(
    path: &Path,
    mime_type: Option<String>,
    opts: &DocOptions,
) -> anyhow::Result<ExitCode> {
    init_client_logs();
    // Everything that can be refused is checked before the first piece is
    // published: a refusal later would leave orphaned pieces on the node.
    if let Some(m) = &mime_type {
        if !is_valid_mime_type(m) {
            bail!(
                "--mime-type `{m}` is not a MIME type p2panda 0.8 accepts \
                 (lowercase `type/subtype`, e.g. `image/png` or `application/vnd.ms-excel`)"
            );
        }
    }
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let mut piece = read_piece(&mut file, path)?;
    if piece.is_empty() {
        bail!(
            "{} is empty: a p2panda 0.8 blob needs at least one piece, so an empty file cannot be published",
            path.display()
        );
    }
    let mime_type = mime_type.unwrap_or_else(|| guess_mime_type(&piece));
    let key = keys::read_key(&keys::author_key_path(opts.client.key_file.as_deref()))?;
    let node = Client::new(&opts.client.node.url)?;

    let bar = progress(size, "publishing");
    let mut pieces = Vec::new();
    let mut length: u64 = 0;
    while !piece.is_empty() {
        let n = piece.len() as u64;
        let mut fields = Fields::new();
        fields.insert("data".into(), OperationValue::Bytes(piece));
        let op = Operation::create(SchemaId::BLOB_PIECE_V1, fields);
        let id = node
            .publish(&key, &op)
            .await
            .with_context(|| format!("publishing piece {}", pieces.len() + 1))?;
        pieces.push(DocumentViewId::from_operation(id));
        length += n;
        bar.inc(n);
        piece = read_piece(&mut file, path)?;
    }
    bar.finish_and_clear();

    let count = pieces.len();
    let mut fields = Fields::new();
    fields.insert(
        "length".into(),
        OperationValue::Int(i64::try_from(length).context("the file is too large")?),
    );
    fields.insert("mime_type".into(), OperationValue::Str(mime_type.clone()));
    fields.insert("pieces".into(), OperationValue::PinnedRelationList(pieces));
    let document = node
        .publish(&key, &Operation::create(SchemaId::BLOB_V1, fields))
        .await
        .context("publishing the blob")?;
    if !opts.no_wait {
        wait_served(&node, &document, length).await?;
    }
    eprintln!("published {length} bytes in {count} pieces as {mime_type}");
    println!("{document}");
    Ok(ExitCode::SUCCESS)
}

/// The next piece of the file: up to 256,000 bytes, empty at the end. One
/// piece at a time keeps memory bounded whatever the file's size.
fn read_piece(file: &mut std::fs::File, path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut piece = Vec::with_capacity(MAX_BLOB_PIECE_LENGTH);
    Read::take(file, MAX_BLOB_PIECE_LENGTH as u64)
        .read_to_end(&mut piece)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(piece)
}

/// The MIME type the content's magic bytes show, if p2panda 0.8 accepts
/// it; else `application/octet-stream`.
fn guess_mime_type(start: &[u8]) -> String {
    infer::get(start)
        .map(|t| t.mime_type())
        .filter(|m| is_valid_mime_type(m))
        .unwrap_or(FALLBACK_MIME_TYPE)
        .to_string()
}

/// Waits until the node serves the blob (it does once it has every piece
/// and has assembled the file). Bounded: [`WAIT`], plus a second for every
/// 10 MB, since assembling takes longer for large files.
async fn wait_served(node: &Client, document: &Hash, length: u64) -> anyhow::Result<()> {
    let url = format!("{}/blobs/{document}", node.base());
    let limit = WAIT + Duration::from_secs(length / 10_000_000);
    let start = Instant::now();
    let mut delay = Duration::from_millis(10);
    loop {
        let status = node.http().head(&url).send().await.map(|r| r.status());
        match status {
            Ok(s) if s.is_success() => return Ok(()),
            Ok(StatusCode::NOT_FOUND) | Err(_) if start.elapsed() < limit => {}
            Ok(s) => bail!(
                "published blob {document}, but {url} answered HTTP {s} after {} s",
                start.elapsed().as_secs()
            ),
            Err(e) => {
                return Err(anyhow!(e)).with_context(|| {
                    format!("published blob {document}, but could not read it back from {url}")
                })
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// `hoffnung blob get`: streams the blob's bytes to `output` (through a
/// temporary file beside it, renamed when complete) or to standard output.
pub async fn get(id: &str, output: Option<&Path>, node: &NodeUrl) -> anyhow::Result<ExitCode> {
    init_client_logs();
    let path = blob_path(id)?;
    let client = Client::new(&node.url)?;
    // No whole-request timeout: a large blob may take long; a stalled
    // connection is caught by the read timeout.
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()?;
    let url = format!("{}/blobs/{path}", client.base());
    let mut response = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("could not reach the node at {url}"))?;
    match response.status() {
        s if s.is_success() => {}
        StatusCode::NOT_FOUND => {
            bail!("no such blob on this node, or its pieces have not all arrived: {path}")
        }
        s => {
            let body = response.text().await.unwrap_or_default();
            bail!(
                "{url} answered HTTP {s}: {}",
                body.chars().take(200).collect::<String>()
            );
        }
    }
    let expected = response.content_length();
    let bar = progress(expected.unwrap_or(0), "downloading");
    let mut out = Output::open(output)?;
    let mut written: u64 = 0;
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("downloading {url}"))?
    {
        out.write_all(&chunk)?;
        written += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if let Some(expected) = expected.filter(|e| *e != written) {
        bail!("the node sent {written} of {expected} bytes");
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// `<document id>` or `<document id>/<view id>`, checked and normalised, so
/// that a typo gets a clear error rather than the node's 400.
fn blob_path(id: &str) -> anyhow::Result<String> {
    let (document, view) = match id.split_once('/') {
        Some((d, v)) => (d, Some(v)),
        None => (id, None),
    };
    let document: DocumentId = document
        .parse()
        .with_context(|| format!("`{document}` is not a document id"))?;
    Ok(match view {
        None => document.to_string(),
        Some(v) => {
            let view: DocumentViewId = v
                .parse()
                .with_context(|| format!("`{v}` is not a document view id"))?;
            format!("{document}/{view}")
        }
    })
}

/// Where downloaded bytes go.
enum Output {
    Stdout(std::io::Stdout),
    File {
        temp: tempfile::NamedTempFile,
        path: std::path::PathBuf,
    },
}

impl Output {
    fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::Stdout(std::io::stdout()));
        };
        // Beside the target, so that the rename stays on one file system.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = tempfile::Builder::new()
            .prefix(".hoffnung-blob-")
            .suffix(".part")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        Ok(Self::File {
            temp,
            path: path.to_path_buf(),
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Self::Stdout(out) => out.write_all(bytes).context("writing to standard output"),
            Self::File { temp, path } => temp
                .write_all(bytes)
                .with_context(|| format!("writing {}", path.display())),
        }
    }

    /// Flushes; a file is synced and renamed into place (a failed download
    /// never leaves a partial file under the target's name).
    fn finish(self) -> anyhow::Result<()> {
        match self {
            Self::Stdout(mut out) => out.flush().context("writing to standard output"),
            Self::File { temp, path } => {
                temp.as_file()
                    .sync_all()
                    .with_context(|| format!("writing {}", path.display()))?;
                // Temporary files are owner-only; a download gets the mode of
                // the file it replaces, or that of an ordinary new file.
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(&path)
                        .map(|m| m.permissions().mode())
                        .unwrap_or(0o644);
                    temp.as_file()
                        .set_permissions(std::fs::Permissions::from_mode(mode))?;
                }
                temp.persist(&path)
                    .with_context(|| format!("renaming the download to {}", path.display()))?;
                Ok(())
            }
        }
    }
}

/// A byte progress bar on standard error, hidden when that is no terminal.
fn progress(total: u64, verb: &'static str) -> ProgressBar {
    crate::logging::progress_bar(total, verb, "{bytes}/{total_bytes} ({bytes_per_sec}")
        .unwrap_or_else(ProgressBar::hidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_from_magic_bytes_or_falls_back() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(guess_mime_type(png), "image/png");
        assert_eq!(guess_mime_type(b"just some text"), FALLBACK_MIME_TYPE);
    }

    #[test]
    fn blob_paths_are_checked() {
        let doc = "0020".to_string() + &"ab".repeat(32);
        assert_eq!(blob_path(&doc).unwrap(), doc);
        let both = format!("{doc}/{doc}");
        assert_eq!(blob_path(&both).unwrap(), both);
        let err = blob_path("nope").unwrap_err().to_string();
        assert!(err.contains("`nope` is not a document id"), "{err}");
        let err = blob_path(&format!("{doc}/x")).unwrap_err().to_string();
        assert!(err.contains("`x` is not a document view id"), "{err}");
    }
}
