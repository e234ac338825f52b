//! `GET` and `HEAD /blobs/<document id>[/<view id>]`: a blob's bytes,
//! streamed from its file, with the view id as ETag, conditional requests
//! and single byte ranges.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hoffnung_blobs::BlobFile;
use hoffnung_core::{DocumentId, DocumentViewId};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::http::AppState;

/// Bytes read from the file per chunk sent.
const CHUNK: usize = 256 * 1024;

/// A view's bytes never change: caches may keep them for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub(crate) async fn by_document(
    State(state): State<AppState>,
    Path(document): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&state, &document, None, &headers).await
}

pub(crate) async fn by_view(
    State(state): State<AppState>,
    Path((document, view)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    serve(&state, &document, Some(&view), &headers).await
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "Could not find document".into())
}

async fn serve(
    state: &AppState,
    document: &str,
    view: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let parse_error = |e: &dyn std::fmt::Display| {
        text(
            StatusCode::BAD_REQUEST,
            format!("Could not parse identifier: {e}"),
        )
    };
    let document: DocumentId = match document.parse() {
        Ok(d) => d,
        Err(e) => return parse_error(&e),
    };
    let view: Option<DocumentViewId> = match view.map(str::parse).transpose() {
        Ok(v) => v,
        Err(e) => return parse_error(&e),
    };
    let Some(blobs) = &state.blobs else {
        return not_found();
    };
    let blob = match blobs.find(&document, view.as_ref()).await {
        Ok(Some(blob)) => blob,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, %document, "serving a blob failed");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not read blob".into(),
            );
        }
    };
    respond(blob, view.is_some(), headers).await
}

async fn respond(mut blob: BlobFile, pinned: bool, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", blob.view_id);
    let mut out = HeaderMap::new();
    let mut put = |name, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    put(header::ETAG, &etag);
    // The document route follows updates: ask each time, cheap with the ETag.
    put(
        header::CACHE_CONTROL,
        if pinned { IMMUTABLE } else { "no-cache" },
    );
    put(header::ACCEPT_RANGES, "bytes");
    // The uploader chose the mime type: no sniffing, no scripts.
    put(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    put(header::CONTENT_SECURITY_POLICY, "sandbox");
    if matches(headers.get(header::IF_NONE_MATCH), &etag) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    put(header::CONTENT_TYPE, &blob.mime_type);
    let length = blob.length;
    // A Range applies unless If-Range names another version.
    let if_range = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| v.trim() == etag));
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range => parse_range(r, length),
        _ => Range::Whole,
    };
    let (status, start, len) = match range {
        Range::Whole => (StatusCode::OK, 0, length),
        Range::Part { start, end } => {
            put(
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{length}"),
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Range::Unsatisfiable => {
            put(header::CONTENT_RANGE, &format!("bytes */{length}"));
            out.remove(header::CONTENT_TYPE);
            return (StatusCode::RANGE_NOT_SATISFIABLE, out).into_response();
        }
    };
    put(header::CONTENT_LENGTH, &len.to_string());
    if start > 0 {
        if let Err(e) = blob.file.seek(std::io::SeekFrom::Start(start)).await {
            tracing::error!(error = %e, "seeking in a blob file failed");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not read blob".into(),
            );
        }
    }
    let body = Body::from_stream(ReaderStream::with_capacity(blob.file.take(len), CHUNK));
    (status, out, body).into_response()
}

/// Whether an `If-None-Match` header names this ETag (or is `*`).
fn matches(header: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').map(str::trim).any(|tag| {
        // Weak comparison, as RFC 9110 asks of If-None-Match.
        tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
    })
}

#[derive(Debug, PartialEq)]
enum Range {
    /// No range, several ranges or one that does not parse: the whole body.
    Whole,
    /// Bytes `start..=end`.
    Part {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

/// One `bytes=` range of RFC 9110 against a body of `length` bytes.
fn parse_range(value: &str, length: u64) -> Range {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Range::Whole;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Range::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if first.is_empty() {
        // `-n`: the last n bytes.
        return match number(last) {
            None => Range::Whole,
            Some(0) => Range::Unsatisfiable,
            Some(_) if length == 0 => Range::Unsatisfiable,
            Some(n) => Range::Part {
                start: length.saturating_sub(n),
                end: length - 1,
            },
        };
    }
    let Some(start) = number(first) else {
        return Range::Whole;
    };
    // `a-` runs to the end; `a-b` ends at b (or the end).
    let end = match (last.is_empty(), number(last)) {
        (true, _) => None,
        (false, Some(end)) => Some(end),
        (false, None) => return Range::Whole,
    };
    if end.is_some_and(|end| end < start) {
        return Range::Whole;
    }
    if start >= length {
        return Range::Unsatisfiable;
    }
    Range::Part {
        start,
        end: end.map_or(length - 1, |end| end.min(length - 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_range, Range};

    #[test]
    fn ranges() {
        let part = |start, end| Range::Part { start, end };
        assert_eq!(parse_range("bytes=0-9", 100), part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), part(90, 99));
        assert_eq!(parse_range("bytes=90-500", 100), part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), part(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), Range::Unsatisfiable);
        // Ignored: another unit, several ranges, nonsense, reversed.
        assert_eq!(parse_range("items=0-9", 100), Range::Whole);
        assert_eq!(parse_range("bytes=0-9,20-29", 100), Range::Whole);
        assert_eq!(parse_range("bytes=x-9", 100), Range::Whole);
        assert_eq!(parse_range("bytes=9-3", 100), Range::Whole);
        assert_eq!(parse_range("bytes=-", 100), Range::Whole);
        assert_eq!(parse_range("bytes=+1-2", 100), Range::Whole);
    }
}
