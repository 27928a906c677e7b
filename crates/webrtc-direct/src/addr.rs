//! The WebRTC-direct multiaddr both sides read: `/ip4|ip6/<ip>/udp/<port>/webrtc-direct`.

use std::net::{IpAddr, SocketAddr};

use libp2p::core::multiaddr::{Iter, Multiaddr, Protocol};

use crate::noise::Fingerprint;

/// Reads `/ip4|ip6/<ip>/udp/<port>/webrtc-direct` from the front of `parts` and answers
/// the socket address; what follows (certhash, peer id) is left to the caller.
pub fn socket_prefix(parts: &mut Iter<'_>) -> Option<SocketAddr> {
    let ip = match parts.next()? {
        Protocol::Ip4(ip) => IpAddr::from(ip),
        Protocol::Ip6(ip) => IpAddr::from(ip),
        _ => return None,
    };
    let Protocol::Udp(port) = parts.next()? else {
        return None;
    };
    let Protocol::WebRTCDirect = parts.next()? else {
        return None;
    };
    Some(SocketAddr::new(ip, port))
}

/// `/ip4|ip6/<ip>/udp/<port>/webrtc-direct/certhash/<sha-256>[/p2p/<id>]`: what a dialer
/// needs, the socket and the certificate hash to check.
pub fn dial_target(addr: &Multiaddr) -> Option<(SocketAddr, Fingerprint)> {
    let mut parts = addr.iter();
    let socket = socket_prefix(&mut parts)?;
    let Protocol::Certhash(hash) = parts.next()? else {
        return None;
    };
    let certhash = Fingerprint::from_multihash(&hash.to_bytes())?;
    match parts.next() {
        None | Some(Protocol::P2p(_)) => Some((socket, certhash)),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_socket_and_leaves_the_rest() {
        let addr: Multiaddr = "/ip4/127.0.0.1/udp/4001/webrtc-direct/p2p/12D3KooWB2XRgUFisUsso5maiuvNV9P6ryUkNs122znipL5xBk39"
            .parse()
            .expect("multiaddr");
        let mut parts = addr.iter();
        assert_eq!(
            socket_prefix(&mut parts),
            Some("127.0.0.1:4001".parse().expect("socket"))
        );
        assert!(matches!(parts.next(), Some(Protocol::P2p(_))));
        let tcp: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().expect("multiaddr");
        assert_eq!(socket_prefix(&mut tcp.iter()), None);
    }
}
