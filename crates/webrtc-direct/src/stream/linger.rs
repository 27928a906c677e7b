//! Closes of dropped streams, finished in the background.
//!
//! A stream dropped after `close()` has sent FIN but may not have its FIN_ACK yet; closing
//! the data channel right away could lose the data still in flight (the spec's reason for
//! FIN_ACK). A stream dropped while the remote may still send (no FIN or RESET_STREAM from
//! it yet) must not close either: a webrtc-rs remote would send its queued messages after our
//! reset (see `Drop for Stream`). Its channel waits here for both, at most
//! [`FIN_ACK_TIMEOUT`], then closes.
//! The hand-off is bounded: past [`MAX_LINGERING`] a dropped stream closes its channel at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use futures_timer::Delay;

use crate::channel::DataChannel;
use crate::stream::io::{Event, Io};
use crate::stream::state::WriteHalf;

/// The longest a close waits for the remote's FIN_ACK (in `close()` and after a drop).
pub const FIN_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Most dropped streams of one connection that may wait for their FIN_ACK at once.
pub const MAX_LINGERING: usize = 256;

/// A dropped stream's channel waiting for the FIN_ACK of its FIN.
pub(crate) struct Linger<C> {
    io: Io<C>,
    deadline: Delay,
}

impl<C: DataChannel> Future for Linger<C> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            // A FIN that arrives meanwhile is still acknowledged, so the remote's close is quick.
            let ack = this.io.poll_ack(cx);
            let waiting = this.io.state.write == WriteHalf::FinSent || this.io.remote_may_send();
            if !waiting && ack.is_ready() {
                break;
            }
            if Pin::new(&mut this.deadline).poll(cx).is_ready() {
                break;
            }
            match this.io.poll_event(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(Event::Data(data))) => {
                    tracing::debug!(len = data.len(), "a dropped stream discarded data");
                }
                Poll::Ready(Ok(Event::Applied)) => {}
                Poll::Ready(Ok(Event::Closed) | Err(_)) => break,
            }
        }
        this.io.channel.close();
        Poll::Ready(())
    }
}

/// The hand-off point between dropped streams and their connection.
pub(crate) struct Handoff<C> {
    queue: Vec<Linger<C>>,
    waker: Option<Waker>,
    /// Streams lingering now, queued or driven.
    count: usize,
    /// The connection's driver is gone: nothing will drive a hand-off any more.
    closed: bool,
}

/// Shared by a connection and its streams.
pub(crate) struct Shared<C> {
    pub(crate) peer_acks: Arc<AtomicBool>,
    pub(crate) handoff: Arc<Mutex<Handoff<C>>>,
}

impl<C> Clone for Shared<C> {
    fn clone(&self) -> Self {
        Self {
            peer_acks: self.peer_acks.clone(),
            handoff: self.handoff.clone(),
        }
    }
}

impl<C: DataChannel> Shared<C> {
    pub(crate) fn new() -> Self {
        Self {
            peer_acks: Arc::new(AtomicBool::new(false)),
            handoff: Arc::new(Mutex::new(Handoff {
                queue: Vec::new(),
                waker: None,
                count: 0,
                closed: false,
            })),
        }
    }

    /// Hands a dropped stream's channel over, or closes it when the connection is gone or
    /// already has [`MAX_LINGERING`] closes in flight.
    pub(crate) fn linger(&self, mut io: Io<C>) {
        let Ok(mut handoff) = self.handoff.lock() else {
            io.channel.close();
            return;
        };
        if handoff.closed || handoff.count >= MAX_LINGERING {
            drop(handoff);
            io.channel.close();
            return;
        }
        handoff.count += 1;
        handoff.queue.push(Linger {
            io,
            deadline: Delay::new(FIN_ACK_TIMEOUT),
        });
        if let Some(waker) = handoff.waker.take() {
            waker.wake();
        }
    }
}

/// The driver a connection polls for the closes of its dropped streams.
pub(crate) struct Lingering<C: DataChannel> {
    shared: Shared<C>,
    active: FuturesUnordered<Linger<C>>,
}

impl<C: DataChannel> Lingering<C> {
    pub(crate) fn new(shared: Shared<C>) -> Self {
        Self {
            shared,
            active: FuturesUnordered::new(),
        }
    }

    /// Drives every lingering close; returns how many are still waiting.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> usize {
        let mut finished = 0;
        if let Ok(mut handoff) = self.shared.handoff.lock() {
            self.active.extend(handoff.queue.drain(..));
            handoff.waker = Some(cx.waker().clone());
        }
        while let Poll::Ready(Some(())) = self.active.poll_next_unpin(cx) {
            finished += 1;
        }
        if let Ok(mut handoff) = self.shared.handoff.lock() {
            handoff.count = handoff.count.saturating_sub(finished);
        }
        self.active.len()
    }
}

impl<C: DataChannel> Drop for Lingering<C> {
    fn drop(&mut self) {
        // The connection is gone: close whatever still lingers.
        if let Ok(mut handoff) = self.shared.handoff.lock() {
            handoff.closed = true;
            for mut linger in handoff.queue.drain(..) {
                linger.io.channel.close();
            }
            handoff.count = 0;
        }
        for linger in self.active.iter_mut() {
            linger.io.channel.close();
        }
    }
}
