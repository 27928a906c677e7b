//! The NAT ladder's protocols, native only: mDNS, UPnP, AutoNAT v2 (client and server) and
//! DCUtR, each switched by [`NatConfig`](crate::config::NatConfig).
//!
//! A page can neither be dialed back, answer multicast DNS, map a port nor hole-punch, so
//! this module and the behaviour's `nat` field exist only off wasm32 (measured: a dummy
//! field in their place cost the page 3 KB raw, 0.8 KB gzipped).

use libp2p::{
    PeerId, autonat, dcutr, mdns,
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
    upnp,
};

use crate::{behaviour::BehaviourError, config::NatConfig};

/// The NAT ladder's protocols; each is off unless [`NatConfig`] turns it on.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "NatEvent")]
pub struct Nat {
    /// Multicast DNS: peers on the same LAN.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// UPnP IGD port mappings on the gateway.
    pub upnp: Toggle<upnp::tokio::Behaviour>,
    /// AutoNAT v2 client: has address candidates dialed back.
    pub autonat_client: Toggle<autonat::v2::client::Behaviour>,
    /// AutoNAT v2 server: dials others' candidates back.
    pub autonat_server: Toggle<autonat::v2::server::Behaviour>,
    /// Direct Connection Upgrade through Relay (hole punching).
    pub dcutr: Toggle<dcutr::Behaviour>,
}

/// What the NAT behaviours report.
#[derive(Debug)]
pub enum NatEvent {
    /// mDNS found or lost LAN peers.
    Mdns(mdns::Event),
    /// UPnP mapped or lost a port, or found no usable gateway.
    Upnp(upnp::Event),
    /// An AutoNAT test of one of our addresses finished.
    AutonatClient(autonat::v2::client::Event),
    /// We tested another peer's address.
    AutonatServer(autonat::v2::server::Event),
    /// A hole punch finished.
    Dcutr(dcutr::Event),
}

macro_rules! from_event {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for NatEvent {
            fn from(event: $ty) -> Self {
                Self::$variant(event)
            }
        }
    )*};
}
from_event!(
    Mdns(mdns::Event),
    Upnp(upnp::Event),
    AutonatClient(autonat::v2::client::Event),
    AutonatServer(autonat::v2::server::Event),
    Dcutr(dcutr::Event)
);

/// Builds the NAT behaviours `config` asks for. mDNS and UPnP start their tokio tasks
/// here, so this runs inside the node's runtime.
pub fn new(peer_id: PeerId, config: &NatConfig) -> Result<Nat, BehaviourError> {
    let mdns = if config.mdns {
        let mdns = mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
            .map_err(|e| BehaviourError::Mdns(e.to_string()))?;
        Some(mdns)
    } else {
        None
    };
    Ok(Nat {
        mdns: mdns.into(),
        upnp: config.upnp.then(upnp::tokio::Behaviour::default).into(),
        autonat_client: config
            .autonat_client
            .then(autonat::v2::client::Behaviour::default)
            .into(),
        autonat_server: config
            .autonat_server
            .then(autonat::v2::server::Behaviour::default)
            .into(),
        dcutr: config.dcutr.then(|| dcutr::Behaviour::new(peer_id)).into(),
    })
}
