//! What a dialer does with SDP (the browser's side of the handshake, pure text so it is
//! tested natively): build the listener's answer from its address and certhash, and either
//! munge its own offer (v1) or read the password its browser generated (v2).

use std::net::SocketAddr;

use crate::credentials::{V1_PREFIX, V2_PREFIX};
use crate::frame::MAX_MESSAGE_SIZE;
use crate::noise::Fingerprint;

/// The listener's answer as the dialer infers it: ICE-lite, DTLS passive (the listener is the
/// DTLS server), one host candidate at `server`, ICE ufrag and password `server_ufrag`.
pub fn answer(server: SocketAddr, certhash: Fingerprint, server_ufrag: &str) -> String {
    let (family, ip) = match server {
        SocketAddr::V4(v4) => ("IP4", v4.ip().to_string()),
        SocketAddr::V6(v6) => ("IP6", v6.ip().to_string()),
    };
    let port = server.port();
    format!(
        "v=0\r\n\
         o=- 0 0 IN {family} {ip}\r\n\
         s=-\r\n\
         t=0 0\r\n\
         a=ice-lite\r\n\
         m=application {port} UDP/DTLS/SCTP webrtc-datachannel\r\n\
         c=IN {family} {ip}\r\n\
         a=mid:0\r\n\
         a=ice-options:ice2\r\n\
         a=ice-ufrag:{server_ufrag}\r\n\
         a=ice-pwd:{server_ufrag}\r\n\
         a=fingerprint:sha-256 {fingerprint}\r\n\
         a=setup:passive\r\n\
         a=sctp-port:5000\r\n\
         a=max-message-size:{MAX_MESSAGE_SIZE}\r\n\
         a=candidate:1467250027 1 UDP 1467250027 {ip} {port} typ host\r\n\
         a=end-of-candidates\r\n",
        fingerprint = certhash.to_sdp(),
    )
}

/// v1: the ufrag a dialer puts in both its offer and the answer (`random` must be ice-chars).
pub fn v1_ufrag(random: &str) -> String {
    format!("{V1_PREFIX}{random}")
}

/// v1: the browser's offer with its ICE ufrag and password replaced by `ufrag` (SDP munging,
/// which Chrome's `WebRTC-NoSdpMangleUfrag` forbids; v2 avoids it).
pub fn munge_offer(offer: &str, ufrag: &str) -> String {
    offer
        .split("\r\n")
        .map(|line| {
            if line.starts_with("a=ice-ufrag:") {
                format!("a=ice-ufrag:{ufrag}")
            } else if line.starts_with("a=ice-pwd:") {
                format!("a=ice-pwd:{ufrag}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// v2: the server ufrag (and password) that carries the browser's own ICE password, read from
/// its unmodified local description.
pub fn v2_server_ufrag(local_description: &str) -> Option<String> {
    attribute(local_description, "ice-pwd").map(|pwd| format!("{V2_PREFIX}{pwd}"))
}

/// The dialer's DTLS fingerprint, from its local description (for the noise prologue).
pub fn local_fingerprint(local_description: &str) -> Option<Fingerprint> {
    let value = attribute(local_description, "fingerprint")?;
    let (algorithm, hex) = value.split_once(' ')?;
    algorithm
        .eq_ignore_ascii_case("sha-256")
        .then(|| Fingerprint::from_sdp(hex))
        .flatten()
}

/// The value of the first `a=<name>:` line.
fn attribute<'a>(sdp: &'a str, name: &str) -> Option<&'a str> {
    sdp.lines().find_map(|line| {
        line.trim_end()
            .strip_prefix("a=")?
            .strip_prefix(name)?
            .strip_prefix(':')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{Credentials, Version};

    /// The shape of a Chrome offer for one data channel (values made up).
    const OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
        c=IN IP4 0.0.0.0\r\na=ice-ufrag:Ab1+\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
        a=ice-options:trickle\r\na=fingerprint:sha-256 \
        AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB\r\n\
        a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n";

    #[test]
    fn the_answer_names_the_server_and_its_certhash() {
        let answer = answer(
            "127.0.0.1:4002".parse().expect("addr"),
            Fingerprint([0xcd; 32]),
            "libp2p+webrtc+v1/xyz",
        );
        assert!(answer.contains("a=ice-lite\r\n"));
        assert!(answer.contains("a=setup:passive\r\n"));
        assert!(answer.contains("a=ice-pwd:libp2p+webrtc+v1/xyz\r\n"));
        assert!(answer.contains("127.0.0.1 4002 typ host"));
        assert_eq!(
            local_fingerprint(&answer),
            Some(Fingerprint([0xcd; 32])),
            "the fingerprint line parses back"
        );
    }

    #[test]
    fn v1_munges_both_credentials_and_nothing_else() {
        let ufrag = v1_ufrag("abcdefghijklmnopqrstuvwxyz");
        let munged = munge_offer(OFFER, &ufrag);
        assert!(munged.contains(&format!("a=ice-ufrag:{ufrag}\r\n")));
        assert!(munged.contains(&format!("a=ice-pwd:{ufrag}\r\n")));
        assert_eq!(munged.lines().count(), OFFER.lines().count());
        assert!(munged.contains("a=setup:actpass"));
    }

    #[test]
    fn v2_carries_the_browsers_own_password_to_the_listener() {
        let server_ufrag = v2_server_ufrag(OFFER).expect("ice-pwd present");
        // What the listener reads back from the STUN USERNAME `server_ufrag:client_ufrag`.
        let credentials = Credentials::from_username(&server_ufrag, "Ab1+").expect("v2");
        assert_eq!(credentials.version, Version::V2);
        assert_eq!(credentials.remote_pwd, "abcdefghijklmnopqrstuvwx");
        assert_eq!(local_fingerprint(OFFER), Some(Fingerprint([0xab; 32])));
        assert_eq!(local_fingerprint("v=0\r\n"), None);
    }
}
