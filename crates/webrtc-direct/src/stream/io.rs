//! A data channel with its frame decoder and half-close state: the part of a stream that
//! outlives the [`Stream`](super::Stream) handle while a dropped stream finishes its close.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use crate::channel::DataChannel;
use crate::frame::{self, Decoder, Flag};
use crate::stream::state::{State, WriteHalf};

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
}

impl<C: DataChannel> Io<C> {
    pub(crate) fn new(channel: C, peer_acks: Arc<AtomicBool>) -> Self {
        Self {
            channel,
            decoder: Decoder::default(),
            state: State::default(),
            peer_acks,
        }
    }

    pub(crate) fn peer_acks(&self) -> bool {
        self.peer_acks.load(Ordering::Relaxed)
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

    /// Sends the FIN_ACK we owe, if any and if it is time. Pending only while the send buffer
    /// is full.
    ///
    /// rust-libp2p's WebRTC (libp2p-webrtc-utils 0.5, in today's pages and native dialers)
    /// fails a stream's read with `UnknownEnumValue(3)` on a FIN_ACK. So until the remote has
    /// shown it speaks FIN_ACK (it acknowledged one of our FINs), the acknowledgement waits
    /// until our own write half is closed: such a peer has then read everything we sent, and
    /// a FIN_ACK-waiting peer (js-libp2p) still gets it no later than our answer.
    pub(crate) fn poll_ack(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let now = self.peer_acks() || self.state.write != WriteHalf::Open;
        if self.state.fin_ack_due && now {
            ready!(self.channel.poll_ready(cx))?;
            self.channel.send(frame::encode(Some(Flag::FinAck), &[]))?;
            self.state.fin_ack_due = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Queues a flag-only frame without waiting for buffer space: used from `Drop`, where the
    /// frame must go now or never. A closed channel is ignored (the remote sees the close).
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
