//! Our native dialer against our listener, where rust-libp2p's failed: dials on a loaded
//! machine (the listener's first noise message racing the dialer's channel 0, webrtc-rs
//! issue 748) all connect without a retry, and a wrong certhash is refused with a clear error.

#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{SwarmEvent, dummy};
use libp2p::{Multiaddr, Swarm, SwarmBuilder, Transport, identity::Keypair};
use webkad_webrtc_direct::native::{Certificate, Config, Dialer, Limits, Listener};

const DIALS: usize = 30;

fn listener_swarm() -> Swarm<dummy::Behaviour> {
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
        .with_behaviour(|_| dummy::Behaviour)
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build()
}

/// Our dialer; `open_delay` makes the listener's noise message come before our channel 0.
fn dialer_swarm(open_delay: Duration) -> Swarm<dummy::Behaviour> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            Dialer::new(key.clone(), Certificate::generate().expect("certificate"))
                .with_channel_open_delay(open_delay)
                .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
        })
        .expect("transport")
        .with_behaviour(|_| dummy::Behaviour)
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build()
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Starts a listener on loopback, driven by its own task; answers its full address.
async fn running_listener() -> Multiaddr {
    init_logs();
    let mut listener = listener_swarm();
    let id = *listener.local_peer_id();
    listener
        .listen_on("/ip4/127.0.0.1/udp/0/webrtc-direct".parse().expect("addr"))
        .expect("listen");
    let address = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = listener.select_next_some().await {
            break address;
        }
    };
    tokio::spawn(async move {
        loop {
            listener.select_next_some().await;
        }
    });
    address.with(Protocol::P2p(id))
}

/// Keeps both cores busy until dropped, so tasks are scheduled late as on a loaded machine.
struct Load(Arc<AtomicBool>);

impl Load {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        for _ in 0..2 {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
        }
        Self(stop)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dials_on_a_loaded_machine_all_connect_at_the_first_try() {
    let address = running_listener().await;
    let _load = Load::start();
    dial_repeatedly(&address, dialer_swarm(Duration::ZERO)).await;
}

/// The race itself, made certain: the listener's first noise message arrives before the
/// dialer opens channel 0, and the dialer takes the listener's stream 0 as its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noise_message_before_our_channel_0_is_taken_as_its_first() {
    let address = running_listener().await;
    dial_repeatedly(&address, dialer_swarm(Duration::from_millis(50))).await;
}

/// [`DIALS`] dials in a row, each of which must connect at its first try.
async fn dial_repeatedly(address: &Multiaddr, mut dialer: Swarm<dummy::Behaviour>) {
    let mut slowest = Duration::ZERO;
    for dial in 0..DIALS {
        let started = Instant::now();
        dialer.dial(address.clone()).expect("dial");
        let outcome = tokio::time::timeout(Duration::from_secs(9), async {
            loop {
                match dialer.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => return Ok(peer_id),
                    SwarmEvent::OutgoingConnectionError { error, .. } => return Err(error),
                    _ => {}
                }
            }
        })
        .await;
        let peer = match outcome {
            Ok(Ok(peer)) => peer,
            Ok(Err(error)) => panic!("dial {dial} failed: {error}"),
            Err(_) => panic!("dial {dial} hung for 9 s"),
        };
        slowest = slowest.max(started.elapsed());
        dialer.disconnect_peer_id(peer).expect("connected");
        while !matches!(
            dialer.select_next_some().await,
            SwarmEvent::ConnectionClosed { .. }
        ) {}
    }
    eprintln!("{DIALS} dials, slowest {slowest:?}");
}

#[tokio::test]
async fn a_wrong_certhash_is_refused() {
    let address = running_listener().await;
    // Another certificate's hash in place of the listener's.
    let other = Certificate::generate().expect("certificate").fingerprint();
    let hash = libp2p::multiaddr::multihash::Multihash::<64>::from_bytes(&other.to_multihash())
        .expect("multihash");
    let wrong: Multiaddr = address
        .iter()
        .map(|part| match part {
            Protocol::Certhash(_) => Protocol::Certhash(hash),
            part => part,
        })
        .collect();
    let mut dialer = dialer_swarm(Duration::ZERO);
    dialer.dial(wrong).expect("dial");
    let error = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match dialer.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => {
                    panic!("connected despite the certhash")
                }
                SwarmEvent::OutgoingConnectionError { error, .. } => return error.to_string(),
                _ => {}
            }
        }
    })
    .await
    .expect("the dial ends");
    eprintln!("{error}");
    assert!(error.contains("certhash"), "{error}");
}
