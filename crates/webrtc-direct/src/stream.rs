//! A libp2p stream over one data channel: `AsyncRead`/`AsyncWrite` with the spec's
//! half-close (FIN, STOP_SENDING, RESET_STREAM, FIN_ACK).
//!
//! - `close()` sends FIN and, when the remote is known to acknowledge (it sent a FIN_ACK
//!   before on this connection), waits for the FIN_ACK, at most [`FIN_ACK_TIMEOUT`]. Peers
//!   that never acknowledge (rust-libp2p's WebRTC) cost no wait at all.
//! - A received FIN is answered with FIN_ACK when the stream is next polled, read, written or
//!   dropped, as soon as the connection's [`AckPolicy`] allows; a dropped stream that still
//!   owes one lingers until it may send it (or the timeout).
//! - Dropping a stream that was not closed sends RESET_STREAM and closes the channel, unless
//!   the remote had finished (FIN): then it is a clean end and sends FIN. Dropping one whose
//!   FIN is not acknowledged yet hands its channel to the connection's [`Streams`], which
//!   closes it on the FIN_ACK, when the remote closes it, or after the timeout.

mod io;
mod linger;
mod state;

use std::future::Future as _;
use std::io as stdio;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::{AsyncRead, AsyncWrite};
use futures_timer::Delay;

use crate::channel::DataChannel;
use crate::frame::{self, Flag};
pub use io::AckPolicy;
use io::{Event, Io};
pub use linger::{FIN_ACK_TIMEOUT, MAX_LINGERING};
use linger::{Lingering, Shared};
use state::{ReadHalf, WriteHalf};

/// Received bytes a stream buffers beyond what its reader took, while it looks for flags
/// during writes and closes. Reading itself buffers one frame at a time.
const READ_BUFFER_LIMIT: usize = 64 * 1024;

/// The streams of one connection: wraps data channels into [`Stream`]s and finishes the
/// closes of dropped ones. The connection polls [`Streams::poll_closing`].
pub struct Streams<C: DataChannel> {
    shared: Shared<C>,
    lingering: Lingering<C>,
    policy: AckPolicy,
}

impl<C: DataChannel> Streams<C> {
    /// The streams of a dialed connection ([`AckPolicy::AfterOwnFin`]).
    pub fn dialer() -> Self {
        Self::new(AckPolicy::AfterOwnFin)
    }

    /// The streams of an accepted connection ([`AckPolicy::OnlyToAckers`]).
    pub fn listener() -> Self {
        Self::new(AckPolicy::OnlyToAckers)
    }

    fn new(policy: AckPolicy) -> Self {
        let shared = Shared::new();
        Self {
            lingering: Lingering::new(shared.clone()),
            shared,
            policy,
        }
    }

    /// A stream over a freshly opened (or accepted) data channel.
    pub fn wrap(&self, channel: C) -> Stream<C> {
        Stream {
            io: Some(Io::new(channel, self.shared.peer_acks.clone(), self.policy)),
            read_buf: Vec::new(),
            read_pos: 0,
            close_wait: None,
            shared: self.shared.clone(),
        }
    }

    /// True once the remote acknowledged one of our FINs: it speaks FIN_ACK (js-libp2p, our
    /// own dialer; rust-libp2p's WebRTC does not).
    pub fn peer_acks(&self) -> bool {
        self.shared
            .peer_acks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Drives the closes of dropped streams; returns how many still wait for a FIN_ACK.
    /// Never completes: call it from the connection's poll.
    pub fn poll_closing(&mut self, cx: &mut Context<'_>) -> usize {
        self.lingering.poll(cx)
    }
}

/// One libp2p stream on a data channel.
pub struct Stream<C: DataChannel> {
    /// `None` only inside `drop`.
    io: Option<Io<C>>,
    read_buf: Vec<u8>,
    read_pos: usize,
    /// The bounded wait for our FIN's FIN_ACK, started by the first `poll_close` that waits.
    close_wait: Option<Delay>,
    shared: Shared<C>,
}

fn closed() -> stdio::Error {
    stdio::Error::new(stdio::ErrorKind::BrokenPipe, "stream closed for writing")
}

impl<C: DataChannel> Stream<C> {
    fn io(&mut self) -> &mut Io<C> {
        self.io.as_mut().expect("io is only taken in drop")
    }

    fn unread(&self) -> usize {
        self.read_buf.len() - self.read_pos
    }

    /// Applies every frame already received without waiting, keeping data for the reader up
    /// to [`READ_BUFFER_LIMIT`]. Registers the waker when it stops for lack of frames.
    fn pump(&mut self, cx: &mut Context<'_>) -> stdio::Result<()> {
        loop {
            let full = self.unread() >= READ_BUFFER_LIMIT;
            let io = self.io.as_mut().expect("io is only taken in drop");
            let reading = io.state.read == ReadHalf::Open;
            if !io.state.wants_frames() || (reading && full) {
                return Ok(());
            }
            match io.poll_event(cx) {
                Poll::Pending => return Ok(()),
                Poll::Ready(Err(error)) => return Err(error),
                Poll::Ready(Ok(Event::Data(data))) => {
                    self.read_buf.drain(..self.read_pos);
                    self.read_pos = 0;
                    self.read_buf.extend_from_slice(&data);
                }
                Poll::Ready(Ok(Event::Applied | Event::Closed)) => {}
            }
        }
    }
}

impl<C: DataChannel> AsyncRead for Stream<C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<stdio::Result<usize>> {
        let this = &mut *self;
        loop {
            if this.unread() > 0 {
                let n = this.unread().min(buf.len());
                buf[..n].copy_from_slice(&this.read_buf[this.read_pos..this.read_pos + n]);
                this.read_pos += n;
                return Poll::Ready(Ok(n));
            }
            // An acknowledgement held up by a full send buffer must not block reading.
            if let Poll::Ready(Err(error)) = this.io().poll_ack(cx) {
                tracing::trace!(%error, "FIN_ACK not sent");
            }
            match this.io().state.read {
                ReadHalf::Finished | ReadHalf::Stopped => return Poll::Ready(Ok(0)),
                ReadHalf::Reset => {
                    return Poll::Ready(Err(stdio::ErrorKind::ConnectionReset.into()));
                }
                ReadHalf::Open => {}
            }
            if let Event::Data(data) = ready!(this.io().poll_event(cx))? {
                this.read_buf = data;
                this.read_pos = 0;
            }
        }
    }
}

impl<C: DataChannel> AsyncWrite for Stream<C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<stdio::Result<usize>> {
        // Catch a STOP_SENDING or RESET_STREAM before writing into the void.
        self.pump(cx)?;
        let io = self.io();
        let _ = io.poll_ack(cx)?;
        match io.state.write {
            WriteHalf::Open => {}
            WriteHalf::Reset => return Poll::Ready(Err(stdio::ErrorKind::ConnectionReset.into())),
            WriteHalf::Stopped | WriteHalf::FinSent | WriteHalf::Acked => {
                return Poll::Ready(Err(closed()));
            }
        }
        ready!(io.channel.poll_ready(cx))?;
        let n = buf
            .len()
            .min(frame::max_payload(io.channel.max_message_size()));
        io.channel.send(frame::encode(None, &buf[..n]))?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<stdio::Result<()>> {
        let io = self.io();
        ready!(io.poll_ack(cx))?;
        io.channel.poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<stdio::Result<()>> {
        let io = self.io();
        if io.state.write == WriteHalf::Open {
            ready!(io.channel.poll_ready(cx))?;
            io.channel.send(frame::encode(Some(Flag::Fin), &[]))?;
            io.state.write = WriteHalf::FinSent;
        }
        ready!(io.poll_ack(cx))?;
        ready!(io.channel.poll_flush(cx))?;
        if io.state.write != WriteHalf::FinSent || !io.peer_acks() {
            return Poll::Ready(Ok(()));
        }
        self.pump(cx)?;
        let still_waiting = self.io().state.write == WriteHalf::FinSent;
        let room = self.io().state.read != ReadHalf::Open || self.unread() < READ_BUFFER_LIMIT;
        if !still_waiting || !room {
            return Poll::Ready(Ok(()));
        }
        let deadline = self
            .close_wait
            .get_or_insert_with(|| Delay::new(FIN_ACK_TIMEOUT));
        ready!(Pin::new(deadline).poll(cx));
        tracing::debug!("no FIN_ACK within the timeout; write half closed anyway");
        Poll::Ready(Ok(()))
    }
}

impl<C: DataChannel> Drop for Stream<C> {
    fn drop(&mut self) {
        let Some(mut io) = self.io.take() else {
            return;
        };
        if io.state.write == WriteHalf::Open && io.state.read == ReadHalf::Finished {
            // The remote finished and so did we: a clean end, not an abort. libp2p-kad drops
            // its inbound streams this way after answering. A reset would close the channel
            // now, and webrtc-rs drops what the remote has received but not yet read when a
            // channel closes: the answer would be lost. So FIN, and linger like a close.
            io.send_flag_now(Flag::Fin);
            io.state.write = WriteHalf::FinSent;
        }
        if io.state.fin_ack_due && io.may_ack() {
            io.send_flag_now(Flag::FinAck);
            io.state.fin_ack_due = false;
        }
        match io.state.write {
            WriteHalf::Open | WriteHalf::Stopped => {
                // Dropped without close(): an abort. After the remote's STOP_SENDING, the
                // same RESET_STREAM tells it we are done, so its own close need not wait.
                io.send_flag_now(Flag::ResetStream);
                io.state.write = WriteHalf::Reset;
            }
            WriteHalf::FinSent if io.state.read == ReadHalf::Open => {
                io.send_flag_now(Flag::StopSending);
                io.state.read = ReadHalf::Stopped;
            }
            WriteHalf::FinSent | WriteHalf::Acked | WriteHalf::Reset => {}
        }
        // The channel is closed (an SCTP stream reset) only once the remote is done sending
        // too: webrtc-rs's SCTP, answering a reset, still sends what it had queued on that
        // stream, and a webrtc-rs listener takes such a late message for a new data channel
        // without DCEP and stops accepting channels on the connection for good.
        if io.state.write == WriteHalf::FinSent || io.remote_may_send() {
            self.shared.linger(io);
        } else {
            io.channel.close();
        }
    }
}

#[cfg(test)]
mod tests;
