//! What the page costs on the wire, as `webkad serve` sends it: precompressed brotli or
//! gzip by content negotiation, hashed assets cached for a year, the HTML revalidated with
//! an ETag, and the whole page within its byte budget (deterministic: it fails CI when the
//! page grows past it; timings live in `cargo xtask bench-page`).
//!
//! Needs the built page (`cargo xtask build-web`, which also writes the `.br` and `.gz`
//! files); skips without it unless `WEBKAD_REQUIRE_BROWSER` is set.

use webkad_tests::{
    free_port, http_fetch,
    page_bytes::{after_joined, page_files, totals},
    serve_page,
    webdriver::page_ready,
};

/// Everything the page fetches before `joined`, with brotli (what Chromium asks for on
/// https and on localhost). Measured at 293.8 KB (297.7 KB before lazily negotiated streams
/// took multistream-select's extra paths off the join, 311.6 KB before the scripts were
/// minified and the metrics panel loaded after joined, 313.5 KB before SHA-2's compact rounds,
/// 376.2 KB before the page computed the curve tables, kept the metrics summary off the join
/// path and built with shallow Debug; 520.1 KB before the wasm split); the issue's goal is
/// 300 KB.
const BROTLI_BUDGET: usize = 297_000;
/// The same with gzip (what Chromium asks for on a plain-http origin). Measured at 350.6 KB
/// (355.2 KB before lazy negotiation, 370.4 KB before the minified scripts, 372.4 KB before
/// SHA-2's compact rounds, 440.4 KB before those cuts, 623.0 KB before the split); the
/// issue's goal is 380 KB.
const GZIP_BUDGET: usize = 354_000;
/// Every file, the wasm's second part (fetched after `joined`) included, with brotli and
/// with gzip. Measured at 512.5 KB and 611.3 KB.
const TOTAL_BUDGETS: (usize, usize) = (516_000, 615_000);

#[test]
fn the_page_fits_its_byte_budget() {
    let Some(web_dir) = page_ready() else { return };
    let files = page_files(&web_dir);
    let missing: Vec<&str> = files
        .iter()
        .filter(|f| f.raw > 1000 && (f.brotli == f.raw || f.gzip == f.raw))
        .map(|f| f.name.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "files without precompressed siblings (cargo xtask build-web writes them): {missing:?}"
    );
    let (_, all_gz, all_br) = totals(&files);
    eprintln!("page and the wasm's second part: {all_gz} gzip, {all_br} brotli");
    assert!(
        all_br <= TOTAL_BUDGETS.0 && all_gz <= TOTAL_BUDGETS.1,
        "all files: {all_br} bytes brotli, {all_gz} gzip, over {TOTAL_BUDGETS:?}: {files:#?}"
    );
    let files: Vec<_> = files
        .into_iter()
        .filter(|f| !after_joined(&f.name))
        .collect();
    assert!(
        files.iter().any(|f| f.name.ends_with(".wasm")),
        "the wasm's first part is fetched before joined"
    );
    let (raw, gz, br) = totals(&files);
    eprintln!("page before joined: {raw} bytes raw, {gz} gzip, {br} brotli");
    assert!(
        br <= BROTLI_BUDGET,
        "the page is {br} bytes with brotli, over its budget of {BROTLI_BUDGET}: {files:#?}"
    );
    assert!(
        gz <= GZIP_BUDGET,
        "the page is {gz} bytes with gzip, over its budget of {GZIP_BUDGET}: {files:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_serves_precompressed_assets_and_cache_headers() {
    let Some(web_dir) = page_ready() else { return };
    let wasm = page_files(&web_dir)
        .into_iter()
        .find(|f| f.name.ends_with("_bg.wasm"))
        .expect("the page has a wasm");
    let port = free_port();
    let _node = serve_page(&web_dir, port, &["--ephemeral"]).await;
    let url = format!("http://127.0.0.1:{port}/{}", wasm.name);

    let br = http_fetch(&url, &[("Accept-Encoding", "gzip, deflate, br, zstd")]).await;
    assert_eq!(br.status, 200);
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.body.len(), wasm.brotli, "the .br file, as built");
    assert_eq!(br.header("content-type"), Some("application/wasm"));
    assert_eq!(
        br.header("cache-control"),
        Some("public, max-age=31536000, immutable"),
        "a hashed asset never changes under its name"
    );
    assert!(
        br.header("vary")
            .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding"))
    );

    let gz = http_fetch(&url, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.body.len(), wasm.gzip, "the .gz file, as built");

    let plain = http_fetch(&url, &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.body.len(), wasm.raw);

    let html = http_fetch(
        &format!("http://127.0.0.1:{port}/"),
        &[("Accept-Encoding", "br")],
    )
    .await;
    assert_eq!(html.status, 200);
    assert_eq!(html.header("content-encoding"), Some("br"));
    assert_eq!(html.header("cache-control"), Some("no-cache"));
    let etag = html
        .header("etag")
        .expect("the HTML has an ETag")
        .to_owned();
    let again = http_fetch(
        &format!("http://127.0.0.1:{port}/index.html"),
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(
        again.status, 304,
        "a repeat visit revalidates the HTML for free"
    );
    assert!(again.body.is_empty());

    let missing = http_fetch(&format!("http://127.0.0.1:{port}/nope.js"), &[]).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("cache-control"), None);
}
