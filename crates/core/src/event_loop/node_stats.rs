//! The snapshot behind `/api/stats`, the console's `STATS` and the page's panel, and the
//! gauges only the loop can read (routing table, store).

use super::EventLoop;
use crate::metrics::stats::{Live, NodeStats, PeerRtt};

impl EventLoop {
    /// The seven metric groups from one scrape, plus each connected peer's RTT.
    pub(super) fn node_stats(&mut self) -> NodeStats {
        self.refresh_gauges();
        let mut peers: Vec<PeerRtt> = self
            .peers
            .iter()
            .map(|(peer, state)| PeerRtt {
                peer: peer.to_string(),
                transport: state.transport().unwrap_or("other").to_owned(),
                rtt_ms: state.rtt_ms(),
            })
            .collect();
        peers.sort_by(|a, b| a.peer.cmp(&b.peer));
        let live = Live {
            peer_id: self.local_peer_id().to_string(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            connected_peers: self.peers.len(),
            routing_table_size: self.routing_table_size(),
            store: self.swarm.behaviour_mut().kad.store_mut().stats(),
            peers,
        };
        self.metrics.stats(live)
    }

    /// Sets the gauges derived from the loop's state: connected peers, routing table, store
    /// (called every tick, before a scrape and before a snapshot).
    pub(super) fn refresh_gauges(&mut self) {
        self.report_refusals();
        self.report_limits();
        let routing = self.routing_table_size();
        let store = self.swarm.behaviour_mut().kad.store_mut().stats();
        let own = self.metrics.own();
        own.routing_table_peers.set(gauge(routing as u64));
        own.peers_connected.set(gauge(self.peers.len() as u64));
        for (kind, count) in [
            ("record", store.records),
            ("provider", store.provider_records),
            ("provided", store.provided_keys),
        ] {
            own.store_records
                .get_or_create(&[("kind", kind)])
                .set(gauge(count as u64));
        }
        own.store_bytes.set(gauge(store.bytes));
        let failures = own.store_write_failures.get();
        if store.persistence_failures > failures {
            own.store_write_failures
                .inc_by(store.persistence_failures - failures);
        }
    }
}

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
