//! The WebRTC-direct listener as a libp2p [`Transport`] (listen only; dialing is refused so an
//! `OrTransport` can hand native dials to another transport).
//!
//! Per attempt the mux announces, one webrtc-rs peer connection answers it: ICE-lite, DTLS
//! server, our persistent certificate, the inferred offer of the spec, mDNS off and the mux as
//! its only network. Then the noise handshake on data channel 0 (we are the initiator) binds
//! the DTLS fingerprints to the libp2p identities. The whole handshake is bounded by
//! [`Limits::handshake_timeout`]; a failed one closes its peer connection at once.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::{AsyncWriteExt, FutureExt};
use libp2p::core::multiaddr::{Multiaddr, Protocol};
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::upgrade::OutboundConnectionUpgrade;
use libp2p::core::{Transport, UpgradeInfo};
use libp2p::identity::{Keypair, PeerId};
use tokio::sync::mpsc;
use webrtc::api::APIBuilder;
use webrtc::api::setting_engine::SettingEngine;
use webrtc::dtls_transport::dtls_role::DTLSRole;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::ice::udp_network::UDPNetwork;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;

use super::certificate::Certificate;
use super::channel::RtcChannel;
use super::connection::{Connection, ConnectionError, Hooks, create_channel, opened};
use super::interfaces::{Change, Interfaces};
use super::mux::{Attempt, Limits, UdpMux};
use super::sdp;
use crate::noise::{Fingerprint, prologue};
use crate::stream::Streams;

/// Why an inbound connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The UDP socket could not be bound.
    #[error("cannot bind the WebRTC-direct socket: {0}")]
    Bind(#[from] std::io::Error),
    /// The WebRTC part failed.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The noise handshake failed (wrong identity, wrong certhash, bad message).
    #[error("noise handshake: {0}")]
    Noise(#[from] libp2p::noise::Error),
    /// The handshake did not finish within the limit.
    #[error("handshake took longer than {0:?}")]
    Timeout(std::time::Duration),
    /// The interface addresses of a wildcard listener cannot be watched.
    #[error("cannot watch the interface addresses: {0}")]
    Interfaces(std::io::Error),
}

/// What the listener needs.
#[derive(Clone)]
pub struct Config {
    /// Our libp2p identity.
    pub keypair: Keypair,
    /// Our DTLS certificate (the certhash).
    pub certificate: Certificate,
    /// Bounds on connection attempts.
    pub limits: Limits,
}

struct Active {
    id: ListenerId,
    mux: Arc<UdpMux>,
    attempts: mpsc::Receiver<Attempt>,
    address: Multiaddr,
    /// For a wildcard bind: its interface addresses, reported instead of `address`.
    interfaces: Option<Interfaces>,
    announced: bool,
}

/// The listening transport.
pub struct Listener {
    config: Config,
    active: Vec<Active>,
    closed: VecDeque<ListenerId>,
}

impl Listener {
    /// A listener with no sockets yet; `listen_on` binds them.
    pub fn new(config: Config) -> Self {
        // webrtc-rs' DTLS asks rustls for the process's crypto provider; in a build where
        // other crates enable both of rustls' back ends it cannot pick one and panics at the
        // first handshake. Install ring unless someone installed one already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            config,
            active: Vec::new(),
            closed: VecDeque::new(),
        }
    }
}

/// `/ip4|ip6/<ip>/udp/<port>/webrtc-direct` → the socket address.
fn socket_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut parts = addr.iter();
    let socket = crate::addr::socket_prefix(&mut parts)?;
    parts.next().is_none().then_some(socket)
}

/// Our address as others dial it: with the certhash.
fn listen_multiaddr(addr: SocketAddr, fingerprint: Fingerprint) -> Multiaddr {
    let hash =
        libp2p::multiaddr::multihash::Multihash::<64>::from_bytes(&fingerprint.to_multihash())
            .expect("a sha-256 multihash is valid");
    Multiaddr::from(addr.ip())
        .with(Protocol::Udp(addr.port()))
        .with(Protocol::WebRTCDirect)
        .with(Protocol::Certhash(hash))
}

fn remote_multiaddr(addr: SocketAddr) -> Multiaddr {
    Multiaddr::from(addr.ip())
        .with(Protocol::Udp(addr.port()))
        .with(Protocol::WebRTCDirect)
}

impl Transport for Listener {
    type Output = (PeerId, Connection);
    type Error = ListenError;
    type ListenerUpgrade = BoxFuture<'static, Result<Self::Output, Self::Error>>;
    type Dial = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        let Some(socket) = socket_addr(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let (mux, attempts) = UdpMux::bind(socket, self.config.limits.clone())
            .map_err(|error| TransportError::Other(error.into()))?;
        let interfaces = Interfaces::watch(mux.local_addr())
            .map_err(|error| TransportError::Other(ListenError::Interfaces(error)))?;
        let address = listen_multiaddr(mux.local_addr(), self.config.certificate.fingerprint());
        tracing::info!(%address, "WebRTC-direct listening");
        self.active.push(Active {
            id,
            mux,
            attempts,
            address,
            interfaces,
            announced: false,
        });
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        let before = self.active.len();
        self.active.retain(|active| active.id != id);
        let removed = self.active.len() != before;
        if removed {
            self.closed.push_back(id);
        }
        removed
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        Err(TransportError::MultiaddrNotSupported(addr))
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        if let Some(listener_id) = self.closed.pop_front() {
            return Poll::Ready(TransportEvent::ListenerClosed {
                listener_id,
                reason: Ok(()),
            });
        }
        let config = self.config.clone();
        for active in &mut self.active {
            if let Some(interfaces) = active.interfaces.as_mut() {
                if let Poll::Ready(change) = interfaces.poll_change(cx) {
                    let fingerprint = config.certificate.fingerprint();
                    let listener_id = active.id;
                    return Poll::Ready(match change {
                        Change::Up(addr) => TransportEvent::NewAddress {
                            listener_id,
                            listen_addr: listen_multiaddr(addr, fingerprint),
                        },
                        Change::Down(addr) => TransportEvent::AddressExpired {
                            listener_id,
                            listen_addr: listen_multiaddr(addr, fingerprint),
                        },
                    });
                }
            } else if !active.announced {
                active.announced = true;
                return Poll::Ready(TransportEvent::NewAddress {
                    listener_id: active.id,
                    listen_addr: active.address.clone(),
                });
            }
            if let Poll::Ready(Some(attempt)) = active.attempts.poll_recv(cx) {
                let local_addr = active.address.clone();
                let send_back_addr = remote_multiaddr(attempt.from);
                let upgrade = accept(active.mux.clone(), attempt, config.clone()).boxed();
                return Poll::Ready(TransportEvent::Incoming {
                    listener_id: active.id,
                    upgrade,
                    local_addr,
                    send_back_addr,
                });
            }
        }
        Poll::Pending
    }
}

fn setting_engine(mux: &Arc<UdpMux>, local: &str, remote: SocketAddr) -> SettingEngine {
    let mut engine = SettingEngine::default();
    engine.set_ice_credentials(local.to_owned(), local.to_owned());
    engine.set_udp_network(UDPNetwork::Muxed(mux.clone()));
    // The mDNS socket per agent is what leaked one fd per fresh ufrag (issue 13).
    engine.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    engine.detach_data_channels();
    engine.set_lite(true);
    engine.disable_certificate_fingerprint_verification(true);
    engine
        .set_answering_dtls_role(DTLSRole::Server)
        .expect("server is a valid answering role");
    engine.set_network_types(vec![if remote.is_ipv4() {
        NetworkType::Udp4
    } else {
        NetworkType::Udp6
    }]);
    // One host candidate: the bound IP, or the first interface when bound to the wildcard
    // (every candidate shares the one socket anyway).
    let bound = mux.local_addr().ip();
    // A node bound to loopback (tests, a local bootstrap) needs its loopback candidate.
    engine.set_include_loopback_candidate(bound.is_loopback());
    let first = AtomicBool::new(true);
    engine.set_ip_filter(Box::new(move |ip| {
        if bound.is_unspecified() {
            first.swap(false, Ordering::Relaxed)
        } else {
            ip == bound
        }
    }));
    engine
}

async fn accept(
    mux: Arc<UdpMux>,
    attempt: Attempt,
    config: Config,
) -> Result<(PeerId, Connection), ListenError> {
    let local = attempt.credentials.local.clone();
    let api = APIBuilder::new()
        .with_setting_engine(setting_engine(&mux, &local, attempt.from))
        .build();
    let rtc_config = RTCConfiguration {
        certificates: vec![config.certificate.rtc()],
        ..RTCConfiguration::default()
    };
    let pc = Arc::new(
        api.new_peer_connection(rtc_config)
            .await
            .map_err(ConnectionError::from)?,
    );
    let timeout = config.limits.handshake_timeout;
    let result = tokio::time::timeout(timeout, handshake(&pc, &attempt, &config)).await;
    match result {
        Ok(Ok((peer, hooks, streams))) => {
            mux.established(&local);
            tracing::debug!(%peer, from = %attempt.from, version = ?attempt.credentials.version, "WebRTC-direct connection");
            Ok((peer, Connection::new(pc, hooks, streams)))
        }
        Ok(Err(error)) => {
            let _ = pc.close().await;
            Err(error)
        }
        Err(_) => {
            let _ = pc.close().await;
            Err(ListenError::Timeout(timeout))
        }
    }
}

async fn handshake(
    pc: &RTCPeerConnection,
    attempt: &Attempt,
    config: &Config,
) -> Result<(PeerId, Hooks, Streams<RtcChannel>), ListenError> {
    // Streams the dialer opens from the first moment are queued, never lost.
    let hooks = Hooks::install(pc);
    let noise_channel = create_channel(pc, Some(0)).await?;
    let offer = sdp::inferred_offer(attempt.from, &attempt.credentials);
    pc.set_remote_description(RTCSessionDescription::offer(offer).map_err(ConnectionError::from)?)
        .await
        .map_err(ConnectionError::from)?;
    let answer = pc
        .create_answer(None)
        .await
        .map_err(ConnectionError::from)?;
    pc.set_local_description(answer)
        .await
        .map_err(ConnectionError::from)?;
    let raw = opened(noise_channel).await?;

    let der = pc.sctp().transport().get_remote_certificate().await;
    let client = Fingerprint(super::sha256(&der));
    let server = config.certificate.fingerprint();
    let streams = Streams::listener();
    let stream = streams.wrap(RtcChannel::new(raw));
    let noise =
        libp2p::noise::Config::new(&config.keypair)?.with_prologue(prologue(client, server));
    let info = noise
        .protocol_info()
        .next()
        .expect("noise has one protocol name");
    // The listener initiates noise (it can send first after DTLS).
    let (peer, mut output) = noise.upgrade_outbound(stream, info).await?;
    output.close().await.map_err(libp2p::noise::Error::from)?;
    Ok((peer, hooks, streams))
}
