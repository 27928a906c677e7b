//! One WebRTC-direct connection, dialed or accepted, as a libp2p [`StreamMuxer`] straight over
//! its SCTP association: every data channel but the noise one is a stream.
//!
//! Both sides hold ICE, DTLS and SCTP themselves rather than a webrtc-rs peer connection (see
//! [`dialer`](super::dialer) and [`listener`](super::listener) for why). The remote's streams
//! are accepted from the moment the association is up ([`association`](super::association)),
//! so none is lost or stalled. Our own streams take the ids of our DTLS role (RFC 8832: the
//! client even, the server odd; 0 is the noise channel, which we never reuse, though a
//! browser dialer does once it is closed). The connection is gone when ICE
//! fails or disconnects or the association ends (a DTLS `close_notify` ends it at once), so
//! the swarm sees it go with no application ping.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::task::AtomicWaker;
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use tokio::sync::mpsc;
use webrtc::data::data_channel::DataChannel as RawChannel;
use webrtc::ice::agent::Agent;
use webrtc::ice::state::ConnectionState;
use webrtc::sctp::association::Association;
use webrtc::util::Conn;

use super::association::channel_config;
use super::channel::RtcChannel;
use super::dtls::DtlsError;
use crate::stream::{Stream, Streams};

/// How many taken ids an outbound open skips before it gives up.
const ID_TRIES: usize = 64;

/// Why a connection failed or ended.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// ICE failed or disconnected, or the association ended.
    #[error("the WebRTC connection is gone")]
    Gone,
    /// The WebRTC stack refused an operation.
    #[error("WebRTC: {0}")]
    WebRtc(#[from] webrtc::Error),
    /// Our DTLS server failed.
    #[error(transparent)]
    Dtls(#[from] DtlsError),
}

/// Whether a connection is gone, and who to wake when it goes.
pub(crate) struct Liveness {
    gone: AtomicBool,
    waker: AtomicWaker,
}

impl Liveness {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            gone: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        })
    }

    /// The connection is gone: wake its muxer.
    pub(crate) fn end(&self) {
        self.gone.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether it is gone; registers `cx` to hear when it goes.
    pub(crate) fn is_gone(&self, cx: &mut Context<'_>) -> bool {
        self.waker.register(cx.waker());
        self.gone.load(Ordering::Acquire)
    }

    /// Resolves once the connection is gone.
    pub(crate) async fn gone(&self) {
        std::future::poll_fn(|cx| {
            if self.is_gone(cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// Ends the connection when `agent`'s ICE fails, disconnects or closes.
    pub(crate) fn watch(self: &Arc<Self>, agent: &Agent) {
        let watcher = self.clone();
        agent.on_connection_state_change(Box::new(move |state| {
            if matches!(
                state,
                ConnectionState::Failed | ConnectionState::Disconnected | ConnectionState::Closed
            ) {
                tracing::debug!(?state, "ICE ended");
                watcher.end();
            }
            Box::pin(async {})
        }));
    }
}

/// The three layers of a connection, closed together.
pub(crate) struct Layers {
    pub(crate) agent: Arc<Agent>,
    pub(crate) dtls: Arc<dyn Conn + Send + Sync>,
    pub(crate) association: Arc<Association>,
}

impl Layers {
    /// Ends the association, then DTLS (its `close_notify` tells the remote at once), then
    /// ICE (its candidates and tasks).
    pub(crate) async fn close(&self) {
        if let Err(error) = self.association.close().await {
            tracing::trace!(%error, "closing the SCTP association");
        }
        if let Err(error) = self.dtls.close().await {
            tracing::trace!(%error, "closing DTLS");
        }
        if let Err(error) = self.agent.close().await {
            tracing::trace!(%error, "closing the ICE agent");
        }
    }
}

/// An outbound channel and the id to try next, or why none opened.
type Opened = Result<(Arc<RawChannel>, u16), ConnectionError>;

/// Our DTLS role, which picks the ids of our own streams: even for the client, odd for the
/// server.
pub(crate) enum Role {
    /// We are the DTLS client (we dialed).
    Client,
    /// We are the DTLS server (we listened).
    Server,
}

/// An established connection.
pub struct Connection {
    layers: Arc<Layers>,
    liveness: Arc<Liveness>,
    incoming: mpsc::Receiver<Arc<RawChannel>>,
    streams: Streams<RtcChannel>,
    next_id: u16,
    first_id: u16,
    opening: Option<BoxFuture<'static, Opened>>,
    closing: Option<BoxFuture<'static, ()>>,
}

impl Connection {
    pub(crate) fn new(
        layers: Layers,
        liveness: Arc<Liveness>,
        incoming: mpsc::Receiver<Arc<RawChannel>>,
        streams: Streams<RtcChannel>,
        role: Role,
    ) -> Self {
        let first_id = match role {
            Role::Client => 2,
            Role::Server => 1,
        };
        Self {
            layers: Arc::new(layers),
            liveness,
            incoming,
            streams,
            next_id: first_id,
            first_id,
            opening: None,
            closing: None,
        }
    }
}

/// Opens an outbound data channel on the first free id of our parity from `id`; answers the
/// channel and the id after it.
async fn open(association: Arc<Association>, mut id: u16, first_id: u16) -> Opened {
    for _ in 0..ID_TRIES {
        let next = id.checked_add(2).unwrap_or(first_id);
        match RawChannel::dial(&association, id, channel_config(false)).await {
            Ok(channel) => return Ok((Arc::new(channel), next)),
            Err(webrtc::data::Error::Sctp(webrtc::sctp::Error::ErrStreamAlreadyExist)) => id = next,
            Err(error) => return Err(ConnectionError::WebRtc(webrtc::Error::Data(error))),
        }
    }
    Err(ConnectionError::Gone)
}

impl StreamMuxer for Connection {
    type Substream = Stream<RtcChannel>;
    type Error = ConnectionError;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        match self.incoming.poll_recv(cx) {
            Poll::Ready(Some(raw)) => Poll::Ready(Ok(self.streams.wrap(RtcChannel::new(raw)))),
            Poll::Ready(None) => Poll::Ready(Err(ConnectionError::Gone)),
            Poll::Pending if self.liveness.is_gone(cx) => Poll::Ready(Err(ConnectionError::Gone)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        if self.liveness.is_gone(cx) {
            return Poll::Ready(Err(ConnectionError::Gone));
        }
        let (association, id, first) =
            (self.layers.association.clone(), self.next_id, self.first_id);
        let opening = self
            .opening
            .get_or_insert_with(|| open(association, id, first).boxed());
        let result = futures::ready!(opening.poll_unpin(cx));
        self.opening = None;
        Poll::Ready(result.map(|(raw, next)| {
            self.next_id = next;
            self.streams.wrap(RtcChannel::new(raw))
        }))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let layers = self.layers.clone();
        let closing = self
            .closing
            .get_or_insert_with(|| async move { layers.close().await }.boxed());
        closing.poll_unpin(cx).map(Ok)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        self.streams.poll_closing(cx);
        if self.liveness.is_gone(cx) {
            return Poll::Ready(Err(ConnectionError::Gone));
        }
        Poll::Pending
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.closing.is_none() {
            let layers = self.layers.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { layers.close().await });
            }
        }
    }
}
