//! A connection we dialed, as a libp2p [`StreamMuxer`] straight over the SCTP association
//! (see [`dialer`](super::dialer) for why there is no peer connection).
//!
//! One task accepts the streams the listener opens (their DCEP `OPEN` is answered before they
//! are handed out) from the moment the association is up, so none is lost. Our own streams
//! take even ids from 2 (RFC 8832: the DTLS client picks even ids; 0 was the noise channel).
//! The connection is gone when ICE fails or disconnects or the association ends (the
//! listener's DTLS `close_notify` ends it at once).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use tokio::sync::{mpsc, oneshot};
use webrtc::data::data_channel::{Config as ChannelConfig, DataChannel as RawChannel};
use webrtc::data::message::message_channel_open::ChannelType;
use webrtc::dtls::conn::DTLSConn;
use webrtc::ice::agent::Agent;
use webrtc::sctp::association::Association;
use webrtc::sctp::chunk::chunk_payload_data::PayloadProtocolIdentifier;
use webrtc::sctp::stream::Stream as SctpStream;
use webrtc::util::Conn;

use super::channel::RtcChannel;
use super::connection::{ConnectionError, Liveness};
use crate::stream::{Stream, Streams};

/// How many taken ids an outbound open skips before it gives up.
const ID_TRIES: usize = 64;

/// A reliable, ordered channel; `negotiated` for the noise channel (id 0, no DCEP).
pub(crate) fn channel_config(negotiated: bool) -> ChannelConfig {
    ChannelConfig {
        channel_type: ChannelType::Reliable,
        negotiated,
        ..ChannelConfig::default()
    }
}

/// The three layers of a dialed connection, closed together.
pub(crate) struct Layers {
    pub(crate) agent: Arc<Agent>,
    pub(crate) dtls: Arc<DTLSConn>,
    pub(crate) association: Arc<Association>,
}

impl Layers {
    /// Ends the association, then DTLS (its `close_notify` tells the listener at once), then
    /// ICE (its socket and tasks).
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

/// Accepts the listener's streams until the association ends. A stream 0 that arrives
/// before our own negotiated channel 0 was opened (the listener speaks first in noise; the
/// race that breaks webrtc-rs' peer connection, webrtc-rs issue 748) goes to `noise`.
pub(crate) async fn accept_streams(
    association: Arc<Association>,
    mut noise: Option<oneshot::Sender<Arc<SctpStream>>>,
    incoming: mpsc::Sender<Arc<RawChannel>>,
    liveness: Arc<Liveness>,
) {
    while let Some(stream) = association.accept_stream().await {
        stream.set_default_payload_type(PayloadProtocolIdentifier::Binary);
        if stream.stream_identifier() == 0 {
            if let Some(noise) = noise.take() {
                let _ = noise.send(stream);
            }
            continue;
        }
        // The stream exists because its first DATA chunk arrived: the DCEP OPEN is there.
        match RawChannel::server(stream, channel_config(false)).await {
            Ok(channel) => {
                if let Err(mpsc::error::TrySendError::Full(channel)) =
                    incoming.try_send(Arc::new(channel))
                {
                    tracing::debug!("too many unaccepted streams; closing one");
                    let _ = channel.close().await;
                }
            }
            Err(error) => tracing::debug!(%error, "inbound data channel refused"),
        }
    }
    tracing::debug!("SCTP association ended");
    liveness.end();
}

/// An outbound channel and the id to try next, or why none opened.
type Opened = Result<(Arc<RawChannel>, u16), ConnectionError>;

/// An established, dialed connection.
pub struct Dialed {
    layers: Arc<Layers>,
    liveness: Arc<Liveness>,
    incoming: mpsc::Receiver<Arc<RawChannel>>,
    streams: Streams<RtcChannel>,
    next_id: u16,
    opening: Option<BoxFuture<'static, Opened>>,
    closing: Option<BoxFuture<'static, ()>>,
}

impl Dialed {
    pub(crate) fn new(
        layers: Layers,
        liveness: Arc<Liveness>,
        incoming: mpsc::Receiver<Arc<RawChannel>>,
        streams: Streams<RtcChannel>,
    ) -> Self {
        Self {
            layers: Arc::new(layers),
            liveness,
            incoming,
            streams,
            next_id: 2,
            opening: None,
            closing: None,
        }
    }
}

/// Opens an outbound data channel on the first free even id from `id`; answers the channel
/// and the id after it.
async fn open(association: Arc<Association>, mut id: u16) -> Opened {
    for _ in 0..ID_TRIES {
        let next = id.checked_add(2).unwrap_or(2);
        match RawChannel::dial(&association, id, channel_config(false)).await {
            Ok(channel) => return Ok((Arc::new(channel), next)),
            Err(webrtc::data::Error::Sctp(webrtc::sctp::Error::ErrStreamAlreadyExist)) => id = next,
            Err(error) => return Err(ConnectionError::WebRtc(webrtc::Error::Data(error))),
        }
    }
    Err(ConnectionError::Gone)
}

impl StreamMuxer for Dialed {
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
        let (association, id) = (self.layers.association.clone(), self.next_id);
        let opening = self
            .opening
            .get_or_insert_with(|| open(association, id).boxed());
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

impl Drop for Dialed {
    fn drop(&mut self) {
        if self.closing.is_none() {
            let layers = self.layers.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { layers.close().await });
            }
        }
    }
}

/// The agent's connection as the `Conn` DTLS runs on.
pub(crate) fn as_conn<C: Conn + Send + Sync + 'static>(
    conn: Arc<C>,
) -> Arc<dyn Conn + Send + Sync> {
    conn
}
