//! What a remote can make the listener hold before it proves anything: bounded connection
//! attempts, and who makes room when the bound is full.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::State;
use crate::native::shed::{Reason, SHED};

/// Bounds on connection attempts (STUN requests for a ufrag no connection owns yet).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Attempts in flight at once, from everyone.
    pub max_pending: usize,
    /// Attempts in flight at once from one source IP.
    pub max_pending_per_ip: usize,
    /// How long an attempt may take to become a connection before it is dropped.
    pub handshake_timeout: Duration,
}

impl Default for Limits {
    /// 64 attempts, 8 per IP, 8 s: a browser completes ICE, DTLS, SCTP and noise in a few
    /// round trips, so 8 s covers slow mobile links while a spray is forgotten quickly.
    fn default() -> Self {
        Self {
            max_pending: 64,
            max_pending_per_ip: 8,
            handshake_timeout: Duration::from_secs(8),
        }
    }
}

/// The total bound is full and an attempt comes from an IP holding `from_ip` attempts: if
/// another IP holds at least two more, its oldest attempt makes room. So a spray from a few
/// addresses cannot lock everyone else out for a handshake timeout; to do that it needs as
/// many addresses as [`Limits::max_pending`].
pub(super) fn evict_from_busiest(state: &mut State, from_ip: usize) {
    let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
    for pending in state.pending.values() {
        *per_ip.entry(pending.from.ip()).or_default() += 1;
    }
    let Some((busiest, count)) = per_ip.into_iter().max_by_key(|(_, count)| *count) else {
        return;
    };
    if count < from_ip + 2 {
        return;
    }
    let oldest = state
        .pending
        .iter()
        .filter(|(_, pending)| pending.from.ip() == busiest)
        .min_by_key(|(_, pending)| pending.since)
        .map(|(ufrag, _)| ufrag.clone());
    let Some(ufrag) = oldest else { return };
    state.pending.remove(&ufrag);
    // Its agent, if it has one already, fails its handshake and is removed by the listener.
    state.drop_conn(&ufrag);
    SHED.add(Reason::Evicted, 1);
}
