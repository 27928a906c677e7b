//! WebSocket connections whose flush does not wait on a timer.
//!
//! libp2p-websocket-websys 0.6 answers `poll_flush` only once the socket's `bufferedAmount`
//! is 0, and it looks at `bufferedAmount` from a 100 ms `setInterval`. Right after
//! `WebSocket.send` the browser still counts the bytes as buffered, so every flush (each
//! noise handshake message, each burst of yamux frames) waited for the next tick: up to
//! 100 ms per exchange, most of the 218 ms a WebSocket dial took on 127.0.0.1 and about
//! 100 ms of a first DHT answer.
//!
//! Its `poll_write` hands every byte it accepts to `WebSocket.send` at once (and holds
//! back writes while too much is buffered), so no byte waits in this process: once written,
//! the bytes are the browser's to send, as a native socket's are the kernel's once written.
//! A flush has nothing left to push, so it completes at once; write errors still surface
//! from the next write or read.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{AsyncRead, AsyncWrite};

/// A connection whose `poll_flush` completes at once (see the module docs).
#[derive(Debug)]
pub struct NoFlushWait<C>(pub C);

impl<C: AsyncRead + Unpin> AsyncRead for NoFlushWait<C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<C: AsyncWrite + Unpin> AsyncWrite for NoFlushWait<C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}
