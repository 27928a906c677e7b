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

/// Which dialer a test runs.
#[derive(Clone, Copy)]
enum Which {
    RustLibp2p,
    Ours,
}

fn listener_swarm() -> Swarm<ping::Behaviour> {
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
        .with_behaviour(|_| {
            ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_millis(200)))
        })
        .expect("behaviour")
        .build()
}

fn dialer_swarm(which: Which) -> Swarm<ping::Behaviour> {
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
        .with_behaviour(|_| {
            ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_millis(200)))
        })
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
    let mut listener = listener_swarm();
    let address = listen(&mut listener).await;
    pings_both_ways(listener, address, Which::RustLibp2p).await;
}

#[tokio::test]
async fn our_dialer_connects_and_pings_both_ways() {
    init_logs();
    let mut listener = listener_swarm();
    let address = listen(&mut listener).await;
    pings_both_ways(listener, address, Which::Ours).await;
}

#[tokio::test]
async fn a_wildcard_listener_reports_its_interface_addresses_and_is_reached_on_one() {
    init_logs();
    let mut listener = listener_swarm();
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
    let mut dialer = dialer_swarm(which);
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
    dialer_leaves(Which::RustLibp2p, true, Duration::from_secs(1)).await;
    dialer_leaves(Which::Ours, true, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_dialer_that_vanishes_is_seen_gone_within_seconds() {
    // Only rust-libp2p's dialer can vanish here: dropping ours closes DTLS on the way out.
    dialer_leaves(Which::RustLibp2p, false, Duration::from_secs(7)).await;
}

/// Connects a rust-libp2p dialer, makes it leave (closing its connection, or vanishing), and
/// checks the listener reports the connection closed within `bound`.
async fn dialer_leaves(which: Which, gracefully: bool, bound: Duration) {
    init_logs();
    let mut listener = listener_swarm();
    let mut dialer = dialer_swarm(which);
    let address = listen(&mut listener).await;
    if let Which::RustLibp2p = which {
        listen(&mut dialer).await;
    }
    let listener_id = *listener.local_peer_id();
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
    if gracefully {
        // The dialer closes the connection (as a browser closing a tab does).
        dialer
            .disconnect_peer_id(listener_id)
            .expect("connected to the listener");
        tokio::spawn(async move {
            loop {
                dialer.select_next_some().await;
            }
        });
    } else {
        // The dialer vanishes without a word (a killed process, a lost network).
        drop(dialer);
    }
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let SwarmEvent::ConnectionClosed { cause, .. } = listener.select_next_some().await {
                return cause.map(|c| c.to_string());
            }
        }
    })
    .await;
    let waited = started.elapsed();
    eprintln!("listener saw the dialer gone after {waited:?}: {closed:?}");
    assert!(
        closed.is_ok(),
        "the listener still holds the connection after 10 s"
    );
    assert!(waited < bound, "{waited:?}");
}
