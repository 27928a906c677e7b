//! A dial that gets a second attempt beside it when the first hangs.
//!
//! rust-libp2p's native WebRTC-direct dialer (libp2p-webrtc 0.10 on webrtc-rs 0.17) creates
//! its negotiated noise channel before connecting and opens it only once SCTP is up. The
//! listener speaks first in noise, and when its first message arrives between the dialer's
//! SCTP association coming up and that channel opening, webrtc-rs takes stream 0 for an
//! incoming channel, fails to open the dialer's own (`failed to open data channel: there
//! already exists a stream with identifier`, webrtc-rs issue 748) and the dial hangs until
//! the transport timeout. On a loaded 2-core machine that was 5 dials in 40. Nothing from
//! the outside can unstick that attempt, but a fresh one (a new ufrag, a new association)
//! almost always gets through, so a dial still pending after [`HEDGE_AFTER`] gets a second
//! attempt and the first to connect wins.

use std::future::Future;
use std::time::Duration;

/// How long a dial runs alone before a second attempt joins it: longer than a native
/// WebRTC-direct handshake takes on any usable link (ICE, DTLS, SCTP and noise are about six
/// round trips), well within the 10 s transport timeout.
pub const HEDGE_AFTER: Duration = Duration::from_secs(3);

/// Runs `first`; if it has not finished after `after`, runs `second` beside it and answers
/// the first success (or, when both fail, the later error). A `first` that fails before
/// `after` is answered as it is: the hang is what is hedged, not a refusal.
pub async fn hedged<T, E, F>(first: F, second: F, after: Duration) -> Result<T, E>
where
    F: Future<Output = Result<T, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut first = first;
    tokio::select! {
        result = &mut first => return result,
        () = tokio::time::sleep(after) => {}
    }
    tracing::debug!(
        after_s = after.as_secs_f64(),
        "dial still pending: a second attempt joins it"
    );
    let mut second = second;
    tokio::select! {
        result = &mut first => match result {
            Ok(output) => Ok(output),
            Err(error) => {
                tracing::debug!(%error, "first dial attempt failed; waiting for the second");
                second.await
            }
        },
        result = &mut second => match result {
            Ok(output) => {
                tracing::debug!("the second dial attempt connected first");
                Ok(output)
            }
            Err(error) => {
                tracing::debug!(%error, "second dial attempt failed; waiting for the first");
                first.await
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::pending;
    use std::pin::Pin;

    /// [`HEDGE_AFTER`] scaled down for the test.
    const AFTER: Duration = Duration::from_millis(200);

    type Attempt = Pin<Box<dyn Future<Output = Result<u8, String>> + Send>>;

    fn hangs() -> Attempt {
        Box::pin(pending())
    }

    fn answers(value: Result<u8, String>, after: Duration) -> Attempt {
        Box::pin(async move {
            tokio::time::sleep(after).await;
            value
        })
    }

    #[tokio::test]
    async fn a_hung_first_attempt_is_overtaken_by_the_second() {
        let started = std::time::Instant::now();
        let second = answers(Ok(2), Duration::from_millis(50));
        let got = hedged(hangs(), second, AFTER).await;
        assert_eq!(got, Ok(2));
        assert!(started.elapsed() >= AFTER + Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_quick_answer_or_refusal_is_final() {
        let got = hedged(answers(Ok(1), Duration::ZERO), hangs(), AFTER).await;
        assert_eq!(got, Ok(1));
        let refused = answers(Err("refused".into()), Duration::from_millis(10));
        let got = hedged(refused, answers(Ok(2), Duration::ZERO), AFTER).await;
        assert_eq!(got, Err("refused".into()));
    }

    #[tokio::test]
    async fn a_slow_first_attempt_still_counts() {
        let first = answers(Ok(1), AFTER * 2);
        let second = answers(Err("second failed".into()), Duration::from_millis(10));
        let got = hedged(first, second, AFTER).await;
        assert_eq!(got, Ok(1));
    }
}
