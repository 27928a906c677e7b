//! Events a node reports to its subscribers (console, page, tests).

use serde::Serialize;

/// Something that happened on the node. Serialises as JSON tagged by `type`, for the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A listener is up on this address (ends in `/p2p/<own id>`).
    Listening {
        /// The full address.
        addr: String,
    },
    /// A listener address went away.
    ListenerClosed {
        /// The address.
        addr: String,
    },
    /// A connection to a peer is up (the first one to that peer).
    PeerConnected {
        /// The peer.
        peer: String,
        /// The remote address of the connection.
        addr: String,
        /// The transport: `tcp`, `quic`, `ws`, `webrtc-direct`, `relay`...
        transport: String,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer: String,
    },
    /// A ping round trip was measured.
    PingRtt {
        /// The peer.
        peer: String,
        /// Round-trip time in milliseconds.
        rtt_ms: f64,
    },
    /// A peer entered the Kademlia routing table.
    RoutingUpdated {
        /// The peer.
        peer: String,
        /// Peers in the routing table now.
        routing_table_size: usize,
    },
    /// A bootstrap (routing table refresh) finished.
    Bootstrapped {
        /// Peers in the routing table now.
        routing_table_size: usize,
    },
    /// Another peer stored a record here.
    RecordStored {
        /// The record key, lossy UTF-8.
        key: String,
        /// The peer that sent it.
        from: String,
    },
    /// Another peer announced itself here as a provider of a key.
    ProviderStored {
        /// The key, lossy UTF-8.
        key: String,
        /// The provider.
        provider: String,
    },
    /// A direct message arrived (it has been acknowledged).
    Message {
        /// The sender.
        peer: String,
        /// The message bytes.
        data: Vec<u8>,
        /// When it arrived, in milliseconds since the Unix epoch.
        at_ms: u64,
    },
    /// A message was posted in a room this node joined.
    RoomMessage {
        /// The room (gossipsub topic).
        topic: String,
        /// The peer that wrote it (its signature was checked).
        from: String,
        /// The message bytes.
        data: Vec<u8>,
        /// Gossipsub's message id.
        id: String,
        /// When it arrived, in milliseconds since the Unix epoch.
        at_ms: u64,
    },
    /// A peer joined a room this node is in.
    RoomPeerJoined {
        /// The room.
        topic: String,
        /// The peer.
        peer: String,
    },
    /// A peer left a room this node is in (or disconnected).
    RoomPeerLeft {
        /// The room.
        topic: String,
        /// The peer.
        peer: String,
    },
    /// A relay accepted (or renewed) this node's reservation.
    ReservationAccepted {
        /// The relay.
        relay: String,
        /// Whether this renewed an existing reservation.
        renewal: bool,
        /// The circuit address other peers reach this node at, when known.
        addr: Option<String>,
    },
    /// A reservation ended: its relay connection closed or the relay refused to renew it.
    ReservationLost {
        /// The relay.
        relay: String,
        /// Why.
        reason: String,
    },
    /// A relayed connection (circuit) to a peer closed.
    CircuitClosed {
        /// The peer at the other end.
        peer: String,
        /// Why, as far as this node can tell.
        reason: String,
        /// Whether the relay's circuit limit (duration or bytes) ended it.
        limit_reached: bool,
        /// Whether the node is reopening it (it was in use and the limit ended it).
        reopening: bool,
    },
    /// A rendezvous server accepted (or refreshed) this node's registration.
    Registered {
        /// The rendezvous server.
        rendezvous: String,
        /// The namespace.
        namespace: String,
        /// How long the registration lives unless refreshed, in seconds.
        ttl_secs: u64,
    },
    /// Rendezvous discovery found a peer (new, or with new addresses).
    PeerDiscovered {
        /// The peer.
        peer: String,
        /// Its registered addresses.
        addrs: Vec<String>,
    },
    /// A discovered peer's registration is gone.
    PeerExpired {
        /// The peer.
        peer: String,
    },
    /// This node's reachability changed (AutoNAT verdict, UPnP mapping). Native nodes only.
    #[cfg(not(target_arch = "wasm32"))]
    ReachabilityChanged {
        /// `public`, `private` or `unknown`.
        reachability: String,
        /// The confirmed external addresses now.
        external: Vec<String>,
    },
    /// A hole punch (DCUtR) over a relayed connection finished. Native nodes only.
    #[cfg(not(target_arch = "wasm32"))]
    HolePunch {
        /// The peer at the other end.
        peer: String,
        /// The direct connection's remote address, when it worked.
        addr: Option<String>,
        /// Why it failed, when it did (the relayed connection stays).
        error: Option<String>,
    },
    /// Dialing a peer or address failed.
    DialFailed {
        /// The peer, when known.
        peer: Option<String>,
        /// Why.
        error: String,
    },
}
