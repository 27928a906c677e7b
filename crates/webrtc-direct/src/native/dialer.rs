//! Native WebRTC-direct dials (the spec's v1 handshake), for `webkad`'s one-shot commands and
//! nodes that bootstrap over WebRTC-direct.
//!
//! Built on webrtc-rs's ICE, DTLS and SCTP crates directly rather than on its
//! `RTCPeerConnection`, because of the negotiated-channel race of webrtc-rs issue 748: the
//! listener speaks first in noise on channel 0, and when its first message arrives between
//! the dialer's SCTP association coming up and the peer connection opening its negotiated
//! channel 0, webrtc-rs takes stream 0 for an incoming channel, reads the noise bytes as a
//! DCEP message, gives up accepting streams for good, and fails to open its own channel 0
//! (`there already exists a stream with identifier 0`). rust-libp2p's dialer (libp2p-webrtc
//! 0.10) hung that way in about one dial in eight on a loaded 2-core machine. Holding the
//! association ourselves, an early stream 0 is simply taken as the noise channel.
//!
//! Per dial: an ICE agent (controlling, host candidates of the remote's address family, mDNS
//! off) with the v1 credentials (ufrag = password = `libp2p+webrtc+v1/<random>`), the
//! listener's address as its one remote candidate; DTLS as the client with our certificate,
//! accepting only a server certificate whose sha-256 is the address's certhash; SCTP on port
//! 5000; then noise as the responder with the spec's prologue, the whole bounded by
//! [`DIAL_TIMEOUT`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use libp2p::core::Transport;
use libp2p::core::multiaddr::Multiaddr;
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::identity::{Keypair, PeerId};
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;
use webrtc::data::data_channel::DataChannel as RawChannel;
use webrtc::dtls::config::{Config as DtlsConfig, ExtendedMasterSecretType};
use webrtc::dtls::conn::DTLSConn;
use webrtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use webrtc::ice::agent::Agent;
use webrtc::ice::agent::agent_config::AgentConfig;
use webrtc::ice::candidate::candidate_base::CandidateBaseConfig;
use webrtc::ice::candidate::candidate_host::CandidateHostConfig;
use webrtc::ice::candidate::{Candidate, CandidateType};
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::util::Conn;

use super::association;
use super::certificate::Certificate;
use super::channel::RtcChannel;
use super::connection::{Connection, ConnectionError, Layers, Liveness, Role};
use crate::dialer_sdp::v1_ufrag;
use crate::noise::{self, Fingerprint};
use crate::stream::Streams;

/// The whole dial: ICE, DTLS, SCTP and noise.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// What the DTLS certificate check says when it fails.
const CERTHASH_MISMATCH: &str = "the server's certificate does not match the address's certhash";

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The WebRTC part (ICE, DTLS, SCTP, data channels) failed.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The noise handshake failed (wrong identity, wrong certhash, bad message).
    #[error("noise handshake: {0}")]
    Noise(#[from] libp2p::noise::Error),
    /// The server's DTLS certificate is not the one the address's certhash names.
    #[error("{CERTHASH_MISMATCH}")]
    WrongCerthash,
    /// The dial did not finish within [`DIAL_TIMEOUT`].
    #[error("WebRTC-direct dial took longer than {0:?}")]
    Timeout(Duration),
}

impl From<webrtc::Error> for DialError {
    fn from(error: webrtc::Error) -> Self {
        Self::Connection(error.into())
    }
}

/// The dialing transport (listening is [`Listener`](super::Listener)'s).
pub struct Dialer {
    keypair: Keypair,
    local: Local,
    open_delay: Duration,
}

/// Our certificate as each dial needs it, read once.
#[derive(Clone)]
struct Local {
    dtls: webrtc::dtls::crypto::Certificate,
    fingerprint: Fingerprint,
}

impl Dialer {
    /// Dials as `keypair`, presenting `certificate` in DTLS.
    pub fn new(keypair: Keypair, certificate: Certificate) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let local = Local {
            dtls: certificate.dtls(),
            fingerprint: certificate.fingerprint(),
        };
        Self {
            keypair,
            local,
            open_delay: Duration::ZERO,
        }
    }

    /// Waits `delay` between SCTP coming up and opening channel 0, so that the listener's
    /// first noise message always comes first: the race of webrtc-rs issue 748, made
    /// certain for a test of the path that handles it.
    #[doc(hidden)]
    pub fn with_channel_open_delay(mut self, delay: Duration) -> Self {
        self.open_delay = delay;
        self
    }
}

impl Transport for Dialer {
    type Output = (PeerId, Connection);
    type Error = DialError;
    type ListenerUpgrade = futures::future::Pending<Result<Self::Output, Self::Error>>;
    type Dial = BoxFuture<'static, Result<Self::Output, Self::Error>>;

    fn listen_on(
        &mut self,
        _: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        Err(TransportError::MultiaddrNotSupported(addr))
    }

    fn remove_listener(&mut self, _: ListenerId) -> bool {
        false
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let Some((server, certhash)) = crate::addr::dial_target(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let (keypair, local) = (self.keypair.clone(), self.local.clone());
        let open_delay = self.open_delay;
        Ok(async move {
            let dial = dial(server, certhash, keypair, local, open_delay);
            tokio::time::timeout(DIAL_TIMEOUT, dial)
                .await
                .unwrap_or(Err(DialError::Timeout(DIAL_TIMEOUT)))
        }
        .boxed())
    }

    fn poll(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Poll::Pending
    }
}

/// 32 random ice-chars for the v1 ufrag.
fn random_suffix() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    webrtc::ice::rand::generate_crypto_random_string(32, CHARS)
}

/// An ICE agent for `server`: host candidates of its address family (loopback only for a
/// loopback server), mDNS off.
async fn agent(server: SocketAddr, ufrag: &str) -> Result<Arc<Agent>, webrtc::Error> {
    let loopback = server.ip().is_loopback();
    let ipv4 = server.is_ipv4();
    let agent = Agent::new(AgentConfig {
        local_ufrag: ufrag.to_owned(),
        local_pwd: ufrag.to_owned(),
        network_types: vec![if ipv4 {
            NetworkType::Udp4
        } else {
            NetworkType::Udp6
        }],
        candidate_types: vec![CandidateType::Host],
        multicast_dns_mode: MulticastDnsMode::Disabled,
        include_loopback: loopback,
        ip_filter: Arc::new(Some(Box::new(move |ip| {
            ip.is_loopback() == loopback && ip.is_ipv4() == ipv4
        }))),
        ..AgentConfig::default()
    })
    .await?;
    let remote: Arc<dyn Candidate + Send + Sync> = Arc::new(
        CandidateHostConfig {
            base_config: CandidateBaseConfig {
                network: "udp".to_owned(),
                address: server.ip().to_string(),
                port: server.port(),
                component: 1,
                ..CandidateBaseConfig::default()
            },
            ..CandidateHostConfig::default()
        }
        .new_candidate_host()?,
    );
    agent.add_remote_candidate(&remote)?;
    agent.on_candidate(Box::new(|_| Box::pin(async {})));
    agent.gather_candidates()?;
    Ok(Arc::new(agent))
}

async fn dial(
    server: SocketAddr,
    certhash: Fingerprint,
    keypair: Keypair,
    local: Local,
    open_delay: Duration,
) -> Result<(PeerId, Connection), DialError> {
    let ufrag = v1_ufrag(&random_suffix());
    let agent = agent(server, &ufrag).await?;
    let liveness = Liveness::new();
    liveness.watch(&agent);
    let result = connect(
        &agent,
        &ufrag,
        certhash,
        &local.dtls,
        liveness.clone(),
        open_delay,
    )
    .await;
    let (layers, noise_channel, incoming) = match result {
        Ok(connected) => connected,
        Err(error) => {
            let _ = agent.close().await;
            return Err(error);
        }
    };
    let streams = Streams::dialer();
    let channel = RtcChannel::new(noise_channel);
    let handshake =
        noise::dialer_handshake(&streams, channel, &keypair, local.fingerprint, certhash);
    match handshake.await {
        Ok(peer) => {
            tracing::debug!(%peer, %server, "WebRTC-direct dialed");
            let connection = Connection::new(layers, liveness, incoming, streams, Role::Client);
            Ok((peer, connection))
        }
        Err(error) => {
            layers.close().await;
            Err(error.into())
        }
    }
}

type Connected = (Layers, Arc<RawChannel>, mpsc::Receiver<Arc<RawChannel>>);

/// ICE, DTLS and SCTP, then the noise channel (ours, or the listener's if it came first).
async fn connect(
    agent: &Arc<Agent>,
    ufrag: &str,
    certhash: Fingerprint,
    certificate: &webrtc::dtls::crypto::Certificate,
    liveness: Arc<Liveness>,
    open_delay: Duration,
) -> Result<Connected, DialError> {
    // Dropping the sender would cancel the dial: keep it to the end of the checks.
    let (_cancel, cancel_rx) = mpsc::channel(1);
    let ice = agent
        .dial(cancel_rx, ufrag.to_owned(), ufrag.to_owned())
        .await
        .map_err(webrtc::Error::from)?;
    let dtls = DTLSConn::new(ice, dtls_config(certificate, certhash), true, None)
        .await
        .map_err(|error| match error {
            webrtc::dtls::Error::Other(text) if text == CERTHASH_MISMATCH => {
                DialError::WrongCerthash
            }
            error => webrtc::Error::from(error).into(),
        })?;
    let dtls: Arc<dyn Conn + Send + Sync> = Arc::new(dtls);
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
    let accepted = association::accept(&association, liveness);
    if !open_delay.is_zero() {
        tokio::time::sleep(open_delay).await;
    }
    match association::noise_channel(&association, accepted.noise).await {
        Ok(channel) => Ok((layers, channel, accepted.incoming)),
        Err(error) => {
            layers.close().await;
            Err(error.into())
        }
    }
}

/// DTLS as the client, with our certificate, accepting only the certhash's certificate.
fn dtls_config(
    certificate: &webrtc::dtls::crypto::Certificate,
    certhash: Fingerprint,
) -> DtlsConfig {
    let verify = move |chain: &[Vec<u8>], _: &[CertificateDer<'static>]| match chain.first() {
        Some(der) if super::sha256(der) == certhash.0 => Ok(()),
        _ => Err(webrtc::dtls::Error::Other(CERTHASH_MISMATCH.to_owned())),
    };
    DtlsConfig {
        certificates: vec![certificate.clone()],
        // Self-signed by design: the certhash check above is the verification.
        insecure_skip_verify: true,
        verify_peer_certificate: Some(Arc::new(verify)),
        extended_master_secret: ExtendedMasterSecretType::Require,
        // Offered as browsers do; a data-only connection never uses them.
        srtp_protection_profiles: vec![
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        ],
        ..DtlsConfig::default()
    }
}
