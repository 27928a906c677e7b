//! The page's metrics panel (`web/metrics.js`), as a user sees it: served by `webkad serve`,
//! opened in headless Chromium, checked through its `data-testid` hooks. The panel polls the
//! page node's own `stats()` about once a second.
//!
//! Needs the built page and chromedriver, like `page.rs`.

use webkad_tests::{
    free_port, serve_page,
    webdriver::{Browser, Chromedriver, page_ready},
};

/// An attribute as a number (`None` when absent, empty or not a number).
async fn number(page: &Browser, id: &str, name: &str) -> Option<f64> {
    page.attr(id, name).await?.parse().ok()
}

/// Waits until the panel has rendered one more `stats()` answer than it had: it is live.
async fn next_tick(page: &Browser) {
    let ticks = number(page, "metrics", "data-ticks").await.unwrap_or(0.0);
    page.wait_attr("metrics", "data-ticks", "the panel updating", |t| {
        t.parse::<f64>().is_ok_and(|n| n > ticks)
    })
    .await;
    let state = page.attr("metrics", "data-state").await;
    assert_eq!(
        state.as_deref(),
        Some("live"),
        "panel error: {:?}",
        page.attr("metrics", "data-error").await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_panel_shows_traffic_rtt_connections_and_dht_latency() {
    let Some(web_dir) = page_ready() else { return };
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    let port = free_port();
    let node = serve_page(&web_dir, port, &["--data-dir", data_dir]).await;
    let driver = Chromedriver::start().await;
    let page = driver.session(&[]).await;
    page.goto(&format!("http://127.0.0.1:{port}/")).await;
    page.wait_joined().await;
    let transport = page.text("transport").await;
    assert!(
        page.attr("metrics", "data-state").await.is_some(),
        "no metrics panel"
    );
    next_tick(&page).await;

    // Joining moved bytes both ways.
    let total = page
        .wait_attr(
            "chart-bandwidth",
            "data-total-bytes",
            "bytes counted",
            |v| v.parse::<u64>().is_ok_and(|n| n > 0),
        )
        .await;
    let bandwidth = page.text("chart-bandwidth").await;
    assert!(
        bandwidth.contains("in ") && bandwidth.contains("out ") && !bandwidth.contains("in 0 B"),
        "bandwidth totals: {bandwidth:?}"
    );

    // The page pings the bootstrap node as soon as it connects (then every 15 s).
    let rtt = page
        .wait_attr("chart-rtt", "data-latest-rtt-ms", "a ping RTT", |v| {
            v.parse::<f64>().is_ok_and(|ms| ms >= 0.0)
        })
        .await;
    let legend = page.text("chart-rtt").await;
    let tail = &node.peer_id[node.peer_id.len() - 4..];
    assert!(
        legend.contains(tail) && legend.contains(" ms"),
        "the bootstrap node ({}) with its RTT ({rtt} ms) in the legend: {legend:?}",
        node.peer_id
    );

    // Connections by transport: at least the one the page joined on.
    let open = number(&page, "conn-count", "data-open")
        .await
        .unwrap_or(0.0);
    let conns = page.text("conn-count").await;
    assert!(open >= 1.0, "open connections: {conns:?}");
    assert!(
        conns.contains(&transport),
        "joined via {transport}: {conns:?}"
    );
    let discovery = page.text("discovery-counts").await;
    assert!(discovery.contains("bootstrap"), "discovery: {discovery:?}");
    let security = page.text("security-counts").await;
    assert!(
        security.contains("handshake failures"),
        "security: {security:?}"
    );

    // A PUT and a GET through the forms each add a DHT query to the histogram.
    let before = number(&page, "dht-latency", "data-count")
        .await
        .unwrap_or(0.0);
    page.submit(
        &[("put-key", "metrics-key"), ("put-value", "counted")],
        "put-btn",
        |r| r.contains("stored"),
    )
    .await;
    page.submit(&[("get-key", "metrics-key")], "get-btn", |r| {
        r.contains("counted")
    })
    .await;
    let count = page
        .wait_attr("dht-latency", "data-count", "put and get timed", |v| {
            v.parse::<f64>()
                .is_ok_and(|n| n >= 1.0 && n >= before + 2.0)
        })
        .await;
    let histogram = page.text("dht-latency").await;
    assert!(
        histogram.contains('≤') && histogram.contains("put 1") && histogram.contains("get 1"),
        "{count} queries in the histogram: {histogram:?}"
    );
    let grown = number(&page, "chart-bandwidth", "data-total-bytes").await;
    assert!(
        grown.is_some_and(|n| n > total.parse::<f64>().unwrap_or(0.0)),
        "more bytes after the PUT and GET: {grown:?} after {total}"
    );

    // The node restarts: the panel follows the page through its rejoin (or its new node).
    let node = page
        .rejoin_after_restart(node, &web_dir, port, &["--data-dir", data_dir])
        .await;
    page.wait_attr("conn-count", "data-open", "a connection again", |v| {
        v.parse::<u64>().is_ok_and(|n| n >= 1)
    })
    .await;
    next_tick(&page).await;

    page.close().await;
    drop(node);
}
