//! A data channel with its frame decoder and half-close state: the part of a stream that
//! outlives the [`Stream`](super::Stream) handle while a dropped stream finishes its close.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use crate::channel::DataChannel;
use crate::frame::{self, Decoder, Flag};
use crate::stream::state::{ReadHalf, State, WriteHalf};

/// What one received frame did.
pub(crate) enum Event {
    /// Bytes for the reader.
    Data(Vec<u8>),
    /// A flag (or a frame carrying nothing for the reader) was applied to the state.
    Applied,
    /// The channel is closed; the state says so now.
    Closed,
}

pub(crate) struct Io<C> {
    pub(crate) channel: C,
    decoder: Decoder,
    pub(crate) state: State,
    /// Set for the whole connection once the remote sent any FIN_ACK: it is an implementation
    /// that acknowledges, so waiting for its FIN_ACK on close costs no timeout.
    pub(crate) peer_acks: Arc<AtomicBool>,
    /// When we acknowledge a peer not yet known to speak FIN_ACK.
    pub(crate) policy: AckPolicy,
}

/// When a FIN is acknowledged to a peer that has not yet shown it speaks FIN_ACK.
///
/// rust-libp2p's WebRTC (libp2p-webrtc-utils 0.5, in other Rust nodes' dialers) fails a stream
/// with `UnknownEnumValue(3)` on a FIN_ACK, and its webrtc-rs logs `stream 0 not found` for one
/// that arrives after it closed the channel. A peer that acknowledged one of our FINs (js-libp2p,
/// go-libp2p, our own dialer and listener) gets its acknowledgements at once under both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckPolicy {
    /// Acknowledge once our own write half is closed too: such a peer has read everything we
    /// sent by then. For dialers, which meet listeners of every implementation.
    AfterOwnFin,
    /// Acknowledge only once the peer has sent a FIN_ACK itself: a peer that never does is
    /// never sent one. For our listener, so that rust-libp2p dialers never see one; our own
    /// dialer acknowledges first (`AfterOwnFin`), so the two never wait on each other.
    OnlyToAckers,
}

impl<C: DataChannel> Io<C> {
    pub(crate) fn new(channel: C, peer_acks: Arc<AtomicBool>, policy: AckPolicy) -> Self {
        Self {
            channel,
            decoder: Decoder::default(),
            state: State::default(),
            peer_acks,
            policy,
        }
    }

    pub(crate) fn peer_acks(&self) -> bool {
        self.peer_acks.load(Ordering::Relaxed)
    }

    /// True when an owed FIN_ACK may go now (see [`AckPolicy`]).
    pub(crate) fn may_ack(&self) -> bool {
        self.peer_acks()
            || (self.policy == AckPolicy::AfterOwnFin && self.state.write != WriteHalf::Open)
    }

    /// Receives and applies the next frame.
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Event>> {
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    if frame.flag == Some(Flag::FinAck) {
                        self.peer_acks.store(true, Ordering::Relaxed);
                    }
                    return Poll::Ready(Ok(match self.state.on_frame(frame) {
                        Some(data) => Event::Data(data),
                        None => Event::Applied,
                    }));
                }
                Ok(None) => {}
                Err(error) => {
                    self.reset();
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, error)));
                }
            }
            match ready!(self.channel.poll_recv(cx)) {
                Some(message) => self.decoder.push(&message),
                None => {
                    self.state.on_channel_closed();
                    return Poll::Ready(Ok(Event::Closed));
                }
            }
        }
    }

    /// Sends the FIN_ACK we owe, if any and if the [`AckPolicy`] allows it now. Pending only
    /// while the send buffer is full.
    pub(crate) fn poll_ack(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.state.fin_ack_due && self.may_ack() {
            ready!(self.channel.poll_ready(cx))?;
            self.channel.send(frame::encode(Some(Flag::FinAck), &[]))?;
            self.state.fin_ack_due = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Queues a flag-only frame without waiting for buffer space: used from `Drop`, where the
    /// frame must go now or never. A closed channel is ignored (the remote sees the close).
    /// The remote's write half is not over yet (no FIN, no RESET_STREAM, channel open).
    pub(crate) fn remote_may_send(&self) -> bool {
        matches!(self.state.read, ReadHalf::Open | ReadHalf::Stopped)
    }

    pub(crate) fn send_flag_now(&mut self, flag: Flag) {
        if let Err(error) = self.channel.send(frame::encode(Some(flag), &[])) {
            tracing::trace!(?flag, %error, "flag not sent: channel closed");
        }
    }

    /// Gives up on the stream after a protocol error: tell the remote, close the channel.
    pub(crate) fn reset(&mut self) {
        self.send_flag_now(Flag::ResetStream);
        self.state.on_channel_closed();
        self.channel.close();
    }
}
