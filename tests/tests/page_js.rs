//! A js-libp2p browser node joins `webkad serve` over WebRTC-direct (issue 14): the page
//! benchmark's reference page (`tests/page-js`: js-libp2p from pinned npm packages, bundled
//! by the pinned esbuild) in headless Chromium. Its `joined` means connected, identified
//! (the node enters its routing table only once identify shows a Kademlia server) and
//! answered by the DHT; the node sees it over WebRTC-direct.
//!
//! Needs the built js page (`cargo xtask test` builds it into `target/page-js`; set
//! `WEBKAD_JS_PAGE_DIR` for another place) and chromedriver; skips without them unless
//! `WEBKAD_REQUIRE_BROWSER` is set.

use std::time::{Duration, Instant};

use webkad_tests::{free_port, http_get, serve_page, webdriver::site_ready};

/// A load that has not joined by then failed (it joins in about half a second here).
const LOAD_WAIT: Duration = Duration::from_secs(20);

/// Loads tried before the test fails: about one js-libp2p WebRTC-direct load in ten fails
/// inside js-libp2p (its data channel never opens; the page benchmark counts them), against
/// our node as against others. Every failed load is printed.
const LOADS: usize = 3;

#[tokio::test(flavor = "multi_thread")]
async fn a_js_libp2p_page_joins_over_webrtc_direct_and_the_dht_answers() {
    let Some(js_dir) = site_ready(
        "WEBKAD_JS_PAGE_DIR",
        "target/page-js",
        "the js-libp2p page",
        "cargo xtask test",
    ) else {
        return;
    };
    let port = free_port();
    let node = serve_page(&js_dir, port, &["--ephemeral"]).await;
    let driver = webkad_tests::webdriver::Chromedriver::start().await;
    let url = format!("http://127.0.0.1:{port}/?transport=webrtc-direct");
    let mut failures = Vec::new();
    for load in 1..=LOADS {
        let page = driver.session(&[]).await;
        let started = Instant::now();
        page.goto(&url).await;
        let status = loop {
            let status = page.text("status").await;
            if status.contains("joined") || status.starts_with("failed") {
                break status;
            }
            if started.elapsed() > LOAD_WAIT {
                break format!("not joined after {LOAD_WAIT:?}: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if !status.contains("joined") {
            eprintln!("js-libp2p load {load} of {LOADS}: {status}");
            failures.push(status);
            page.close().await;
            continue;
        }
        eprintln!(
            "js-libp2p load {load}: joined over WebRTC-direct in {:?}",
            started.elapsed()
        );
        assert_eq!(page.text("transport").await, "webrtc-direct");
        let http = node.http.clone().expect("http");
        let (_, scrape) = http_get(&format!("{http}/metrics")).await;
        let inbound = "webkad_connections{transport=\"webrtc-direct\",direction=\"inbound\"} ";
        let connections: f64 = scrape
            .lines()
            .find_map(|line| line.strip_prefix(inbound))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0);
        assert!(
            connections >= 1.0,
            "the node sees no WebRTC-direct connection"
        );
        page.close().await;
        return;
    }
    panic!("no js-libp2p load joined over WebRTC-direct: {failures:?}");
}
