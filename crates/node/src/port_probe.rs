//! Refuses a TCP listen port that another process already listens on.
//!
//! libp2p's TCP transport (and the WebSocket transport above it) sets `SO_REUSEPORT` on
//! every listening socket, so that outgoing connections can reuse the listen port for hole
//! punching. A side effect: a second `webkad serve` on the same TCP port binds without an
//! error, and the kernel then splits incoming connections between two nodes with different
//! peer ids. Before listening, [`check_tcp_ports`] binds each explicit TCP port once
//! *without* `SO_REUSEPORT`: the kernel refuses that bind while any socket listens on the
//! port, so a port in use is reported as `address already in use` and the node does not
//! start. The probe is closed at once; two nodes started in the same instant may still
//! both pass (the window is the few milliseconds until libp2p binds).
//!
//! UDP listeners (QUIC, WebRTC-direct) and HTTP need no probe: they bind without
//! `SO_REUSEPORT`, so the kernel already refuses a port in use.

use std::net::{IpAddr, SocketAddr, TcpListener};

use libp2p::{Multiaddr, multiaddr::Protocol};

/// The TCP socket address a listen address binds, if it names a fixed port (port 0 asks
/// the kernel for a free one and needs no check).
pub fn tcp_socket_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut ip: Option<IpAddr> = None;
    for protocol in addr.iter() {
        match protocol {
            Protocol::Ip4(a) => ip = Some(a.into()),
            Protocol::Ip6(a) => ip = Some(a.into()),
            Protocol::Tcp(port) if port != 0 => return ip.map(|ip| SocketAddr::new(ip, port)),
            Protocol::P2pCircuit => return None,
            _ => {}
        }
    }
    None
}

/// Binds each fixed TCP port of `listen` once, without `SO_REUSEPORT`, and closes it.
/// Returns the first address that cannot be bound, with the cause.
pub fn check_tcp_ports(listen: &[Multiaddr]) -> Result<(), (Multiaddr, std::io::Error)> {
    let mut checked = Vec::new();
    for addr in listen {
        let Some(socket) = tcp_socket_addr(addr) else {
            continue;
        };
        if checked.contains(&socket) {
            continue;
        }
        match TcpListener::bind(socket) {
            Ok(probe) => drop(probe),
            Err(error) => return Err((addr.clone(), error)),
        }
        checked.push(socket);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_tcp_ports_only() {
        let addr = |s: &str| s.parse::<Multiaddr>().expect("valid");
        assert_eq!(
            tcp_socket_addr(&addr("/ip4/127.0.0.1/tcp/4002/ws")),
            Some("127.0.0.1:4002".parse().expect("valid"))
        );
        assert_eq!(tcp_socket_addr(&addr("/ip4/127.0.0.1/tcp/0")), None);
        assert_eq!(
            tcp_socket_addr(&addr("/ip4/127.0.0.1/udp/4001/quic-v1")),
            None
        );
        assert_eq!(tcp_socket_addr(&addr("/dns4/example.org/tcp/4001")), None);
    }

    #[test]
    fn a_port_in_use_is_refused() {
        let held = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = held.local_addr().expect("addr").port();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("valid");
        let (_, error) = check_tcp_ports(&[addr]).expect_err("in use");
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
        drop(held);
    }
}
