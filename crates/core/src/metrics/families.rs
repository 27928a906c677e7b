//! webkad's own series: what libp2p-metrics does not measure. Every label value is one of a
//! fixed set of words, so no series grows with the number of peers.

use prometheus_client::{
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

/// A set of fixed label pairs.
pub(crate) type Labels<const N: usize> = [(&'static str, &'static str); N];
type Histograms<const N: usize> = Family<Labels<N>, Histogram, fn() -> Histogram>;

/// 1 ms to 33 s, doubling: the range of a DHT query, a dial or a message round trip.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// How a peer was first learned about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscoveryMethod {
    /// An address an operator or user gave: the bootstrap list, `dial`.
    Bootstrap,
    /// Kademlia: a query's answer, or a peer the DHT dialed.
    Dht,
    /// Multicast DNS on the local network.
    Mdns,
    /// A rendezvous server's registrations.
    Rendezvous,
    /// The peer connected to us and told its addresses over identify.
    Identify,
}

impl DiscoveryMethod {
    /// Every method, for series that should exist at zero.
    pub const ALL: [Self; 5] = [
        Self::Bootstrap,
        Self::Dht,
        Self::Mdns,
        Self::Rendezvous,
        Self::Identify,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bootstrap => "bootstrap",
            Self::Dht => "dht",
            Self::Mdns => "mdns",
            Self::Rendezvous => "rendezvous",
            Self::Identify => "identify",
        }
    }
}

/// A user-facing operation, timed from the client call to its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Store a record in the DHT.
    Put,
    /// Find a record.
    Get,
    /// Announce this node as a provider.
    Provide,
    /// Find a key's providers.
    FindProviders,
    /// Find a peer's addresses.
    FindPeer,
    /// Refresh the routing table.
    Bootstrap,
    /// Dial an address.
    Dial,
    /// Ping a peer.
    Ping,
    /// Send a direct message and wait for its acknowledgement.
    Send,
    /// Post to a room.
    Publish,
    /// Ask rendezvous servers for peers.
    Discover,
    /// Reserve a relay slot.
    Reserve,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Self; 12] = [
        Self::Put,
        Self::Get,
        Self::Provide,
        Self::FindProviders,
        Self::FindPeer,
        Self::Bootstrap,
        Self::Dial,
        Self::Ping,
        Self::Send,
        Self::Publish,
        Self::Discover,
        Self::Reserve,
    ];

    /// The operation an `operation` label value names.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == label)
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Get => "get",
            Self::Provide => "provide",
            Self::FindProviders => "find_providers",
            Self::FindPeer => "find_peer",
            Self::Bootstrap => "bootstrap",
            Self::Dial => "dial",
            Self::Ping => "ping",
            Self::Send => "send",
            Self::Publish => "publish",
            Self::Discover => "discover",
            Self::Reserve => "reserve",
        }
    }

    /// Whether it is a Kademlia query (the page's DHT latency chart).
    pub fn is_dht_query(self) -> bool {
        matches!(
            self,
            Self::Put | Self::Get | Self::Provide | Self::FindProviders | Self::FindPeer
        )
    }

    /// Whether it speaks Kademlia: a query, or a routing-table refresh.
    pub fn uses_kad(self) -> bool {
        self.is_dht_query() || self == Self::Bootstrap
    }
}

/// The series webkad adds to libp2p's. Cloning shares them.
#[derive(Debug, Clone)]
pub(crate) struct Families {
    /// Operations by `operation` and `outcome` (`ok`, `error`).
    pub operations: Family<Labels<2>, Counter>,
    /// Operation latency by `operation`.
    pub operation_duration: Histograms<1>,
    /// Open connections by `transport` and `direction`.
    pub connections: Family<Labels<2>, Gauge>,
    /// Closed connections by `transport` and `cause`: `idle` (keep-alive timeout), `io` (the
    /// remote closed it or it failed), `local` (this node closed it).
    pub connections_closed: Family<Labels<2>, Counter>,
    /// Connected peers.
    pub peers_connected: Gauge,
    /// Peers in the Kademlia routing table.
    pub routing_table_peers: Gauge,
    /// Peers learned about, by `method`.
    pub peers_discovered: Family<Labels<1>, Counter>,
    /// Dials of discovered peers by `method` and `outcome` (`ok`, `error`).
    pub discovery_dials: Family<Labels<2>, Counter>,
    /// Protocol exchanges by `protocol`, `direction` and `outcome`.
    pub protocol_requests: Family<Labels<3>, Counter>,
    /// Records held by the store, by `kind` (`record`, `provider`, `provided`).
    pub store_records: Family<Labels<1>, Gauge>,
    /// Bytes of keys and values held in the record store.
    pub store_bytes: Gauge,
    /// Writes to the durable store that failed.
    pub store_write_failures: Counter,
    /// Records refused by `kind`, `reason` and `origin` (`local`, `remote`).
    pub records_rejected: Family<Labels<3>, Counter>,
    /// Limits that refused something, by `limit`.
    pub limits_hit: Family<Labels<1>, Counter>,
    /// Failed security handshakes and identity mismatches by `direction` and `transport`.
    pub handshake_failures: Family<Labels<2>, Counter>,
}

impl Families {
    /// Registers every series under the `webkad_` prefix.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let this = Self {
            operations: Family::default(),
            operation_duration: Family::new_with_constructor(latency_histogram),
            connections: Family::default(),
            connections_closed: Family::default(),
            peers_connected: Gauge::default(),
            routing_table_peers: Gauge::default(),
            peers_discovered: Family::default(),
            discovery_dials: Family::default(),
            protocol_requests: Family::default(),
            store_records: Family::default(),
            store_bytes: Gauge::default(),
            store_write_failures: Counter::default(),
            records_rejected: Family::default(),
            limits_hit: Family::default(),
            handshake_failures: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("webkad");
        r.register(
            "operations",
            "Client operations by operation and outcome",
            this.operations.clone(),
        );
        r.register_with_unit(
            "operation_duration",
            "Time from a client call to its answer, by operation",
            Unit::Seconds,
            this.operation_duration.clone(),
        );
        r.register(
            "connections",
            "Open connections by transport and direction",
            this.connections.clone(),
        );
        r.register(
            "connections_closed",
            "Closed connections by transport and cause (idle, io: closed by the remote or failed, local)",
            this.connections_closed.clone(),
        );
        r.register(
            "peers_connected",
            "Peers with at least one open connection",
            this.peers_connected.clone(),
        );
        r.register(
            "routing_table_peers",
            "Peers in the Kademlia routing table",
            this.routing_table_peers.clone(),
        );
        r.register(
            "peers_discovered",
            "Peers learned about, by discovery method",
            this.peers_discovered.clone(),
        );
        r.register(
            "discovery_dials",
            "Dials of discovered peers by discovery method and outcome",
            this.discovery_dials.clone(),
        );
        r.register(
            "protocol_requests",
            "Protocol exchanges by protocol, direction and outcome",
            this.protocol_requests.clone(),
        );
        r.register(
            "store_records",
            "Entries in the record store by kind (record, provider, provided)",
            this.store_records.clone(),
        );
        r.register_with_unit(
            "store",
            "Key and value bytes held in the record store",
            Unit::Bytes,
            this.store_bytes.clone(),
        );
        r.register(
            "store_write_failures",
            "Writes to the durable record store that failed",
            this.store_write_failures.clone(),
        );
        r.register(
            "records_rejected",
            "Records refused by kind, reason and origin (local, remote)",
            this.records_rejected.clone(),
        );
        r.register(
            "limits_hit",
            "Requests and connections refused by a configured limit",
            this.limits_hit.clone(),
        );
        r.register(
            "handshake_failures",
            "Failed security handshakes and identity mismatches by direction and transport",
            this.handshake_failures.clone(),
        );
        this.zero_series();
        this
    }

    /// Creates the series a dashboard expects to find even before anything happened.
    fn zero_series(&self) {
        for method in DiscoveryMethod::ALL {
            let _ = self
                .peers_discovered
                .get_or_create(&[("method", method.as_str())]);
        }
        for kind in ["record", "provider", "provided"] {
            let _ = self.store_records.get_or_create(&[("kind", kind)]);
        }
    }
}
