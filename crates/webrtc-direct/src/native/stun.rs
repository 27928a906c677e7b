//! Just enough STUN (RFC 8489) to route a datagram: is it a Binding request, and whose
//! ufrags does its USERNAME name. The ICE agent does the real STUN work (integrity, replies);
//! [`nominating`] marks a dialer's checks as nominations before the agent sees them.

use webrtc::stun::attributes::{ATTR_FINGERPRINT, ATTR_MESSAGE_INTEGRITY, ATTR_USE_CANDIDATE};
use webrtc::stun::fingerprint::FINGERPRINT;
use webrtc::stun::integrity::MessageIntegrity;
use webrtc::stun::message::{Message, Setter};

/// STUN's magic cookie, bytes 4..8 of every STUN message.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const HEADER_LEN: usize = 20;
const BINDING_REQUEST: u16 = 0x0001;
const ATTR_USERNAME: u16 = 0x0006;
/// RFC 8489 caps USERNAME at 513 bytes; ICE ufrags are at most 256 characters each.
const MAX_USERNAME: usize = 513;

/// The two ufrags of an ICE connectivity check: `USERNAME = "<ours>:<theirs>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usernames {
    /// The receiver's (our) ufrag: the key we route by.
    pub local: String,
    /// The sender's ufrag.
    pub remote: String,
}

/// True if the datagram looks like STUN (the first two bits zero and the magic cookie).
pub fn is_stun(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER_LEN && datagram[0] & 0xc0 == 0 && datagram[4..8] == MAGIC_COOKIE
}

/// The ufrags of a STUN Binding request; `None` for anything else or a malformed message.
pub fn binding_usernames(datagram: &[u8]) -> Option<Usernames> {
    if !is_stun(datagram) || u16::from_be_bytes([datagram[0], datagram[1]]) != BINDING_REQUEST {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let mut attributes = datagram.get(HEADER_LEN..HEADER_LEN + length)?;
    while attributes.len() >= 4 {
        let kind = u16::from_be_bytes([attributes[0], attributes[1]]);
        let len = usize::from(u16::from_be_bytes([attributes[2], attributes[3]]));
        let value = attributes.get(4..4 + len)?;
        if kind == ATTR_USERNAME {
            if len > MAX_USERNAME {
                return None;
            }
            let text = std::str::from_utf8(value).ok()?;
            let (local, remote) = text.split_once(':')?;
            if local.is_empty() || remote.is_empty() {
                return None;
            }
            return Some(Usernames {
                local: local.to_owned(),
                remote: remote.to_owned(),
            });
        }
        // Attributes are padded to 4 bytes.
        let padded = (4 + len).div_ceil(4) * 4;
        attributes = attributes.get(padded..).unwrap_or_default();
    }
    None
}

/// The Binding request `datagram` with USE-CANDIDATE added, its MESSAGE-INTEGRITY (under the
/// short-term `password`) and FINGERPRINT computed anew; `None` when it nominates already,
/// is not a Binding request, or its integrity does not check out under `password` (so no
/// one can get a request authenticated by sending it here).
///
/// Why: the listener is ICE-lite, so it is the controlled agent, and webrtc-rs starts DTLS
/// only once the controlling agent (the browser) has nominated a pair. Chromium nominates
/// with its next check on the pair, about 900 ms after the first one succeeded, while it
/// sends its DTLS ClientHello at once: on a 150 ms link that wait was 7.5 of the 15 round
/// trips of a WebRTC-direct dial. A lite agent with one candidate per address family has one
/// pair per source, so the first pair a valid check arrives on is the pair the browser will
/// nominate; treating every check as a nomination (RFC 5245's aggressive nomination) only
/// lets the handshake start a round trip after the first check instead.
pub fn nominating(datagram: &[u8], password: &str) -> Option<Vec<u8>> {
    if !is_stun(datagram) || u16::from_be_bytes([datagram[0], datagram[1]]) != BINDING_REQUEST {
        return None;
    }
    let mut request = Message::new();
    request.unmarshal_binary(datagram).ok()?;
    if request.contains(ATTR_USE_CANDIDATE) || !request.contains(ATTR_FINGERPRINT) {
        return None;
    }
    let integrity = MessageIntegrity::new_short_term_integrity(password.to_owned());
    integrity.check(&mut request).ok()?;
    let mut out = Message::new();
    out.typ = request.typ;
    out.transaction_id = request.transaction_id;
    out.write_header();
    for attribute in &request.attributes.0 {
        if attribute.typ == ATTR_MESSAGE_INTEGRITY {
            break;
        }
        out.add(attribute.typ, &attribute.value);
    }
    out.add(ATTR_USE_CANDIDATE, &[]);
    integrity.add_to(&mut out).ok()?;
    FINGERPRINT.add_to(&mut out).ok()?;
    Some(out.raw)
}

/// A Binding request carrying `USERNAME = username` (and nothing the router needs beyond it);
/// for tests and the STUN-spray check.
pub fn binding_request(username: &str, transaction: [u8; 12]) -> Vec<u8> {
    let value = username.as_bytes();
    let padded = value.len().div_ceil(4) * 4;
    let mut out = Vec::with_capacity(HEADER_LEN + 4 + padded);
    out.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    out.extend_from_slice(&((4 + padded) as u16).to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE);
    out.extend_from_slice(&transaction);
    out.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(HEADER_LEN + 4 + padded, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ufrags_of_a_binding_request() {
        let request = binding_request("libp2p+webrtc+v1/abc:libp2p+webrtc+v1/abc", [1; 12]);
        assert!(is_stun(&request));
        assert_eq!(
            binding_usernames(&request),
            Some(Usernames {
                local: "libp2p+webrtc+v1/abc".into(),
                remote: "libp2p+webrtc+v1/abc".into()
            })
        );
    }

    const PASSWORD: &str = "srv-password-of-22-chars";

    /// A check as a browser sends it, signed under `password`: USERNAME, USE-CANDIDATE if
    /// `nominates`, MESSAGE-INTEGRITY, FINGERPRINT.
    fn signed_check(password: &str, nominates: bool) -> Message {
        use webrtc::ice::use_candidate::UseCandidateAttr;
        use webrtc::stun::agent::TransactionId;
        use webrtc::stun::attributes::ATTR_USERNAME;
        use webrtc::stun::message::BINDING_REQUEST;
        use webrtc::stun::textattrs::Username;
        let mut setters: Vec<Box<dyn Setter>> = vec![
            Box::new(BINDING_REQUEST),
            Box::new(TransactionId::new()),
            Box::new(Username::new(ATTR_USERNAME, "srv:cli".into())),
        ];
        if nominates {
            setters.push(Box::new(UseCandidateAttr));
        }
        setters.push(Box::new(MessageIntegrity::new_short_term_integrity(
            password.into(),
        )));
        setters.push(Box::new(FINGERPRINT));
        let mut m = Message::new();
        m.build(&setters).expect("a well-formed check");
        m
    }

    #[test]
    fn a_signed_check_becomes_a_nomination_only_under_our_password() {
        let nominating_already = signed_check(PASSWORD, true);
        assert_eq!(nominating(&nominating_already.raw, PASSWORD), None);
        let check = signed_check(PASSWORD, false);
        assert_eq!(nominating(&check.raw, "another-password-22-chars"), None);
        assert_eq!(
            nominating(&signed_check("x".repeat(22).as_str(), false).raw, PASSWORD),
            None
        );

        let rewritten = nominating(&check.raw, PASSWORD).expect("rewritten");
        let mut nominated = Message::new();
        nominated.unmarshal_binary(&rewritten).expect("decodes");
        assert!(nominated.contains(ATTR_USE_CANDIDATE));
        assert_eq!(nominated.transaction_id, check.transaction_id);
        MessageIntegrity::new_short_term_integrity(PASSWORD.into())
            .check(&mut nominated)
            .expect("integrity holds");
        FINGERPRINT.check(&nominated).expect("fingerprint holds");
        assert_eq!(
            binding_usernames(&rewritten).map(|u| u.local),
            Some("srv".into())
        );
    }

    #[test]
    fn ignores_what_is_not_a_well_formed_binding_request() {
        assert_eq!(binding_usernames(b"\x16\xfe\xfd DTLS record........"), None);
        let mut truncated = binding_request("a:b", [0; 12]);
        truncated.truncate(24);
        assert_eq!(binding_usernames(&truncated), None);
        assert_eq!(
            binding_usernames(&binding_request("nocolon", [0; 12])),
            None
        );
        assert_eq!(binding_usernames(&binding_request(":b", [0; 12])), None);
        let mut response = binding_request("a:b", [0; 12]);
        response[1] = 0x01; // 0x0101: Binding success response
        response[0] = 0x01;
        assert_eq!(binding_usernames(&response), None);
    }
}
