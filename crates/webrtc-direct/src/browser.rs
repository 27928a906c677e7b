//! The browser side (wasm32 only): the page's dialer on its own `RTCPeerConnection`.
//!
//! # Layout
//! - [`channel`]: an `RTCDataChannel` as our [`DataChannel`](crate::DataChannel).
//! - `dialer`: the handshake (v1 and v2).
//! - [`connection`]: the connection as a `StreamMuxer` and the dial-only `Transport`.
//! - `liveness`: a connection whose remote fell silent is closed within seconds.

pub mod channel;
pub mod connection;
mod dialer;
mod liveness;

pub use connection::{Connection, Transport};
