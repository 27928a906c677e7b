//! Floods a node cannot be taken down by: silent HTTP connections against a node with the
//! common 1,024 descriptor limit, and connections over the per-IP limit.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use tokio::{
    io::AsyncReadExt,
    net::{TcpSocket, TcpStream},
    process::Command,
};
use webkad_core::metrics::{Sample, parse_samples};
use webkad_tests::{LOOPBACK_LISTEN, ServeProcess, http_get, webkad, webkad_bin};

/// Starts `webkad serve` with at most 1,024 open descriptors and `flags`.
async fn serve_limited(flags: &[&str]) -> ServeProcess {
    let mut command = Command::new("prlimit");
    command.arg("--nofile=1024:1024").arg(webkad_bin());
    let mut args = vec!["--ephemeral", "--http", "127.0.0.1:0"];
    args.extend(LOOPBACK_LISTEN);
    args.extend(flags);
    ServeProcess::start_with(command, &args).await
}

/// The node's `/metrics`, parsed.
async fn scrape(http: &str) -> Vec<Sample> {
    let (status, body) = http_get(&format!("{http}/metrics")).await;
    assert_eq!(status, 200, "{body}");
    parse_samples(&body)
}

/// The value of `name` whose labels include `label`, if any.
fn value(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .iter()
        .find(|s| s.name == name && label.is_none_or(|(k, v)| s.label(k) == Some(v)))
        .map_or(0.0, |s| s.value)
}

/// Opens a TCP connection to `to` from the loopback address `from` and sends nothing.
async fn silent(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

const HEADER_TIMEOUT: u64 = 4;
const FLOOD: usize = 1100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_http_connections_deny_no_one_and_are_closed_within_the_header_timeout() {
    let timeout = HEADER_TIMEOUT.to_string();
    let mut node = serve_limited(&["--http-header-timeout", &timeout]).await;
    let http = node.http.clone().expect("http served");
    let http_addr: SocketAddr = http
        .trim_start_matches("http://")
        .parse()
        .expect("http address");
    assert_eq!(
        node.console("PUT greeting hello").await.split(' ').next(),
        Some("Put")
    );
    let before = scrape(&http).await;
    let fds_before = value(&before, "process_open_fds", None);
    assert_eq!(value(&before, "process_max_fds", None), 1024.0);

    // 1,100 silent connections from 22 loopback addresses (50 each: under the per-IP cap, so
    // the global cap and the descriptor reserve are what bite).
    let started = Instant::now();
    let mut flood = Vec::with_capacity(FLOOD);
    for i in 0..FLOOD {
        let from = Ipv4Addr::new(127, 0, 0, 10 + (i % 22) as u8);
        flood.push((
            Instant::now(),
            silent(from, http_addr).await.expect("connect"),
        ));
    }
    let flooded = started.elapsed();

    // During the flood, the API and the DHT answer.
    let t = Instant::now();
    let (status, body) = http_get(&format!("{http}/api/bootstrap")).await;
    let bootstrap_ms = t.elapsed().as_millis();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&node.peer_id), "{body}");
    let t = Instant::now();
    let got = webkad(&["get", "greeting", "--bootstrap", &node.addr("/tcp/")]).await;
    let get_ms = t.elapsed().as_millis();
    assert_eq!(
        (got.code, got.stdout.as_str()),
        (0, "hello\n"),
        "{}",
        got.stderr
    );
    let during = scrape(&http).await;
    let open_during = value(&during, "webkad_http_connections_open", None);
    let fds_during = value(&during, "process_open_fds", None);

    // Every silent connection is closed (EOF or reset) within the header timeout (and a
    // second of slack for a loaded machine).
    let mut latest = Duration::ZERO;
    for (i, (opened, mut stream)) in flood.into_iter().enumerate() {
        let mut byte = [0u8; 1];
        // The node may accept a connection later than the kernel completed it, but not
        // after the flood ended.
        let deadline = (started + flooded).max(opened) + Duration::from_secs(HEADER_TIMEOUT + 1);
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => latest = latest.max(opened.elapsed()),
            Ok(Ok(_)) => panic!("silent connection {i} got data"),
            Err(_) => panic!(
                "silent connection {i} still open {:?} after it opened (flood took {flooded:?})",
                opened.elapsed()
            ),
        }
    }
    let after = scrape(&http).await;
    let shed = |reason| value(&after, "webkad_http_shed_total", Some(("reason", reason)));
    eprintln!(
        "flood of {FLOOD} took {flooded:?}; during it /api/bootstrap {bootstrap_ms} ms, \
         webkad get {get_ms} ms, {open_during} http connections open, fds {fds_before} -> \
         {fds_during}; the longest a silent one stayed open {latest:?}; shed: connection_cap {}, \
         fd_reserve {}, header_timeout {}",
        shed("connection_cap"),
        shed("fd_reserve"),
        shed("header_timeout"),
    );
    assert!(open_during <= 512.0, "{open_during} open over the cap");
    assert!(shed("connection_cap") > 0.0);
    assert!(shed("header_timeout") > 0.0);
    assert!(
        shed("connection_cap") + shed("fd_reserve") + shed("header_timeout") >= FLOOD as f64,
        "every silent connection is counted as shed"
    );
    let (code, _) = node.terminate().await;
    assert_eq!(code, 0);
}
