//! WebRTC-direct for webkad, after the libp2p specs (`webrtc/README.md`,
//! `webrtc/webrtc-direct.md`): the same crate serves the page (browser dialer on web-sys) and
//! `webkad serve` (native listener).
//!
//! # Layout
//! - [`addr`]: the `/ip4|ip6/…/udp/…/webrtc-direct` multiaddr both sides read.
//! - [`credentials`]: the ICE credentials of the v1 and v2 handshakes.
//! - [`dialer_sdp`]: the dialer's SDP: the inferred answer, v1 munging, v2's password.
//! - [`frame`]: the varint-prefixed protobuf `Message { flag, message }` and its decoder.
//! - [`channel`]: the [`DataChannel`] trait each WebRTC stack implements.
//! - [`stream`]: [`Stream`], `AsyncRead`/`AsyncWrite` with the half-close state machine and
//!   FIN_ACK; [`Streams`], the per-connection side that finishes closes of dropped streams.
//! - [`liveness`]: when a dialer may call a silent remote gone (keepalive cadence).
//! - [`noise`]: the certhash prologue of the noise handshake on data channel 0.
//! - `browser` (wasm only): the page's dialer on web-sys (in progress: the data channel).
//! - `native` (not in wasm): the listener's UDP mux and, next, the listener itself.

pub mod addr;
#[cfg(target_arch = "wasm32")]
pub mod browser;
pub mod channel;
pub mod credentials;
pub mod dialer_sdp;
pub mod frame;
pub mod liveness;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod noise;
pub mod stream;

pub use channel::DataChannel;
pub use stream::{Stream, Streams};
