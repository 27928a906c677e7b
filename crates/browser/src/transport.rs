//! The browser's transport stack: WebSocket (with noise and yamux) and WebRTC-direct (which
//! secures and multiplexes itself), plus the relay client.

use std::time::Duration;

use libp2p::{
    Swarm, SwarmBuilder, Transport,
    core::{muxing::StreamMuxerBox, transport::timeout::TransportTimeout, upgrade::Version},
    identity::Keypair,
    metrics::Registry,
    noise, websocket_websys, yamux,
};
use webkad_core::{Behaviour, Config, Store, behaviour::store_limits};
use webkad_webrtc_direct as webrtc_direct;

use crate::ws_flush::NoFlushWait;

/// Builds the browser swarm around webkad's behaviour, counting each transport's bytes in
/// `registry`.
/// Each dial attempt is bounded by `dial_timeout`: a WebRTC handshake that never completes
/// (a blocked UDP path, a browser that changed the SDP rules) fails in time for a fallback.
pub fn build(
    keypair: Keypair,
    config: &Config,
    dial_timeout: Duration,
    registry: &mut Registry,
) -> Result<Swarm<Behaviour>, String> {
    let peer_id = keypair.public().to_peer_id();
    let store = Store::in_memory(peer_id, store_limits(config));
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_wasm_bindgen()
        .with_other_transport(|key| {
            let ws = websocket_websys::Transport::default()
                .map(|conn, _| NoFlushWait(conn))
                .upgrade(Version::V1Lazy)
                .authenticate(noise::Config::new(key)?)
                .multiplex(yamux::Config::default())
                .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)));
            Ok(TransportTimeout::with_outgoing_timeout(ws, dial_timeout))
        })
        .map_err(|e| e.to_string())?
        .with_other_transport(|key| {
            // Our own WebRTC-direct (issue 14): the v2 handshake needs no SDP munging.
            let webrtc = webrtc_direct::browser::Transport::new(
                key.clone(),
                webrtc_direct::credentials::Version::V2,
            )
            .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)));
            TransportTimeout::with_outgoing_timeout(webrtc, dial_timeout)
        })
        .map_err(|e| e.to_string())?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| e.to_string())?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key, relay_client| {
            Behaviour::new(key, relay_client, store, config)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        })
        .map_err(|e| e.to_string())?
        .with_swarm_config(|c| config.swarm_config(c))
        .build();
    Ok(swarm)
}
