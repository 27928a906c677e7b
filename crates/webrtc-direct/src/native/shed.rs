//! What the listeners refused or dropped of the connection attempts a remote can make us
//! hold without proving anything, counted for `/metrics` and logged once per interval.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Why an attempt was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// [`Limits::max_pending`](super::Limits::max_pending) attempts were in flight.
    PendingTotal,
    /// [`Limits::max_pending_per_ip`](super::Limits::max_pending_per_ip) from that IP were.
    PendingPerIp,
    /// The attempt did not become a connection: it expired, or its handshake gave up.
    Expired,
    /// The total bound was full and the attempt, the oldest of the IP holding the most,
    /// made room for one from a quieter IP.
    Evicted,
}

impl Reason {
    /// Every reason, in the order [`AttemptsShed::counts`] answers them.
    pub const ALL: [Reason; 4] = [
        Self::PendingTotal,
        Self::PendingPerIp,
        Self::Expired,
        Self::Evicted,
    ];

    /// The `reason` label of the metric.
    pub fn label(self) -> &'static str {
        match self {
            Self::PendingTotal => "pending_total",
            Self::PendingPerIp => "pending_per_ip",
            Self::Expired => "expired",
            Self::Evicted => "evicted",
        }
    }
}

/// Overloads are logged at most this often, with the count since the previous warning.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Counts of shed attempts, for the whole process (a node runs one swarm).
pub struct AttemptsShed {
    counts: [AtomicU64; 4],
    warned: Mutex<(Option<Instant>, u64)>,
}

/// The process's counts, which `webkad serve` exports as
/// `webkad_webrtc_attempts_shed_total{reason}`.
pub static SHED: AttemptsShed = AttemptsShed {
    counts: [
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    ],
    warned: Mutex::new((None, 0)),
};

impl AttemptsShed {
    /// Counts `n` attempts shed for `reason`; a refusal at a limit is an overload, logged
    /// once per [`WARN_EVERY`].
    pub fn add(&self, reason: Reason, n: u64) {
        self.counts[reason as usize].fetch_add(n, Ordering::Relaxed);
        if reason == Reason::Expired {
            return;
        }
        let Ok(mut warned) = self.warned.lock() else {
            return;
        };
        warned.1 += n;
        if warned.0.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            tracing::warn!(
                refused = warned.1,
                "WebRTC-direct connection attempts refused at their limit (a STUN flood?)"
            );
            *warned = (Some(Instant::now()), 0);
        }
    }

    /// Each reason's count so far.
    pub fn counts(&self) -> [(Reason, u64); 4] {
        Reason::ALL.map(|reason| (reason, self.counts[reason as usize].load(Ordering::Relaxed)))
    }
}
