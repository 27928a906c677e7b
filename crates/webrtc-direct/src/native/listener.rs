//! The WebRTC-direct listener as a libp2p [`Transport`] (listen only; dialing is refused so an
//! `OrTransport` can hand native dials to another transport).
//!
//! Per attempt the mux announces: a webrtc-rs ICE-lite agent with the attempt's credentials
//! and the mux as its only network, mDNS off; our DTLS server ([`dtls`], dimpl, no
//! HelloVerifyRequest) with our persistent certificate; webrtc-rs's SCTP; then the noise
//! handshake on data channel 0 (we are the initiator), which binds the DTLS fingerprints to
//! the libp2p identities. The whole handshake is bounded by [`Limits::handshake_timeout`]; a
//! failed one closes its agent at once.
//!
//! There is no webrtc-rs peer connection any more: its DTLS is the one with the extra round
//! trip, and holding the layers ourselves also removes the inferred SDP offer it needed.

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
use tokio::sync::{mpsc, oneshot};
use webrtc::data::data_channel::DataChannel as RawChannel;
use webrtc::ice::agent::Agent;
use webrtc::ice::agent::agent_config::AgentConfig;
use webrtc::ice::candidate::CandidateType;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::ice::udp_network::UDPNetwork;
use webrtc::sctp::association::Association;
use webrtc::sctp::stream::Stream as SctpStream;
use webrtc::util::Conn;

use super::certificate::Certificate;
use super::channel::RtcChannel;
use super::connection::{Connection, ConnectionError, Layers, Liveness, Role};
use super::interfaces::{Change, Interfaces};
use super::mux::{Attempt, Limits, UdpMux};
use super::{association, dtls};
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
    /// Our DTLS server cannot be set up with these limits.
    #[error(transparent)]
    Dtls(#[from] dtls::DtlsError),
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
    dtls: Arc<dimpl::Config>,
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
        let dtls = dtls::config(self.config.limits.handshake_timeout)
            .map_err(|error| TransportError::Other(error.into()))?;
        let (mux, attempts) = UdpMux::bind(socket, self.config.limits.clone())
            .map_err(|error| TransportError::Other(error.into()))?;
        let interfaces = Interfaces::watch(mux.local_addr())
            .map_err(|error| TransportError::Other(ListenError::Interfaces(error)))?;
        let address = listen_multiaddr(mux.local_addr(), self.config.certificate.fingerprint());
        tracing::info!(%address, "WebRTC-direct listening");
        self.active.push(Active {
            id,
            mux,
            dtls,
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
                let (mux, dtls) = (active.mux.clone(), active.dtls.clone());
                let upgrade = accept(mux, attempt, config.clone(), dtls).boxed();
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

/// The listener's ICE agent for one attempt: lite and controlled, with the credentials the
/// attempt announced, on the mux as its only network, with one host candidate: the bound IP,
/// or the first interface when bound to the wildcard (every candidate shares the one socket).
async fn agent(mux: &Arc<UdpMux>, attempt: &Attempt) -> Result<Arc<Agent>, webrtc::Error> {
    let bound = mux.local_addr().ip();
    let first = AtomicBool::new(true);
    let local = attempt.credentials.local.clone();
    let agent = Agent::new(AgentConfig {
        lite: true,
        local_ufrag: local.clone(),
        local_pwd: local,
        udp_network: UDPNetwork::Muxed(mux.clone()),
        network_types: vec![if attempt.from.is_ipv4() {
            NetworkType::Udp4
        } else {
            NetworkType::Udp6
        }],
        candidate_types: vec![CandidateType::Host],
        // The mDNS socket per agent is what leaked one fd per fresh ufrag (issue 13).
        multicast_dns_mode: MulticastDnsMode::Disabled,
        // A node bound to loopback (tests, a local bootstrap) needs its loopback candidate.
        include_loopback: bound.is_loopback(),
        ip_filter: Arc::new(Some(Box::new(move |ip| {
            if bound.is_unspecified() {
                first.swap(false, Ordering::Relaxed)
            } else {
                ip == bound
            }
        }))),
        ..AgentConfig::default()
    })
    .await?;
    agent.on_candidate(Box::new(|_| Box::pin(async {})));
    agent.gather_candidates()?;
    Ok(Arc::new(agent))
}

async fn accept(
    mux: Arc<UdpMux>,
    attempt: Attempt,
    config: Config,
    dtls: Arc<dimpl::Config>,
) -> Result<(PeerId, Connection), ListenError> {
    let local = attempt.credentials.local.clone();
    let agent = agent(&mux, &attempt).await.map_err(ConnectionError::from)?;
    let liveness = Liveness::new();
    liveness.watch(&agent);
    let timeout = config.limits.handshake_timeout;
    let handshake = handshake(&agent, &attempt, &config, dtls, liveness.clone());
    // A dialer that gave up mid-handshake (a page whose WebSocket dial won the race closes
    // the loser: DTLS close_notify) is let go at once, not held to the handshake limit.
    let handshake = async {
        tokio::select! {
            // The handshake's own error, when it has one, says more than `Gone`.
            biased;
            result = handshake => result,
            () = liveness.gone() => Err(ListenError::Connection(ConnectionError::Gone)),
        }
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok((peer, layers, incoming, streams))) => {
            mux.established(&local);
            tracing::debug!(%peer, from = %attempt.from, version = ?attempt.credentials.version, "WebRTC-direct connection");
            let connection = Connection::new(layers, liveness, incoming, streams, Role::Server);
            Ok((peer, connection))
        }
        Ok(Err(error)) => {
            let _ = agent.close().await;
            Err(error)
        }
        Err(_) => {
            let _ = agent.close().await;
            Err(ListenError::Timeout(timeout))
        }
    }
}

type Handshaken = (
    PeerId,
    Layers,
    mpsc::Receiver<Arc<RawChannel>>,
    Streams<RtcChannel>,
);

/// ICE, our DTLS server, SCTP, then noise as the initiator on channel 0.
async fn handshake(
    agent: &Arc<Agent>,
    attempt: &Attempt,
    config: &Config,
    dtls: Arc<dimpl::Config>,
    liveness: Arc<Liveness>,
) -> Result<Handshaken, ListenError> {
    // Dropping the sender would cancel the checks: keep it to the end of the handshake.
    let (_cancel, cancel_rx) = mpsc::channel(1);
    let credentials = &attempt.credentials;
    let ice = agent
        .accept(
            cancel_rx,
            credentials.remote_ufrag.clone(),
            credentials.remote_pwd.clone(),
        )
        .await
        .map_err(|error| ConnectionError::from(webrtc::Error::from(error)))?;
    tracing::debug!(from = %attempt.from, "ICE connected");
    let (dtls, client_der) = dtls::accept(ice, dtls, config.certificate.dimpl(), liveness.clone())
        .await
        .map_err(ConnectionError::from)?;
    tracing::debug!(from = %attempt.from, "DTLS connected");
    let dtls: Arc<dyn Conn + Send + Sync> = dtls;
    let association = match association::start(dtls.clone(), liveness.clone()).await {
        Ok(association) => association,
        Err(error) => {
            let _ = dtls.close().await;
            return Err(error.into());
        }
    };
    let layers = Layers {
        agent: agent.clone(),
        dtls,
        association: association.clone(),
    };
    tracing::debug!(from = %attempt.from, "SCTP up");
    let accepted = association::accept(&association, liveness);
    let result = noise(&association, accepted.noise, client_der, config).await;
    match result {
        Ok((peer, streams)) => Ok((peer, layers, accepted.incoming, streams)),
        Err(error) => {
            layers.close().await;
            Err(error)
        }
    }
}

/// Noise on channel 0 with the spec's prologue; the listener initiates (it can send first
/// once SCTP is up).
async fn noise(
    association: &Arc<Association>,
    early: oneshot::Receiver<Arc<SctpStream>>,
    client_der: Vec<u8>,
    config: &Config,
) -> Result<(PeerId, Streams<RtcChannel>), ListenError> {
    let raw = association::noise_channel(association, early).await?;
    let client = Fingerprint(super::sha256(&client_der));
    let server = config.certificate.fingerprint();
    let streams = Streams::listener();
    let stream = streams.wrap(RtcChannel::new(raw));
    let noise =
        libp2p::noise::Config::new(&config.keypair)?.with_prologue(prologue(client, server));
    let info = noise
        .protocol_info()
        .next()
        .expect("noise has one protocol name");
    let (peer, mut output) = noise.upgrade_outbound(stream, info).await?;
    output.close().await.map_err(libp2p::noise::Error::from)?;
    Ok((peer, streams))
}
