//! The console's `NAT` report: one summary line, then one line per external address,
//! AutoNAT test, UPnP mapping and connection.

use webkad_core::nat::{ConnectionKind, NatStatus};

/// Plural helper: `1 address`, `2 addresses`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary line, e.g. `NAT status: private · Kademlia client · 1 external address ·
/// 2 connections (1 direct, 1 relayed) · UPnP off`.
pub fn summary(nat: &NatStatus) -> String {
    let direct = nat
        .connections
        .iter()
        .filter(|c| c.kind == ConnectionKind::Direct)
        .count();
    let relayed = nat.connections.len() - direct;
    let upnp = match nat.upnp.mappings.len() {
        0 => nat.upnp.gateway.clone(),
        n => count(n, "port mapped", "ports mapped"),
    };
    format!(
        "NAT status: {} · Kademlia {} · {} · {} ({direct} direct, {relayed} relayed) · UPnP {upnp}",
        nat.reachability.as_str(),
        nat.kad_mode,
        count(
            nat.external_addrs.len(),
            "external address",
            "external addresses"
        ),
        count(nat.connections.len(), "connection", "connections"),
    )
}

/// The whole report, lines joined with `\n`.
pub fn render(nat: &NatStatus) -> String {
    let mut lines = vec![summary(nat)];
    lines.extend(nat.external_addrs.iter().map(|a| format!("External {a}")));
    lines.extend(nat.autonat.iter().map(|t| {
        let verdict = match (&t.reachable, &t.error) {
            (true, _) => "reachable".to_owned(),
            (false, Some(e)) => format!("unreachable ({e})"),
            (false, None) => "unreachable".to_owned(),
        };
        format!("AutoNAT {} {verdict}, tested by {}", t.addr, t.server)
    }));
    lines.extend(
        nat.upnp
            .mappings
            .iter()
            .map(|m| format!("UPnP {} -> {}", m.local, m.external)),
    );
    lines.extend(nat.connections.iter().map(|c| {
        let kind = match c.kind {
            ConnectionKind::Direct => "direct",
            ConnectionKind::Relayed => "relayed",
        };
        format!("Connection {} {kind} {} {}", c.peer_id, c.transport, c.addr)
    }));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use libp2p::PeerId;
    use webkad_core::nat::{ConnectionView, Reachability, UpnpStatus};

    use super::*;

    #[test]
    fn summarises_then_lists() {
        let peer = PeerId::random();
        let circuit: libp2p::Multiaddr = format!(
            "/ip4/11.0.0.1/udp/4001/quic-v1/p2p/{}/p2p-circuit/p2p/{peer}",
            PeerId::random()
        )
        .parse()
        .expect("addr");
        let nat = NatStatus {
            reachability: Reachability::Private,
            kad_mode: "client".into(),
            external_addrs: vec![circuit.clone()],
            autonat: Vec::new(),
            upnp: UpnpStatus {
                gateway: "off".into(),
                mappings: Vec::new(),
            },
            relayed_addrs: vec![circuit.clone()],
            connections: vec![ConnectionView {
                peer_id: peer,
                kind: ConnectionKind::Relayed,
                transport: "relay".into(),
                addr: circuit.clone(),
                dialer: true,
            }],
        };
        let report = render(&nat);
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(
            lines[0],
            "NAT status: private · Kademlia client · 1 external address · \
             1 connection (0 direct, 1 relayed) · UPnP off"
        );
        assert_eq!(lines[1], format!("External {circuit}"));
        assert_eq!(
            lines[2],
            format!("Connection {peer} relayed relay {circuit}")
        );
    }
}
