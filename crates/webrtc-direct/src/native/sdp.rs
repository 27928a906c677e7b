//! The offer a listener infers for a dialer from its first STUN request (the spec's step 6:
//! nothing is exchanged, both sides build the other's description).

use std::net::SocketAddr;

use crate::credentials::Credentials;
use crate::frame::MAX_MESSAGE_SIZE;

/// The dialer's offer: its address, its ICE credentials, a placeholder fingerprint (the
/// listener cannot know it and does not check it: noise authenticates instead).
pub fn inferred_offer(from: SocketAddr, credentials: &Credentials) -> String {
    let (family, ip) = match from {
        SocketAddr::V4(v4) => ("IP4", v4.ip().to_string()),
        SocketAddr::V6(v6) => ("IP6", v6.ip().to_string()),
    };
    let port = from.port();
    let placeholder = ["FF"; 32].join(":");
    format!(
        "v=0\r\n\
         o=- 0 0 IN {family} {ip}\r\n\
         s=-\r\n\
         c=IN {family} {ip}\r\n\
         t=0 0\r\n\
         m=application {port} UDP/DTLS/SCTP webrtc-datachannel\r\n\
         a=mid:0\r\n\
         a=ice-options:ice2\r\n\
         a=ice-ufrag:{ufrag}\r\n\
         a=ice-pwd:{pwd}\r\n\
         a=fingerprint:sha-256 {placeholder}\r\n\
         a=setup:actpass\r\n\
         a=sctp-port:5000\r\n\
         a=max-message-size:{MAX_MESSAGE_SIZE}\r\n",
        ufrag = credentials.remote_ufrag,
        pwd = credentials.remote_pwd,
    )
}
