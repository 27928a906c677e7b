//! What a libp2p stream needs from a WebRTC data channel, whichever stack provides it
//! (web-sys `RTCDataChannel` in the page, the native WebRTC stack in `webkad serve`).

use std::io;
use std::task::{Context, Poll};

/// A message-oriented, reliable, ordered data channel.
///
/// Sends never block: [`DataChannel::send`] queues the message, [`DataChannel::poll_ready`]
/// is the back-pressure (it waits while the channel's send buffer is above its low mark),
/// so a stream dropped in a synchronous `Drop` can still queue its last `RESET_STREAM`.
pub trait DataChannel: Unpin {
    /// The next received message; `Ready(None)` once the channel is closed.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>>;

    /// Ready when the channel takes another message without its send buffer growing past
    /// its bound; an error once the channel is closed.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Queues one message (one encoded frame).
    fn send(&mut self, message: Vec<u8>) -> io::Result<()>;

    /// Ready once every queued message has left the send buffer.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// The largest message the remote accepts (its SDP `max-message-size`), in bytes.
    fn max_message_size(&self) -> usize;

    /// Closes the channel in both directions; queued messages are still delivered.
    fn close(&mut self);
}
