//! Node configuration: every tunable of the behaviour, with documented defaults and limits.
//!
//! The same [`Config`] drives the native node and the browser node; the native node
//! overrides a few defaults from its command line (Kademlia mode, relay limits, protocol name).

use std::time::Duration;

use crate::addr::AddressFilter;

/// The Kademlia protocol name webkad networks use unless told otherwise.
///
/// A private protocol name keeps a webkad DHT separate from the public IPFS DHT;
/// pass `/ipfs/kad/1.0.0` to join IPFS-compatible networks instead.
pub const DEFAULT_KAD_PROTOCOL: &str = "/webkad/kad/1.0.0";

/// The direct-message (request/response) protocol name.
pub const MESSAGE_PROTOCOL: &str = "/webkad/msg/1.0.0";

/// The rendezvous namespace every page registers under, so pages find each other.
pub const BROWSER_NAMESPACE: &str = "webkad-browsers";

/// How a page's agent version starts (`webkad-browser/<version>`).
pub const BROWSER_AGENT: &str = "webkad-browser/";

/// The identify `protocolVersion` webkad nodes announce.
pub const IDENTIFY_PROTOCOL_VERSION: &str = "/webkad/1.0.0";

/// Largest Kademlia message we send, and the size other libp2p implementations
/// (rust-libp2p and js-libp2p) accept by default: 16 KiB.
pub const KAD_MESSAGE_LIMIT: usize = 16 * 1024;

/// Largest key a record or provider key may have, in bytes.
pub const DEFAULT_MAX_KEY_BYTES: usize = 1024;

/// Largest record value, in bytes.
///
/// A record travels in a PUT_VALUE message (key twice plus framing) and in a GET_VALUE
/// answer that also lists up to 20 closer peers with their addresses. 12 KiB leaves 4 KiB of
/// the 16 KiB message limit for that, so a record we accept can always be sent to and
/// served by peers that keep the standard 16 KiB limit.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 12 * 1024;
/// Records a node stores at most (its own and others').
pub const DEFAULT_MAX_RECORDS: usize = 65_536;

/// Whether this node answers Kademlia queries from others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KadMode {
    /// Serve the DHT: store records for others and answer their queries. Bootstrap nodes.
    Server,
    /// Only query the DHT. Browsers, short-lived command-line clients, unreachable nodes.
    Client,
    /// Follow reachability: client while no direct external address is confirmed, server
    /// once AutoNAT (or a UPnP mapping, or `--announce`) confirms one. A relayed
    /// (`/p2p-circuit`) address does not count: serving the DHT through a relay would put
    /// every query on a limited circuit. Native nodes that join a network through others.
    Auto,
}

/// The NAT ladder of a native node: finding LAN peers, learning and proving its own
/// reachability, opening ports, and upgrading relayed connections. Every rung is off by
/// default (browsers and one-shot commands use none of them); the browser build carries
/// none of their code whatever this says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatConfig {
    /// Find peers on the local network with multicast DNS and add them to Kademlia.
    pub mdns: bool,
    /// Map the listen ports on the gateway with UPnP IGD; the mappings are confirmed
    /// external addresses while they last.
    pub upnp: bool,
    /// Ask AutoNAT (v2) servers to dial back the address candidates identify reports,
    /// confirming those that answer as external addresses.
    pub autonat_client: bool,
    /// Answer other peers' AutoNAT (v2) dial-back requests.
    pub autonat_server: bool,
    /// Upgrade relayed connections to direct ones by hole punching (DCUtR).
    pub dcutr: bool,
}

impl NatConfig {
    /// What a long-running native node uses: AutoNAT both ways and hole punching; mDNS and
    /// UPnP stay opt-in.
    pub fn native_node() -> Self {
        Self {
            autonat_client: true,
            autonat_server: true,
            dcutr: true,
            ..Self::default()
        }
    }
}

/// Bounds on the WebRTC-direct connection attempts a native listener holds: each is an
/// unauthenticated STUN request for a new ICE ufrag, so a spray must not pile them up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebRtcAttemptLimits {
    /// Attempts in flight at once, from everyone.
    pub max_pending: usize,
    /// Attempts in flight at once from one source IP.
    pub max_pending_per_ip: usize,
    /// How long an attempt may take to become a connection before it is dropped.
    pub handshake_timeout: Duration,
}

impl Default for WebRtcAttemptLimits {
    /// 64 attempts, 8 per IP, 8 s: a browser completes ICE, DTLS, SCTP and noise in a few
    /// round trips, so 8 s covers slow mobile links while a spray is forgotten quickly.
    fn default() -> Self {
        Self {
            max_pending: 64,
            max_pending_per_ip: 8,
            handshake_timeout: Duration::from_secs(8),
        }
    }
}

/// Limits of the circuit relay v2 server (native nodes only).
///
/// libp2p's defaults (128 reservations, 2 minute / 128 KiB circuits) are made for a relay
/// of last resort. Browsers depend on the relay for every browser-to-browser byte, so the
/// defaults here are larger; an operator tightens them with `webkad serve` flags.
#[derive(Debug, Clone)]
pub struct RelayLimits {
    /// Reservations held at once, over all peers.
    pub max_reservations: usize,
    /// Reservations one peer may hold at once.
    pub max_reservations_per_peer: usize,
    /// How long a reservation lasts before the peer must renew it.
    pub reservation_duration: Duration,
    /// Relayed circuits open at once, over all peers.
    pub max_circuits: usize,
    /// Relayed circuits one peer may have open at once.
    pub max_circuits_per_peer: usize,
    /// How long one circuit may stay open.
    pub max_circuit_duration: Duration,
    /// How many bytes one circuit may carry (both directions together).
    pub max_circuit_bytes: u64,
    /// Reservations one peer may make per minute. Default 30.
    pub reservations_per_peer_per_minute: u32,
    /// Reservations one IP address may make per minute. Default 600: libp2p's 60 would lock
    /// out many browsers behind one NAT.
    pub reservations_per_ip_per_minute: u32,
    /// Circuits one peer may open per minute. Default 120.
    pub circuits_per_peer_per_minute: u32,
    /// Circuits one IP address may open per minute. Default 1200.
    pub circuits_per_ip_per_minute: u32,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_reservations: 1024,
            max_reservations_per_peer: 4,
            reservation_duration: Duration::from_secs(60 * 60),
            max_circuits: 1024,
            max_circuits_per_peer: 16,
            max_circuit_duration: Duration::from_secs(30 * 60),
            max_circuit_bytes: 64 * 1024 * 1024,
            reservations_per_peer_per_minute: 30,
            reservations_per_ip_per_minute: 600,
            circuits_per_peer_per_minute: 120,
            circuits_per_ip_per_minute: 1200,
        }
    }
}

/// Registering at and discovering through rendezvous servers (client side).
///
/// The node registers its external addresses (for a page: its relay circuit address) under
/// `register` at every rendezvous server it is connected to, re-registers after three
/// quarters of the TTL, and asks each server for the peers under `discover` every
/// `discover_interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RendezvousConfig {
    /// The namespace to register under; `None` registers nowhere.
    pub register: Option<String>,
    /// The namespace to discover peers in; `None` discovers only on request.
    pub discover: Option<String>,
    /// How long a registration lives on the server unless refreshed.
    pub ttl: Duration,
    /// How often to ask for the peers under `discover`.
    pub discover_interval: Duration,
}

impl RendezvousConfig {
    /// Registers and discovers in `namespace`.
    pub fn in_namespace(namespace: &str) -> Self {
        Self {
            register: Some(namespace.to_owned()),
            discover: Some(namespace.to_owned()),
            ..Self::default()
        }
    }
}

impl Default for RendezvousConfig {
    fn default() -> Self {
        Self {
            register: None,
            discover: None,
            ttl: Duration::from_secs(60),
            discover_interval: Duration::from_secs(5),
        }
    }
}

/// Limits of the rendezvous server (native nodes only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RendezvousServerLimits {
    /// The shortest registration TTL accepted. Default 10 s, so that pages can register with
    /// short TTLs and vanish from listings soon after they close.
    pub min_ttl: Duration,
    /// The longest registration TTL accepted. Default 72 hours (the protocol's).
    pub max_ttl: Duration,
    /// Registrations held at once over all peers. Default 4096.
    pub max_registrations: usize,
    /// Registrations one peer may hold. Default 16.
    pub max_registrations_per_peer: usize,
}

impl Default for RendezvousServerLimits {
    fn default() -> Self {
        Self {
            min_ttl: Duration::from_secs(10),
            max_ttl: Duration::from_secs(72 * 60 * 60),
            max_registrations: 4096,
            max_registrations_per_peer: 16,
        }
    }
}

/// Pub/sub rooms (gossipsub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomsConfig {
    /// Largest room message, in bytes. Default 64 KiB.
    pub max_message_bytes: usize,
    /// Join every room a connected peer joins, to relay it (servers: pages only connect to
    /// the bootstrap node, so it carries every room between them). Default off.
    pub relay_all: bool,
    /// Rooms joined at most (own and relayed). Default 256.
    pub max_rooms: usize,
    /// How often gossipsub's heartbeat runs (mesh upkeep and gossip). Default 1 s.
    pub heartbeat: Duration,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            relay_all: false,
            max_rooms: 256,
            heartbeat: Duration::from_secs(1),
        }
    }
}

/// Everything that shapes a webkad node's behaviour.
#[derive(Debug, Clone)]
pub struct Config {
    /// Kademlia protocol name; see [`DEFAULT_KAD_PROTOCOL`].
    pub kad_protocol: String,
    /// Kademlia server, client, or [`KadMode::Auto`] (follows AutoNAT). Never libp2p's own
    /// automatic mode, which would serve as soon as a relayed address is confirmed.
    pub kad_mode: KadMode,
    /// Largest record key or provider key, in bytes. Default [`DEFAULT_MAX_KEY_BYTES`].
    pub max_key_bytes: usize,
    /// Largest record value, in bytes. Default [`DEFAULT_MAX_VALUE_BYTES`].
    pub max_value_bytes: usize,
    /// Largest Kademlia message accepted from a peer. Default 64 KiB: lenient in what we
    /// accept, while what we send stays under [`KAD_MESSAGE_LIMIT`].
    pub kad_max_packet_size: usize,
    /// Records this node stores at most (its own and others'). Default 65 536.
    pub max_records: usize,
    /// Provider records kept per key. Default 20, the replication factor.
    pub max_providers_per_key: usize,
    /// Keys this node itself provides at most. Default 4096.
    pub max_provided_keys: usize,
    /// How long a record lives in the DHT unless republished. Default 48 hours.
    pub record_ttl: Duration,
    /// How long a provider record lives unless republished. Default 48 hours.
    pub provider_ttl: Duration,
    /// How long one DHT query (get, put, providers, closest peers) may take. Default 30 s.
    pub query_timeout: Duration,
    /// How often the routing table is refreshed by a bootstrap query. Default 5 minutes.
    pub bootstrap_interval: Duration,
    /// How long an unused connection stays open. Default 60 s.
    pub idle_connection_timeout: Duration,
    /// How often connected peers are pinged. Default 15 s.
    pub ping_interval: Duration,
    /// How long a ping may wait for its answer before the connection counts as dead (and
    /// is closed). Default 20 s.
    pub ping_timeout: Duration,
    /// Largest direct message (request or reply), in bytes. Default 64 KiB.
    pub max_message_bytes: usize,
    /// How long a direct message waits for its acknowledgement. Default 10 s.
    pub message_timeout: Duration,
    /// Established connections at most, over all peers. Default 1024.
    pub max_connections: u32,
    /// Established connections at most per peer. Default 8.
    pub max_connections_per_peer: u32,
    /// Inbound connections per remote IP address, established and in their handshake
    /// (`behaviour/ip_limits.rs`). Default 64 and 32: a NAT full of browsers shares one.
    pub ip_limits: crate::behaviour::ip_limits::IpLimitsConfig,
    /// WebRTC-direct connection attempts a native listener holds (unauthenticated STUN
    /// requests for a new ICE ufrag); see [`WebRtcAttemptLimits`].
    pub webrtc_attempts: WebRtcAttemptLimits,
    /// Inbound Kademlia and direct-message requests per peer, each protocol its own token
    /// bucket (`behaviour/rate_limit.rs`); `None` limits nothing. Default 50 a second with
    /// bursts of 100: a page's join asks a server a few dozen times.
    pub request_rate: Option<crate::behaviour::rate_limit::RequestRate>,
    /// Circuit relay v2 server limits; `None` runs no relay server (browsers, clients).
    pub relay_server: Option<RelayLimits>,
    /// Rendezvous server limits; `None` runs no rendezvous server (browsers, clients).
    pub rendezvous_server: Option<RendezvousServerLimits>,
    /// Registration and discovery at rendezvous servers.
    pub rendezvous: RendezvousConfig,
    /// Pub/sub rooms.
    pub rooms: RoomsConfig,
    /// The agent version announced over identify.
    pub agent_version: String,
    /// Which peer addresses this node keeps in its routing table and dials.
    pub address_filter: AddressFilter,
    /// Announce every concrete listen address as an external address, so that provider
    /// records and identify carry them. Right for servers listening on their public (or,
    /// in tests, loopback) addresses; off when `--announce` names the addresses instead,
    /// and in [`KadMode::Auto`], where AutoNAT decides which addresses are reachable.
    pub announce_listen_addrs: bool,
    /// The NAT ladder (native nodes only).
    pub nat: NatConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            kad_protocol: DEFAULT_KAD_PROTOCOL.to_owned(),
            kad_mode: KadMode::Client,
            max_key_bytes: DEFAULT_MAX_KEY_BYTES,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            kad_max_packet_size: 64 * 1024,
            max_records: DEFAULT_MAX_RECORDS,
            max_providers_per_key: 20,
            max_provided_keys: 4096,
            record_ttl: Duration::from_secs(48 * 60 * 60),
            provider_ttl: Duration::from_secs(48 * 60 * 60),
            query_timeout: Duration::from_secs(30),
            bootstrap_interval: Duration::from_secs(5 * 60),
            idle_connection_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(15),
            ping_timeout: Duration::from_secs(20),
            max_message_bytes: 64 * 1024,
            message_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_peer: 8,
            ip_limits: crate::behaviour::ip_limits::IpLimitsConfig {
                max_established: Some(64),
                max_pending: Some(32),
            },
            webrtc_attempts: WebRtcAttemptLimits::default(),
            request_rate: Some(crate::behaviour::rate_limit::RequestRate {
                per_second: 50,
                burst: 100,
            }),
            relay_server: None,
            rendezvous_server: None,
            rendezvous: RendezvousConfig::default(),
            rooms: RoomsConfig::default(),
            agent_version: concat!("webkad/", env!("CARGO_PKG_VERSION")).to_owned(),
            address_filter: AddressFilter::Any,
            announce_listen_addrs: false,
            nat: NatConfig::default(),
        }
    }
}

impl Config {
    /// The configuration of a bootstrap node: Kademlia server, relay server, rendezvous
    /// server, AutoNAT server (and client) and hole punching, and a relay for every room its
    /// peers join.
    pub fn bootstrap() -> Self {
        Self {
            kad_mode: KadMode::Server,
            nat: NatConfig::native_node(),
            relay_server: Some(RelayLimits::default()),
            rendezvous_server: Some(RendezvousServerLimits::default()),
            rooms: RoomsConfig {
                relay_all: true,
                ..RoomsConfig::default()
            },
            ..Self::default()
        }
    }

    /// The swarm settings both shells build with: the idle-connection timeout, and outbound
    /// streams negotiated lazily (multistream-select `V1Lazy`: a stream's first message goes
    /// out with its protocol proposal, as go-libp2p and js-libp2p send theirs, instead of a
    /// round trip later). The wire format is plain multistream-select 1.0; a remote that
    /// refuses the protocol fails the stream, as it would anyway with one protocol offered.
    /// A page's first DHT answer over WebRTC-direct comes a round trip sooner.
    pub fn swarm_config(&self, swarm: libp2p::swarm::Config) -> libp2p::swarm::Config {
        swarm
            .with_idle_connection_timeout(self.idle_connection_timeout)
            .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
    }
}
