//! The page's own metrics: the same model as the native node (libp2p-metrics plus webkad's
//! series, bandwidth per transport), with the wasm memory in place of process figures.
//! `stats()` feeds the page's metrics panel; `metrics()` is the Prometheus scrape.

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::gauge::ConstGauge,
    registry::{Registry, Unit},
};
use wasm_bindgen::{JsCast, prelude::*};

use crate::{
    convert::{js_error, to_js},
    node::WebkadNode,
};

#[wasm_bindgen(typescript_custom_section)]
const STATS_TS: &str = r#"
/** A latency distribution; `buckets` hold the observations in each bucket (not cumulative),
 *  by upper bound in ms (null: +Inf). */
export interface LatencyHistogram {
  count: number;
  mean_ms: number | null;
  buckets: { le_ms: number | null; count: number }[];
}
/** A labelled count. */
export interface Count { name: string; count: number }
/** The node's metrics in seven groups: what `/api/stats` serves for a native node. */
export interface NodeStats {
  peer_id: string;
  uptime_seconds: number;
  connected_peers: number;
  routing_table_size: number;
  store: { records: number; provider_records: number; provided_keys: number;
           persistence_failures: number; bytes: number; damaged_at_load: number };
  /** Bytes since start, in all and per transport. */
  bandwidth: { inbound_bytes: number; outbound_bytes: number;
               by_transport: { transport: string; inbound_bytes: number; outbound_bytes: number }[] };
  latency: {
    /** Each connected peer's last ping RTT. */
    peers: { peer: string; transport: string; rtt_ms: number | null }[];
    ping: LatencyHistogram;
    /** put, get, provide, find providers and find peer together. */
    dht_queries: LatencyHistogram;
    operations: { operation: string; ok: number; failed: number; latency: LatencyHistogram }[];
  };
  connections: { open: number; by_transport: Count[]; inbound: number; outbound: number;
                 established_total: number; failed_total: number; failures: Count[]; closed: Count[] };
  discovery: { peers_total: number;
               by_method: { method: string; peers: number; dials_ok: number; dials_failed: number }[] };
  protocols: { protocol: string; inbound: number; outbound: number; failed: number }[];
  resources: { cpu_seconds: number | null; memory_bytes: number | null; open_fds: number | null;
               store_records: number; store_provider_records: number; store_bytes: number };
  security: { handshake_failures: number; records_rejected: number; limits_hit: number;
              relay_denied: number; by_kind: Count[] };
}
"#;

/// The size of the page's wasm memory, read at each scrape.
#[derive(Debug, Default)]
pub struct WasmMemoryCollector;

impl WasmMemoryCollector {
    /// Adds the collector to `registry`.
    pub fn register(registry: &mut Registry) {
        registry.register_collector(Box::new(Self));
    }
}

impl Collector for WasmMemoryCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let memory = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>();
        let bytes = memory
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length();
        let gauge = ConstGauge::new(i64::from(bytes));
        let metric = encoder.encode_descriptor(
            "webkad_wasm_memory",
            "Size of the page's WebAssembly memory",
            Some(&Unit::Bytes),
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

#[wasm_bindgen]
impl WebkadNode {
    /// The node's metrics in seven groups (bandwidth, latency, connections, discovery,
    /// protocols, resources, security), from the page's own libp2p node.
    #[wasm_bindgen(unchecked_return_type = "NodeStats")]
    pub async fn stats(&self) -> Result<JsValue, JsValue> {
        let stats = self.client.stats().await.map_err(js_error)?;
        to_js(&stats)
    }

    /// The page node's metrics as a Prometheus scrape (OpenMetrics text).
    pub fn metrics(&self) -> String {
        self.client.metrics().open_metrics()
    }
}
