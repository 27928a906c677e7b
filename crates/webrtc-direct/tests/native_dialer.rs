//! Native WebRTC-direct dialers against our listener over real loopback UDP: rust-libp2p's
//! (the v1 handshake, no FIN_ACK) and our own ([`Dialer`], on ICE, DTLS and SCTP directly).
//! Streams run both ways (ping opens one from each side), and a dialer that leaves is seen
//! gone.

#![cfg(not(target_arch = "wasm32"))]

use std::time::Duration;

use futures::StreamExt;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm, SwarmBuilder, Transport, identity::Keypair, ping};
use webkad_webrtc_direct::native::{Certificate, Config, Dialer, Limits, Listener};

/// How often both sides ping while a test runs streams.
const PING_EVERY: Duration = Duration::from_millis(200);

/// Which dialer a test runs.
#[derive(Clone, Copy)]
enum Which {
    RustLibp2p,
    Ours,
}

fn listener_swarm(ping_every: Duration) -> Swarm<ping::Behaviour> {
    let config = Config {
        keypair: Keypair::generate_ed25519(),
        certificate: Certificate::generate().expect("certificate"),
        limits: Limits::default(),
    };
    SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_other_transport(|_| {
            Listener::new(config).map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
        })
        .expect("transport")
        .with_behaviour(|_| ping::Behaviour::new(ping::Config::new().with_interval(ping_every)))
        .expect("behaviour")
        .build()
}

fn dialer_swarm(which: Which, ping_every: Duration) -> Swarm<ping::Behaviour> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| match which {
            Which::RustLibp2p => {
                let certificate = libp2p_webrtc::tokio::Certificate::generate(&mut rand::rng())
                    .expect("certificate");
                libp2p_webrtc::tokio::Transport::new(key.clone(), certificate)
                    .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
                    .boxed()
            }
            Which::Ours => {
                let certificate = Certificate::generate().expect("certificate");
                Dialer::new(key.clone(), certificate)
                    .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
                    .boxed()
            }
        })
        .expect("transport")
        .with_behaviour(|_| ping::Behaviour::new(ping::Config::new().with_interval(ping_every)))
        .expect("behaviour")
        .build()
}

async fn listen(swarm: &mut Swarm<ping::Behaviour>) -> Multiaddr {
    swarm
        .listen_on("/ip4/127.0.0.1/udp/0/webrtc-direct".parse().expect("addr"))
        .expect("listen");
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            return address;
        }
    }
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

#[tokio::test]
async fn the_rust_libp2p_v1_dialer_connects_and_pings_both_ways() {
    init_logs();
    let mut listener = listener_swarm(PING_EVERY);
    let address = listen(&mut listener).await;
    pings_both_ways(listener, address, Which::RustLibp2p).await;
}

#[tokio::test]
async fn our_dialer_connects_and_pings_both_ways() {
    init_logs();
    let mut listener = listener_swarm(PING_EVERY);
    let address = listen(&mut listener).await;
    pings_both_ways(listener, address, Which::Ours).await;
}

#[tokio::test]
async fn a_wildcard_listener_reports_its_interface_addresses_and_is_reached_on_one() {
    init_logs();
    let mut listener = listener_swarm(PING_EVERY);
    listener
        .listen_on("/ip4/0.0.0.0/udp/0/webrtc-direct".parse().expect("addr"))
        .expect("listen");
    let loopback = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = listener.select_next_some().await {
                let text = address.to_string();
                assert!(
                    !text.starts_with("/ip4/0.0.0.0/"),
                    "wildcard reported: {text}"
                );
                assert!(text.contains("/certhash/"), "{text}");
                if text.starts_with("/ip4/127.0.0.1/") {
                    return address;
                }
            }
        }
    })
    .await
    .expect("the loopback interface's address is reported");
    pings_both_ways(listener, loopback, Which::RustLibp2p).await;
}

/// Dials `address` of `listener` with `which` dialer; both sides ping twice.
async fn pings_both_ways(mut listener: Swarm<ping::Behaviour>, address: Multiaddr, which: Which) {
    let mut dialer = dialer_swarm(which, PING_EVERY);
    if let Which::RustLibp2p = which {
        // rust-libp2p dials from one of its listeners' sockets.
        listen(&mut dialer).await;
    }
    let listener_id = *listener.local_peer_id();
    dialer
        .dial(address.with(libp2p::multiaddr::Protocol::P2p(listener_id)))
        .expect("dial");
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        let (mut listener_pings, mut dialer_pings) = (0, 0);
        while listener_pings < 2 || dialer_pings < 2 {
            tokio::select! {
                event = listener.select_next_some() => match event {
                    SwarmEvent::Behaviour(ping::Event { result: Ok(_), .. }) => listener_pings += 1,
                    SwarmEvent::IncomingConnectionError { error, .. } => panic!("incoming failed: {error:?}"),
                    other => tracing_event("listener", &other),
                },
                event = dialer.select_next_some() => match event {
                    SwarmEvent::Behaviour(ping::Event { result: Ok(_), .. }) => dialer_pings += 1,
                    SwarmEvent::OutgoingConnectionError { error, .. } => panic!("dial failed: {error}"),
                    other => tracing_event("dialer", &other),
                },
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "no pings both ways within 20 s");
}

fn tracing_event(side: &str, event: &SwarmEvent<ping::Event>) {
    eprintln!("{side}: {event:?}");
}

#[tokio::test]
async fn a_dialer_that_closes_is_seen_gone_at_once() {
    leaves(
        Which::RustLibp2p,
        Leaver::DialerCloses,
        Duration::from_secs(1),
    )
    .await;
    leaves(Which::Ours, Leaver::DialerCloses, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_dialer_that_vanishes_is_seen_gone_within_seconds() {
    // Only rust-libp2p's dialer can vanish here: dropping ours closes DTLS on the way out.
    leaves(
        Which::RustLibp2p,
        Leaver::DialerVanishes,
        Duration::from_secs(7),
    )
    .await;
}

#[tokio::test]
async fn a_listener_that_closes_is_seen_gone_by_our_dialer_at_once() {
    // Before our dialer watched its DTLS reads, it heard of the close when ICE gave up (5 s).
    leaves(Which::Ours, Leaver::ListenerCloses, Duration::from_secs(1)).await;
}

/// Who ends the connection, and how.
#[derive(Clone, Copy, PartialEq)]
enum Leaver {
    /// The dialer closes it (as a browser closing a tab does).
    DialerCloses,
    /// The dialer vanishes without a word (a killed process, a lost network).
    DialerVanishes,
    /// The listener closes it.
    ListenerCloses,
}

/// Connects `which` dialer, makes one side leave, and checks the other side reports the
/// connection closed within `bound`.
async fn leaves(which: Which, leaver: Leaver, bound: Duration) {
    init_logs();
    // An idle connection when the listener leaves: only a watch on the transport notices.
    let ping_every = match leaver {
        Leaver::ListenerCloses => Duration::from_secs(60),
        _ => PING_EVERY,
    };
    let mut listener = listener_swarm(ping_every);
    let mut dialer = dialer_swarm(which, ping_every);
    let address = listen(&mut listener).await;
    if let Which::RustLibp2p = which {
        listen(&mut dialer).await;
    }
    let (listener_id, dialer_id) = (*listener.local_peer_id(), *dialer.local_peer_id());
    dialer
        .dial(address.with(libp2p::multiaddr::Protocol::P2p(listener_id)))
        .expect("dial");
    let connected = tokio::time::timeout(Duration::from_secs(20), async {
        let (mut listener_up, mut dialer_up) = (false, false);
        while !(listener_up && dialer_up) {
            tokio::select! {
                event = listener.select_next_some() => {
                    listener_up |= matches!(event, SwarmEvent::ConnectionEstablished { .. });
                }
                event = dialer.select_next_some() => {
                    dialer_up |= matches!(event, SwarmEvent::ConnectionEstablished { .. });
                }
            }
        }
    })
    .await;
    assert!(connected.is_ok(), "no connection");
    // Let the first pings finish, so that no stream is busy when one side leaves.
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            tokio::select! {
                _ = listener.select_next_some() => {}
                _ = dialer.select_next_some() => {}
            }
        }
    })
    .await;
    let (mut leaving, mut staying, leaving_peer) = match leaver {
        Leaver::ListenerCloses => (listener, dialer, dialer_id),
        _ => (dialer, listener, listener_id),
    };
    if leaver == Leaver::DialerVanishes {
        drop(leaving);
    } else {
        leaving
            .disconnect_peer_id(leaving_peer)
            .expect("connected to the peer");
        tokio::spawn(async move {
            loop {
                leaving.select_next_some().await;
            }
        });
    }
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let SwarmEvent::ConnectionClosed { cause, .. } = staying.select_next_some().await {
                return cause.map(|c| c.to_string());
            }
        }
    })
    .await;
    let waited = started.elapsed();
    eprintln!("the other side saw the connection go after {waited:?}: {closed:?}");
    assert!(closed.is_ok(), "the connection is still held after 10 s");
    assert!(waited < bound, "{waited:?}");
}
