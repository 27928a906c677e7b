//! Counting what the per-peer request rates and the per-IP connection limits refused: the
//! behaviours keep counts, the loop turns them into `webkad_limits_hit_total` once a tick
//! and logs an overload once a tick at most, not once per refusal.

use super::EventLoop;

impl EventLoop {
    /// The page limits nothing per peer or IP (`behaviour.rs` says why).
    #[cfg(target_arch = "wasm32")]
    pub(super) fn report_limits(&mut self) {}

    /// Moves the refusals since the last tick into the metrics.
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn report_limits(&mut self) {
        use crate::behaviour::ip_limits::Shed;
        let behaviour = self.swarm.behaviour_mut();
        let kad = behaviour.kad.take_refused();
        let messages = behaviour.messages.take_refused();
        let shed = behaviour.ip_limits.take_shed();
        let pending = shed.iter().filter(|s| **s == Shed::Pending).count() as u64;
        let established = shed.len() as u64 - pending;
        let counts = [
            ("kad_request_rate", kad),
            ("message_request_rate", messages),
            ("connections_per_ip", established),
            ("pending_per_ip", pending),
        ];
        for (limit, count) in counts {
            if count > 0 {
                self.metrics.limit_hit_by(limit, count);
            }
        }
        if counts.iter().any(|(_, count)| *count > 0) {
            tracing::warn!(
                kad_requests = kad,
                messages,
                connections = established,
                handshakes = pending,
                "refused over the per-peer request rate or the per-IP connection limits"
            );
        }
    }
}
