//! Releasing UPnP port mappings when the node stops.
//!
//! libp2p-upnp 0.7 asks the gateway to delete a mapping only when its listener expires, from
//! a task whose answers go back to the swarm: once the swarm is dropped (and the process
//! exits right after), the deletion never happens and the router keeps forwarding the port
//! for the rest of its lease (an hour). So on shutdown the node asks the gateway itself,
//! bounded in time, for every mapping the event loop reported.

use std::time::Duration;

use igd_next::{PortMappingProtocol, SearchOptions, aio::tokio::search_gateway};
use libp2p::{Multiaddr, multiaddr::Protocol};

/// How long finding the gateway again may take on shutdown.
const SEARCH_TIMEOUT: Duration = Duration::from_secs(3);

/// The protocol and external port of a mapped address (`/ip4/…/tcp/P` or
/// `/ip4/…/udp/P/quic-v1`).
pub fn port_of(external: &Multiaddr) -> Option<(PortMappingProtocol, u16)> {
    external.iter().find_map(|p| match p {
        Protocol::Tcp(port) => Some((PortMappingProtocol::TCP, port)),
        Protocol::Udp(port) => Some((PortMappingProtocol::UDP, port)),
        _ => None,
    })
}

/// Deletes the gateway's mappings for `external` addresses; returns how many it deleted.
/// Failures are logged: a mapping left behind expires with its lease.
pub async fn release(external: &[Multiaddr]) -> usize {
    if external.is_empty() {
        return 0;
    }
    let options = SearchOptions {
        timeout: Some(SEARCH_TIMEOUT),
        ..SearchOptions::default()
    };
    let gateway = match search_gateway(options).await {
        Ok(gateway) => gateway,
        Err(error) => {
            tracing::warn!(%error, "UPnP: gateway gone; mappings expire with their lease");
            return 0;
        }
    };
    let mut released = 0;
    for addr in external {
        let Some((protocol, port)) = port_of(addr) else {
            continue;
        };
        match gateway.remove_port(protocol, port).await {
            Ok(()) => {
                released += 1;
                tracing::info!(%addr, "UPnP mapping removed");
            }
            Err(error) => tracing::warn!(%addr, %error, "UPnP mapping not removed"),
        }
    }
    released
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_protocol_and_port() {
        let tcp: Multiaddr = "/ip4/11.0.0.2/tcp/4001".parse().expect("addr");
        let quic: Multiaddr = "/ip4/11.0.0.2/udp/4002/quic-v1".parse().expect("addr");
        assert_eq!(port_of(&tcp), Some((PortMappingProtocol::TCP, 4001)));
        assert_eq!(port_of(&quic), Some((PortMappingProtocol::UDP, 4002)));
        let ip_only: Multiaddr = "/ip4/11.0.0.2".parse().expect("addr");
        assert_eq!(port_of(&ip_only), None);
    }
}
