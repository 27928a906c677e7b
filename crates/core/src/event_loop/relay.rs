//! Circuit relay v2, client side: reservations (made, renewed, lost) and circuits (closed by
//! a relay limit, and reopened when they were in use).

use libp2p::{
    Multiaddr, PeerId, core::transport::ListenerId, multiaddr::Protocol, relay,
    swarm::dial_opts::DialOpts,
};

use super::{ConnectionInfo, EventLoop, answer};
use crate::{addr, client::Reply, error::Error, event::Event};

/// How close to the relay's duration limit a circuit must end to count as ended by it.
const LIMIT_SLACK: std::time::Duration = std::time::Duration::from_secs(2);

impl EventLoop {
    /// Starts a reservation on `relay` (or on a connected relay).
    pub(super) fn reserve(&mut self, relay: Option<Multiaddr>, reply: Reply<Multiaddr>) {
        let relay_addr = match relay {
            Some(addr) => addr,
            None => match self.any_relay() {
                Some(addr) => addr,
                None => {
                    return answer(
                        reply,
                        Err(Error::Remote(
                            "no relay known: connect to a bootstrap node first".into(),
                        )),
                    );
                }
            },
        };
        let Some(relay_peer) = addr::peer_id_of(&relay_addr) else {
            return answer(
                reply,
                Err(Error::Remote(format!(
                    "the relay address {relay_addr} must end in /p2p/<relay peer id>"
                ))),
            );
        };
        if let Some(circuit) = self.reach.reserved_addrs.get(&relay_peer) {
            return answer(reply, Ok(circuit.clone()));
        }
        let circuit = relay_addr.with(Protocol::P2pCircuit);
        match self.swarm.listen_on(circuit.clone()) {
            Ok(id) => {
                self.reach.reservations.insert(id, relay_peer);
                self.pending.reserve.insert(id, reply);
            }
            Err(e) => answer(
                reply,
                Err(Error::Listen {
                    addr: circuit.to_string(),
                    reason: e.to_string(),
                }),
            ),
        }
    }

    /// The relays this node is directly connected to, each with its address (`/p2p/` too).
    fn relays(&self) -> impl Iterator<Item = (PeerId, Multiaddr)> + '_ {
        self.peers
            .iter()
            .filter(|(_, state)| state.relay)
            .filter_map(|(relay, state)| Some((*relay, state.direct_addr(*relay)?)))
    }

    /// The address of a connected relay.
    fn any_relay(&self) -> Option<Multiaddr> {
        self.relays().next().map(|(_, addr)| addr)
    }

    /// Circuit addresses through every connected relay at which `peer` may be reachable.
    pub(super) fn circuit_addrs_of(&self, peer: PeerId) -> Vec<Multiaddr> {
        self.relays()
            .filter(|(relay, _)| *relay != peer)
            .map(|(_, addr)| addr.with(Protocol::P2pCircuit).with(Protocol::P2p(peer)))
            .collect()
    }

    /// A listener came up: for a circuit listener, the reservation is accepted.
    pub(super) fn on_circuit_listening(&mut self, listener: ListenerId, full: &Multiaddr) {
        let Some(relay) = self.reach.reservations.get(&listener).copied() else {
            return;
        };
        self.reach.reserved_addrs.insert(relay, full.clone());
        if let Some(reply) = self.pending.reserve.remove(&listener) {
            answer(reply, Ok(full.clone()));
        }
    }

    /// A listener closed: for a circuit listener, the reservation is gone.
    pub(super) fn on_circuit_listener_closed(&mut self, listener: ListenerId, reason: String) {
        let Some(relay) = self.reach.reservations.remove(&listener) else {
            return;
        };
        self.reach.reserved_addrs.remove(&relay);
        if let Some(reply) = self.pending.reserve.remove(&listener) {
            answer(
                reply,
                Err(Error::Remote(format!(
                    "the relay {relay} refused the reservation: {reason}"
                ))),
            );
            return;
        }
        tracing::info!(%relay, %reason, "relay reservation lost");
        self.publish(Event::ReservationLost {
            relay: relay.to_string(),
            reason,
        });
    }

    pub(super) fn on_relay_client(&mut self, event: relay::client::Event) {
        use relay::client::Event as E;
        match event {
            E::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                limit,
            } => {
                tracing::info!(relay = %relay_peer_id, renewal, "relay reservation accepted");
                if let Some(limit) = limit {
                    self.reach
                        .circuit_limits
                        .insert(relay_peer_id, (limit.duration(), limit.data_in_bytes()));
                }
                let addr = self
                    .reach
                    .reserved_addrs
                    .get(&relay_peer_id)
                    .map(ToString::to_string);
                self.publish(Event::ReservationAccepted {
                    relay: relay_peer_id.to_string(),
                    renewal,
                    addr,
                });
            }
            E::OutboundCircuitEstablished {
                relay_peer_id,
                limit,
            } => {
                tracing::debug!(relay = %relay_peer_id, "outbound circuit established");
                if let Some(limit) = limit {
                    self.reach
                        .circuit_limits
                        .insert(relay_peer_id, (limit.duration(), limit.data_in_bytes()));
                }
            }
            E::InboundCircuitEstablished { src_peer_id, .. } => {
                tracing::debug!(peer = %src_peer_id, "inbound circuit established");
            }
        }
    }

    /// A relayed connection closed: say why, and reopen it if a relay limit ended a
    /// circuit we were using and we had opened it. Answers whether it is being reopened.
    pub(super) fn on_circuit_closed(
        &mut self,
        peer: PeerId,
        connection: &ConnectionInfo,
        cause: Option<String>,
        still_connected: bool,
    ) -> bool {
        let relay = addr::relay_of(&connection.addr);
        let (duration, _bytes) = relay
            .and_then(|r| self.reach.circuit_limits.get(&r).copied())
            .unwrap_or_default();
        let lived = connection.since.elapsed();
        let limit = duration.filter(|d| lived + LIMIT_SLACK >= *d);
        let limit_reached = limit.is_some();
        let reason = match (limit, cause) {
            (Some(d), _) => format!("the relay's {} s circuit limit ended it", d.as_secs()),
            (None, Some(cause)) => cause,
            (None, None) => "closed".to_owned(),
        };
        let reopening = limit_reached
            && connection.dialer
            && !still_connected
            && self.reach.in_use.contains(&peer);
        tracing::info!(%peer, %reason, reopening, "relayed connection closed");
        self.publish(Event::CircuitClosed {
            peer: peer.to_string(),
            reason,
            limit_reached,
            reopening,
        });
        if reopening {
            let opts = DialOpts::peer_id(peer)
                .addresses(vec![connection.addr.clone()])
                .build();
            if let Err(error) = self.swarm.dial(opts) {
                tracing::debug!(%peer, %error, "cannot reopen the circuit");
                return false;
            }
        }
        reopening
    }
}
