//! One metrics model for native and browser nodes, in seven groups: bandwidth, latency,
//! connections, discovery, protocols, resources and security.
//!
//! - libp2p-metrics measures what libp2p knows: bandwidth per transport stack
//!   (`libp2p_bandwidth_bytes_total`, installed by the transport builder), connections
//!   established, failed (with reasons) and their durations (`libp2p_swarm_*`), ping RTT,
//!   Kademlia queries and inbound requests, identify, gossipsub and the relay server.
//! - [`Families`](families) adds webkad's own series under `webkad_`: operation latency
//!   and outcomes, open connections per transport, discovery by method and dial success,
//!   protocol exchanges, store size, and the security series (rejected records, limits hit,
//!   failed handshakes).
//! - The node adds `process_*` (CPU, memory, open files); the page adds the wasm memory.
//!
//! Everything lives in one prometheus-client [`Registry`]; [`Metrics::open_metrics`] and
//! [`Metrics::prometheus_text`] encode it, and [`Metrics::stats`] summarises the same
//! numbers (see [`stats`]) for `/api/stats`, the console and the page.

mod exposition;
mod families;
mod samples;
pub mod stats;

use std::{sync::Arc, time::Duration};

use libp2p::metrics::Recorder;
pub use prometheus_client::{self, registry::Registry};

pub use exposition::{OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, to_prometheus_text};
pub use families::{DiscoveryMethod, Operation};
pub use samples::{Sample, parse as parse_samples};

use crate::error::Error;
use families::Families;

/// The node's metrics. Cloning shares them; every clone records into the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    libp2p: libp2p::metrics::Metrics,
    own: Families,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers libp2p's and webkad's series in `registry` and keeps it. Pass the registry
    /// the transport's bandwidth metrics (`SwarmBuilder::with_bandwidth_metrics`) and any
    /// target-specific collectors were registered in.
    pub fn new(mut registry: Registry) -> Self {
        let libp2p = libp2p::metrics::Metrics::new(&mut registry);
        let own = Families::register(&mut registry);
        Self {
            inner: Arc::new(Inner {
                registry,
                libp2p,
                own,
            }),
        }
    }

    /// The scrape in OpenMetrics text.
    pub fn open_metrics(&self) -> String {
        let mut text = String::new();
        if let Err(error) =
            prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)
        {
            tracing::warn!(%error, "metrics encoding failed");
        }
        text
    }

    /// The scrape in the Prometheus text format 0.0.4 (what `promtool check metrics` reads).
    pub fn prometheus_text(&self) -> String {
        to_prometheus_text(&self.open_metrics())
    }

    /// Every sample of the scrape, as numbers.
    pub fn samples(&self) -> Vec<Sample> {
        parse_samples(&self.open_metrics())
    }

    /// Feeds a libp2p event to libp2p-metrics.
    pub(crate) fn record<E>(&self, event: &E)
    where
        libp2p::metrics::Metrics: Recorder<E>,
    {
        self.inner.libp2p.record(event);
    }

    pub(crate) fn own(&self) -> &Families {
        &self.inner.own
    }

    /// Counts a finished operation, its latency and, when it was refused by a limit, the
    /// matching security series.
    pub fn operation<T>(&self, op: Operation, elapsed: Duration, result: &Result<T, Error>) {
        let own = self.own();
        let outcome = if result.is_ok() { "ok" } else { "error" };
        own.operations
            .get_or_create(&[("operation", op.as_str()), ("outcome", outcome)])
            .inc();
        own.operation_duration
            .get_or_create(&[("operation", op.as_str())])
            .observe(elapsed.as_secs_f64());
        match result {
            Err(Error::KeyTooLarge { .. }) => {
                self.record_rejected("record", "key_too_large", "local")
            }
            Err(Error::EmptyKey) => self.record_rejected("record", "empty_key", "local"),
            Err(Error::ValueTooLarge { .. }) => {
                self.record_rejected("record", "value_too_large", "local");
            }
            Err(Error::StoreRefused(cause)) => {
                let kind = if op == Operation::Provide {
                    "provider"
                } else {
                    "record"
                };
                self.record_rejected(kind, cause.label(), "local");
            }
            Err(Error::MessageTooLarge { .. }) => self.limit_hit("message_size"),
            Err(Error::RoomMessageTooLarge { .. }) => self.limit_hit("room_message_size"),
            _ => {}
        }
    }

    /// Counts a record or provider record refused by `reason`, from `origin`.
    pub(crate) fn record_rejected(
        &self,
        kind: &'static str,
        reason: &'static str,
        origin: &'static str,
    ) {
        self.own()
            .records_rejected
            .get_or_create(&[("kind", kind), ("reason", reason), ("origin", origin)])
            .inc();
    }

    /// Counts something refused by the configured `limit`.
    pub(crate) fn limit_hit(&self, limit: &'static str) {
        self.limit_hit_by(limit, 1);
    }

    /// Counts `count` things refused by the configured `limit`.
    pub(crate) fn limit_hit_by(&self, limit: &'static str, count: u64) {
        self.own()
            .limits_hit
            .get_or_create(&[("limit", limit)])
            .inc_by(count);
    }

    /// Counts a peer learned about by `method`.
    pub(crate) fn discovered(&self, method: DiscoveryMethod) {
        self.own()
            .peers_discovered
            .get_or_create(&[("method", method.as_str())])
            .inc();
    }

    /// Counts a protocol exchange.
    pub(crate) fn protocol(&self, protocol: &'static str, inbound: bool, ok: bool) {
        let direction = if inbound { "inbound" } else { "outbound" };
        let outcome = if ok { "ok" } else { "error" };
        self.own()
            .protocol_requests
            .get_or_create(&[
                ("protocol", protocol),
                ("direction", direction),
                ("outcome", outcome),
            ])
            .inc();
    }

    /// Summarises the metrics, with the live per-peer view only the event loop has.
    pub(crate) fn stats(&self, live: stats::Live) -> stats::NodeStats {
        stats::NodeStats::from_samples(&self.samples(), live)
    }
}
