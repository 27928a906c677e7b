//! The native transport stack: TCP, QUIC, WebSocket and WebRTC-direct, with DNS
//! resolution, noise and yamux, and the relay client.

use libp2p::metrics::Registry;
use libp2p::{
    Swarm, SwarmBuilder, Transport, core::muxing::StreamMuxerBox, identity::Keypair, noise, tcp,
    yamux,
};
use libp2p_webrtc::tokio::Certificate;
use webkad_core::{Behaviour, Config, Store};

use std::sync::Arc;

use libp2p::core::{transport::OptionalTransport, upgrade::Version};
use rustls::pki_types::CertificateDer;

use crate::{tls::CertStore, webrtc_direct::WebRtcDirect, wss::WssListener};

use futures::TryFutureExt;

/// Why the swarm could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the libp2p stack: {0}")]
pub struct SwarmError(String);

fn err(e: impl std::fmt::Display) -> SwarmError {
    SwarmError(e.to_string())
}

/// The `/tls/ws` listener when the node has a certificate (see [`crate::wss`]), and, when
/// there are `trusted` CAs, a WebSocket transport (`/ws` and `/tls/ws`) that trusts them
/// besides the public ones, in place of libp2p's; upgraded like every stream transport:
/// noise, then yamux. This one sits under the DNS transport, so a `/dns4` name is resolved
/// before it and TLS checks the IP address (or a `/tls/sni/<name>` given in the address).
fn wss_transport(
    key: &Keypair,
    tls: Option<&Arc<CertStore>>,
    trusted: &[CertificateDer<'static>],
) -> Result<
    libp2p::core::transport::Boxed<(libp2p::PeerId, StreamMuxerBox)>,
    Box<dyn std::error::Error + Send + Sync>,
> {
    let wss = match tls {
        Some(certs) => OptionalTransport::some(WssListener::new(certs)),
        None => OptionalTransport::none(),
    };
    let dialer = if trusted.is_empty() {
        OptionalTransport::none()
    } else {
        let mut config = libp2p::websocket::tls::Config::builder();
        for ca in trusted {
            config.add_trust(&libp2p::websocket::tls::Certificate::new(ca.to_vec()))?;
        }
        let mut ws = libp2p::websocket::Config::new(tcp::tokio::Transport::new(
            tcp::Config::default().nodelay(true),
        ));
        ws.set_tls_config(config.finish());
        OptionalTransport::some(ws)
    };
    Ok(wss
        .or_transport(dialer)
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(key)?)
        .multiplex(yamux::Config::default())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}

/// Builds the native swarm around webkad's behaviour, counting every transport's bytes
/// in `registry`.
pub async fn build(
    keypair: Keypair,
    certificate: Certificate,
    store: Store,
    config: &Config,
    registry: &mut Registry,
    tls: Option<Arc<CertStore>>,
    trusted: Vec<CertificateDer<'static>>,
) -> Result<Swarm<Behaviour>, SwarmError> {
    // Several transports use rustls with different crypto back ends enabled; without a
    // process default, the first WebRTC or QUIC handshake panics (in-process swarms too,
    // not only `webkad serve`). Already installed is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let with_trust = !trusted.is_empty();
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(err)?
        .with_quic()
        .with_other_transport(|key| WebRtcDirect::new(key, certificate, config.webrtc_attempts))
        .map_err(err)?
        .with_other_transport(|key| wss_transport(key, tls.as_ref(), &trusted))
        .map_err(err)?
        .with_dns()
        .map_err(err)?;
    // The rest of the stack; a macro because the two branches' builders differ in type.
    macro_rules! finish {
        ($builder:expr) => {
            $builder
                .with_relay_client(noise::Config::new, yamux::Config::default)
                .map_err(err)?
                .with_bandwidth_metrics(registry)
                .with_behaviour(|key, relay_client| {
                    Behaviour::new(key, relay_client, store, config)
                        .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                })
                .map_err(err)?
                .with_swarm_config(|c| config.swarm_config(c))
                .build()
        };
    }
    // With extra trusted CAs, the WebSocket dialer of `wss_transport` replaces libp2p's
    // (which trusts only the public CAs and would be tried first).
    let swarm = if with_trust {
        finish!(swarm)
    } else {
        finish!(
            swarm
                .with_websocket(noise::Config::new, yamux::Config::default)
                .map_err(err)
                .await?
        )
    };
    Ok(swarm)
}
