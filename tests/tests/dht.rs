//! Native nodes in one process, over real sockets on 127.0.0.1: the DHT works across
//! five nodes, over every transport, and survives a restart of the bootstrap node.

use libp2p::{Multiaddr, PeerId};
use webkad_core::{Error, PingTarget, client::PutOutcome, config::DEFAULT_MAX_VALUE_BYTES};
use webkad_node::node::{self, NodeOptions};
use webkad_tests::{client_config, init_logs, server_config, spawn_node, within};

fn key(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_share_records_providers_and_peer_routes() {
    init_logs();
    let bootstrap = spawn_node(server_config(), &[]).await;
    let entry = vec![bootstrap.addr("tcp").expect("tcp listener").clone()];
    let mut servers = Vec::new();
    for _ in 0..4 {
        servers.push(spawn_node(server_config(), &entry).await);
    }

    let outcome = within("put", servers[0].client.put(key("color"), key("blue"))).await;
    assert_eq!(outcome, Ok(PutOutcome::Replicated));
    let found = within("get", servers[3].client.get(key("color")))
        .await
        .expect("get works")
        .expect("record found");
    assert_eq!(found.value, b"blue");

    within(
        "provide",
        servers[1].client.start_providing(key("movie.mkv")),
    )
    .await
    .expect("provide works");
    let providers = within(
        "providers",
        servers[2].client.get_providers(key("movie.mkv")),
    )
    .await
    .expect("providers query works");
    assert!(providers.contains(&servers[1].peer_id), "{providers:?}");

    let addrs = within("find peer", servers[3].client.find_peer(servers[0].peer_id))
        .await
        .expect("peer found");
    let tcp_port = servers[0].addr("tcp").expect("tcp").to_string();
    let tcp_port = tcp_port.split('/').nth(4).expect("port");
    assert!(
        addrs
            .iter()
            .any(|a| a.to_string().contains(&format!("/tcp/{tcp_port}"))),
        "{addrs:?} lacks the tcp listener"
    );

    for node in servers {
        node.shutdown().await;
    }
    bootstrap.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_carries_a_dht_round_trip() {
    init_logs();
    let bootstrap = spawn_node(server_config(), &[]).await;
    for transport in ["tcp", "quic", "ws", "webrtc-direct"] {
        // No retry: our native WebRTC-direct dialer is free of webrtc-rs's
        // negotiated-channel race (crates/webrtc-direct/src/native/dialer.rs).
        if let Err(why) = round_trip(&bootstrap, transport).await {
            panic!("{transport}: {why}");
        }
    }
    bootstrap.shutdown().await;
}

/// Two clients joined through `bootstrap`'s `transport` listener: connected over it, a
/// put by one replicated, read by the other from the bootstrap, and a ping.
async fn round_trip(bootstrap: &node::RunningNode, transport: &str) -> Result<(), String> {
    let addr: Multiaddr = bootstrap.addr(transport).expect("listener").clone();
    let writer = spawn_node(client_config(), std::slice::from_ref(&addr)).await;
    let reader = spawn_node(client_config(), std::slice::from_ref(&addr)).await;
    let result = async {
        for node in [&writer, &reader] {
            let peers = node.client.peers().await.expect("peers");
            let via = peers
                .iter()
                .find(|p| p.peer_id == bootstrap.peer_id)
                .map(|p| p.transport.clone());
            if via.as_deref() != Some(transport) {
                return Err(format!("connected to the bootstrap over {via:?}"));
            }
        }
        let k = key(&format!("over-{transport}"));
        let put = within("put", writer.client.put(k.clone(), key(transport))).await;
        if put != Ok(PutOutcome::Replicated) {
            return Err(format!("put: {put:?}"));
        }
        let found = within("get", reader.client.get(k))
            .await
            .map_err(|e| format!("get: {e}"))?
            .ok_or("get: not found")?;
        if found.value != key(transport) || found.from != Some(bootstrap.peer_id) {
            return Err(format!(
                "get answered {:?} from {:?}",
                found.value, found.from
            ));
        }
        let (peer, _rtt) = within(
            "ping",
            reader.client.ping(PingTarget::Peer(bootstrap.peer_id)),
        )
        .await
        .map_err(|e| format!("ping: {e}"))?;
        if peer != bootstrap.peer_id {
            return Err(format!("ping answered by {peer}"));
        }
        Ok(())
    }
    .await;
    writer.shutdown().await;
    reader.shutdown().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_bootstrap_keeps_identity_certificate_and_records() {
    init_logs();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = NodeOptions::loopback(server_config());
    options.data_dir = Some(dir.path().join("data"));

    let first = within("start", node::start(options.clone()))
        .await
        .expect("starts");
    let certhash = |node: &node::RunningNode| {
        let addr = node
            .addr("webrtc-direct")
            .expect("webrtc listener")
            .to_string();
        addr.split("/certhash/")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .expect("certhash")
            .to_owned()
    };
    let (peer_id, cert) = (first.peer_id, certhash(&first));
    let mut events = first.client.subscribe().await.expect("subscribe");
    let client = spawn_node(client_config(), &[first.addr("tcp").expect("tcp").clone()]).await;
    within("put", client.client.put(key("hello"), key("world")))
        .await
        .expect("put");
    within("provide", client.client.start_providing(key("file")))
        .await
        .expect("provide");
    // ADD_PROVIDER has no answer: wait until the bootstrap has stored it.
    within("provider stored", async {
        use futures::StreamExt;
        while let Some(event) = events.next().await {
            if matches!(event, webkad_core::Event::ProviderStored { .. }) {
                return;
            }
        }
    })
    .await;
    client.shutdown().await;
    first.shutdown().await;

    let second = within("restart", node::start(options))
        .await
        .expect("restarts");
    assert_eq!(second.peer_id, peer_id, "same identity");
    assert_eq!(certhash(&second), cert, "same WebRTC certificate");
    let reader = spawn_node(client_config(), &[second.addr("tcp").expect("tcp").clone()]).await;
    let found = within("get", reader.client.get(key("hello")))
        .await
        .expect("get")
        .expect("found");
    assert_eq!(found.value, b"world");
    assert_eq!(found.from, Some(peer_id));
    let stats = second.client.stats().await.expect("stats");
    assert_eq!(
        stats.store.provider_records, 1,
        "the provider record survived too"
    );
    reader.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_nothing_stored_is_lost() {
    init_logs();
    let bootstrap = spawn_node(server_config(), &[]).await;
    let client = spawn_node(
        client_config(),
        &[bootstrap.addr("ws").expect("ws").clone()],
    )
    .await;
    within("put", client.client.put(key("keep"), key("me")))
        .await
        .expect("put");

    let too_big = vec![b'x'; DEFAULT_MAX_VALUE_BYTES + 1];
    let refused = within("put", client.client.put(key("keep"), too_big)).await;
    assert!(
        matches!(refused, Err(Error::ValueTooLarge { .. })),
        "{refused:?}"
    );
    let at_limit = vec![b'y'; DEFAULT_MAX_VALUE_BYTES];
    let put = within("put", client.client.put(key("big"), at_limit.clone())).await;
    assert_eq!(
        put,
        Ok(PutOutcome::Replicated),
        "a value at the limit fits a kad message"
    );
    assert_eq!(
        within("get", client.client.get(key("")),).await,
        Err(Error::EmptyKey)
    );

    let reader = spawn_node(
        client_config(),
        &[bootstrap.addr("tcp").expect("tcp").clone()],
    )
    .await;
    let kept = within("get", reader.client.get(key("keep")))
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(kept.value, b"me");
    let big = within("get", reader.client.get(key("big")))
        .await
        .expect("get")
        .expect("found");
    assert_eq!(big.value.len(), at_limit.len());

    let nobody = PeerId::random();
    let missing = within("find", reader.client.find_peer(nobody)).await;
    assert_eq!(missing, Err(Error::NotFound));
    let unreachable: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().expect("addr");
    let failed = within("dial", reader.client.dial(unreachable)).await;
    assert!(
        matches!(failed, Err(Error::Unreachable { .. })),
        "{failed:?}"
    );

    for node in [client, reader, bootstrap] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_are_acknowledged() {
    init_logs();
    let bootstrap = spawn_node(server_config(), &[]).await;
    let entry = [bootstrap.addr("tcp").expect("tcp").clone()];
    let alice = spawn_node(client_config(), &entry).await;
    let mut inbox = bootstrap.client.subscribe().await.expect("subscribe");
    let (ack, _rtt) = within("send", alice.client.send(bootstrap.peer_id, key("hi")))
        .await
        .expect("acknowledged");
    assert!(ack.is_empty());
    let received = within("receive", async {
        use futures::StreamExt;
        while let Some(event) = inbox.next().await {
            if let webkad_core::Event::Message { peer, data, .. } = event {
                return (peer, data);
            }
        }
        panic!("event stream ended");
    })
    .await;
    assert_eq!(received, (alice.peer_id.to_string(), key("hi")));
    alice.shutdown().await;
    bootstrap.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_every_listener_leaves_the_node_serving() {
    use tokio::io::AsyncWriteExt;
    init_logs();
    let bootstrap = spawn_node(server_config(), &[]).await;
    for transport in ["tcp", "ws"] {
        let addr = bootstrap.addr(transport).expect("listener").to_string();
        let port = addr.split('/').nth(4).expect("port");
        let mut socket = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
            .await
            .expect("connect");
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        let _ = socket.write_all(&garbage).await;
        drop(socket);
    }
    for transport in ["quic", "webrtc-direct"] {
        let addr = bootstrap.addr(transport).expect("listener").to_string();
        let port = addr.split('/').nth(4).expect("port");
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let _ = socket
            .send_to(&[0xde; 1200], format!("127.0.0.1:{port}"))
            .await;
    }
    let client = spawn_node(
        client_config(),
        &[bootstrap.addr("tcp").expect("tcp").clone()],
    )
    .await;
    let put = within("put", client.client.put(key("after"), key("garbage"))).await;
    assert_eq!(put, Ok(PutOutcome::Replicated));
    client.shutdown().await;
    bootstrap.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kad_protocol_name_separates_networks() {
    init_logs();
    let ipfs = || webkad_core::Config {
        kad_protocol: "/ipfs/kad/1.0.0".to_owned(),
        ..server_config()
    };
    let bootstrap = spawn_node(ipfs(), &[]).await;
    let entry = [bootstrap.addr("tcp").expect("tcp").clone()];
    let same = spawn_node(ipfs(), &entry).await;
    let put = within("put", same.client.put(key("k"), key("v"))).await;
    assert_eq!(
        put,
        Ok(PutOutcome::Replicated),
        "nodes on /ipfs/kad/1.0.0 share records"
    );

    let other = spawn_node(server_config(), &entry).await;
    let found = within("get", other.client.get(key("k")))
        .await
        .expect("get");
    assert_eq!(
        found, None,
        "a /webkad/kad/1.0.0 node does not query an /ipfs/kad/1.0.0 node"
    );
    for node in [same, other, bootstrap] {
        node.shutdown().await;
    }
}
