//! The SCTP association of a connection (either role) and its data channels: the negotiated
//! noise channel 0, and the remote's streams, accepted from the moment the association is up.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use webrtc::data::data_channel::{Config as ChannelConfig, DataChannel as RawChannel};
use webrtc::data::message::message_channel_open::ChannelType;
use webrtc::sctp::association::{Association, Config as SctpConfig};
use webrtc::sctp::chunk::chunk_payload_data::PayloadProtocolIdentifier;
use webrtc::sctp::stream::Stream as SctpStream;
use webrtc::util::Conn;

use super::connection::{ConnectionError, Liveness};
use super::watched_conn::WatchedConn;

/// The SCTP port both sides use (the spec's SDP says 5000).
const SCTP_PORT: u16 = 5000;
/// The largest message we take (SCTP reassembles up to this).
const MAX_MESSAGE: u32 = 256 * 1024;
/// Streams the remote may open before the connection is handed to the swarm.
const INBOUND_QUEUE: usize = 32;

/// A reliable, ordered channel; `negotiated` for the noise channel (id 0, no DCEP).
pub(crate) fn channel_config(negotiated: bool) -> ChannelConfig {
    ChannelConfig {
        channel_type: ChannelType::Reliable,
        negotiated,
        ..ChannelConfig::default()
    }
}

/// Starts the association over `dtls`. Both sides send INIT as soon as DTLS is up, as
/// webrtc-rs's peer connection and browsers do; SCTP's simultaneous open settles it. When
/// DTLS ends under it, `liveness` ends ([`WatchedConn`]).
pub(crate) async fn start(
    dtls: Arc<dyn Conn + Send + Sync>,
    liveness: Arc<Liveness>,
) -> Result<Arc<Association>, ConnectionError> {
    let association = Association::client(SctpConfig {
        net_conn: Arc::new(WatchedConn::new(dtls, liveness)),
        max_receive_buffer_size: 0,
        max_message_size: MAX_MESSAGE,
        mtu: 0,
        name: "webrtc-direct".to_owned(),
        local_port: SCTP_PORT,
        remote_port: SCTP_PORT,
    })
    .await
    .map_err(|error| ConnectionError::WebRtc(error.into()))?;
    Ok(Arc::new(association))
}

/// The remote's streams, and its stream 0 if it opened that first.
pub(crate) struct Accepted {
    /// The remote's stream 0, when it arrived before we opened ours.
    pub(crate) noise: oneshot::Receiver<Arc<SctpStream>>,
    /// The remote's other streams, their DCEP `OPEN` answered.
    pub(crate) incoming: mpsc::Receiver<Arc<RawChannel>>,
}

/// Accepts the remote's streams until the association ends, then ends `liveness`.
pub(crate) fn accept(association: &Arc<Association>, liveness: Arc<Liveness>) -> Accepted {
    let (noise_tx, noise) = oneshot::channel();
    let (incoming_tx, incoming) = mpsc::channel(INBOUND_QUEUE);
    tokio::spawn(accept_streams(
        association.clone(),
        noise_tx,
        incoming_tx,
        liveness,
    ));
    Accepted { noise, incoming }
}

/// A stream 0 that arrives before our own negotiated channel 0 was opened (the listener
/// speaks first in noise; the race that breaks webrtc-rs' peer connection, webrtc-rs issue
/// 748) goes to `noise`. Once the handshake has its channel (`noise`'s receiver is gone), a
/// stream 0 is an ordinary one: browsers, webrtc-rs and pion give a new channel the lowest
/// free id, which is 0 again as soon as both directions of the noise channel were reset.
async fn accept_streams(
    association: Arc<Association>,
    noise: oneshot::Sender<Arc<SctpStream>>,
    incoming: mpsc::Sender<Arc<RawChannel>>,
    liveness: Arc<Liveness>,
) {
    let mut noise = Some(noise);
    while let Some(stream) = association.accept_stream().await {
        stream.set_default_payload_type(PayloadProtocolIdentifier::Binary);
        if stream.stream_identifier() == 0
            && let Some(noise) = noise.take_if(|noise| !noise.is_closed())
        {
            let _ = noise.send(stream);
            continue;
        }
        tracing::trace!(id = stream.stream_identifier(), "inbound stream");
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

/// Opens the negotiated noise channel 0, or takes the remote's if it came first.
pub(crate) async fn noise_channel(
    association: &Arc<Association>,
    early: oneshot::Receiver<Arc<SctpStream>>,
) -> Result<Arc<RawChannel>, ConnectionError> {
    match RawChannel::dial(association, 0, channel_config(true)).await {
        Ok(channel) => {
            // From now on a stream 0 the remote opens is a new stream (see `accept_streams`).
            drop(early);
            Ok(Arc::new(channel))
        }
        Err(webrtc::data::Error::Sctp(webrtc::sctp::Error::ErrStreamAlreadyExist)) => {
            tracing::debug!("the remote's first noise message came first; taking its stream 0");
            match early.await {
                Ok(stream) => Ok(Arc::new(RawChannel::new(stream, channel_config(true)))),
                Err(_) => Err(ConnectionError::Gone),
            }
        }
        Err(error) => Err(ConnectionError::WebRtc(error.into())),
    }
}

#[cfg(test)]
mod tests;
