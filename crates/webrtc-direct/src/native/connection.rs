//! One WebRTC-direct connection as a libp2p [`StreamMuxer`]: every data channel but the
//! noise one is a stream.
//!
//! The data-channel handler is installed before the remote description is set ([`Hooks`]),
//! so streams the remote opens during or right after the handshake queue up (bounded) instead
//! of being lost. A failed, disconnected or closed peer connection ends the muxer, so the
//! swarm sees the connection go within the ICE timeouts, with no application ping.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::task::AtomicWaker;
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use tokio::sync::mpsc;
use webrtc::data::data_channel::DataChannel as RawChannel;
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_init::RTCDataChannelInit;
use webrtc::dtls_transport::dtls_transport_state::RTCDtlsTransportState;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;

use super::channel::RtcChannel;
use crate::stream::{Stream, Streams};

/// Streams the remote may open before we accept them.
const INBOUND_QUEUE: usize = 32;
/// How long a data channel may take to open.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection failed or ended.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The peer connection failed, disconnected or closed.
    #[error("the WebRTC connection is gone")]
    Gone,
    /// A data channel did not open in time.
    #[error("data channel did not open within {0:?}")]
    OpenTimeout(Duration),
    /// The WebRTC stack refused an operation.
    #[error("WebRTC: {0}")]
    WebRtc(#[from] webrtc::Error),
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
}

/// The handlers of a peer connection, installed before its remote description.
pub(crate) struct Hooks {
    incoming: mpsc::Receiver<Arc<RawChannel>>,
    liveness: Arc<Liveness>,
}

impl Hooks {
    pub(crate) fn install(pc: &RTCPeerConnection) -> Self {
        let (sender, incoming) = mpsc::channel(INBOUND_QUEUE);
        pc.on_data_channel(Box::new(move |channel: Arc<RTCDataChannel>| {
            let sender = sender.clone();
            Box::pin(async move {
                let opened = channel.clone();
                channel.on_open(Box::new(move || {
                    Box::pin(async move {
                        match opened.detach().await {
                            Ok(raw) => {
                                if let Err(mpsc::error::TrySendError::Full(raw)) =
                                    sender.try_send(raw)
                                {
                                    tracing::debug!("too many unaccepted streams; closing one");
                                    let _ = raw.close().await;
                                }
                            }
                            Err(error) => tracing::debug!(%error, "data channel not detached"),
                        }
                    })
                }));
            })
        }));
        let liveness = Liveness::new();
        let watcher = liveness.clone();
        pc.on_peer_connection_state_change(Box::new(move |state| {
            if matches!(
                state,
                RTCPeerConnectionState::Failed
                    | RTCPeerConnectionState::Disconnected
                    | RTCPeerConnectionState::Closed
            ) {
                tracing::debug!(?state, "WebRTC connection ended");
                watcher.end();
            }
            Box::pin(async {})
        }));
        // A remote that closes properly (a tab being closed) ends DTLS with close_notify: that
        // is seen at once, before the ICE disconnected timeout (5 s) would notice the silence.
        let watcher = liveness.clone();
        pc.sctp()
            .transport()
            .on_state_change(Box::new(move |state| {
                if matches!(
                    state,
                    RTCDtlsTransportState::Closed | RTCDtlsTransportState::Failed
                ) {
                    tracing::debug!(?state, "DTLS ended");
                    watcher.end();
                }
                Box::pin(async {})
            }));
        let watcher = liveness.clone();
        pc.sctp().on_error(Box::new(move |error| {
            tracing::debug!(%error, "SCTP ended");
            watcher.end();
            Box::pin(async {})
        }));
        Self { incoming, liveness }
    }
}

/// A data channel being opened; await it with [`opened`].
pub(crate) type Opening = oneshot::Receiver<Result<Arc<RawChannel>, webrtc::Error>>;

/// Creates a data channel (negotiated with `id` when given) and returns its opening.
pub(crate) async fn create_channel(
    pc: &RTCPeerConnection,
    negotiated: Option<u16>,
) -> Result<Opening, ConnectionError> {
    let init = negotiated.map(|id| RTCDataChannelInit {
        negotiated: Some(id),
        ..RTCDataChannelInit::default()
    });
    let channel = pc.create_data_channel("", init).await?;
    let (sender, opening) = oneshot::channel();
    let detaching = channel.clone();
    channel.on_open(Box::new(move || {
        Box::pin(async move {
            let _ = sender.send(detaching.detach().await);
        })
    }));
    Ok(opening)
}

/// Waits (bounded) for a channel from [`create_channel`] to open.
pub(crate) async fn opened(opening: Opening) -> Result<Arc<RawChannel>, ConnectionError> {
    match tokio::time::timeout(OPEN_TIMEOUT, opening).await {
        Ok(Ok(Ok(raw))) => Ok(raw),
        Ok(Ok(Err(error))) => Err(error.into()),
        Ok(Err(_)) => Err(ConnectionError::Gone),
        Err(_) => Err(ConnectionError::OpenTimeout(OPEN_TIMEOUT)),
    }
}

/// An established connection.
pub struct Connection {
    pc: Arc<RTCPeerConnection>,
    hooks: Hooks,
    streams: Streams<RtcChannel>,
    opening: Option<BoxFuture<'static, Result<Arc<RawChannel>, ConnectionError>>>,
    closing: Option<BoxFuture<'static, ()>>,
}

impl Connection {
    pub(crate) fn new(
        pc: Arc<RTCPeerConnection>,
        hooks: Hooks,
        streams: Streams<RtcChannel>,
    ) -> Self {
        Self {
            pc,
            hooks,
            streams,
            opening: None,
            closing: None,
        }
    }

    fn is_gone(&self, cx: &mut Context<'_>) -> bool {
        self.hooks.liveness.is_gone(cx)
    }
}

impl StreamMuxer for Connection {
    type Substream = Stream<RtcChannel>;
    type Error = ConnectionError;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        match self.hooks.incoming.poll_recv(cx) {
            Poll::Ready(Some(raw)) => Poll::Ready(Ok(self.streams.wrap(RtcChannel::new(raw)))),
            Poll::Ready(None) => Poll::Ready(Err(ConnectionError::Gone)),
            Poll::Pending if self.is_gone(cx) => Poll::Ready(Err(ConnectionError::Gone)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        if self.is_gone(cx) {
            return Poll::Ready(Err(ConnectionError::Gone));
        }
        let pc = self.pc.clone();
        let opening = self.opening.get_or_insert_with(|| {
            async move { opened(create_channel(&pc, None).await?).await }.boxed()
        });
        let result = futures::ready!(opening.poll_unpin(cx));
        self.opening = None;
        Poll::Ready(result.map(|raw| self.streams.wrap(RtcChannel::new(raw))))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let pc = self.pc.clone();
        let closing = self.closing.get_or_insert_with(|| {
            async move {
                if let Err(error) = pc.close().await {
                    tracing::debug!(%error, "closing the WebRTC connection");
                }
            }
            .boxed()
        });
        closing.poll_unpin(cx).map(Ok)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        self.streams.poll_closing(cx);
        if self.is_gone(cx) {
            return Poll::Ready(Err(ConnectionError::Gone));
        }
        Poll::Pending
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.closing.is_none() {
            let pc = self.pc.clone();
            // The agent, DTLS and SCTP tasks end with the peer connection.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = pc.close().await;
                });
            }
        }
    }
}
