//! The native side: `webkad serve`'s WebRTC-direct listener on webrtc-rs.
//!
//! # Layout
//! - [`listener`]: the libp2p `Transport` (listen only) and the per-attempt handshake.
//! - [`dialer`]: the libp2p `Transport` (dial only) on ICE, DTLS and SCTP directly.
//! - [`dialed`]: a dialed connection as a `StreamMuxer` over its SCTP association.
//! - [`connection`]: an established connection as a `StreamMuxer`.
//! - [`channel`]: a webrtc-rs data channel as our [`DataChannel`](crate::DataChannel).
//! - [`mux`]: the one UDP socket, routing by address and ufrag, bounded attempts.
//! - [`sdp`]: the dialer's offer, inferred from its first STUN request.
//! - [`certificate`]: the persistent DTLS certificate.
//! - [`stun`]: the bit of STUN parsing the router needs.
//! - [`shed`]: the attempts refused or expired, for `/metrics`.

pub mod certificate;
pub mod channel;
pub mod connection;
pub mod dialed;
pub mod dialer;
mod interfaces;
pub mod listener;
pub mod mux;
pub mod sdp;
pub mod shed;
pub mod stun;

pub use certificate::Certificate;
pub use dialer::{DialError, Dialer};
pub use listener::{Config, ListenError, Listener};
pub use mux::Limits;

/// The sha-256 of a DER certificate (its fingerprint).
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
