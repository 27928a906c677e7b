//! The composed libp2p [`NetworkBehaviour`]: the same struct on native and in the browser.
//!
//! What differs by role is configuration, not code: a bootstrap node runs the relay server
//! and Kademlia in server mode; a browser or one-shot client runs neither. The relay client
//! is always present (it is how browsers become reachable, and how native nodes behind NAT
//! will).

// The derive generates `BehaviourEvent`, one variant per field, documented by the fields.
#![allow(missing_docs)]

pub mod ip_limits;
#[cfg(not(target_arch = "wasm32"))]
pub mod nat;
pub mod rate_limit;

#[cfg(not(target_arch = "wasm32"))]
use std::{num::NonZeroU32, time::Duration};

use libp2p::{
    StreamProtocol, connection_limits, gossipsub, identify,
    identity::Keypair,
    kad::{self, store::MemoryStoreConfig},
    ping, relay, rendezvous, request_response,
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
};

use crate::{
    config::{Config, IDENTIFY_PROTOCOL_VERSION, KadMode, MESSAGE_PROTOCOL},
    messaging::MessageCodec,
    store::Store,
};

/// The circuit relay v2 server. A browser can never serve as a relay, so in wasm this is a
/// behaviour that does nothing and the page carries no relay-server code; the servers are
/// the one place the behaviour differs by target.
#[cfg(not(target_arch = "wasm32"))]
pub type RelayServer = relay::Behaviour;
/// The circuit relay v2 server: nothing, in the browser.
#[cfg(target_arch = "wasm32")]
pub type RelayServer = libp2p::swarm::dummy::Behaviour;

/// The rendezvous server (native only, like [`RelayServer`]).
#[cfg(not(target_arch = "wasm32"))]
pub type RendezvousServer = rendezvous::server::Behaviour;
/// The rendezvous server: nothing, in the browser.
#[cfg(target_arch = "wasm32")]
pub type RendezvousServer = libp2p::swarm::dummy::Behaviour;

/// A behaviour whose inbound requests are rate-limited per peer: on native nodes. A page
/// serves no DHT (Kademlia client mode) and is reached only through relays, which limit
/// circuits; leaving the wrapper out keeps its code out of the page's wasm.
#[cfg(not(target_arch = "wasm32"))]
pub type Limited<B> = rate_limit::RateLimited<B>;
/// A behaviour as is: the page limits nothing per peer (see the native definition).
#[cfg(target_arch = "wasm32")]
pub type Limited<B> = B;

#[cfg(not(target_arch = "wasm32"))]
fn limited<B>(inner: B, rate: Option<rate_limit::RequestRate>) -> Limited<B> {
    rate_limit::RateLimited::new(inner, rate)
}

#[cfg(target_arch = "wasm32")]
fn limited<B>(inner: B, _: Option<rate_limit::RequestRate>) -> Limited<B> {
    inner
}

/// Every protocol a webkad node speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Refuses connections beyond the configured counts before any protocol runs.
    pub limits: connection_limits::Behaviour,
    /// Refuses inbound connections beyond the per-IP counts. Native only: a page's
    /// inbound connections come through relays, which limit them (and would all count
    /// against the relay's address), so the page carries none of this code.
    #[cfg(not(target_arch = "wasm32"))]
    pub ip_limits: ip_limits::IpLimits,
    /// Circuit relay v2 client: reservations on relays, and dialing through them.
    pub relay_client: relay::client::Behaviour,
    /// Circuit relay v2 server (bootstrap nodes only).
    pub relay_server: Toggle<RelayServer>,
    /// The Kademlia DHT over our record store, inbound requests rate-limited per peer.
    pub kad: Limited<kad::Behaviour<Store>>,
    /// Exchanges listen addresses, protocols and observed addresses with every peer.
    pub identify: identify::Behaviour,
    /// Liveness and round-trip times of every connection.
    pub ping: ping::Behaviour,
    /// Direct messages with acknowledgement, inbound requests rate-limited per peer.
    pub messages: Limited<request_response::Behaviour<MessageCodec>>,
    /// Registering at rendezvous servers and discovering peers there.
    pub rendezvous: rendezvous::client::Behaviour,
    /// Rendezvous server (bootstrap nodes only).
    pub rendezvous_server: Toggle<RendezvousServer>,
    /// Pub/sub rooms.
    pub gossipsub: gossipsub::Behaviour,
    /// mDNS, UPnP, AutoNAT and DCUtR. Native only: the field does not exist in the browser
    /// (cfg-stripped before the derive), so the page carries no trace of them.
    #[cfg(not(target_arch = "wasm32"))]
    pub nat: nat::Nat,
}

/// Why the behaviour could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BehaviourError {
    /// The Kademlia protocol name is not a valid libp2p protocol name.
    #[error("invalid Kademlia protocol name {0:?}: it must start with '/'")]
    KadProtocol(String),
    /// The gossipsub configuration is inconsistent.
    #[error("invalid pub/sub configuration: {0}")]
    Rooms(String),
    /// mDNS cannot start (no multicast socket).
    #[error("cannot start mDNS: {0}")]
    Mdns(String),
}

impl Behaviour {
    /// Builds the behaviour for `keypair` with `config`, storing records in `store`.
    pub fn new(
        keypair: &Keypair,
        relay_client: relay::client::Behaviour,
        store: Store,
        config: &Config,
    ) -> Result<Self, BehaviourError> {
        let peer_id = keypair.public().to_peer_id();
        let kad_protocol = StreamProtocol::try_from_owned(config.kad_protocol.clone())
            .map_err(|_| BehaviourError::KadProtocol(config.kad_protocol.clone()))?;
        let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config(kad_protocol, config));
        kad.set_mode(Some(match config.kad_mode {
            KadMode::Server => kad::Mode::Server,
            // Auto starts as a client; the event loop switches it once AutoNAT confirms an
            // address (libp2p's own automatic mode would count relayed addresses too).
            KadMode::Client | KadMode::Auto => kad::Mode::Client,
        }));

        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_owned(), keypair.public())
                .with_agent_version(config.agent_version.clone())
                .with_push_listen_addr_updates(true),
        );
        let ping = ping::Behaviour::new(
            ping::Config::new()
                .with_interval(config.ping_interval)
                .with_timeout(config.ping_timeout),
        );
        let messages = request_response::Behaviour::with_codec(
            MessageCodec::new(config.max_message_bytes),
            [(
                StreamProtocol::new(MESSAGE_PROTOCOL),
                request_response::ProtocolSupport::Full,
            )],
            request_response::Config::default().with_request_timeout(config.message_timeout),
        );
        let limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established(Some(config.max_connections))
                .with_max_established_per_peer(Some(config.max_connections_per_peer)),
        );
        let relay_server = relay_server(peer_id, config);
        let gossipsub = gossipsub::Behaviour::new(
            gossipsub::MessageAuthenticity::Signed(keypair.clone()),
            gossipsub_config(config)?,
        )
        .map_err(|e| BehaviourError::Rooms(e.to_owned()))?;

        Ok(Self {
            limits,
            #[cfg(not(target_arch = "wasm32"))]
            ip_limits: ip_limits::IpLimits::new(config.ip_limits),
            relay_client,
            relay_server: relay_server.into(),
            kad: limited(kad, config.request_rate),
            identify,
            ping,
            messages: limited(messages, config.request_rate),
            rendezvous: rendezvous::client::Behaviour::new(keypair.clone()),
            rendezvous_server: rendezvous_server(config).into(),
            gossipsub,
            #[cfg(not(target_arch = "wasm32"))]
            nat: nat::new(peer_id, &config.nat)?,
        })
    }
}

/// The store limits that follow from `config` (kad refuses values `>=` its limit).
pub fn store_limits(config: &Config) -> crate::store::StoreLimits {
    crate::store::StoreLimits {
        memory: MemoryStoreConfig {
            max_records: config.max_records,
            max_value_bytes: config.max_value_bytes + 1,
            max_providers_per_key: config.max_providers_per_key,
            max_provided_keys: config.max_provided_keys,
        },
        max_key_bytes: config.max_key_bytes,
    }
}

fn kad_config(protocol: StreamProtocol, config: &Config) -> kad::Config {
    let mut kad = kad::Config::new(protocol);
    kad.set_query_timeout(config.query_timeout)
        .set_record_ttl(Some(config.record_ttl))
        .set_provider_record_ttl(Some(config.provider_ttl))
        .set_max_packet_size(config.kad_max_packet_size)
        .set_periodic_bootstrap_interval(Some(config.bootstrap_interval))
        // kad stores inbound records itself, so that a write our store refuses (a limit,
        // a full disk) resets the stream instead of acknowledging it: with `FilterBoth`
        // kad acknowledges every PUT before the event loop sees it. The store checks the
        // limits and reports each outcome to the event loop (`Store::outcomes`).
        .set_record_filtering(kad::StoreInserts::Unfiltered);
    kad
}

/// Gossipsub as webkad uses it: signed messages checked strictly, the configured size limit.
fn gossipsub_config(config: &Config) -> Result<gossipsub::Config, BehaviourError> {
    gossipsub::ConfigBuilder::default()
        .heartbeat_interval(config.rooms.heartbeat)
        .validation_mode(gossipsub::ValidationMode::Strict)
        .max_transmit_size(config.rooms.max_message_bytes + ROOM_MESSAGE_OVERHEAD)
        .build()
        .map_err(|e| BehaviourError::Rooms(e.to_string()))
}

/// What a gossipsub frame adds to a message's payload: topic, signature, key, sequence number.
pub const ROOM_MESSAGE_OVERHEAD: usize = 1024;

/// The rendezvous server `config` asks for.
#[cfg(not(target_arch = "wasm32"))]
fn rendezvous_server(config: &Config) -> Option<RendezvousServer> {
    config.rendezvous_server.as_ref().map(|limits| {
        rendezvous::server::Behaviour::new(
            rendezvous::server::Config::default()
                .with_min_ttl(limits.min_ttl.as_secs())
                .with_max_ttl(limits.max_ttl.as_secs())
                .with_max_registration_total(limits.max_registrations)
                .with_max_registration_per_peer(limits.max_registrations_per_peer),
        )
    })
}

/// No rendezvous server in the browser, whatever `config` says.
#[cfg(target_arch = "wasm32")]
fn rendezvous_server(_: &Config) -> Option<RendezvousServer> {
    None
}

/// The relay server `config` asks for.
#[cfg(not(target_arch = "wasm32"))]
fn relay_server(peer_id: libp2p::PeerId, config: &Config) -> Option<RelayServer> {
    config
        .relay_server
        .as_ref()
        .map(|limits| relay::Behaviour::new(peer_id, relay_config(limits)))
}

/// No relay server in the browser, whatever `config` says.
#[cfg(target_arch = "wasm32")]
fn relay_server(_: libp2p::PeerId, _: &Config) -> Option<RelayServer> {
    None
}

/// Relay server configuration from our limits. The rate limiters replace libp2p's defaults,
/// whose per-IP limits (60 a minute) would lock out many browsers behind one NAT.
#[cfg(not(target_arch = "wasm32"))]
fn relay_config(limits: &crate::config::RelayLimits) -> relay::Config {
    // Zero means no limit of that kind (`NonZeroU32` cannot say zero).
    let limit = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MAX);
    let minute = Duration::from_secs(60);
    relay::Config {
        max_reservations: limits.max_reservations,
        max_reservations_per_peer: limits.max_reservations_per_peer,
        reservation_duration: limits.reservation_duration,
        reservation_rate_limiters: Vec::new(),
        max_circuits: limits.max_circuits,
        max_circuits_per_peer: limits.max_circuits_per_peer,
        max_circuit_duration: limits.max_circuit_duration,
        max_circuit_bytes: limits.max_circuit_bytes,
        circuit_src_rate_limiters: Vec::new(),
    }
    .reservation_rate_per_peer(limit(limits.reservations_per_peer_per_minute), minute)
    .reservation_rate_per_ip(limit(limits.reservations_per_ip_per_minute), minute)
    .circuit_src_per_peer(limit(limits.circuits_per_peer_per_minute), minute)
    .circuit_src_per_ip(limit(limits.circuits_per_ip_per_minute), minute)
}
