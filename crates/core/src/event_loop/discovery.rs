//! Rendezvous: registering this node at rendezvous servers, discovering the peers registered
//! there, and (on a server) keeping the list of peers registered here.

use std::collections::HashSet;

use libp2p::{
    Multiaddr, PeerId,
    rendezvous::{self, Namespace, Registration},
};
use web_time::Instant;

use super::{Discovered, EventLoop, PeerState, answer};
use crate::{
    client::{DiscoveredPeer, Reply},
    error::Error,
    event::Event,
};

/// Most registrations asked for in one discovery.
const DISCOVER_LIMIT: u64 = 256;

impl EventLoop {
    /// Periodic upkeep: registrations due for refreshing, discovery, relayed rooms.
    pub(super) fn on_tick(&mut self) {
        self.refresh_gauges();
        self.register_where_due();
        let now = Instant::now();
        if self.config.rendezvous.discover.is_some()
            && self.reach.discover_due.is_none_or(|due| now >= due)
        {
            self.reach.discover_due = Some(now + self.config.rendezvous.discover_interval);
            self.discover_everywhere(None);
        }
        self.drop_unused_relayed_rooms();
    }

    /// A peer said over identify what it serves: remember relays and rendezvous servers,
    /// and register at a new rendezvous server at once.
    pub(super) fn on_peer_serves(&mut self, peer: PeerId, relay: bool, rendezvous: bool) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        state.relay = relay;
        let new_rendezvous = rendezvous && !state.rendezvous;
        state.rendezvous = rendezvous;
        if new_rendezvous {
            tracing::debug!(%peer, "rendezvous server connected");
            self.reach.register_due.insert(peer, Instant::now());
            self.register_where_due();
            if let Some(namespace) = self.config.rendezvous.discover.clone() {
                self.discover_at(peer, Some(namespace));
            }
        }
    }

    /// A rendezvous server went away: stop registering there.
    pub(super) fn forget_rendezvous(&mut self, peer: PeerId) {
        self.reach.register_due.remove(&peer);
        for reply in self.pending.discover.remove(&peer).unwrap_or_default() {
            answer(
                reply,
                Err(Error::Remote("the rendezvous server disconnected".into())),
            );
        }
    }

    /// This node got a (new) external address: registrations can carry it now.
    pub(super) fn on_external_addr(&mut self) {
        let now = Instant::now();
        for due in self.reach.register_due.values_mut() {
            *due = now;
        }
        self.register_where_due();
    }

    fn register_where_due(&mut self) {
        let Some(namespace) = self.config.rendezvous.register.clone() else {
            return;
        };
        if self.swarm.external_addresses().next().is_none() {
            return; // Registering needs an address to register; a reservation brings one.
        }
        let Ok(namespace) = Namespace::new(namespace) else {
            return;
        };
        let now = Instant::now();
        let ttl = self.config.rendezvous.ttl;
        let due: Vec<PeerId> = self
            .reach
            .register_due
            .iter()
            .filter(|(_, at)| now >= **at)
            .map(|(peer, _)| *peer)
            .collect();
        for server in due {
            // Retry in a while if no answer comes; `Registered` sets the real refresh time.
            self.reach.register_due.insert(server, now + ttl / 2);
            if let Err(error) = self.swarm.behaviour_mut().rendezvous.register(
                namespace.clone(),
                server,
                Some(ttl.as_secs()),
            ) {
                tracing::debug!(%server, %error, "cannot register");
            }
        }
    }

    /// Asks every connected rendezvous server for the peers in `namespace` (default: the
    /// configured discovery namespace).
    fn discover_everywhere(&mut self, namespace: Option<String>) -> Vec<PeerId> {
        let servers: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| s.rendezvous)
            .map(|(p, _)| *p)
            .collect();
        let namespace = namespace.or_else(|| self.config.rendezvous.discover.clone());
        for server in &servers {
            self.discover_at(*server, namespace.clone());
        }
        servers
    }

    fn discover_at(&mut self, server: PeerId, namespace: Option<String>) {
        let namespace = namespace.and_then(|n| Namespace::new(n).ok());
        self.swarm.behaviour_mut().rendezvous.discover(
            namespace,
            None,
            Some(DISCOVER_LIMIT),
            server,
        );
    }

    /// `Command::Discover`: ask the servers, answer when the first one answers. A node that
    /// is itself the rendezvous server answers from its own registrations.
    pub(super) fn discover(
        &mut self,
        namespace: Option<String>,
        reply: Reply<Vec<DiscoveredPeer>>,
    ) {
        if let Some(namespace) = &namespace
            && Namespace::new(namespace.clone()).is_err()
        {
            return answer(
                reply,
                Err(Error::Remote(format!(
                    "the namespace is {} bytes; the limit is {}",
                    namespace.len(),
                    rendezvous::MAX_NAMESPACE
                ))),
            );
        }
        let servers = self.discover_everywhere(namespace);
        match servers.first() {
            Some(server) => self
                .pending
                .discover
                .entry(*server)
                .or_default()
                .push(reply),
            None if self.config.rendezvous_server.is_some() => {
                answer(reply, Ok(self.discovered_peers()));
            }
            None => answer(reply, Err(Error::NoRendezvous)),
        }
    }

    /// What is known of every discovered peer now.
    pub(super) fn discovered_peers(&self) -> Vec<DiscoveredPeer> {
        let mut list: Vec<DiscoveredPeer> = self
            .reach
            .discovered
            .iter()
            .map(|(peer, found)| {
                let state = self.peers.get(peer);
                DiscoveredPeer {
                    peer_id: *peer,
                    addrs: found.addrs.clone(),
                    connected: state.is_some(),
                    transport: state.and_then(PeerState::transport).map(str::to_owned),
                    rtt_ms: state.and_then(PeerState::rtt_ms),
                }
            })
            .collect();
        list.sort_by_key(|p| p.peer_id.to_base58());
        list
    }

    pub(super) fn on_rendezvous_client(&mut self, event: rendezvous::client::Event) {
        use rendezvous::client::Event as E;
        match event {
            E::Registered {
                rendezvous_node,
                ttl,
                namespace,
            } => {
                tracing::info!(server = %rendezvous_node, %namespace, ttl, "registered");
                // Refresh after three quarters of the TTL, like relay reservations.
                let refresh = std::time::Duration::from_secs(ttl.saturating_mul(3) / 4)
                    .max(std::time::Duration::from_secs(1));
                if let Some(due) = self.reach.register_due.get_mut(&rendezvous_node) {
                    *due = Instant::now() + refresh;
                }
                self.publish(Event::Registered {
                    rendezvous: rendezvous_node.to_string(),
                    namespace: namespace.to_string(),
                    ttl_secs: ttl,
                });
            }
            E::RegisterFailed {
                rendezvous_node,
                namespace,
                error,
            } => {
                tracing::warn!(server = %rendezvous_node, %namespace, ?error, "registration refused");
            }
            E::Discovered {
                rendezvous_node,
                registrations,
                ..
            } => {
                self.on_registrations(&registrations, true);
                let list = self.discovered_peers();
                for reply in self
                    .pending
                    .discover
                    .remove(&rendezvous_node)
                    .unwrap_or_default()
                {
                    answer(reply, Ok(list.clone()));
                }
            }
            E::DiscoverFailed {
                rendezvous_node,
                error,
                ..
            } => {
                tracing::debug!(server = %rendezvous_node, ?error, "discovery failed");
                for reply in self
                    .pending
                    .discover
                    .remove(&rendezvous_node)
                    .unwrap_or_default()
                {
                    answer(
                        reply,
                        Err(Error::Remote(format!("discovery failed: {error:?}"))),
                    );
                }
            }
            E::Expired { peer } => self.forget_discovered(peer),
        }
    }

    /// Registrations learned from a server (a full discovery answer when `complete`: peers
    /// of those namespaces that are no longer listed are gone).
    fn on_registrations(&mut self, registrations: &[Registration], complete: bool) {
        let me = self.local_peer_id();
        let mut listed: HashSet<PeerId> = HashSet::new();
        let mut namespaces: HashSet<String> = HashSet::new();
        for registration in registrations {
            let peer = registration.record.peer_id();
            let namespace = registration.namespace.to_string();
            namespaces.insert(namespace.clone());
            if peer == me {
                continue;
            }
            listed.insert(peer);
            let addrs: Vec<Multiaddr> = registration.record.addresses().to_vec();
            let changed = self
                .reach
                .discovered
                .get(&peer)
                .is_none_or(|known| known.addrs != addrs);
            if changed {
                self.publish(Event::PeerDiscovered {
                    peer: peer.to_string(),
                    addrs: addrs.iter().map(ToString::to_string).collect(),
                });
            }
            self.reach
                .discovered
                .insert(peer, Discovered { addrs, namespace });
        }
        if complete {
            let gone: Vec<PeerId> = self
                .reach
                .discovered
                .iter()
                .filter(|(p, d)| namespaces.contains(&d.namespace) && !listed.contains(*p))
                .map(|(p, _)| *p)
                .collect();
            for peer in gone {
                self.forget_discovered(peer);
            }
        }
    }

    fn forget_discovered(&mut self, peer: PeerId) {
        if self.reach.discovered.remove(&peer).is_some() {
            self.publish(Event::PeerExpired {
                peer: peer.to_string(),
            });
        }
    }

    /// On a rendezvous server: its own registrations are its list of discovered peers.
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn on_rendezvous_server(&mut self, event: rendezvous::server::Event) {
        use rendezvous::server::Event as E;
        match event {
            E::PeerRegistered { peer, registration } => {
                tracing::debug!(%peer, namespace = %registration.namespace, "peer registered");
                self.on_registrations(std::slice::from_ref(&registration), false);
            }
            E::PeerUnregistered { peer, .. } => self.forget_discovered(peer),
            E::RegistrationExpired(registration) => {
                self.forget_discovered(registration.record.peer_id());
            }
            E::PeerNotRegistered { peer, error, .. } => {
                tracing::debug!(%peer, ?error, "registration refused");
            }
            E::DiscoverServed { .. } | E::DiscoverNotServed { .. } => {}
        }
    }
}
