//! [`DataChannel`] over a detached webrtc-rs data channel. Two small tasks per channel turn
//! its async read and write into the poll interface: the reader feeds a bounded inbox (the
//! back-pressure on the remote), the writer drains a bounded outbox and closes the channel
//! once the outbox is closed and empty.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::task::AtomicWaker;
use futures::{SinkExt, StreamExt};
use webrtc::data::data_channel::DataChannel as RawChannel;

use crate::channel::DataChannel;
use crate::frame::MAX_MESSAGE_SIZE;

/// Messages buffered each way per channel.
const QUEUE: usize = 16;
/// Read buffer: room for any message a peer may send (SCTP reassembles up to our limit).
const READ_BUFFER: usize = 64 * 1024;

struct Flushed {
    unwritten: AtomicUsize,
    waker: AtomicWaker,
}

/// A webrtc-rs data channel as a [`DataChannel`].
pub struct RtcChannel {
    inbox: mpsc::Receiver<Vec<u8>>,
    outbox: mpsc::Sender<Vec<u8>>,
    flushed: Arc<Flushed>,
}

impl RtcChannel {
    /// Wraps a detached, open channel; spawns its reader and writer on the tokio runtime.
    pub fn new(raw: Arc<RawChannel>) -> Self {
        let (inbox_tx, inbox) = mpsc::channel(QUEUE);
        let (outbox, outbox_rx) = mpsc::channel(QUEUE);
        let flushed = Arc::new(Flushed {
            unwritten: AtomicUsize::new(0),
            waker: AtomicWaker::new(),
        });
        tokio::spawn(read(raw.clone(), inbox_tx));
        tokio::spawn(write(raw, outbox_rx, flushed.clone()));
        Self {
            inbox,
            outbox,
            flushed,
        }
    }
}

async fn read(raw: Arc<RawChannel>, mut inbox: mpsc::Sender<Vec<u8>>) {
    let mut buffer = vec![0u8; READ_BUFFER];
    loop {
        match raw.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(len) => {
                if inbox.send(buffer[..len].to_vec()).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn write(raw: Arc<RawChannel>, mut outbox: mpsc::Receiver<Vec<u8>>, flushed: Arc<Flushed>) {
    while let Some(message) = outbox.next().await {
        let result = raw.write(&Bytes::from(message)).await;
        flushed.unwritten.fetch_sub(1, Ordering::AcqRel);
        flushed.waker.wake();
        if let Err(error) = result {
            tracing::debug!(%error, "data channel write failed");
            break;
        }
    }
    if let Err(error) = raw.close().await {
        tracing::trace!(%error, "data channel close");
    }
    // Whatever stayed queued will never be written: let flushers go.
    flushed.unwritten.store(0, Ordering::Release);
    flushed.waker.wake();
}

impl DataChannel for RtcChannel {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        self.inbox.poll_next_unpin(cx)
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.outbox
            .poll_ready(cx)
            .map_err(|_| io::ErrorKind::BrokenPipe.into())
    }

    fn send(&mut self, message: Vec<u8>) -> io::Result<()> {
        self.flushed.unwritten.fetch_add(1, Ordering::AcqRel);
        self.outbox.try_send(message).map_err(|_| {
            self.flushed.unwritten.fetch_sub(1, Ordering::AcqRel);
            io::Error::from(io::ErrorKind::BrokenPipe)
        })
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flushed.waker.register(cx.waker());
        if self.flushed.unwritten.load(Ordering::Acquire) == 0 {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn max_message_size(&self) -> usize {
        // Our SDP and the browsers' both say 16 KiB or more; the spec caps frames there.
        MAX_MESSAGE_SIZE
    }

    fn close(&mut self) {
        self.outbox.close_channel();
        self.inbox.close();
    }
}
