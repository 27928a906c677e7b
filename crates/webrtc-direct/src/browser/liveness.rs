//! The page's watch on a connection's remote: reads the browser's candidate-pair counters
//! every [`LOOK_EVERY`] and applies [`crate::liveness::Watch`] (why and how, there).

use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use futures_timer::Delay;
use js_sys::Reflect;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::RtcPeerConnection;

use crate::liveness::{Reading, Watch};

/// How often the statistics are read.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// Sums the counters of every candidate pair in a `getStats()` report.
fn reading(report: &JsValue) -> Reading {
    let mut total = Reading {
        at_ms: js_sys::Date::now(),
        ..Reading::default()
    };
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
        total.checks_received += number(&stats, "requestsReceived");
        total.checks_sent += number(&stats, "requestsSent");
        total.other_received +=
            number(&stats, "bytesReceived") + number(&stats, "responsesReceived");
    }
    total
}

/// The watch on one peer connection; poll it from the connection's `poll`.
pub(crate) struct Liveness {
    next: Delay,
    looking: Option<JsFuture>,
    watch: Watch,
}

impl Liveness {
    pub(crate) fn new() -> Self {
        Self {
            next: Delay::new(LOOK_EVERY),
            looking: None,
            watch: Watch::new(js_sys::Date::now()),
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
                    && self.watch.gone_after(reading(&report))
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
}
