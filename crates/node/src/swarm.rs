//! The native transport stack: TCP, QUIC, WebSocket and WebRTC-direct, with DNS
//! resolution, noise and yamux, and the relay client.

use libp2p::metrics::Registry;
use libp2p::{Swarm, SwarmBuilder, identity::Keypair, noise, tcp, yamux};
use libp2p_webrtc::tokio::Certificate;
use webkad_core::{Behaviour, Config, Store};

use crate::webrtc_direct::WebRtcDirect;

use futures::TryFutureExt;

/// Why the swarm could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the libp2p stack: {0}")]
pub struct SwarmError(String);

fn err(e: impl std::fmt::Display) -> SwarmError {
    SwarmError(e.to_string())
}

/// Builds the native swarm around webkad's behaviour, counting every transport's bytes
/// in `registry`.
pub async fn build(
    keypair: Keypair,
    certificate: Certificate,
    store: Store,
    config: &Config,
    registry: &mut Registry,
) -> Result<Swarm<Behaviour>, SwarmError> {
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(err)?
        .with_quic()
        .with_other_transport(|key| WebRtcDirect::new(key, certificate))
        .map_err(err)?
        .with_dns()
        .map_err(err)?
        .with_websocket(noise::Config::new, yamux::Config::default)
        .map_err(err)
        .await?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(err)?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key, relay_client| {
            Behaviour::new(key, relay_client, store, config)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        })
        .map_err(err)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    Ok(swarm)
}
