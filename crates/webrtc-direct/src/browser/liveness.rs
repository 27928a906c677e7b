//! The page's watch on a connection's remote: a connection that received no packet for
//! [`SILENCE`] is dead.
//!
//! Chromium's own verdict (`connectionstatechange` to `disconnected`) comes about 6 s after a
//! killed node's last packet: it checks a stable pair every 2.5 s and gives up after 5 s of
//! unanswered checks. Our listener keeps every idle connection busy instead: it sends the
//! page a signed ICE check whenever it sent nothing for 500 ms (`native/mux/keepalive.rs`).
//! The page reads what arrived from its candidate-pair statistics (data bytes, checks
//! received, answers to its own checks) every [`LOOK_EVERY`]; when none moved for
//! [`SILENCE`], the remote is gone. A `kill -9` is then noticed within about 2.5 s, and a
//! live connection is closed only after four keepalives in a row were lost.
//!
//! A listener without keepalives (another implementation) only answers Chromium's checks,
//! 2.5 s apart; so the watch starts only after the first check from the listener arrived, and
//! such connections keep Chromium's verdict.

use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use futures_timer::Delay;
use js_sys::Reflect;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::RtcPeerConnection;

/// How often the statistics are read.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// No packet for this long: the remote is gone (four keepalive intervals).
const SILENCE: Duration = Duration::from_secs(2);

/// What arrived on the connection so far, from `RTCIceCandidatePairStats`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Arrived {
    /// ICE checks from the listener (its keepalives).
    requests: f64,
    /// Everything else: data bytes and answers to the page's own checks.
    other: f64,
}

/// Sums the counters of every candidate pair in a `getStats()` report.
fn arrived(report: &JsValue) -> Arrived {
    let mut total = Arrived::default();
    let Ok(Some(entries)) = js_sys::try_iter(report) else {
        return total;
    };
    let number = |stats: &JsValue, key: &str| {
        Reflect::get(stats, &key.into())
            .ok()
            .and_then(|value| value.as_f64())
            .unwrap_or(0.0)
    };
    for entry in entries.flatten() {
        let stats = Reflect::get(&entry, &1.into()).unwrap_or(JsValue::UNDEFINED);
        let kind = Reflect::get(&stats, &"type".into()).ok();
        if kind.and_then(|kind| kind.as_string()).as_deref() != Some("candidate-pair") {
            continue;
        }
        total.requests += number(&stats, "requestsReceived");
        total.other += number(&stats, "bytesReceived") + number(&stats, "responsesReceived");
    }
    total
}

/// The watch on one peer connection; poll it from the connection's `poll`.
pub(crate) struct Liveness {
    next: Delay,
    looking: Option<JsFuture>,
    seen: Arrived,
    /// When the counters last moved (`Date.now()`, ms).
    heard_at: f64,
}

impl Liveness {
    pub(crate) fn new() -> Self {
        Self {
            next: Delay::new(LOOK_EVERY),
            looking: None,
            seen: Arrived::default(),
            heard_at: js_sys::Date::now(),
        }
    }

    /// `Ready(())` once the remote is gone; registers the waker otherwise.
    pub(crate) fn poll(&mut self, pc: &RtcPeerConnection, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if let Some(looking) = self.looking.as_mut() {
                let Poll::Ready(report) = looking.poll_unpin(cx) else {
                    return Poll::Pending;
                };
                self.looking = None;
                if let Ok(report) = report
                    && self.silent(arrived(&report))
                {
                    return Poll::Ready(());
                }
                self.next.reset(LOOK_EVERY);
            }
            if self.next.poll_unpin(cx).is_pending() {
                return Poll::Pending;
            }
            self.looking = Some(JsFuture::from(pc.get_stats()));
        }
    }

    /// Takes in one reading; true when the remote has been silent for too long.
    fn silent(&mut self, now_arrived: Arrived) -> bool {
        let now = js_sys::Date::now();
        if now_arrived != self.seen {
            self.seen = now_arrived;
            self.heard_at = now;
            return false;
        }
        // No keepalive has come yet: the listener may not send them.
        self.seen.requests > 0.0 && now - self.heard_at > SILENCE.as_millis() as f64
    }
}
