//! When a dialer may call its remote gone: the rule behind the page's liveness watch
//! (`browser/liveness.rs` feeds it the browser's candidate-pair counters).
//!
//! Chromium turns a connection `disconnected` about 5 s after its ICE checks (every 2.5 s on
//! a stable pair) stop being answered, so a killed node was noticed after about 6 s. Our
//! listener announces itself with [`ANNOUNCED_CHECKS`] ICE checks at once when the
//! handshake completes, and then sends one whenever it sent nothing for 500 ms
//! (`native/mux/keepalive.rs`). Once a connection has shown that, it is gone after
//! [`SILENCE`] without any packet.
//!
//! Other listeners are never held to that rule, because they cannot show it:
//! - webrtc-rs's ICE-lite agent (rust-libp2p) sends only triggered checks, about one per
//!   check of the browser (measured in Chromium: one or two more than the browser's over a
//!   whole handshake); pion (go-libp2p), which webrtc-rs ports, should do the same (not
//!   measured);
//! - full agents refresh consent every 4 to 6 s (RFC 7675).
//!
//! A connection is armed when, within [`ARM_WINDOW`], the remote's checks outnumber the
//! browser's own by at least [`ARM_SURPLUS`], counting from the connection's start (the
//! counters start at zero with the peer connection, so an announcement that came before the
//! first reading still counts). Idle keepalives alone arm it too (eight in 4 s against the
//! browser's one or two). An unarmed connection keeps Chromium's verdict.

/// Checks the listener sends at once when the handshake completes.
pub const ANNOUNCED_CHECKS: u8 = 8;
/// No packet for this long from an armed remote: it is gone (four idle keepalives).
pub const SILENCE: std::time::Duration = std::time::Duration::from_secs(2);
/// The window in which the remote's surplus of checks is counted.
pub const ARM_WINDOW: std::time::Duration = std::time::Duration::from_secs(4);
/// How many more checks than the browser sent the remote must send within [`ARM_WINDOW`].
pub const ARM_SURPLUS: f64 = 5.0;

/// One reading of a connection's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// When, in milliseconds on any monotonic-enough clock.
    pub at_ms: f64,
    /// ICE checks received from the remote.
    pub checks_received: f64,
    /// ICE checks the browser sent.
    pub checks_sent: f64,
    /// Everything else received: data bytes and answers to the browser's checks.
    pub other_received: f64,
}

/// The verdict on one connection, fed [`Reading`]s in time order.
#[derive(Debug)]
pub struct Watch {
    /// Readings within the last [`ARM_WINDOW`] (plus the one just before it).
    recent: std::collections::VecDeque<Reading>,
    armed: bool,
    heard_at_ms: f64,
}

impl Watch {
    /// A watch on a connection established at `at_ms`, its counters still at zero then.
    pub fn new(at_ms: f64) -> Self {
        Self {
            recent: [Reading {
                at_ms,
                ..Reading::default()
            }]
            .into(),
            armed: false,
            heard_at_ms: at_ms,
        }
    }

    /// Whether the remote has shown the keepalive cadence.
    pub fn armed(&self) -> bool {
        self.armed
    }

    /// Takes a reading; true when the remote is gone.
    pub fn gone_after(&mut self, reading: Reading) -> bool {
        let last = self.recent.back().copied().unwrap_or_default();
        if reading.checks_received != last.checks_received
            || reading.other_received != last.other_received
        {
            self.heard_at_ms = reading.at_ms;
        }
        self.recent.push_back(reading);
        let window = ARM_WINDOW.as_millis() as f64;
        while self.recent.len() > 2 && reading.at_ms - self.recent[1].at_ms >= window {
            self.recent.pop_front();
        }
        if !self.armed
            && let Some(first) = self.recent.front()
        {
            let received = reading.checks_received - first.checks_received;
            let sent = reading.checks_sent - first.checks_sent;
            self.armed = received - sent >= ARM_SURPLUS;
        }
        self.armed && reading.at_ms - self.heard_at_ms > SILENCE.as_millis() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readings every 250 ms: `received(i)` and `sent(i)` are the check counters at step i.
    fn run(
        steps: usize,
        received: impl Fn(usize) -> f64,
        sent: impl Fn(usize) -> f64,
    ) -> (Watch, Option<usize>) {
        let mut watch = Watch::new(0.0);
        let gone = (0..steps).find(|&i| {
            watch.gone_after(Reading {
                at_ms: i as f64 * 250.0,
                checks_received: received(i),
                checks_sent: sent(i),
                other_received: 0.0,
            })
        });
        (watch, gone)
    }

    #[test]
    fn our_listener_arms_the_watch_and_its_silence_ends_the_connection() {
        // Handshake: 3 browser checks, 4 triggered; the announcement (8) before the first
        // reading; idle keepalives every 500 ms; killed at step 20.
        let received = |i: usize| match i {
            0..=19 => 12.0 + (i / 2) as f64,
            _ => 21.0,
        };
        let (watch, gone) = run(40, received, |i| 3.0 + (i / 10) as f64);
        assert!(watch.armed());
        let gone = gone.expect("noticed");
        // The last check came at step 18 (4.5 s); gone over 2 s later, well within 3 s.
        assert!((27..=28).contains(&gone), "gone at step {gone}");
    }

    #[test]
    fn idle_keepalives_alone_arm_it() {
        // The announcement lost: only keepalives every 500 ms, browser checks every 2.5 s.
        let (watch, gone) = run(20, |i| 4.0 + (i / 2) as f64, |i| 3.0 + (i / 10) as f64);
        assert!(watch.armed());
        assert_eq!(gone, None);
    }

    #[test]
    fn a_triggered_checks_listener_never_arms_even_when_silent() {
        // Two more than the browser's in the handshake, then one triggered check per browser
        // check, a reading later; browser checks every 2.5 s.
        let sent = |i: usize| (i / 10) as f64 + 3.0;
        let received = |i: usize| (i.saturating_sub(1) / 10) as f64 + 5.0;
        let (watch, gone) = run(200, received, sent);
        assert!(!watch.armed());
        assert_eq!(gone, None);
    }

    #[test]
    fn consent_freshness_every_four_seconds_never_arms() {
        let received = |i: usize| (i / 16) as f64;
        let (watch, gone) = run(200, received, |_| 0.0);
        assert!(!watch.armed());
        assert_eq!(gone, None);
    }

    #[test]
    fn data_alone_keeps_an_armed_connection_alive() {
        let mut watch = Watch::new(0.0);
        for i in 0..8 {
            watch.gone_after(Reading {
                at_ms: i as f64 * 250.0,
                checks_received: i as f64,
                ..Reading::default()
            });
        }
        assert!(watch.armed());
        // Busy: no keepalives (the listener is sending data), only bytes move.
        let busy = (8..40).any(|i| {
            watch.gone_after(Reading {
                at_ms: i as f64 * 250.0,
                checks_received: 7.0,
                other_received: i as f64 * 100.0,
                ..Reading::default()
            })
        });
        assert!(!busy);
    }
}
