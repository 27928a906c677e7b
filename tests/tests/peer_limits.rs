//! Per-IP connection limits and per-peer request rates (issue 13), on real sockets: all of
//! 127.0.0.0/8 reaches the loopback interface on Linux, so 127.0.0.1 and 127.0.0.2 are two
//! hosts to the node. libp2p's TCP transport binds a dial to the unspecified address (the
//! kernel then picks 127.0.0.1 for any 127/8 destination), so the second host is a small
//! TCP forwarder whose outgoing sockets are bound to 127.0.0.2.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use libp2p::Multiaddr;
use tokio::net::{TcpSocket, TcpStream};
use webkad_core::metrics::{Sample, parse_samples};
use webkad_tests::{
    LOOPBACK_LISTEN, ServeProcess, client_config, http_get, init_logs, spawn_node, webkad,
};

async fn serve(flags: &[&str]) -> ServeProcess {
    let mut args = vec!["--ephemeral", "--http", "127.0.0.1:0"];
    args.extend(LOOPBACK_LISTEN);
    args.extend(flags);
    ServeProcess::start(&args).await
}

/// `webkad_limits_hit_total{limit}` on the node.
async fn limit_hits(node: &ServeProcess, limit: &str) -> f64 {
    let http = node.http.as_deref().expect("HTTP served");
    let (status, body) = http_get(&format!("{http}/metrics")).await;
    assert_eq!(status, 200, "{body}");
    let samples: Vec<Sample> = parse_samples(&body);
    samples
        .iter()
        .filter(|s| s.name.starts_with("webkad_limits_hit") && s.label("limit") == Some(limit))
        .map(|s| s.value)
        .sum()
}

/// `webkad get` through `bootstrap`.
async fn get_from(bootstrap: &str, key: &str) -> webkad_tests::Output {
    webkad(&["get", "--bootstrap", bootstrap, key]).await
}

/// A forwarder on 127.0.0.1 whose connections reach `node` from 127.0.0.2; answers the
/// multiaddr to dial (the forwarder's port, the node's peer id). Stops with the test.
async fn from_second_address(node: &ServeProcess) -> String {
    let target = tcp_socket(node);
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind the forwarder");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut outbound) = silent(Ipv4Addr::new(127, 0, 0, 2), target).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", node.peer_id)
}

/// The node's TCP socket address.
fn tcp_socket(node: &ServeProcess) -> SocketAddr {
    let addr = node.addr("/tcp/");
    let port = addr
        .split('/')
        .nth(4)
        .and_then(|p| p.parse().ok())
        .expect("a TCP port");
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_over_its_connection_limit_is_refused_while_another_gets_in() {
    init_logs();
    let node = serve(&["--max-connections-per-ip", "3"]).await;
    let boot = node.addr("/tcp/");
    let addr: Multiaddr = boot.parse().expect("multiaddr");
    let mut peers = Vec::new();
    for _ in 0..3 {
        peers.push(spawn_node(client_config(), std::slice::from_ref(&addr)).await);
    }
    peers[0]
        .client
        .put(b"k".to_vec(), b"v".to_vec())
        .await
        .expect("put");

    // The fourth connection from 127.0.0.1 is refused once its handshake is done (the
    // client sees it close and finds no DHT server).
    let refused = get_from(&boot, "k").await;
    assert_eq!(
        (refused.code, refused.stdout.as_str()),
        (1, ""),
        "{refused:?}"
    );
    let other = get_from(&from_second_address(&node).await, "k").await;
    assert_eq!((other.code, other.stdout.trim()), (0, "v"), "{other:?}");
    assert!(limit_hits(&node, "connections_per_ip").await >= 1.0);

    // A slot freed is a slot to take.
    peers.pop().expect("a peer").shutdown().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = get_from(&boot, "k").await;
    assert_eq!((again.code, again.stdout.trim()), (0, "v"), "{again:?}");
    for peer in peers {
        peer.shutdown().await;
    }
    node.terminate().await;
}

/// Opens a TCP connection from `from` and sends nothing (a handshake that never ends).
async fn silent(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_one_address_leaves_hanging_are_bounded() {
    init_logs();
    let node = serve(&["--max-pending-per-ip", "4"]).await;
    let boot = node.addr("/tcp/");
    let put = webkad(&["put", "--bootstrap", &boot, "k", "v"]).await;
    assert_eq!(put.code, 0, "{put:?}");
    let mut hanging = Vec::new();
    for _ in 0..8 {
        hanging.push(
            silent(Ipv4Addr::LOCALHOST, tcp_socket(&node))
                .await
                .expect("connect"),
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(limit_hits(&node, "pending_per_ip").await >= 4.0);
    let refused = get_from(&boot, "k").await;
    assert_eq!(refused.code, 1, "{refused:?}");
    let other = get_from(&from_second_address(&node).await, "k").await;
    assert_eq!((other.code, other.stdout.trim()), (0, "v"), "{other:?}");
    drop(hanging);
    node.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_far_over_its_request_rate_is_throttled_and_others_are_not() {
    init_logs();
    let node = serve(&["--requests-per-second", "20", "--request-burst", "40"]).await;
    let addr: Multiaddr = node.addr("/tcp/").parse().expect("multiaddr");
    let honest = spawn_node(client_config(), std::slice::from_ref(&addr)).await;
    let hostile = spawn_node(client_config(), std::slice::from_ref(&addr)).await;
    honest
        .client
        .put(b"k".to_vec(), b"v".to_vec())
        .await
        .expect("put");
    let timed_get = |client: webkad_core::Client| async move {
        let started = Instant::now();
        let found = client.get(b"k".to_vec()).await;
        (found.ok().flatten().map(|f| f.value), started.elapsed())
    };
    // The honest peer's latency before (its own store would answer: ask a fresh key
    // through the network instead, by reading as a third peer).
    let reader = spawn_node(client_config(), std::slice::from_ref(&addr)).await;
    let (value, before) = timed_get(reader.client.clone()).await;
    assert_eq!(value.as_deref(), Some(&b"v"[..]));

    // 400 lookups at once from one peer: each asks the node (its only DHT server).
    let flood = futures::future::join_all((0..400).map(|i| {
        let client = hostile.client.clone();
        async move { client.get(format!("flood-{i}").into_bytes()).await }
    }));
    let during = async {
        let mut worst = Duration::ZERO;
        for _ in 0..10 {
            let (value, took) = timed_get(reader.client.clone()).await;
            assert_eq!(
                value.as_deref(),
                Some(&b"v"[..]),
                "a GET failed during the flood"
            );
            worst = worst.max(took);
        }
        worst
    };
    let (_, worst) = tokio::join!(flood, during);
    let throttled = limit_hits(&node, "kad_request_rate").await;
    eprintln!(
        "GET latency before {before:?}, worst during the flood {worst:?}; {throttled} throttled"
    );
    assert!(throttled >= 100.0, "{throttled} requests throttled");
    assert!(worst < Duration::from_secs(2), "{worst:?}");

    // Not banned: after a second the hostile peer's lookups are answered again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (value, _) = timed_get(hostile.client.clone()).await;
    assert_eq!(
        value.as_deref(),
        Some(&b"v"[..]),
        "the flooding peer is shut out"
    );
    for peer in [honest, hostile, reader] {
        peer.shutdown().await;
    }
    node.terminate().await;
}
