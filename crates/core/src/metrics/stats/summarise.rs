//! Computing each group of [`NodeStats`] from the samples of one scrape.

use std::collections::BTreeMap;

use super::{
    Bandwidth, Bucket, Connections, Count, Discovery, DiscoveryCounts, Latency, LatencyHistogram,
    OperationLatency, PeerRtt, ProtocolUsage, Resources, Security, TransportBytes,
};
use crate::metrics::{Operation, Sample};

/// A scrape, queried by name and labels.
pub(super) struct Samples<'a>(pub(super) &'a [Sample]);

impl Samples<'_> {
    fn named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Sample> + 's {
        self.0.iter().filter(move |s| s.name == name)
    }

    fn sum(&self, name: &str) -> u64 {
        as_count(self.named(name).map(|s| s.value).sum())
    }

    fn value(&self, name: &str) -> Option<f64> {
        self.named(name).map(|s| s.value).next()
    }

    /// Sums of `name` grouped by the value of `label`, in label order.
    fn by_label(&self, name: &str, label: &str) -> BTreeMap<String, u64> {
        let mut map = BTreeMap::new();
        for s in self.named(name) {
            let key = s.label(label).unwrap_or("").to_owned();
            *map.entry(key).or_insert(0) += as_count(s.value);
        }
        map
    }

    pub(super) fn bandwidth(&self) -> Bandwidth {
        let mut by: BTreeMap<String, TransportBytes> = BTreeMap::new();
        for s in self.named("libp2p_bandwidth_bytes_total") {
            let transport = transport_of_stack(s.label("protocols").unwrap_or(""));
            let entry = by
                .entry(transport.to_owned())
                .or_insert_with(|| TransportBytes {
                    transport: transport.to_owned(),
                    ..TransportBytes::default()
                });
            match s.label("direction") {
                Some("Inbound") => entry.inbound_bytes += as_count(s.value),
                _ => entry.outbound_bytes += as_count(s.value),
            }
        }
        Bandwidth {
            inbound_bytes: by.values().map(|t| t.inbound_bytes).sum(),
            outbound_bytes: by.values().map(|t| t.outbound_bytes).sum(),
            by_transport: by.into_values().collect(),
        }
    }

    /// The histogram `name` (without suffix), merged over the series `keep` accepts.
    fn histogram(&self, name: &str, keep: impl Fn(&Sample) -> bool) -> LatencyHistogram {
        let mut cumulative: BTreeMap<u64, (Option<f64>, u64)> = BTreeMap::new();
        let bucket = format!("{name}_bucket");
        for s in self.named(&bucket).filter(|s| keep(s)) {
            let le: f64 = match s.label("le") {
                Some("+Inf") => f64::INFINITY,
                Some(le) => crate::metrics::samples::number(le).unwrap_or(f64::INFINITY),
                None => continue,
            };
            // Ordered by bound: the bit pattern of a non-negative f64 orders like the value.
            let entry = cumulative
                .entry(le.to_bits())
                .or_insert((le.is_finite().then_some(le * 1000.0), 0));
            entry.1 += as_count(s.value);
        }
        let mut previous = 0;
        let buckets = cumulative
            .into_values()
            .map(|(le_ms, total)| {
                let count = total.saturating_sub(previous);
                previous = total;
                Bucket { le_ms, count }
            })
            .collect();
        let count_name = format!("{name}_count");
        let sum_name = format!("{name}_sum");
        let count = as_count(
            self.named(&count_name)
                .filter(|s| keep(s))
                .map(|s| s.value)
                .sum(),
        );
        let sum: f64 = self
            .named(&sum_name)
            .filter(|s| keep(s))
            .map(|s| s.value)
            .sum();
        LatencyHistogram {
            count,
            mean_ms: (count > 0).then(|| sum * 1000.0 / count as f64),
            buckets,
        }
    }

    pub(super) fn latency(&self, peers: Vec<PeerRtt>) -> Latency {
        const OPS: &str = "webkad_operation_duration_seconds";
        let dht = |s: &Sample| operation(s).is_some_and(Operation::is_dht_query);
        let outcomes = self.operation_outcomes();
        let operations = outcomes
            .into_iter()
            .map(|(operation, (ok, failed))| OperationLatency {
                latency: self.histogram(OPS, |s| s.label("operation") == Some(operation.as_str())),
                operation,
                ok,
                failed,
            })
            .collect();
        Latency {
            peers,
            ping: self.histogram("libp2p_ping_rtt_seconds", |_| true),
            dht_queries: self.histogram(OPS, dht),
            operations,
        }
    }

    fn operation_outcomes(&self) -> BTreeMap<String, (u64, u64)> {
        let mut map: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for s in self.named("webkad_operations_total") {
            let entry = map
                .entry(s.label("operation").unwrap_or("").to_owned())
                .or_default();
            if s.label("outcome") == Some("ok") {
                entry.0 += as_count(s.value);
            } else {
                entry.1 += as_count(s.value);
            }
        }
        map
    }

    pub(super) fn connections(&self) -> Connections {
        let open_by = self.by_label("webkad_connections", "transport");
        let direction = self.by_label("webkad_connections", "direction");
        let mut failures: Vec<Count> = Vec::new();
        for (direction, name) in [
            ("outbound", "libp2p_swarm_outgoing_connection_error_total"),
            ("inbound", "libp2p_swarm_connections_incoming_error_total"),
        ] {
            for (reason, count) in self.by_label(name, "error") {
                failures.push(Count {
                    name: format!("{direction}:{reason}"),
                    count,
                });
            }
        }
        Connections {
            open: open_by.values().sum(),
            by_transport: counts(open_by),
            inbound: direction.get("inbound").copied().unwrap_or(0),
            outbound: direction.get("outbound").copied().unwrap_or(0),
            established_total: self.sum("libp2p_swarm_connections_established_total"),
            failed_total: failures.iter().map(|c| c.count).sum(),
            failures,
            closed: counts(self.by_label("webkad_connections_closed_total", "cause")),
        }
    }

    pub(super) fn discovery(&self) -> Discovery {
        let found = self.by_label("webkad_peers_discovered_total", "method");
        let by_method = found
            .iter()
            .map(|(method, peers)| {
                let dials = |outcome: &str| {
                    self.named("webkad_discovery_dials_total")
                        .filter(|s| {
                            s.label("method") == Some(method.as_str())
                                && s.label("outcome") == Some(outcome)
                        })
                        .map(|s| as_count(s.value))
                        .sum()
                };
                DiscoveryCounts {
                    method: method.clone(),
                    peers: *peers,
                    dials_ok: dials("ok"),
                    dials_failed: dials("error"),
                }
            })
            .collect();
        Discovery {
            peers_total: found.values().sum(),
            by_method,
        }
    }

    pub(super) fn protocols(&self) -> Vec<ProtocolUsage> {
        let mut map: BTreeMap<String, ProtocolUsage> = BTreeMap::new();
        let mut add = |protocol: &str, inbound: u64, outbound: u64, failed: u64| {
            let entry = map
                .entry(protocol.to_owned())
                .or_insert_with(|| ProtocolUsage {
                    protocol: protocol.to_owned(),
                    inbound: 0,
                    outbound: 0,
                    failed: 0,
                });
            entry.inbound += inbound;
            entry.outbound += outbound;
            entry.failed += failed;
        };
        for s in self.named("webkad_protocol_requests_total") {
            let n = as_count(s.value);
            let protocol = s.label("protocol").unwrap_or("");
            match (s.label("direction"), s.label("outcome")) {
                (_, Some("error")) => add(protocol, 0, 0, n),
                (Some("inbound"), _) => add(protocol, n, 0, 0),
                _ => add(protocol, 0, n, 0),
            }
        }
        let kad_out: u64 = self
            .named("webkad_operations_total")
            .filter(|s| operation(s).is_some_and(Operation::uses_kad))
            .map(|s| as_count(s.value))
            .sum();
        add(
            "kad",
            self.sum("libp2p_kad_inbound_requests_total"),
            kad_out,
            0,
        );
        add(
            "identify",
            self.sum("libp2p_identify_received_total"),
            self.sum("libp2p_identify_sent_total") + self.sum("libp2p_identify_pushed_total"),
            self.sum("libp2p_identify_errors_total"),
        );
        let pings = as_count(self.value("libp2p_ping_rtt_seconds_count").unwrap_or(0.0));
        add("ping", 0, pings, self.sum("libp2p_ping_failure_total"));
        add(
            "gossipsub",
            self.sum("libp2p_gossipsub_messages_total"),
            0,
            0,
        );
        map.into_values()
            .filter(|p| p.inbound + p.outbound + p.failed > 0)
            .collect()
    }

    pub(super) fn resources(&self) -> Resources {
        let kinds = self.by_label("webkad_store_records", "kind");
        Resources {
            cpu_seconds: self.value("process_cpu_seconds_total"),
            memory_bytes: self
                .value("process_resident_memory_bytes")
                .or_else(|| self.value("webkad_wasm_memory_bytes")),
            open_fds: self.value("process_open_fds"),
            store_records: kinds.get("record").copied().unwrap_or(0),
            store_provider_records: kinds.get("provider").copied().unwrap_or(0),
            store_bytes: self.sum("webkad_store_bytes"),
        }
    }

    pub(super) fn security(&self) -> Security {
        let mut by_kind = Vec::new();
        let mut total = |name: &str, label: &str, prefix: &str| {
            let map = self.by_label(name, label);
            let sum = map.values().sum();
            for (kind, count) in map {
                by_kind.push(Count {
                    name: format!("{prefix}:{kind}"),
                    count,
                });
            }
            sum
        };
        let handshake_failures = total("webkad_handshake_failures_total", "transport", "handshake");
        let records_rejected = total(
            "webkad_records_rejected_total",
            "reason",
            "records_rejected",
        );
        let limits_hit = total("webkad_limits_hit_total", "limit", "limits_hit");
        let relay_denied = self
            .named("libp2p_relay_events_total")
            .filter(|s| s.label("event").is_some_and(|e| e.ends_with("Denied")))
            .map(|s| as_count(s.value))
            .sum();
        Security {
            handshake_failures,
            records_rejected,
            limits_hit,
            relay_denied,
            by_kind,
        }
    }
}

/// The operation a sample of an operation series is about.
fn operation(s: &Sample) -> Option<Operation> {
    s.label("operation").and_then(Operation::from_label)
}

fn counts(map: BTreeMap<String, u64>) -> Vec<Count> {
    map.into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(name, count)| Count { name, count })
        .collect()
}

/// A sample value as a count (counters and gauges of counts are whole and non-negative).
fn as_count(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        value.round() as u64
    } else {
        0
    }
}

/// The transport of a libp2p-metrics protocol stack such as `/ip4/udp/quic-v1`.
pub fn transport_of_stack(stack: &str) -> &'static str {
    let has = |p: &str| stack.split('/').any(|part| part == p);
    if has("p2p-circuit") {
        "relay"
    } else if has("webrtc-direct") || has("webrtc") {
        "webrtc-direct"
    } else if has("wss") {
        "wss"
    } else if has("ws") {
        "ws"
    } else if has("quic-v1") || has("quic") {
        "quic"
    } else if has("tcp") {
        "tcp"
    } else if has("memory") {
        "memory"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{
        parse_samples,
        stats::{Live, NodeStats},
    };

    const SCRAPE: &str = "\
libp2p_bandwidth_bytes_total{protocols=\"/ip4/tcp\",direction=\"Inbound\"} 100
libp2p_bandwidth_bytes_total{protocols=\"/ip4/tcp\",direction=\"Outbound\"} 40
libp2p_bandwidth_bytes_total{protocols=\"/ip4/udp/webrtc-direct/certhash\",direction=\"Inbound\"} 5
webkad_operation_duration_seconds_sum{operation=\"get\"} 0.03
webkad_operation_duration_seconds_count{operation=\"get\"} 2
webkad_operation_duration_seconds_bucket{le=\"0.001\",operation=\"get\"} 0
webkad_operation_duration_seconds_bucket{le=\"0.016\",operation=\"get\"} 1
webkad_operation_duration_seconds_bucket{le=\"+Inf\",operation=\"get\"} 2
webkad_operations_total{operation=\"get\",outcome=\"ok\"} 2
webkad_connections{transport=\"tcp\",direction=\"inbound\"} 2
libp2p_swarm_outgoing_connection_error_total{peer=\"Unknown\",error=\"TransportOther\"} 1
webkad_records_rejected_total{kind=\"record\",reason=\"value_too_large\",origin=\"remote\"} 1
";

    #[test]
    fn summarises_a_scrape() {
        let stats = NodeStats::from_samples(&parse_samples(SCRAPE), Live::default());
        assert_eq!(stats.bandwidth.inbound_bytes, 105);
        assert_eq!(stats.bandwidth.outbound_bytes, 40);
        assert_eq!(stats.bandwidth.by_transport[0].transport, "tcp");
        assert_eq!(stats.bandwidth.by_transport[1].transport, "webrtc-direct");
        let dht = &stats.latency.dht_queries;
        assert_eq!(dht.count, 2);
        assert_eq!(dht.mean_ms, Some(15.0));
        assert_eq!(
            dht.buckets.iter().map(|b| b.count).collect::<Vec<_>>(),
            [0, 1, 1]
        );
        assert_eq!(dht.buckets[2].le_ms, None);
        assert_eq!(stats.connections.open, 2);
        assert_eq!(stats.connections.inbound, 2);
        assert_eq!(stats.connections.failed_total, 1);
        assert_eq!(
            stats.connections.failures[0].name,
            "outbound:TransportOther"
        );
        assert_eq!(stats.security.records_rejected, 1);
        assert_eq!(stats.protocols[0].protocol, "kad");
        assert_eq!(stats.protocols[0].outbound, 2);
    }

    #[test]
    fn names_transports_of_stacks() {
        assert_eq!(transport_of_stack("/ip4/tcp/p2p/p2p-circuit"), "relay");
        assert_eq!(transport_of_stack("/ip4/tcp/ws"), "ws");
        assert_eq!(transport_of_stack("/ip4/udp/quic-v1"), "quic");
        assert_eq!(transport_of_stack("/dns4/tcp/wss/p2p"), "wss");
    }
}
