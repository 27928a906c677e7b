//! The native side: `webkad serve`'s WebRTC-direct listener and dialer, on webrtc-rs's ICE and
//! SCTP, webrtc-rs's DTLS client and our DTLS server (dimpl).
//!
//! # Layout
//! - [`listener`]: the libp2p `Transport` (listen only) and the per-attempt handshake.
//! - [`dialer`]: the libp2p `Transport` (dial only).
//! - [`connection`]: an established connection, either role, as a `StreamMuxer` over its
//!   SCTP association.
//! - [`association`]: the SCTP association, the noise channel and the remote's streams.
//! - [`dtls`]: the listener's DTLS server (dimpl), without the HelloVerifyRequest.
//! - `watched_conn`: DTLS under an association, whose end ends the connection.
//! - [`channel`]: a webrtc-rs data channel as our [`DataChannel`](crate::DataChannel).
//! - [`mux`]: the one UDP socket, routing by address and ufrag, bounded attempts.
//! - [`certificate`]: the persistent DTLS certificate.
//! - [`stun`]: the bit of STUN parsing the router needs.
//! - [`shed`]: the attempts refused or expired, for `/metrics`.

mod association;
pub mod certificate;
pub mod channel;
pub mod connection;
pub mod dialer;
pub mod dtls;
mod interfaces;
pub mod listener;
pub mod mux;
pub mod shed;
pub mod stun;
mod watched_conn;

pub use certificate::Certificate;
pub use dialer::{DialError, Dialer};
pub use listener::{Config, ListenError, Listener};
pub use mux::Limits;

/// The sha-256 of a DER certificate (its fingerprint).
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
