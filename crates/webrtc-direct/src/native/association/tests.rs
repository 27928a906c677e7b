//! Two associations over an in-memory pipe: the noise channel, then a stream the remote
//! opens on id 0 again, as a browser does once channel 0 is closed both ways.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use webrtc::data::data_channel::DataChannel as RawChannel;
use webrtc::util::Conn;
use webrtc::util::conn::conn_pipe::pipe;

use super::{accept, channel_config, noise_channel, start};
use crate::native::connection::Liveness;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_stream_on_a_reused_channel_0_is_accepted() {
    let (ours, theirs) = pipe();
    let (ours, theirs): (Arc<dyn Conn + Send + Sync>, Arc<dyn Conn + Send + Sync>) =
        (Arc::new(ours), Arc::new(theirs));
    let (ours, theirs) =
        tokio::try_join!(start(ours, Liveness::new()), start(theirs, Liveness::new()))
            .expect("associations");
    let mut accepted = accept(&ours, Liveness::new());

    // The handshake: both open the negotiated channel 0; the remote writes first.
    let remote_noise = RawChannel::dial(&theirs, 0, channel_config(true))
        .await
        .expect("remote channel 0");
    remote_noise
        .write(&Bytes::from_static(b"noise"))
        .await
        .expect("remote writes");
    let local_noise = noise_channel(&ours, accepted.noise)
        .await
        .expect("channel 0");
    let mut buffer = vec![0; 64];
    let len = tokio::time::timeout(WAIT, local_noise.read(&mut buffer))
        .await
        .expect("noise message in time")
        .expect("read");
    assert_eq!(&buffer[..len], b"noise");

    // Both close channel 0; the remote's side is reset both ways once it may take id 0 again.
    remote_noise.close().await.expect("remote closes");
    local_noise.close().await.expect("we close");
    let reopened = tokio::time::timeout(WAIT, async {
        loop {
            match RawChannel::dial(&theirs, 0, channel_config(false)).await {
                Ok(channel) => return channel,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("the remote may reuse id 0");

    let inbound = tokio::time::timeout(WAIT, accepted.incoming.recv())
        .await
        .expect("the stream on id 0 is accepted, not dropped")
        .expect("association alive");
    assert_eq!(inbound.stream_identifier(), 0);
    reopened
        .write(&Bytes::from_static(b"request"))
        .await
        .expect("remote writes");
    let len = tokio::time::timeout(WAIT, inbound.read(&mut buffer))
        .await
        .expect("request in time")
        .expect("read");
    assert_eq!(&buffer[..len], b"request");
}
