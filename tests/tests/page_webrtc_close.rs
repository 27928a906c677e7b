//! A page joined over WebRTC-direct when its node dies (issue 14): the transport itself must
//! notice the closed connection, without the page's ping, and the page must come back.
//!
//! Needs the built page and chromedriver, like `page.rs`; skips without them unless
//! `WEBKAD_REQUIRE_BROWSER` is set.

use std::time::{Duration, Instant};

use webkad_tests::{
    free_port, serve_page,
    webdriver::{Browser, page_ready},
};

/// The bound for a killed node. The page pings every 15 s with a 10 s timeout
/// (`crates/browser/src/options.rs`), so a ping would take 10 to 25 s, and Chromium's ICE
/// state turns `disconnected` about 6 s after the node's last packet: only the transport's
/// own watch (node keepalives every 500 ms when idle, the page's 2 s silence rule) is in time.
const KILL_NOTICED_WITHIN: Duration = Duration::from_secs(3);

/// A node that stops gracefully says goodbye on the wire (DTLS close_notify, SCTP abort):
/// the page's transport sees it well before Chromium's ICE would give up on silence.
const GOODBYE_WOULD_TAKE: Duration = Duration::from_secs(2);

/// The page's join waits at most this for its first DHT answer; a reload that took it was
/// held up by a dead connection.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_node_is_noticed_without_a_ping_and_the_page_rejoins_and_reloads() {
    let Some(web_dir) = page_ready() else { return };
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    let flags = ["--data-dir", data_dir];
    let port = free_port();
    let node = serve_page(&web_dir, port, &flags).await;
    let node_id = node.peer_id.clone();
    let driver = webkad_tests::webdriver::Chromedriver::start().await;
    let page = driver.session(&[]).await;
    page.goto(&format!("http://127.0.0.1:{port}/?transport=webrtc-direct"))
        .await;
    page.wait_joined().await;
    assert_eq!(page.text("transport").await, "webrtc-direct");

    // A graceful stop (SIGTERM, as systemd stops the node) closes every WebRTC connection
    // on the wire before the process exits: the page knows at once.
    let noticed = noticed_after(&page, "the page noticing the node's goodbye", || {
        let pid = node.pid().expect("running").to_string();
        let term = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        assert!(term.expect("kill runs").success());
    })
    .await;
    eprintln!("WebRTC-direct close noticed {noticed:?} after SIGTERM");
    assert!(
        noticed < GOODBYE_WOULD_TAKE,
        "noticed after {noticed:?}: the node's goodbye did not reach the page"
    );
    // The same port and data dir next: a node still exiting would hold them.
    node.exited().await;
    let node = serve_page(&web_dir, port, &flags).await;
    page.wait_joined().await;

    // kill -9: no goodbye of any kind reaches the page (dropping the process kills it).
    let noticed = noticed_after(&page, "the page's transport noticing the close", || {
        drop(node)
    })
    .await;
    eprintln!("WebRTC-direct close noticed {noticed:?} after kill -9");
    assert!(
        noticed < KILL_NOTICED_WITHIN,
        "noticed after {noticed:?}: the transport's liveness watch missed it"
    );

    // Back with the same data dir (same identity and certificate): the page rejoins alone.
    let node = serve_page(&web_dir, port, &flags).await;
    assert_eq!(node.peer_id, node_id, "the same node is back");
    page.wait_joined().await;
    assert_eq!(page.text("transport").await, "webrtc-direct");

    // Reloads: the node resets a page that comes back while its old connection is still
    // open (ARCHITECTURE.md), and the page must see that reset at once, not after a query
    // timeout (before the SCTP and DTLS transports were watched, about one reload in four
    // waited 10 s for its first DHT answer).
    let url = format!("http://127.0.0.1:{port}/?transport=webrtc-direct");
    for reload in 1..=reloads() {
        let started = Instant::now();
        page.goto("about:blank").await;
        page.goto(&url).await;
        let stalled = joined_or_snapshot(&page, started).await;
        let took = started.elapsed();
        eprintln!("reload {reload} to joined: {took:?}");
        assert_eq!(page.text("transport").await, "webrtc-direct");
        if took >= QUERY_TIMEOUT {
            let log = page.text("log").await;
            panic!(
                "reload {reload} waited {took:?}; {STALLED:?} in, the page showed: {}\n\
                 the page's log, newest first:\n{log}",
                stalled.unwrap_or_default()
            );
        }
    }
    // `close` fails on an uncaught error: no handler of the transport may outlive its
    // closure (the page threw `closure invoked recursively or after being dropped` on
    // most reloads while the dialer's hooks stayed attached to closed connections).
    page.close().await;
    drop(node);
}

/// A reload slower than this has the page's state taken while it waits.
const STALLED: Duration = Duration::from_secs(3);

/// Waits until the page is joined; when that takes longer than [`STALLED`] from `started`,
/// answers what the page showed then (status, connections, peers), to say where it waited.
async fn joined_or_snapshot(page: &Browser, started: Instant) -> Option<String> {
    let mut snapshot = None;
    loop {
        if page.text("status").await.contains("joined") {
            return snapshot;
        }
        if snapshot.is_none() && started.elapsed() > STALLED {
            snapshot = Some(format!(
                "status {:?}, connections {:?}, peers {:?}",
                page.text("status").await,
                page.text("conn-count").await,
                page.text("peers").await,
            ));
        }
        assert!(
            started.elapsed() < 4 * QUERY_TIMEOUT,
            "the page never joined"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many reloads to time: 5, or `WEBKAD_RELOADS` to soak the reload path (a rare stall
/// needs hundreds to show).
fn reloads() -> u32 {
    std::env::var("WEBKAD_RELOADS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(5)
}

/// Runs `stop` and answers how long the page then took to log a disconnection.
async fn noticed_after(page: &Browser, what: &str, stop: impl FnOnce()) -> Duration {
    let disconnects = |log: &str| log.matches("disconnected from").count();
    let before = disconnects(&page.text("log").await);
    let stopped = Instant::now();
    stop();
    page.wait_text("log", what, |log| disconnects(log) > before)
        .await;
    stopped.elapsed()
}
