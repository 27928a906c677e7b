//! Multiaddr helpers: what transport an address uses, and which addresses a node can dial.

use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};

/// Which addresses this node keeps for other peers and dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressFilter {
    /// Every address (native nodes).
    Any,
    /// Only addresses a browser can dial: WebSocket (`/ws`, `/wss`), WebRTC-direct with a
    /// certhash, and relayed circuits through such addresses.
    Browser,
}

impl AddressFilter {
    /// Whether `addr` passes the filter.
    pub fn allows(self, addr: &Multiaddr) -> bool {
        match self {
            Self::Any => true,
            Self::Browser => is_browser_dialable(addr),
        }
    }
}

/// Whether a browser can dial `addr`.
pub fn is_browser_dialable(addr: &Multiaddr) -> bool {
    // For a circuit address, what counts is how the relay is reached.
    let relay_part = addr
        .iter()
        .take_while(|p| !matches!(p, Protocol::P2pCircuit));
    let mut ws = false;
    let mut webrtc_direct = false;
    let mut certhash = false;
    for protocol in relay_part {
        match protocol {
            Protocol::Ws(_) | Protocol::Wss(_) => ws = true,
            Protocol::WebRTCDirect => webrtc_direct = true,
            Protocol::Certhash(_) => certhash = true,
            _ => {}
        }
    }
    ws || (webrtc_direct && certhash)
}

/// A short name for the transport `addr` uses: `tcp`, `quic`, `ws`, `wss`,
/// `webrtc-direct`, `relay` (a circuit) or `other`.
pub fn transport_name(addr: &Multiaddr) -> &'static str {
    let mut name = "other";
    let mut tls = false;
    for protocol in addr.iter() {
        name = match protocol {
            Protocol::P2pCircuit => return "relay",
            Protocol::WebRTCDirect => "webrtc-direct",
            // `/tls/ws` is the newer spelling of `/wss`.
            Protocol::Tls => {
                tls = true;
                name
            }
            Protocol::Ws(_) if tls => "wss",
            Protocol::Ws(_) => "ws",
            Protocol::Wss(_) => "wss",
            Protocol::QuicV1 | Protocol::Quic => "quic",
            Protocol::Tcp(_) if name == "other" => "tcp",
            Protocol::Memory(_) => "memory",
            _ => name,
        };
    }
    name
}

/// `addr` ending in `/p2p/<peer>` (added if missing).
pub fn with_peer_id(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    match addr.iter().last() {
        Some(Protocol::P2p(id)) if id == peer => addr.clone(),
        _ => addr.clone().with(Protocol::P2p(peer)),
    }
}

/// The peer id at the end of `addr`, if it has one.
pub fn peer_id_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

/// Whether `addr` goes through a circuit relay (`…/p2p/<relay>/p2p-circuit…`).
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// The relay a circuit address goes through: the peer id just before `/p2p-circuit`.
pub fn relay_of(addr: &Multiaddr) -> Option<PeerId> {
    let mut relay = None;
    for protocol in addr.iter() {
        match protocol {
            Protocol::P2p(peer) => relay = Some(peer),
            Protocol::P2pCircuit => return relay,
            _ => {}
        }
    }
    None
}

/// The address a connection reached `peer` at. For a circuit this node accepted, libp2p
/// reports only `/p2p/<peer>`; the listen address (`…/p2p/<relay>/p2p-circuit`) tells which
/// relay carries it, so the answer is `…/p2p/<relay>/p2p-circuit/p2p/<peer>`.
pub fn remote_addr(endpoint: &libp2p::core::ConnectedPoint, peer: PeerId) -> Multiaddr {
    match endpoint {
        libp2p::core::ConnectedPoint::Listener { local_addr, .. } if is_relayed(local_addr) => {
            let mut through: Multiaddr = local_addr
                .iter()
                .take_while(|p| !matches!(p, Protocol::P2pCircuit))
                .collect();
            through.push(Protocol::P2pCircuit);
            through.with(Protocol::P2p(peer))
        }
        other => other.get_remote_address().clone(),
    }
}

/// Whether `addr` is bound to an unspecified IP (`0.0.0.0` or `::`), and so not dialable.
pub fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().expect("valid multiaddr")
    }

    #[test]
    fn names_transports() {
        assert_eq!(transport_name(&addr("/ip4/127.0.0.1/tcp/1")), "tcp");
        assert_eq!(transport_name(&addr("/ip4/127.0.0.1/tcp/1/ws")), "ws");
        assert_eq!(
            transport_name(&addr("/ip4/127.0.0.1/udp/1/quic-v1")),
            "quic"
        );
        assert_eq!(
            transport_name(&addr("/ip4/127.0.0.1/udp/1/webrtc-direct")),
            "webrtc-direct"
        );
        let relayed = "/ip4/127.0.0.1/tcp/1/ws/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit";
        assert_eq!(transport_name(&addr(relayed)), "relay");
        assert!(is_relayed(&addr(relayed)));
        assert_eq!(
            relay_of(&addr(&format!(
                "{relayed}/p2p/12D3KooWEtUnxGuKe4WHdpX6CHWUKyRydz27zVTm3oYZfUmc3QnA"
            ))),
            Some(
                "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
                    .parse()
                    .expect("peer id")
            )
        );
        assert_eq!(relay_of(&addr("/ip4/127.0.0.1/tcp/1")), None);
    }

    #[test]
    fn browsers_dial_websocket_and_webrtc_with_certhash_only() {
        assert!(is_browser_dialable(&addr("/ip4/127.0.0.1/tcp/1/ws")));
        assert!(is_browser_dialable(&addr("/dns4/example.com/tcp/443/wss")));
        assert_eq!(
            transport_name(&addr("/ip4/127.0.0.1/tcp/443/tls/ws")),
            "wss"
        );
        assert_eq!(
            transport_name(&addr("/dns4/a.example/tcp/443/tls/sni/a.example/ws")),
            "wss"
        );
        assert!(!is_browser_dialable(&addr("/ip4/127.0.0.1/tcp/1")));
        assert!(!is_browser_dialable(&addr("/ip4/127.0.0.1/udp/1/quic-v1")));
        assert!(!is_browser_dialable(&addr(
            "/ip4/127.0.0.1/udp/1/webrtc-direct"
        )));
        let webrtc = "/ip4/127.0.0.1/udp/1/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g";
        assert!(is_browser_dialable(&addr(webrtc)));
    }

    #[test]
    fn appends_the_peer_id_once() {
        let peer = PeerId::random();
        let a = with_peer_id(&addr("/ip4/127.0.0.1/tcp/1"), peer);
        assert_eq!(peer_id_of(&a), Some(peer));
        assert_eq!(with_peer_id(&a, peer), a);
    }
}
