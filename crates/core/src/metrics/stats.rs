//! [`NodeStats`]: the seven metric groups summarised from one scrape, plus the per-peer
//! view only the event loop has. `/api/stats`, the console's `STATS` and the page's
//! metrics panel all show this, so they agree with `/metrics` by construction.

mod summarise;

use serde::Serialize;

use super::Sample;
use crate::store::StoreStats;
use summarise::Samples;
pub use summarise::transport_of_stack;

/// What only the event loop knows, handed to [`NodeStats::from_samples`].
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// This node's peer id.
    pub peer_id: String,
    /// Seconds since the node started.
    pub uptime_seconds: f64,
    /// Connected peers.
    pub connected_peers: usize,
    /// Peers in the Kademlia routing table.
    pub routing_table_size: usize,
    /// What the record store holds.
    pub store: StoreStats,
    /// Each connected peer's transport and last ping RTT.
    pub peers: Vec<PeerRtt>,
}

/// A snapshot of the node, for `/api/stats`, the console and the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeStats {
    /// This node's peer id.
    pub peer_id: String,
    /// Seconds since the node started.
    pub uptime_seconds: f64,
    /// Connected peers.
    pub connected_peers: usize,
    /// Peers in the Kademlia routing table.
    pub routing_table_size: usize,
    /// What the record store holds.
    pub store: StoreStats,
    /// Bytes in and out.
    pub bandwidth: Bandwidth,
    /// Ping round trips and operation latencies.
    pub latency: Latency,
    /// Open, established, failed and closed connections.
    pub connections: Connections,
    /// Peers found, by method, and how dialing them went.
    pub discovery: Discovery,
    /// Exchanges per protocol.
    pub protocols: Vec<ProtocolUsage>,
    /// CPU, memory, open files and store size.
    pub resources: Resources,
    /// Refused handshakes, records and requests.
    pub security: Security,
}

/// Bytes through the transports since start.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bandwidth {
    /// Bytes received.
    pub inbound_bytes: u64,
    /// Bytes sent.
    pub outbound_bytes: u64,
    /// The same, per transport (`tcp`, `quic`, `ws`, `webrtc-direct`, `relay`).
    pub by_transport: Vec<TransportBytes>,
}

/// Bytes of one transport.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TransportBytes {
    /// The transport.
    pub transport: String,
    /// Bytes received.
    pub inbound_bytes: u64,
    /// Bytes sent.
    pub outbound_bytes: u64,
}

/// Round trips and latencies.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Each connected peer's last ping RTT.
    pub peers: Vec<PeerRtt>,
    /// Every ping RTT measured since start.
    pub ping: LatencyHistogram,
    /// Kademlia operations (put, get, provide, find providers, find peer) together.
    pub dht_queries: LatencyHistogram,
    /// Each operation on its own.
    pub operations: Vec<OperationLatency>,
}

/// A connected peer's RTT.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerRtt {
    /// Its peer id.
    pub peer: String,
    /// The transport of its connection.
    pub transport: String,
    /// The last ping round trip, in milliseconds.
    pub rtt_ms: Option<f64>,
}

/// A latency distribution.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencyHistogram {
    /// Observations.
    pub count: u64,
    /// Their mean, in milliseconds (`None` before the first).
    pub mean_ms: Option<f64>,
    /// Observations per bucket (not cumulative), by upper bound.
    pub buckets: Vec<Bucket>,
}

/// One histogram bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Its upper bound in milliseconds; `None` is +Inf.
    pub le_ms: Option<f64>,
    /// Observations in it (above the previous bound).
    pub count: u64,
}

/// One operation's outcomes and latency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationLatency {
    /// The operation (`put`, `get`, `send`, ...).
    pub operation: String,
    /// Calls that succeeded.
    pub ok: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Its latency.
    pub latency: LatencyHistogram,
}

/// Connection state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Connections {
    /// Open now.
    pub open: u64,
    /// Open now, by transport.
    pub by_transport: Vec<Count>,
    /// Open now that the remote dialed.
    pub inbound: u64,
    /// Open now that this node dialed.
    pub outbound: u64,
    /// Established since start.
    pub established_total: u64,
    /// Dials and incoming connections that failed since start.
    pub failed_total: u64,
    /// Failures by reason (`outbound:TransportOther`, `inbound:Denied`, ...).
    pub failures: Vec<Count>,
    /// Closed since start, by cause (`idle`, `io`, `local`).
    pub closed: Vec<Count>,
}

/// A labelled count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Count {
    /// What is counted.
    pub name: String,
    /// How many.
    pub count: u64,
}

/// Discovery.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Discovery {
    /// Peers found, in all.
    pub peers_total: u64,
    /// Per method (`bootstrap`, `dht`, `mdns`, `rendezvous`, `identify`).
    pub by_method: Vec<DiscoveryCounts>,
}

/// One discovery method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiscoveryCounts {
    /// The method.
    pub method: String,
    /// Peers it found.
    pub peers: u64,
    /// Dials of those peers that connected.
    pub dials_ok: u64,
    /// Dials of those peers that failed.
    pub dials_failed: u64,
}

/// One protocol's exchanges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolUsage {
    /// The protocol (`kad`, `identify`, `ping`, `gossipsub`, `/webkad/msg/1.0.0`, ...).
    pub protocol: String,
    /// Exchanges the remote started.
    pub inbound: u64,
    /// Exchanges this node started.
    pub outbound: u64,
    /// Exchanges that failed.
    pub failed: u64,
}

/// Resource use.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resources {
    /// CPU seconds used (native).
    pub cpu_seconds: Option<f64>,
    /// Resident memory (native) or the wasm memory (page), in bytes.
    pub memory_bytes: Option<f64>,
    /// Open file descriptors (native).
    pub open_fds: Option<f64>,
    /// Records, provider records and bytes in the store.
    pub store_records: u64,
    /// Provider records in the store.
    pub store_provider_records: u64,
    /// Key and value bytes in the store.
    pub store_bytes: u64,
}

/// Security events.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Security {
    /// Failed security handshakes and identity mismatches.
    pub handshake_failures: u64,
    /// Records and provider records refused.
    pub records_rejected: u64,
    /// Requests and connections refused by a limit.
    pub limits_hit: u64,
    /// Reservations and circuits the relay server denied.
    pub relay_denied: u64,
    /// Each of those by kind (`records_rejected:value_too_large`, `limits_hit:connections`, ...).
    pub by_kind: Vec<Count>,
}

impl NodeStats {
    /// Summarises `samples` (one scrape) and `live`.
    pub fn from_samples(samples: &[Sample], live: Live) -> Self {
        let s = Samples(samples);
        Self {
            peer_id: live.peer_id,
            uptime_seconds: live.uptime_seconds,
            connected_peers: live.connected_peers,
            routing_table_size: live.routing_table_size,
            store: live.store,
            bandwidth: s.bandwidth(),
            latency: s.latency(live.peers),
            connections: s.connections(),
            discovery: s.discovery(),
            protocols: s.protocols(),
            resources: s.resources(),
            security: s.security(),
        }
    }
}
