//! The console's `STATS`: the seven metric groups, one line each.

use webkad_core::metrics::stats::{Count, LatencyHistogram, NodeStats};

/// A short human summary of `stats`, one line per group.
pub fn summary(s: &NodeStats) -> String {
    let store = &s.store;
    let by_transport = s
        .bandwidth
        .by_transport
        .iter()
        .map(|t| {
            format!(
                "{} {}/{}",
                t.transport,
                bytes(t.inbound_bytes),
                bytes(t.outbound_bytes)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let peers = s
        .latency
        .peers
        .iter()
        .filter_map(|p| Some(format!("{} {:.2} ms", short(&p.peer), p.rtt_ms?)))
        .collect::<Vec<_>>()
        .join(", ");
    let c = &s.connections;
    let discovery = s
        .discovery
        .by_method
        .iter()
        .filter(|m| m.peers + m.dials_ok + m.dials_failed > 0)
        .map(|m| {
            format!(
                "{} {} (dials {} ok, {} failed)",
                m.method, m.peers, m.dials_ok, m.dials_failed
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let protocols = s
        .protocols
        .iter()
        .map(|p| {
            let failed = if p.failed > 0 {
                format!(", {} failed", p.failed)
            } else {
                String::new()
            };
            format!("{} {} in/{} out{failed}", p.protocol, p.inbound, p.outbound)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let r = &s.resources;
    let sec = &s.security;
    [
        format!(
            "Node        {} up {:.0} s · {} peers · routing table {} · store {} records, {} provider records, {}",
            s.peer_id,
            s.uptime_seconds,
            s.connected_peers,
            s.routing_table_size,
            store.records,
            store.provider_records,
            bytes(store.bytes)
        ),
        format!(
            "Bandwidth   in {} · out {}{}",
            bytes(s.bandwidth.inbound_bytes),
            bytes(s.bandwidth.outbound_bytes),
            parenthesised(&by_transport)
        ),
        format!(
            "Latency     ping {} · DHT queries {}{}",
            histogram(&s.latency.ping),
            histogram(&s.latency.dht_queries),
            parenthesised(&peers)
        ),
        format!(
            "Connections {} open{} ({} in, {} out) · {} established · {} failed{} · closed {}",
            c.open,
            parenthesised(&counts(&c.by_transport)),
            c.inbound,
            c.outbound,
            c.established_total,
            c.failed_total,
            parenthesised(&counts(&c.failures)),
            or_none(&counts(&c.closed))
        ),
        format!(
            "Discovery   {} peers{}",
            s.discovery.peers_total,
            parenthesised(&discovery)
        ),
        format!("Protocols   {}", or_none(&protocols)),
        format!(
            "Resources   CPU {} · memory {} · open files {} · store {}",
            r.cpu_seconds.map_or("-".to_owned(), |v| format!("{v:.2} s")),
            r.memory_bytes
                .map_or("-".to_owned(), |v| bytes(v.max(0.0) as u64)),
            r.open_fds.map_or("-".to_owned(), |v| format!("{v:.0}")),
            bytes(r.store_bytes)
        ),
        format!(
            "Security    {} handshake failures · {} records rejected · {} limits hit · {} relay denials{}",
            sec.handshake_failures,
            sec.records_rejected,
            sec.limits_hit,
            sec.relay_denied,
            parenthesised(&counts(&sec.by_kind))
        ),
    ]
    .join("\n")
}

fn histogram(h: &LatencyHistogram) -> String {
    match h.mean_ms {
        Some(mean) => format!("{} samples, mean {mean:.2} ms", h.count),
        None => "no samples".to_owned(),
    }
}

fn counts(counts: &[Count]) -> String {
    counts
        .iter()
        .map(|c| format!("{} {}", c.name, c.count))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parenthesised(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        "none".to_owned()
    } else {
        text.to_owned()
    }
}

/// A peer id shortened to its last 8 characters.
fn short(peer: &str) -> String {
    let tail = peer.len().saturating_sub(8);
    format!("…{}", &peer[tail..])
}

/// Bytes with a binary unit.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_bytes() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(2048), "2.0 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 + 1), "3.0 MiB");
    }
}
