//! Peers that cannot be dialed (like pages) meet through a native node, in one process over
//! real sockets on 127.0.0.1: relay reservations that renew, direct messages through the
//! relay, rendezvous discovery, rooms relayed by the bootstrap node, and circuits reopened
//! after a relay limit closed them.

use std::time::Duration;

use futures::{StreamExt, channel::mpsc};
use libp2p::Multiaddr;
use webkad_core::{Config, Error, Event, RelayLimits, RendezvousConfig};
use webkad_node::node::{self, NodeOptions, RunningNode};
use webkad_tests::{client_config, init_logs, server_config, spawn_node, within};

/// A relay and rendezvous server whose reservations last `reservation` and circuits
/// `circuit`.
async fn relay_node(reservation: Duration, circuit: Duration) -> RunningNode {
    let mut config = server_config();
    config.relay_server = Some(RelayLimits {
        reservation_duration: reservation,
        max_circuit_duration: circuit,
        ..RelayLimits::default()
    });
    spawn_node(config, &[]).await
}

/// A node that listens nowhere, like a page: others reach it only through a relay.
async fn unreachable_node(config: Config, relay: &Multiaddr) -> RunningNode {
    let mut options = NodeOptions::loopback(config);
    options.listen = Vec::new();
    options.bootstrap = vec![relay.clone()];
    within("starting a node", node::start(options))
        .await
        .expect("node starts")
}

/// Waits for the first event `pick` accepts.
async fn next_matching<T>(
    what: &str,
    events: &mut mpsc::Receiver<Event>,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    within(what, async {
        loop {
            let event = events.next().await.expect("event stream open");
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    })
    .await
}

fn with_namespace(mut config: Config, namespace: &str) -> Config {
    config.rendezvous = RendezvousConfig {
        discover_interval: Duration::from_millis(500),
        ..RendezvousConfig::in_namespace(namespace)
    };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_renews_and_peers_meet_message_and_chat_through_the_relay() {
    init_logs();
    let relay = relay_node(Duration::from_secs(4), Duration::from_secs(600)).await;
    let relay_addr = relay.addr("tcp").expect("tcp").clone();
    let hidden = unreachable_node(with_namespace(client_config(), "test-peers"), &relay_addr).await;
    let mut hidden_events = hidden.client.subscribe().await.expect("events");

    let circuit = within("reserve", hidden.client.reserve(Some(relay_addr.clone())))
        .await
        .expect("the relay accepts the reservation");
    assert!(
        circuit.to_string().contains("/p2p-circuit/p2p/"),
        "circuit address: {circuit}"
    );
    // The reservation lasts 4 s and is renewed after 3: two renewals prove it outlives
    // its first period.
    for round in 1..=2 {
        next_matching(&format!("renewal {round}"), &mut hidden_events, |e| {
            matches!(e, Event::ReservationAccepted { renewal: true, .. }).then_some(())
        })
        .await;
    }

    // Another node reaches it through the relay, with nothing but its PeerId.
    let other = spawn_node(with_namespace(client_config(), "test-peers"), &[relay_addr]).await;
    let (ack, rtt) = within("send", other.client.send(hidden.peer_id, b"hello".to_vec()))
        .await
        .expect("delivered through the relay");
    assert!(ack.is_empty() && rtt > Duration::ZERO);
    let (from, data) = next_matching("message", &mut hidden_events, |e| match e {
        Event::Message { peer, data, .. } => Some((peer.clone(), data.clone())),
        _ => None,
    })
    .await;
    assert_eq!((from, data), (other.peer_id.to_string(), b"hello".to_vec()));
    let peers = other.client.peers().await.expect("peers");
    let via = peers.iter().find(|p| p.peer_id == hidden.peer_id);
    assert_eq!(
        via.map(|p| p.transport.as_str()),
        Some("relay"),
        "{peers:?}"
    );
    // And back, over the same circuit.
    within("reply", hidden.client.send(other.peer_id, b"hi".to_vec()))
        .await
        .expect("reply delivered");

    // Rendezvous: the hidden node registered its circuit address; the other finds it.
    let found = within("discovery", async {
        loop {
            let peers = other.client.discover(None).await.expect("discover");
            if let Some(p) = peers.into_iter().find(|p| p.peer_id == hidden.peer_id) {
                return p;
            }
        }
    })
    .await;
    assert!(
        found
            .addrs
            .iter()
            .any(|a| a.to_string().contains("/p2p-circuit")),
        "registered addresses: {:?}",
        found.addrs
    );
    assert!(found.connected, "{found:?}");

    // Rooms: both join; the relay joins too, to carry the room.
    hidden.client.join_room("lobby".into()).await.expect("join");
    other.client.join_room("lobby".into()).await.expect("join");
    within("post", async {
        loop {
            match other
                .client
                .publish("lobby".into(), b"hi room".to_vec())
                .await
            {
                Ok(_) => return,
                Err(Error::EmptyRoom(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => panic!("publish failed: {e}"),
            }
        }
    })
    .await;
    let (topic, author, text) = next_matching("room message", &mut hidden_events, |e| match e {
        Event::RoomMessage {
            topic, from, data, ..
        } => Some((topic.clone(), from.clone(), data.clone())),
        _ => None,
    })
    .await;
    assert_eq!(topic, "lobby");
    assert_eq!(author, other.peer_id.to_string());
    assert_eq!(text, b"hi room");
    let too_big = other
        .client
        .publish("lobby".into(), vec![b'x'; 70_000])
        .await;
    assert!(
        matches!(too_big, Err(Error::RoomMessageTooLarge { .. })),
        "{too_big:?}"
    );

    other.shutdown().await;
    hidden.shutdown().await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_closed_by_the_relay_limit_is_reported_and_reopened() {
    init_logs();
    let relay = relay_node(Duration::from_secs(3600), Duration::from_secs(3)).await;
    let relay_addr = relay.addr("tcp").expect("tcp").clone();
    let hidden = unreachable_node(client_config(), &relay_addr).await;
    within("reserve", hidden.client.reserve(None))
        .await
        .expect("reserved on the relay it joined through");
    let other = spawn_node(client_config(), std::slice::from_ref(&relay_addr)).await;
    let mut events = other.client.subscribe().await.expect("events");
    within("send", other.client.send(hidden.peer_id, b"one".to_vec()))
        .await
        .expect("delivered");

    let (limit_reached, reopening) = next_matching("circuit closed", &mut events, |e| match e {
        Event::CircuitClosed {
            limit_reached,
            reopening,
            ..
        } => Some((*limit_reached, *reopening)),
        _ => None,
    })
    .await;
    assert!(
        limit_reached && reopening,
        "limit {limit_reached}, reopening {reopening}"
    );
    let transport = next_matching("circuit reopened", &mut events, |e| match e {
        Event::PeerConnected {
            peer, transport, ..
        } if *peer == hidden.peer_id.to_string() => Some(transport.clone()),
        _ => None,
    })
    .await;
    assert_eq!(transport, "relay");
    within(
        "send again",
        other.client.send(hidden.peer_id, b"two".to_vec()),
    )
    .await
    .expect("delivered over the reopened circuit");

    // A peer nobody knows: a clear error, not a hang.
    let stranger = libp2p::PeerId::random();
    let err = within(
        "send to a stranger",
        other.client.send(stranger, b"?".to_vec()),
    )
    .await
    .expect_err("nobody to deliver to");
    assert!(err.to_string().contains(&stranger.to_string()), "{err}");

    other.shutdown().await;
    hidden.shutdown().await;
    relay.shutdown().await;
}
