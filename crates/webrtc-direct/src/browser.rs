//! The browser side (wasm32 only): the page's dialer on its own `RTCPeerConnection`.
//!
//! # Layout
//! - [`channel`]: an `RTCDataChannel` as our [`DataChannel`](crate::DataChannel).

pub mod channel;
