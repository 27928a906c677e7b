//! The native side: `webkad serve`'s WebRTC-direct listener on webrtc-rs.
//!
//! # Layout
//! - [`mux`]: the one UDP socket, routing by address and ufrag, bounded attempts.
//! - [`stun`]: the bit of STUN parsing the router needs.

pub mod mux;
pub mod stun;
