//! Just enough STUN (RFC 8489) to route a datagram: is it a Binding request, and whose
//! ufrags does its USERNAME name. The ICE agent does the real STUN work (integrity, replies).

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
