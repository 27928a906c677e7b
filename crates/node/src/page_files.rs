//! Serving the built page the way a phone on a slow link needs it:
//!
//! - **precompressed**: `cargo xtask build-web` writes a brotli `.br` and a gzip `.gz` beside
//!   every file; the one the browser accepts (brotli first) is sent as it is, with no
//!   compression per request (a file without siblings is gzipped on the fly by the router);
//! - **cached**: trunk puts a content hash in every asset's name, so those are `immutable`
//!   for a year and a repeat visit fetches none of them; the HTML (which names the current
//!   hashes) is `no-cache` with an `ETag`, so a repeat visit costs one `304 Not Modified`.

use std::{
    path::{Component, Path, PathBuf},
    sync::Arc,
    time::UNIX_EPOCH,
};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use tower_http::services::ServeDir;

/// `Cache-Control` of an asset whose name carries its content hash.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything else (the HTML): revalidate on every visit.
pub const REVALIDATE: &str = "no-cache";

/// The page in `dir` as a router: files, their precompressed forms and cache headers.
pub fn router(dir: PathBuf) -> Router {
    let missing = page_missing(&dir);
    let files = ServeDir::new(&dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(get(move || async move { missing }));
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn_with_state(Arc::new(dir), cache_headers))
}

/// Adds `Cache-Control` and `ETag`, and answers `304` to a matching `If-None-Match`.
async fn cache_headers(State(dir): State<Arc<PathBuf>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let Some((file, name)) = file_for(&dir, &path) else {
        return next.run(request).await;
    };
    let etag = etag(&file);
    let cache = if is_hashed(&name) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    if let Some(tag) = &etag
        && matches(request.headers(), tag)
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_headers(response.headers_mut(), cache, Some(tag));
        return response;
    }
    let mut response = next.run(request).await;
    if response.status().is_success() {
        set_headers(response.headers_mut(), cache, etag.as_deref());
    }
    response
}

fn set_headers(headers: &mut HeaderMap, cache: &'static str, etag: Option<&str>) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // The bytes depend on Accept-Encoding (brotli, gzip or none): caches must key on it.
    if !headers.contains_key(header::VARY) {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Some(value) = etag.and_then(|tag| HeaderValue::from_str(tag).ok()) {
        headers.insert(header::ETAG, value);
    }
}

/// The file a request path names (`index.html` for a directory) and its file name, if it
/// exists below `dir`. Paths with `..` or other odd components name nothing.
fn file_for(dir: &Path, path: &str) -> Option<(PathBuf, String)> {
    let relative = Path::new(path.trim_start_matches('/'));
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let mut file = dir.join(relative);
    if path.ends_with('/') || file.is_dir() {
        file.push("index.html");
    }
    if !file.is_file() {
        return None;
    }
    let name = file.file_name()?.to_str()?.to_owned();
    Some((file, name))
}

/// A weak validator from the file's modification time and length (as nginx does): weak,
/// because the same file goes out as brotli, gzip or identity bytes.
fn etag(file: &Path) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some(format!("W/\"{:x}-{:x}\"", modified.as_millis(), meta.len()))
}

/// Whether `If-None-Match` names `tag` (or is `*`), by weak comparison.
fn matches(headers: &HeaderMap, tag: &str) -> bool {
    let bare = tag.trim_start_matches("W/");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().trim_start_matches("W/"))
        .any(|v| v == "*" || v == bare)
}

/// Whether a file name carries trunk's content hash (`app-<16 hex>.js`,
/// `webkad_browser-<16 hex>_bg.wasm`), so that its content never changes under that name.
pub fn is_hashed(name: &str) -> bool {
    name.split('-').skip(1).any(|part| {
        let hex = part.bytes().take_while(u8::is_ascii_hexdigit).count();
        hex >= 16 && matches!(part.as_bytes().get(hex), Some(b'.' | b'_'))
    })
}

/// What a path outside the built page answers: a 404, or how to build the page when it is
/// not built.
fn page_missing(dir: &Path) -> (StatusCode, Html<String>) {
    let dir = dir.display();
    let body = format!(
        "<!doctype html><title>webkad</title><h1>Not here</h1>\
         <p>No such file in <code>{dir}</code>. If the page is not built yet, build it with \
         <code>cargo xtask build-web</code> (<code>cargo xtask run</code> does it too); the \
         node serves it as soon as <code>{dir}/index.html</code> exists.</p>\
         <p>The API is up: <a href=\"/api/bootstrap\">/api/bootstrap</a>.</p>"
    );
    (StatusCode::NOT_FOUND, Html(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_trunks() {
        assert!(is_hashed("app-0123456789abcdef.js"));
        assert!(is_hashed("webkad_browser-a1b2c3d4e5f60718_bg.wasm"));
        assert!(is_hashed("webkad-browser-a1b2c3d4e5f60718_lazy.wasm"));
        assert!(is_hashed("style-0123456789abcdef.css.br"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("app.js"));
        assert!(!is_hashed("my-page.js"));
        assert!(!is_hashed("x-0123.js"));
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b-1\""),
        );
        assert!(matches(&headers, "W/\"b-1\""));
        assert!(!matches(&headers, "W/\"c\""));
    }
}
