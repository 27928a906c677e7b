//! The browser side (wasm32 only): the page's dialer on its own `RTCPeerConnection`.
//!
//! # Layout
//! - [`channel`]: an `RTCDataChannel` as our [`DataChannel`](crate::DataChannel).
//! - `dialer`: the handshake (v1 and v2), not yet behind a libp2p `Transport`.

pub mod channel;
#[allow(dead_code)] // wired into a Transport in the next step of issue 14
mod dialer;
