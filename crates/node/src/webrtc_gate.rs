//! Holds back this node's first streams on an accepted WebRTC-direct connection until the
//! browser is ready to accept them.
//!
//! rust-libp2p's WebRTC dialer (libp2p-webrtc 0.10, in other Rust nodes; our one-shot
//! commands and the page's libp2p-webrtc-websys did the same until our own dialers replaced
//! them) installs its handler for incoming data channels only after its side of the noise handshake has
//! finished. This node finishes first and at once opens identify, ping and gossipsub
//! streams; data channels that reach the dialer before its handler exists are never
//! answered, and each of those protocols stalls until its 10 s negotiation timeout. The
//! dialer's first own stream proves its handler is in place, so outbound streams wait for
//! it, or for [`MAX_HOLD`]. Our page and js-libp2p install theirs before the handshake and
//! open a stream at once, so the gate opens for them without a wait.

use std::{
    pin::Pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use futures::FutureExt;
use futures_timer::Delay;
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent, StreamMuxerExt};

/// The longest outbound streams wait for the remote's first stream.
pub const MAX_HOLD: Duration = Duration::from_millis(1500);

/// A stream muxer whose outbound streams wait until the remote opened one, or
/// [`MAX_HOLD`] passed.
pub struct GatedOutbound<M> {
    inner: M,
    hold: Option<Delay>,
    waiting: Option<Waker>,
}

impl<M> GatedOutbound<M> {
    /// Wraps a freshly accepted connection.
    pub fn new(inner: M) -> Self {
        Self {
            inner,
            hold: Some(Delay::new(MAX_HOLD)),
            waiting: None,
        }
    }

    fn open_gate(&mut self) {
        self.hold = None;
        if let Some(waker) = self.waiting.take() {
            waker.wake();
        }
    }
}

impl<M: StreamMuxer + Unpin> StreamMuxer for GatedOutbound<M> {
    type Substream = M::Substream;
    type Error = M::Error;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        let polled = this.inner.poll_inbound_unpin(cx);
        if polled.is_ready() && this.hold.is_some() {
            this.open_gate();
        }
        polled
    }

    fn poll_outbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        if let Some(hold) = &mut this.hold {
            if hold.poll_unpin(cx).is_pending() {
                this.waiting = Some(cx.waker().clone());
                return Poll::Pending;
            }
            this.open_gate();
        }
        this.inner.poll_outbound_unpin(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().inner.poll_close_unpin(cx)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        self.get_mut().inner.poll_unpin(cx)
    }
}
