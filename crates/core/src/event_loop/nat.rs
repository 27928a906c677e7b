//! The NAT ladder in the event loop: LAN peers from mDNS, AutoNAT verdicts, UPnP mappings,
//! hole punches, Kademlia's mode in [`KadMode::Auto`], and the [`NatStatus`] view.
//!
//! Where addresses come from: identify reports what each peer observed as a candidate;
//! AutoNAT v2 has a server dial the candidate back and confirms it when that works; UPnP
//! confirms the gateway's side of each mapped port; a relay reservation confirms the circuit
//! address. The swarm's confirmed external addresses are what identify announces and what
//! provider records carry.

#[cfg(not(target_arch = "wasm32"))]
pub(super) use native::NatState;

#[cfg(target_arch = "wasm32")]
use super::EventLoop;

#[cfg(target_arch = "wasm32")]
impl EventLoop {
    /// No reachability to follow in the browser.
    pub(super) fn on_reachability_input(&mut self) {}
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::collections::HashMap;

    use libp2p::{
        Multiaddr, PeerId, autonat, dcutr, kad, mdns,
        multiaddr::Protocol,
        swarm::dial_opts::{DialOpts, PeerCondition},
        upnp,
    };

    use crate::{
        addr,
        behaviour::nat::NatEvent,
        config::KadMode,
        event::Event,
        event_loop::EventLoop,
        nat::{
            AddressTest, ConnectionKind, ConnectionView, NatStatus, PortMapping, Reachability,
            UpnpStatus,
        },
    };

    /// What the loop remembers of the NAT ladder.
    #[derive(Debug, Default)]
    pub(in crate::event_loop) struct NatState {
        /// The last AutoNAT result per tested address.
        tests: HashMap<Multiaddr, AddressTest>,
        /// UPnP mappings by listen address: the gateway's address for it.
        mappings: HashMap<Multiaddr, Multiaddr>,
        /// What UPnP found: `None` while searching (or off).
        gateway: Option<&'static str>,
        /// The last reachability reported to subscribers.
        reported: Option<Reachability>,
    }

    impl EventLoop {
        /// The reachability that follows from AutoNAT's tests and the UPnP mappings.
        fn reachability(&self) -> Reachability {
            let confirmed: Vec<&Multiaddr> = self.swarm.external_addresses().collect();
            let proven = self
                .nat
                .tests
                .values()
                .any(|t| t.reachable && confirmed.contains(&&t.addr));
            if proven || !self.nat.mappings.is_empty() {
                Reachability::Public
            } else if self.nat.tests.values().any(|t| !t.reachable) {
                Reachability::Private
            } else {
                Reachability::Unknown
            }
        }

        /// Confirmed external addresses changed: in [`KadMode::Auto`], serve the DHT while a
        /// direct one exists; tell subscribers when the reachability changed.
        pub(in crate::event_loop) fn on_reachability_input(&mut self) {
            if self.config.kad_mode == KadMode::Auto {
                let reachable = self
                    .swarm
                    .external_addresses()
                    .any(|a| !addr::is_relayed(a));
                let mode = if reachable {
                    kad::Mode::Server
                } else {
                    kad::Mode::Client
                };
                let kad = &mut self.swarm.behaviour_mut().kad;
                if kad.mode() != mode {
                    tracing::info!(%mode, "Kademlia mode follows reachability");
                    kad.set_mode(Some(mode));
                }
            }
            let now = self.reachability();
            if self.nat.reported.unwrap_or(Reachability::Unknown) != now {
                self.nat.reported = Some(now);
                tracing::info!(reachability = now.as_str(), "reachability");
                let external = self
                    .swarm
                    .external_addresses()
                    .map(ToString::to_string)
                    .collect();
                self.publish(Event::ReachabilityChanged {
                    reachability: now.as_str().to_owned(),
                    external,
                });
            }
        }

        /// The node's view of its reachability, for the console and `/api/nat`.
        pub(in crate::event_loop) fn nat_status(&self) -> NatStatus {
            let me = self.local_peer_id();
            let mut autonat: Vec<AddressTest> = self.nat.tests.values().cloned().collect();
            autonat.sort_by_key(|t| t.addr.to_string());
            let mut mappings: Vec<PortMapping> = self
                .nat
                .mappings
                .iter()
                .map(|(local, external)| PortMapping {
                    local: local.clone(),
                    external: external.clone(),
                })
                .collect();
            mappings.sort_by_key(|m| m.local.to_string());
            let gateway = if !self.config.nat.upnp {
                "off"
            } else {
                self.nat.gateway.unwrap_or("searching")
            };
            let mut connections: Vec<ConnectionView> = self
                .peers
                .iter()
                .flat_map(|(peer, state)| {
                    state.connections.values().map(|c| ConnectionView {
                        peer_id: *peer,
                        kind: if addr::is_relayed(&c.addr) {
                            ConnectionKind::Relayed
                        } else {
                            ConnectionKind::Direct
                        },
                        transport: addr::transport_name(&c.addr).to_owned(),
                        addr: c.addr.clone(),
                        dialer: c.dialer,
                    })
                })
                .collect();
            connections.sort_by_key(|c| (c.peer_id.to_base58(), c.addr.to_string()));
            let mut relayed_addrs: Vec<Multiaddr> =
                self.reach.reserved_addrs.values().cloned().collect();
            relayed_addrs.sort_by_key(ToString::to_string);
            NatStatus {
                reachability: self.reachability(),
                kad_mode: self.swarm.behaviour().kad.mode().to_string(),
                external_addrs: self
                    .swarm
                    .external_addresses()
                    .map(|a| addr::with_peer_id(a, me))
                    .collect(),
                autonat,
                upnp: UpnpStatus {
                    gateway: gateway.to_owned(),
                    mappings,
                },
                relayed_addrs,
                connections,
            }
        }
    }

    impl EventLoop {
        pub(in crate::event_loop) fn on_nat_event(&mut self, event: NatEvent) {
            match event {
                NatEvent::Mdns(event) => self.on_mdns(event),
                NatEvent::Upnp(event) => self.on_upnp(event),
                NatEvent::AutonatClient(event) => self.on_autonat_result(event),
                NatEvent::AutonatServer(event) => {
                    tracing::debug!(
                        client = %event.client,
                        addr = %event.tested_addr,
                        ok = event.result.is_ok(),
                        "tested a peer's address (AutoNAT server)"
                    );
                }
                NatEvent::Dcutr(event) => self.on_hole_punch(event),
            }
        }

        /// Peers on the LAN: into the routing table (the kv-store example's way), and
        /// dialed so that identify tells whether they serve the DHT.
        fn on_mdns(&mut self, event: mdns::Event) {
            match event {
                mdns::Event::Discovered(found) => {
                    let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
                    for (peer, address) in found {
                        if peer != self.local_peer_id() {
                            by_peer.entry(peer).or_default().push(address);
                        }
                    }
                    for (peer, addrs) in by_peer {
                        tracing::info!(%peer, ?addrs, "found on the LAN (mDNS)");
                        for address in &addrs {
                            self.swarm
                                .behaviour_mut()
                                .kad
                                .add_address(&peer, address.clone());
                        }
                        let opts = DialOpts::peer_id(peer)
                            .addresses(addrs)
                            .condition(PeerCondition::DisconnectedAndNotDialing)
                            .build();
                        if let Err(error) = self.swarm.dial(opts) {
                            tracing::debug!(%peer, %error, "not dialing the LAN peer");
                        }
                    }
                }
                mdns::Event::Expired(gone) => {
                    for (peer, address) in gone {
                        tracing::debug!(%peer, %address, "LAN address expired (mDNS)");
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .remove_address(&peer, &address);
                    }
                }
            }
        }

        fn on_upnp(&mut self, event: upnp::Event) {
            match event {
                upnp::Event::NewExternalAddr {
                    local_addr,
                    external_addr,
                } => {
                    tracing::info!(%local_addr, %external_addr, "UPnP port mapped");
                    self.nat.gateway = Some("gateway found");
                    self.nat.mappings.insert(local_addr, external_addr);
                }
                upnp::Event::ExpiredExternalAddr {
                    local_addr,
                    external_addr,
                } => {
                    tracing::warn!(%local_addr, %external_addr, "UPnP mapping lost");
                    self.nat.mappings.remove(&local_addr);
                }
                upnp::Event::GatewayNotFound => {
                    tracing::info!("UPnP: no gateway answered");
                    self.nat.gateway = Some("no gateway");
                }
                upnp::Event::NonRoutableGateway => {
                    tracing::info!("UPnP: the gateway is itself behind a NAT");
                    self.nat.gateway = Some("gateway not routable");
                }
            }
            self.on_reachability_input();
        }

        fn on_autonat_result(&mut self, event: autonat::v2::client::Event) {
            let autonat::v2::client::Event {
                tested_addr,
                server,
                result,
                ..
            } = event;
            let error = result.err().map(|e| e.to_string());
            // Identify reports what a peer observed on a relayed connection too: a bare
            // `/p2p/<us>`, which no server can dial. Not a verdict on our reachability.
            if !tested_addr.iter().next().is_some_and(|p| {
                matches!(
                    p,
                    Protocol::Ip4(_)
                        | Protocol::Ip6(_)
                        | Protocol::Dns(_)
                        | Protocol::Dns4(_)
                        | Protocol::Dns6(_)
                )
            }) {
                tracing::debug!(addr = %tested_addr, "AutoNAT tested an address without a host");
                return;
            }
            tracing::info!(
                addr = %tested_addr,
                %server,
                reachable = error.is_none(),
                error = error.as_deref().unwrap_or(""),
                "AutoNAT test finished"
            );
            self.nat.tests.insert(
                tested_addr.clone(),
                AddressTest {
                    addr: tested_addr,
                    reachable: error.is_none(),
                    server,
                    error,
                },
            );
            self.on_reachability_input();
        }

        fn on_hole_punch(&mut self, event: dcutr::Event) {
            let peer = event.remote_peer_id;
            match event.result {
                Ok(connection) => {
                    let addr = self
                        .peers
                        .get(&peer)
                        .and_then(|s| s.connections.get(&connection))
                        .map(|c| c.addr.to_string());
                    tracing::info!(%peer, ?addr, "hole punch succeeded: direct connection");
                    self.publish(Event::HolePunch {
                        peer: peer.to_string(),
                        addr,
                        error: None,
                    });
                }
                Err(error) => {
                    tracing::info!(%peer, %error, "hole punch failed; staying relayed");
                    self.publish(Event::HolePunch {
                        peer: peer.to_string(),
                        addr: None,
                        error: Some(error.to_string()),
                    });
                }
            }
        }
    }
}
