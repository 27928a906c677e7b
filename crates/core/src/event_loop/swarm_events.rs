//! Reacting to swarm events: connections, listeners, identify, ping and direct messages.

use libp2p::{
    identify, ping, relay, rendezvous, request_response,
    swarm::{DialError, SwarmEvent},
};
use web_time::Instant;

use super::{ConnectionInfo, EventLoop, answer, unix_ms};
use crate::{addr, behaviour::BehaviourEvent, error::Error, event::Event};

impl EventLoop {
    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => self.on_identify(event),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => self.on_ping(event),
            SwarmEvent::Behaviour(BehaviourEvent::Messages(event)) => self.on_message(event),
            SwarmEvent::Behaviour(BehaviourEvent::RelayServer(event)) => {
                tracing::debug!(?event, "relay server");
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(event)) => {
                self.on_relay_client(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rendezvous(event)) => {
                self.on_rendezvous_client(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::RendezvousServer(event)) => {
                self.on_rendezvous_server_event(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossipsub(event),
            #[cfg(not(target_arch = "wasm32"))]
            SwarmEvent::Behaviour(BehaviourEvent::Nat(event)) => self.on_nat_event(event),
            SwarmEvent::ExternalAddrConfirmed { address } => {
                tracing::info!(%address, "external address confirmed");
                self.on_external_addr();
                self.on_reachability_input();
            }
            SwarmEvent::ExternalAddrExpired { address } => {
                tracing::info!(%address, "external address expired");
                self.on_reachability_input();
            }
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                let full = addr::with_peer_id(&address, self.local_peer_id());
                tracing::info!(addr = %full, "listening");
                if self.config.announce_listen_addrs && !addr::is_unspecified(&address) {
                    self.swarm.add_external_address(address.clone());
                }
                if let Some(reply) = self.pending.listen.remove(&listener_id) {
                    answer(reply, Ok(full.clone()));
                }
                self.on_circuit_listening(listener_id, &full);
                self.publish(Event::Listening {
                    addr: full.to_string(),
                });
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.swarm.remove_external_address(&address);
                self.publish(Event::ListenerClosed {
                    addr: address.to_string(),
                });
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                let reason = reason
                    .err()
                    .map_or("the connection to the relay closed".to_owned(), |e| {
                        error_chain(&e)
                    });
                self.on_circuit_listener_closed(listener_id, reason.clone());
                if let Some(reply) = self.pending.listen.remove(&listener_id) {
                    answer(
                        reply,
                        Err(Error::Listen {
                            addr: "listener".into(),
                            reason,
                        }),
                    );
                }
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                let reason = error_chain(&error);
                tracing::warn!(%reason, "listener error");
                if let Some(reply) = self.pending.listen.remove(&listener_id) {
                    answer(
                        reply,
                        Err(Error::Listen {
                            addr: "listener".into(),
                            reason,
                        }),
                    );
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                let remote = addr::remote_addr(&endpoint, peer_id);
                tracing::debug!(%peer_id, %remote, "connection established");
                if let Some(reply) = self.pending.dial.remove(&connection_id) {
                    answer(reply, Ok(peer_id));
                }
                let state = self.peers.entry(peer_id).or_default();
                let first = state.connections.is_empty();
                let info = ConnectionInfo {
                    addr: remote.clone(),
                    since: Instant::now(),
                    dialer: endpoint.is_dialer(),
                };
                state.connections.insert(connection_id, info);
                if first {
                    self.publish(Event::PeerConnected {
                        peer: peer_id.to_string(),
                        transport: addr::transport_name(&remote).to_owned(),
                        addr: remote.to_string(),
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                cause,
                ..
            } => {
                tracing::debug!(%peer_id, ?cause, "connection closed");
                self.fail_ping_dial(connection_id, "the connection closed");
                if let Some(state) = self.peers.get_mut(&peer_id) {
                    let closed = state.connections.remove(&connection_id);
                    let still_connected = !state.connections.is_empty();
                    let reopening =
                        closed
                            .filter(|c| addr::is_relayed(&c.addr))
                            .is_some_and(|info| {
                                let cause = cause.as_ref().map(|e| error_chain(e));
                                self.on_circuit_closed(peer_id, &info, cause, still_connected)
                            });
                    if !still_connected {
                        if !reopening {
                            self.reach.in_use.remove(&peer_id);
                        }
                        self.forget_rendezvous(peer_id);
                        self.peers.remove(&peer_id);
                        for reply in self.pending.ping.remove(&peer_id).unwrap_or_default() {
                            answer(reply, Err(Error::Remote("the connection closed".into())));
                        }
                        self.publish(Event::PeerDisconnected {
                            peer: peer_id.to_string(),
                        });
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                self.on_dial_error(connection_id, peer_id, &error);
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::debug!(%send_back_addr, %error, "incoming connection failed");
            }
            _ => {}
        }
    }

    fn on_dial_error(
        &mut self,
        connection_id: libp2p::swarm::ConnectionId,
        peer: Option<libp2p::PeerId>,
        error: &DialError,
    ) {
        let reason = dial_error_line(error);
        tracing::debug!(?peer, %reason, "dial failed");
        let who = peer.map_or_else(|| "the address".to_owned(), |p| p.to_string());
        if let Some(reply) = self.pending.dial.remove(&connection_id) {
            answer(
                reply,
                Err(Error::Unreachable {
                    peer: who.clone(),
                    reason: reason.clone(),
                }),
            );
        }
        if let Some(reply) = self.pending.ping_dial.remove(&connection_id) {
            answer(
                reply,
                Err(Error::Unreachable {
                    peer: who,
                    reason: reason.clone(),
                }),
            );
        }
        self.publish(Event::DialFailed {
            peer: peer.map(|p| p.to_string()),
            error: reason,
        });
    }

    fn fail_ping_dial(&mut self, connection_id: libp2p::swarm::ConnectionId, why: &str) {
        if let Some(reply) = self.pending.ping_dial.remove(&connection_id) {
            answer(reply, Err(Error::Remote(why.to_owned())));
        }
    }

    fn on_identify(&mut self, event: identify::Event) {
        let identify::Event::Received {
            peer_id,
            info,
            connection_id,
        } = event
        else {
            return;
        };
        tracing::debug!(%peer_id, protocols = ?info.protocols, listen = ?info.listen_addrs, "identified");
        if self.is_page_reconnect(peer_id, connection_id, &info.agent_version) {
            // A reloaded page (same identity) while its old connection lingers (a closed
            // tab's WebRTC connection takes a while to time out). Protocols that talk over
            // one connection per peer (gossipsub announces its rooms only on the first)
            // would keep using the dead one: drop both, the page reconnects at once.
            tracing::info!(%peer_id, "page reconnected over a new connection: resetting it");
            let _ = self.swarm.disconnect_peer_id(peer_id);
            return;
        }
        if let Some(state) = self.peers.get_mut(&peer_id) {
            state.agent_version = Some(info.agent_version.clone());
        }
        let speaks = |name: &str| info.protocols.iter().any(|p| p.as_ref() == name);
        let relay = speaks(relay::HOP_PROTOCOL_NAME.as_ref());
        let rendezvous = speaks(rendezvous::PROTOCOL_NAME.as_ref());
        self.on_peer_serves(peer_id, relay, rendezvous);
        // Kademlia does not learn addresses from inbound connections: feed it the listen
        // addresses of every peer that serves the DHT (client-mode peers do not list it).
        let serves_dht = info
            .protocols
            .iter()
            .any(|p| p.as_ref() == self.config.kad_protocol);
        if !serves_dht {
            return;
        }
        for address in info.listen_addrs {
            if self.config.address_filter.allows(&address) && !addr::is_unspecified(&address) {
                let update = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer_id, address);
                tracing::debug!(%peer_id, ?update, "routing address added");
            }
        }
    }

    fn on_ping(&mut self, event: ping::Event) {
        let ping::Event {
            peer,
            connection,
            result,
        } = event;
        match result {
            Ok(rtt) => {
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.rtt = Some((rtt, Instant::now()));
                }
                if let Some(reply) = self.pending.ping_dial.remove(&connection) {
                    answer(reply, Ok((peer, rtt)));
                }
                for reply in self.pending.ping.remove(&peer).unwrap_or_default() {
                    answer(reply, Ok((peer, rtt)));
                }
                self.publish(Event::PingRtt {
                    peer: peer.to_string(),
                    rtt_ms: rtt.as_secs_f64() * 1000.0,
                });
            }
            Err(failure) => {
                // A connection that stops answering pings is dead; libp2p leaves closing it
                // to us. Without this a browser never notices a vanished WebRTC peer.
                tracing::debug!(%peer, %failure, "ping failed: closing the connection");
                self.swarm.close_connection(connection);
                let reason = format!("ping failed: {failure}");
                self.fail_ping_dial(connection, &reason);
                for reply in self.pending.ping.remove(&peer).unwrap_or_default() {
                    answer(reply, Err(Error::Remote(reason.clone())));
                }
            }
        }
    }

    fn on_message(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        use request_response::{Event as E, Message};
        match event {
            E::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                tracing::debug!(%peer, bytes = request.len(), "direct message received");
                self.reach.in_use.insert(peer);
                // The acknowledgement carries nothing: delivery is the acknowledgement.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .messages
                    .send_response(channel, Vec::new());
                self.publish(Event::Message {
                    peer: peer.to_string(),
                    data: request,
                    at_ms: unix_ms(),
                });
            }
            E::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some((reply, sent)) = self.pending.send.remove(&request_id) {
                    answer(reply, Ok((response, sent.elapsed())));
                }
            }
            E::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((reply, _)) = self.pending.send.remove(&request_id) {
                    let reason = error.to_string();
                    answer(
                        reply,
                        Err(Error::Unreachable {
                            peer: peer.to_string(),
                            reason,
                        }),
                    );
                }
            }
            E::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound direct message failed");
            }
            E::ResponseSent { .. } => {}
        }
    }
}

impl EventLoop {
    /// Whether `connection` is a page's second direct connection to this node.
    fn is_page_reconnect(
        &self,
        peer: libp2p::PeerId,
        connection: libp2p::swarm::ConnectionId,
        agent: &str,
    ) -> bool {
        if !agent.starts_with(crate::config::BROWSER_AGENT) {
            return false;
        }
        let Some(state) = self.peers.get(&peer) else {
            return false;
        };
        let direct = |c: &ConnectionInfo| !c.dialer && !addr::is_relayed(&c.addr);
        state.connections.get(&connection).is_some_and(direct)
            && state
                .connections
                .iter()
                .any(|(id, c)| *id != connection && direct(c))
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn on_rendezvous_server_event(&mut self, event: rendezvous::server::Event) {
        self.on_rendezvous_server(event);
    }

    #[cfg(target_arch = "wasm32")]
    fn on_rendezvous_server_event(&mut self, event: std::convert::Infallible) {
        match event {}
    }
}

/// A dial error in one line (libp2p's `Transport` variant lists every address tried).
fn dial_error_line(error: &DialError) -> String {
    match error {
        DialError::Transport(attempts) => attempts
            .iter()
            .map(|(addr, e)| format!("{addr}: {}", error_chain(e)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// An error and its sources, joined with ": ", skipping empty or repeated messages.
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        // Some libp2p errors list their causes on lines of their own (`…occurred:\n - x`):
        // a reason is shown on one line.
        let text = e
            .to_string()
            .lines()
            .map(|line| line.trim().trim_start_matches("- "))
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() {
        format!("{error:?}")
    } else {
        parts.join(": ")
    }
}
