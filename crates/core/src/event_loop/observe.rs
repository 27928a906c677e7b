//! Feeding the metrics: every swarm event passes through [`EventLoop::observe`] before the
//! loop acts on it, so counting never changes what the node does.

use libp2p::{
    PeerId, connection_limits,
    core::ConnectedPoint,
    kad, rendezvous, request_response,
    swarm::{ConnectionError, DialError, ListenError, SwarmEvent},
};

use super::EventLoop;
use crate::{
    addr,
    behaviour::BehaviourEvent,
    metrics::{DiscoveryMethod, Metrics},
};

/// How many peers' discovery methods are remembered; past this the memory starts over.
const MAX_DISCOVERED: usize = 50_000;

/// The protocol label of direct messages.
const MESSAGES: &str = crate::config::MESSAGE_PROTOCOL;

impl EventLoop {
    /// Records `event` in libp2p-metrics and webkad's own series.
    pub(super) fn observe(&mut self, event: &SwarmEvent<BehaviourEvent>) {
        let metrics = self.metrics.clone();
        metrics.record(event);
        match event {
            SwarmEvent::Behaviour(event) => self.observe_behaviour(&metrics, event),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                metrics
                    .own()
                    .connections
                    .get_or_create(&connection_labels(*peer_id, endpoint))
                    .inc();
                if endpoint.is_dialer() {
                    let method = self.dial_method(Some(*peer_id), *connection_id);
                    self.note_discovered(*peer_id, method);
                    dial_outcome(&metrics, method, "ok");
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                endpoint,
                cause,
                ..
            } => {
                let labels = connection_labels(*peer_id, endpoint);
                let own = metrics.own();
                own.connections.get_or_create(&labels).dec();
                let cause = match cause {
                    None => "local",
                    Some(ConnectionError::KeepAliveTimeout) => "idle",
                    Some(ConnectionError::IO(_)) => "io",
                };
                own.connections_closed
                    .get_or_create(&[("transport", labels[0].1), ("cause", cause)])
                    .inc();
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                if matches!(
                    error,
                    DialError::DialPeerConditionFalse(_) | DialError::Aborted
                ) {
                    return;
                }
                let method = self.dial_method(*peer_id, *connection_id);
                dial_outcome(&metrics, method, "error");
                match error {
                    DialError::WrongPeerId { address, .. } => {
                        let transport = addr::transport_name(address);
                        handshake_failure(&metrics, "outbound", transport);
                    }
                    DialError::Denied { cause } if is_limit(cause) => {
                        metrics.limit_hit("connections");
                    }
                    _ => {}
                }
            }
            SwarmEvent::IncomingConnectionError {
                local_addr, error, ..
            } => match error {
                ListenError::Transport(_) | ListenError::WrongPeerId { .. } => {
                    handshake_failure(&metrics, "inbound", addr::transport_name(local_addr));
                }
                ListenError::Denied { cause } if is_limit(cause) => {
                    metrics.limit_hit("connections");
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn observe_behaviour(&mut self, metrics: &Metrics, event: &BehaviourEvent) {
        match event {
            BehaviourEvent::Kad(event) => {
                metrics.record(event);
                self.observe_kad(event);
            }
            BehaviourEvent::Identify(event) => {
                metrics.record(event);
                if let libp2p::identify::Event::Received { peer_id, .. } = event {
                    self.note_discovered(*peer_id, DiscoveryMethod::Identify);
                }
            }
            BehaviourEvent::Ping(event) => metrics.record(event),
            BehaviourEvent::Gossipsub(event) => metrics.record(event),
            BehaviourEvent::Messages(event) => observe_messages(metrics, event),
            BehaviourEvent::Rendezvous(event) => {
                use rendezvous::client::Event as E;
                let ok = match event {
                    E::Discovered { registrations, .. } => {
                        for registration in registrations {
                            let peer = registration.record.peer_id();
                            self.note_discovered(peer, DiscoveryMethod::Rendezvous);
                        }
                        true
                    }
                    E::Registered { .. } => true,
                    E::DiscoverFailed { .. } | E::RegisterFailed { .. } => false,
                    E::Expired { .. } => return,
                };
                metrics.protocol("rendezvous", false, ok);
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::RendezvousServer(event) => {
                use rendezvous::server::Event as E;
                let ok = match event {
                    E::DiscoverServed { .. } | E::PeerRegistered { .. } => true,
                    E::DiscoverNotServed { .. } | E::PeerNotRegistered { .. } => false,
                    E::PeerUnregistered { .. } | E::RegistrationExpired(_) => return,
                };
                metrics.protocol("rendezvous", true, ok);
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::RelayServer(event) => {
                metrics.record(event);
                match event {
                    libp2p::relay::Event::ReservationReqDenied { .. } => {
                        metrics.limit_hit("relay_reservations");
                    }
                    libp2p::relay::Event::CircuitReqDenied { .. } => {
                        metrics.limit_hit("relay_circuits");
                    }
                    _ => {}
                }
            }
            #[cfg(not(target_arch = "wasm32"))]
            BehaviourEvent::Nat(event) => {
                use crate::behaviour::nat::NatEvent;
                match event {
                    NatEvent::Mdns(libp2p::mdns::Event::Discovered(found)) => {
                        for (peer, _) in found {
                            self.note_discovered(*peer, DiscoveryMethod::Mdns);
                        }
                    }
                    NatEvent::Dcutr(event) => metrics.record(event),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn observe_kad(&mut self, event: &kad::Event) {
        match event {
            kad::Event::RoutingUpdated {
                peer,
                is_new_peer: true,
                ..
            } => self.note_discovered(*peer, DiscoveryMethod::Dht),
            kad::Event::OutboundQueryProgressed { result, .. } => match result {
                kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
                    providers,
                    ..
                })) => {
                    for peer in providers {
                        self.note_discovered(*peer, DiscoveryMethod::Dht);
                    }
                }
                kad::QueryResult::GetClosestPeers(Ok(ok)) => {
                    for peer in &ok.peers {
                        self.note_discovered(peer.peer_id, DiscoveryMethod::Dht);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// Counts `peer` as discovered by `method` unless it was known already.
    pub(super) fn note_discovered(&mut self, peer: PeerId, method: DiscoveryMethod) {
        if peer == self.local_peer_id() || self.discovered_by.contains_key(&peer) {
            return;
        }
        if self.discovered_by.len() >= MAX_DISCOVERED {
            self.discovered_by.clear();
        }
        self.discovered_by.insert(peer, method);
        self.metrics.discovered(method);
    }

    /// What led to a dial: how its peer was discovered; an address the user gave
    /// (`dial`, `ping`, the bootstrap list); else the DHT, which dials on its own.
    fn dial_method(
        &self,
        peer: Option<PeerId>,
        connection: libp2p::swarm::ConnectionId,
    ) -> DiscoveryMethod {
        if self.pending.dial.contains_key(&connection)
            || self.pending.ping_dial.contains_key(&connection)
        {
            return DiscoveryMethod::Bootstrap;
        }
        peer.and_then(|p| self.discovered_by.get(&p).copied())
            .unwrap_or(DiscoveryMethod::Dht)
    }
}

fn observe_messages(metrics: &Metrics, event: &request_response::Event<Vec<u8>, Vec<u8>>) {
    use request_response::{Event as E, Message};
    match event {
        E::Message {
            message: Message::Request { .. },
            ..
        } => metrics.protocol(MESSAGES, true, true),
        E::Message {
            message: Message::Response { .. },
            ..
        } => metrics.protocol(MESSAGES, false, true),
        E::OutboundFailure { .. } => metrics.protocol(MESSAGES, false, false),
        E::InboundFailure { .. } => metrics.protocol(MESSAGES, true, false),
        E::ResponseSent { .. } => {}
    }
}

/// The `transport` and `direction` labels of a connection.
fn connection_labels(peer: PeerId, endpoint: &ConnectedPoint) -> [(&'static str, &'static str); 2] {
    let transport = addr::transport_name(&addr::remote_addr(endpoint, peer));
    let direction = if endpoint.is_dialer() {
        "outbound"
    } else {
        "inbound"
    };
    [("transport", transport), ("direction", direction)]
}

fn dial_outcome(metrics: &Metrics, method: DiscoveryMethod, outcome: &'static str) {
    metrics
        .own()
        .discovery_dials
        .get_or_create(&[("method", method.as_str()), ("outcome", outcome)])
        .inc();
}

fn handshake_failure(metrics: &Metrics, direction: &'static str, transport: &'static str) {
    metrics
        .own()
        .handshake_failures
        .get_or_create(&[("direction", direction), ("transport", transport)])
        .inc();
}

/// Whether a denied connection was refused by the connection limits.
fn is_limit(cause: &libp2p::swarm::ConnectionDenied) -> bool {
    cause
        .downcast_ref::<connection_limits::Exceeded>()
        .is_some()
}
