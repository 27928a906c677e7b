//! `webkad serve` flags for the limits that were compiled in: connections, records, values,
//! providers, rooms, direct messages, the relay's and rendezvous server's rates and
//! lifetimes, and WebRTC-direct's connection attempts. Each shows its default in `serve --help`; each can also be set in the
//! `--config` file under the same name (see [`crate::config_file`]).

use std::time::Duration;

use clap::Args;
use webkad_core::{
    Config, RelayLimits, RendezvousServerLimits, WebRtcAttemptLimits, config as defaults,
};

/// Limits of `webkad serve` (flattened into [`crate::cli::ServeArgs`]).
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Established libp2p connections at most, over all peers (pages count one each).
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Established libp2p connections at most with one peer.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_peer: u32,
    /// Largest record value accepted, in bytes. Above the 12 KiB default a record may not
    /// fit the 16 KiB Kademlia message other implementations accept.
    #[arg(long, value_name = "BYTES", default_value_t = defaults::DEFAULT_MAX_VALUE_BYTES as u64, value_parser = clap::value_parser!(u64).range(1..=60 * 1024))]
    pub max_value_bytes: u64,
    /// Largest record or provider key accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = defaults::DEFAULT_MAX_KEY_BYTES as u64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_key_bytes: u64,
    /// Provider records kept per key.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_providers_per_key: u64,
    /// Seconds a record lives in the DHT unless republished.
    #[arg(long, value_name = "SECS", default_value_t = 48 * 60 * 60, value_parser = clap::value_parser!(u64).range(60..))]
    pub record_ttl: u64,
    /// Seconds an unused libp2p connection stays open.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_connection_timeout: u64,
    /// Largest direct message (request or reply), in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(1..=16 * 1024 * 1024))]
    pub max_direct_message_bytes: u64,
    /// Largest room (gossipsub) message, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(1..=16 * 1024 * 1024))]
    pub max_room_message_bytes: u64,
    /// Rooms joined at most (own and relayed for peers).
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rooms: u64,
    /// Relay: reservations one peer may make per minute (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub relay_reservations_per_peer_per_minute: u32,
    /// Relay: reservations one IP address may make per minute (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 600)]
    pub relay_reservations_per_ip_per_minute: u32,
    /// Relay: circuits one peer may open per minute (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 120)]
    pub relay_circuits_per_peer_per_minute: u32,
    /// Relay: circuits one IP address may open per minute (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 1200)]
    pub relay_circuits_per_ip_per_minute: u32,
    /// Rendezvous server: the longest registration TTL accepted, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 72 * 60 * 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub rendezvous_max_ttl: u64,
    /// Rendezvous server: registrations one peer may hold.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub rendezvous_max_registrations_per_peer: u64,
    /// WebRTC-direct: connection attempts (STUN requests for a new ICE ufrag) in flight at
    /// once, from everyone.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub webrtc_max_pending: u64,
    /// WebRTC-direct: connection attempts in flight at once from one IP address.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub webrtc_max_pending_per_ip: u64,
    /// WebRTC-direct: seconds an attempt may take to become a connection.
    #[arg(long, value_name = "SECS", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub webrtc_handshake_timeout: u64,
}

impl LimitArgs {
    /// Sets these limits on a node's configuration.
    pub fn apply(&self, config: &mut Config) {
        config.max_connections = self.max_connections;
        config.max_connections_per_peer = self.max_connections_per_peer;
        config.max_value_bytes = size(self.max_value_bytes);
        config.max_key_bytes = size(self.max_key_bytes);
        config.max_providers_per_key = size(self.max_providers_per_key);
        config.record_ttl = Duration::from_secs(self.record_ttl);
        config.idle_connection_timeout = Duration::from_secs(self.idle_connection_timeout);
        config.max_message_bytes = size(self.max_direct_message_bytes);
        config.rooms.max_message_bytes = size(self.max_room_message_bytes);
        config.rooms.max_rooms = size(self.max_rooms);
        if let Some(relay) = config.relay_server.as_mut() {
            self.apply_relay(relay);
        }
        if let Some(rendezvous) = config.rendezvous_server.as_mut() {
            self.apply_rendezvous(rendezvous);
        }
        config.webrtc_attempts = WebRtcAttemptLimits {
            max_pending: size(self.webrtc_max_pending),
            max_pending_per_ip: size(self.webrtc_max_pending_per_ip),
            handshake_timeout: Duration::from_secs(self.webrtc_handshake_timeout),
        };
    }

    fn apply_relay(&self, relay: &mut RelayLimits) {
        relay.reservations_per_peer_per_minute = self.relay_reservations_per_peer_per_minute;
        relay.reservations_per_ip_per_minute = self.relay_reservations_per_ip_per_minute;
        relay.circuits_per_peer_per_minute = self.relay_circuits_per_peer_per_minute;
        relay.circuits_per_ip_per_minute = self.relay_circuits_per_ip_per_minute;
    }

    fn apply_rendezvous(&self, rendezvous: &mut RendezvousServerLimits) {
        rendezvous.max_ttl = Duration::from_secs(self.rendezvous_max_ttl);
        rendezvous.max_registrations_per_peer = size(self.rendezvous_max_registrations_per_peer);
    }
}

/// A count the flag's range already bounds, as a `usize`.
fn size(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
