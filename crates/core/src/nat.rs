//! What a node knows about its own reachability: the AutoNAT verdict, its confirmed
//! external addresses, its UPnP port mappings, its relay reservations, and for each open
//! connection whether it is direct or relayed. [`Client::nat`](crate::Client::nat) answers
//! a [`NatStatus`]; the console's `NAT` and `GET /api/nat` show it.

use libp2p::{Multiaddr, PeerId};
use serde::Serialize;

/// Whether other peers can dial this node directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    /// Not known yet: no AutoNAT test finished and no port is mapped.
    Unknown,
    /// Reachable: an AutoNAT server dialed one of its addresses back, or the gateway mapped
    /// a port with UPnP.
    Public,
    /// Behind a NAT or firewall: every AutoNAT dial-back failed. Others reach it only
    /// through a relay (or after hole punching).
    Private,
}

impl Reachability {
    /// The lower-case name, as shown on the console.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Public => "public",
            Self::Private => "private",
        }
    }
}

/// The result of the last AutoNAT test of one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressTest {
    /// The tested address (an identify-observed candidate).
    pub addr: Multiaddr,
    /// Whether the server's dial-back reached this node.
    pub reachable: bool,
    /// The AutoNAT server that tested it.
    pub server: PeerId,
    /// Why the dial-back failed, when it did.
    pub error: Option<String>,
}

/// A port the gateway forwards to this node (UPnP IGD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMapping {
    /// The listen address that was mapped.
    pub local: Multiaddr,
    /// The gateway's address that forwards to it.
    pub external: Multiaddr,
}

/// What UPnP is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpnpStatus {
    /// `off`, `searching`, `gateway found`, `no gateway` or `gateway not routable` (the
    /// gateway itself is behind another NAT).
    pub gateway: String,
    /// The ports mapped now.
    pub mappings: Vec<PortMapping>,
}

/// How a connection reaches its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    /// Straight to the peer (TCP, QUIC, WebSocket, WebRTC-direct), hole-punched or not.
    Direct,
    /// Through a circuit relay (`/p2p-circuit`).
    Relayed,
}

/// One open connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionView {
    /// The peer.
    pub peer_id: PeerId,
    /// Direct or relayed.
    pub kind: ConnectionKind,
    /// `tcp`, `quic`, `ws`, `webrtc-direct` or `relay`.
    pub transport: String,
    /// The remote address.
    pub addr: Multiaddr,
    /// Whether this node dialed it (a hole-punched connection is dialed by both sides;
    /// one of them counts as the dialer).
    pub dialer: bool,
}

/// A node's view of its own reachability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NatStatus {
    /// The verdict.
    pub reachability: Reachability,
    /// Kademlia's current mode: `server` or `client`.
    pub kad_mode: String,
    /// Confirmed external addresses (AutoNAT, UPnP, relay reservations, announced), each
    /// ending in `/p2p/<own id>`.
    pub external_addrs: Vec<Multiaddr>,
    /// The last AutoNAT result of each tested address.
    pub autonat: Vec<AddressTest>,
    /// UPnP port mappings.
    pub upnp: UpnpStatus,
    /// Circuit addresses of this node's relay reservations.
    pub relayed_addrs: Vec<Multiaddr>,
    /// Open connections, direct and relayed.
    pub connections: Vec<ConnectionView>,
}
