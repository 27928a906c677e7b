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
    },
    /// Dialing a peer or address failed.
    DialFailed {
        /// The peer, when known.
        peer: Option<String>,
        /// Why.
        error: String,
    },
}
