//! The apps the node serves itself, under `/apps/…`: today the chat app
//! (`apps/chat/`). Their files are compiled into the binary, so an
//! installed node serves them without a folder to find at run time; the
//! WebAssembly package they use is committed built (`apps/chat/pkg/`, see
//! `apps/chat/README.md`) so that building the node needs no wasm toolchain.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// One file of an app.
struct File {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! chat_file {
    ($path:literal, $type:literal) => {
        File {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../../apps/chat/", $path)),
        }
    };
}

const CHAT: &[File] = &[
    chat_file!("index.html", "text/html; charset=utf-8"),
    chat_file!("style.css", "text/css; charset=utf-8"),
    chat_file!("favicon.svg", "image/svg+xml"),
    chat_file!("app.js", "text/javascript; charset=utf-8"),
    chat_file!("node.js", "text/javascript; charset=utf-8"),
    chat_file!("schema.js", "text/javascript; charset=utf-8"),
    chat_file!("view.js", "text/javascript; charset=utf-8"),
    chat_file!("pkg/hoffnung_wasm.js", "text/javascript; charset=utf-8"),
    chat_file!("pkg/hoffnung_wasm_bg.wasm", "application/wasm"),
];

/// The pages may run only their own scripts and the WebAssembly module,
/// and talk only to this node: a message that got into the page as markup
/// could still not run or send anything.
const POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// Entity tags of the chat files (BLAKE3 of each body), by index in [`CHAT`].
static TAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    CHAT.iter()
        .map(|f| {
            let hash = blake3::hash(f.body).to_hex();
            HeaderValue::from_str(&format!("\"{}\"", &hash[..32]))
                .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
        })
        .collect()
});

/// The routes of the apps.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/apps/chat",
            get(|| async { Redirect::permanent("/apps/chat/") }),
        )
        .route(
            "/apps/chat/",
            get(|headers: HeaderMap| async move { chat_file("index.html", &headers) }),
        )
        .route(
            "/apps/chat/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move {
                chat_file(&path, &headers)
            }),
        )
}

/// A file of the chat app; 304 when the client holds this version.
fn chat_file(path: &str, headers: &HeaderMap) -> Response {
    let Some(index) = CHAT.iter().position(|f| f.path == path) else {
        return (StatusCode::NOT_FOUND, "no such file in the chat app").into_response();
    };
    let file = &CHAT[index];
    let tag = TAGS[index].clone();
    // Revalidated on every load, so that a node upgrade shows at once.
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|held| held.as_bytes() == tag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag), cache]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            ),
            (header::ETAG, tag),
            cache,
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        file.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_loads_is_served() {
        let index = std::str::from_utf8(CHAT[0].body).expect("index.html is UTF-8");
        for f in CHAT {
            assert!(!f.body.is_empty(), "{} is empty", f.path);
        }
        // What index.html and the modules name must be in the table.
        for name in ["style.css", "app.js"] {
            assert!(index.contains(name), "index.html does not load {name}");
        }
        let names: Vec<&str> = CHAT.iter().map(|f| f.path).collect();
        for f in CHAT.iter().filter(|f| f.path.ends_with(".js")) {
            let text = std::str::from_utf8(f.body).expect("JS is UTF-8");
            for import in text.split("from './").skip(1) {
                let name = import.split('\'').next().unwrap_or_default();
                assert!(
                    names.contains(&name),
                    "{} imports {name}, not served",
                    f.path
                );
            }
        }
    }

    #[test]
    fn a_held_version_is_not_sent_again() {
        let mut headers = HeaderMap::new();
        let fresh = chat_file("app.js", &headers);
        assert_eq!(fresh.status(), StatusCode::OK);
        let tag = fresh.headers()[header::ETAG].clone();
        headers.insert(header::IF_NONE_MATCH, tag);
        assert_eq!(
            chat_file("app.js", &headers).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            chat_file("../Cargo.toml", &headers).status(),
            StatusCode::NOT_FOUND
        );
    }
}
