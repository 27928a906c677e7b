//! Starting the work each [`Command`] asks for.

use libp2p::{
    Multiaddr, PeerId,
    kad::{self, Quorum, RecordKey},
    swarm::{DialError, dial_opts::DialOpts},
};
use web_time::Instant;

use super::{EventLoop, answer};
use crate::{
    addr,
    client::{Addresses, Command, PeerSummary, PingTarget, Reply},
    error::Error,
};

impl EventLoop {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Listen(addr, reply) => self.listen(addr, reply),
            Command::AddExternalAddress(addr, reply) => {
                self.swarm.add_external_address(addr);
                answer(reply, Ok(()));
            }
            Command::Dial(addr, reply) => {
                let opts = dial_opts(addr.clone());
                let id = opts.connection_id();
                let connected = addr::peer_id_of(&addr).filter(|p| self.swarm.is_connected(p));
                match (self.swarm.dial(opts), connected) {
                    (Ok(()), _) => _ = self.pending.dial.insert(id, reply),
                    // Dialing a peer we are connected to: it is reached already.
                    (Err(DialError::DialPeerConditionFalse(_)), Some(peer)) => {
                        answer(reply, Ok(peer));
                    }
                    (Err(e), _) => answer(reply, Err(unreachable(&addr, &e))),
                }
            }
            Command::AddDhtServer(peer, addr, reply) => {
                let update = self.swarm.behaviour_mut().kad.add_address(&peer, addr);
                tracing::debug!(%peer, ?update, "bootstrap server added to the routing table");
                answer(reply, Ok(()));
            }
            Command::DhtServers(limit, reply) => {
                let servers = self.dht_servers(limit);
                answer(reply, Ok(servers));
            }
            Command::RemoveDhtServer(peer, reply) => {
                let removed = self.swarm.behaviour_mut().kad.remove_peer(&peer).is_some();
                tracing::debug!(%peer, removed, "lost bootstrap server removed from the routing table");
                answer(reply, Ok(()));
            }
            Command::Bootstrap(reply) => match self.swarm.behaviour_mut().kad.bootstrap() {
                Ok(id) => _ = self.pending.bootstrap.insert(id, reply),
                Err(_) => answer(reply, Err(Error::NoKnownPeers)),
            },
            Command::Put(key, value, peers, reply) => self.put(key, value, peers, reply),
            Command::Get(key, reply) => match self.record_key(&key) {
                Ok(key) => {
                    let id = self.swarm.behaviour_mut().kad.get_record(key);
                    self.pending.get.insert(id, reply);
                }
                Err(e) => answer(reply, Err(e)),
            },
            Command::StartProviding(key, reply) => match self.record_key(&key) {
                Ok(key) => self.start_providing(key, reply),
                Err(e) => answer(reply, Err(e)),
            },
            Command::GetProviders(key, reply) => match self.record_key(&key) {
                Ok(key) => {
                    let id = self.swarm.behaviour_mut().kad.get_providers(key);
                    let found = Default::default();
                    self.pending.get_providers.insert(id, (reply, found));
                }
                Err(e) => answer(reply, Err(e)),
            },
            Command::FindPeer(peer, reply) => {
                let id = self.swarm.behaviour_mut().kad.get_closest_peers(peer);
                self.pending.find_peer.insert(id, (peer, reply));
            }
            Command::Ping(target, reply) => self.ping(target, reply),
            Command::Send(peer, data, reply) => self.send(peer, data, reply),
            Command::Reserve(relay, reply) => self.reserve(relay, reply),
            Command::Discover(namespace, reply) => self.discover(namespace, reply),
            Command::Discovered(reply) => answer(reply, Ok(self.discovered_peers())),
            Command::JoinRoom(topic, reply) => self.join_room(topic, reply),
            Command::LeaveRoom(topic, reply) => self.leave_room(topic, reply),
            Command::Publish(topic, data, reply) => self.publish_in_room(topic, data, reply),
            Command::Rooms(reply) => answer(reply, Ok(self.rooms())),
            Command::Peers(reply) => answer(reply, Ok(self.peer_summaries())),
            Command::Addresses(reply) => answer(reply, Ok(self.addresses())),
            #[cfg(not(target_arch = "wasm32"))]
            Command::Nat(reply) => answer(reply, Ok(self.nat_status())),
            Command::Stats(reply) => {
                let stats = self.node_stats();
                answer(reply, Ok(stats));
            }
            Command::RoutingTableSize(reply) => answer(reply, Ok(self.routing_table_size())),
            Command::RefreshMetrics(reply) => {
                self.refresh_gauges();
                answer(reply, Ok(()));
            }
            Command::Subscribe(reply) => {
                let receiver = self.subscribe();
                answer(reply, Ok(receiver));
            }
            Command::Shutdown(reply) => answer(reply, Ok(())),
        }
    }

    /// A direct message. A peer we are not connected to is dialed at the addresses it
    /// registered at a rendezvous server, through every relay we are connected to (where a
    /// page keeps its reservation), and at whatever addresses the DHT knows.
    fn send(&mut self, peer: PeerId, data: Vec<u8>, reply: super::SendReply) {
        if data.len() > self.config.max_message_bytes {
            let limit = self.config.max_message_bytes;
            return answer(
                reply,
                Err(Error::MessageTooLarge {
                    size: data.len(),
                    limit,
                }),
            );
        }
        if peer == self.local_peer_id() {
            return answer(
                reply,
                Err(Error::Remote("that is this node's own PeerId".into())),
            );
        }
        let mut addrs: Vec<Multiaddr> = Vec::new();
        if !self.peers.contains_key(&peer) {
            if let Some(found) = self.reach.discovered.get(&peer) {
                addrs.extend(found.addrs.iter().cloned());
            }
            addrs.extend(self.circuit_addrs_of(peer));
            addrs.retain(|a| self.config.address_filter.allows(a));
        }
        self.reach.in_use.insert(peer);
        let id = self
            .swarm
            .behaviour_mut()
            .messages
            .send_request_with_addresses(&peer, data, addrs);
        self.pending.send.insert(id, (reply, Instant::now()));
    }

    fn listen(&mut self, addr: Multiaddr, reply: Reply<Multiaddr>) {
        match self.swarm.listen_on(addr.clone()) {
            Ok(id) => _ = self.pending.listen.insert(id, reply),
            Err(e) => answer(
                reply,
                Err(Error::Listen {
                    addr: addr.to_string(),
                    // The transports' listen errors carry the cause (address in use,
                    // permission denied) as a source, and some print nothing themselves.
                    reason: super::swarm_events::error_chain(&e),
                }),
            ),
        }
    }

    /// `key` as a Kademlia key, if it is within the limits.
    fn record_key(&self, key: &[u8]) -> Result<RecordKey, Error> {
        if key.is_empty() {
            return Err(Error::EmptyKey);
        }
        if key.len() > self.config.max_key_bytes {
            return Err(Error::KeyTooLarge {
                size: key.len(),
                limit: self.config.max_key_bytes,
            });
        }
        Ok(RecordKey::new(&key))
    }

    fn put(
        &mut self,
        key: Vec<u8>,
        value: Vec<u8>,
        peers: Option<Vec<PeerId>>,
        reply: Reply<super::PutReceipt>,
    ) {
        let record_key = match self.record_key(&key) {
            Ok(record_key) => record_key,
            Err(e) => return answer(reply, Err(e)),
        };
        if value.len() > self.config.max_value_bytes {
            let limit = self.config.max_value_bytes;
            return answer(
                reply,
                Err(Error::ValueTooLarge {
                    size: value.len(),
                    limit,
                }),
            );
        }
        let record = kad::Record::new(record_key, value);
        // Quorum::All: the put then reports every server that confirmed (kad lists them
        // when the quorum is not met, and it is met only when all k closest confirmed).
        let kad = &mut self.swarm.behaviour_mut().kad;
        let before = kad.store_mut().outcomes().len();
        let (started, all) = match peers {
            None => (kad.put_record(record, Quorum::All), kad::K_VALUE.get()),
            Some(peers) => {
                let all = peers.len();
                (
                    Ok(kad.put_record_to(record, peers.into_iter(), Quorum::All)),
                    all,
                )
            }
        };
        // The local write's outcome, with its real cause; anything before it belongs to
        // inbound writes that the loop reports when their events arrive.
        let local = kad.store_mut().outcomes().split_off(before);
        match started {
            Ok(id) => _ = self.pending.put.insert(id, (reply, all)),
            Err(e) => answer(reply, Err(local_refusal(local, &e))),
        }
    }

    fn start_providing(&mut self, key: RecordKey, reply: Reply<()>) {
        let kad = &mut self.swarm.behaviour_mut().kad;
        let before = kad.store_mut().outcomes().len();
        let started = kad.start_providing(key);
        let local = kad.store_mut().outcomes().split_off(before);
        match started {
            Ok(id) => _ = self.pending.start_providing.insert(id, reply),
            Err(e) => answer(reply, Err(local_refusal(local, &e))),
        }
    }

    fn ping(&mut self, target: PingTarget, reply: Reply<(PeerId, std::time::Duration)>) {
        let peer = match &target {
            PingTarget::Peer(peer) => Some(*peer),
            PingTarget::Addr(addr) => addr::peer_id_of(addr),
        };
        if let Some(peer) = peer
            && let Some(state) = self.peers.get(&peer)
        {
            // Connected: a round trip measured within the last ping interval is current;
            // otherwise wait for the next one (at most one interval away).
            match state.rtt {
                Some((rtt, at)) if at.elapsed() < self.config.ping_interval => {
                    answer(reply, Ok((peer, rtt)));
                }
                _ => self.pending.ping.entry(peer).or_default().push(reply),
            }
            return;
        }
        // Not connected: the first ping on a new connection is sent at once.
        let opts = match target {
            PingTarget::Peer(peer) => DialOpts::peer_id(peer).build(),
            PingTarget::Addr(addr) => dial_opts(addr),
        };
        let id = opts.connection_id();
        let what = peer.map_or_else(|| "the address".to_owned(), |p| p.to_string());
        match self.swarm.dial(opts) {
            Ok(()) => _ = self.pending.ping_dial.insert(id, reply),
            Err(e) => answer(
                reply,
                Err(Error::Unreachable {
                    peer: what,
                    reason: e.to_string(),
                }),
            ),
        }
    }

    /// See [`crate::Client::dht_servers`].
    fn dht_servers(&mut self, limit: usize) -> Vec<Multiaddr> {
        let mut servers = Vec::new();
        for bucket in self.swarm.behaviour_mut().kad.kbuckets() {
            for entry in bucket.iter() {
                let peer = *entry.node.key.preimage();
                for a in entry.node.value.iter() {
                    if servers.len() >= limit {
                        return servers;
                    }
                    if addr::is_browser_dialable(a) && !addr::is_unspecified(a) {
                        servers.push(addr::with_peer_id(a, peer));
                    }
                }
            }
        }
        servers
    }

    fn peer_summaries(&mut self) -> Vec<PeerSummary> {
        let in_table: std::collections::HashSet<PeerId> = self
            .swarm
            .behaviour_mut()
            .kad
            .kbuckets()
            .flat_map(|b| b.iter().map(|e| *e.node.key.preimage()).collect::<Vec<_>>())
            .collect();
        let mut peers: Vec<PeerSummary> = self
            .peers
            .iter()
            .map(|(peer, state)| {
                let addrs: Vec<Multiaddr> =
                    state.connections.values().map(|c| c.addr.clone()).collect();
                PeerSummary {
                    peer_id: *peer,
                    transport: state.transport().unwrap_or("other").to_owned(),
                    addrs,
                    rtt_ms: state.rtt_ms(),
                    agent_version: state.agent_version.clone(),
                    in_routing_table: in_table.contains(peer),
                }
            })
            .collect();
        peers.sort_by_key(|p| p.peer_id.to_base58());
        peers
    }

    fn addresses(&self) -> Addresses {
        let me = self.local_peer_id();
        Addresses {
            peer_id: me,
            listen: self
                .swarm
                .listeners()
                .map(|a| addr::with_peer_id(a, me))
                .collect(),
            external: self
                .swarm
                .external_addresses()
                .map(|a| addr::with_peer_id(a, me))
                .collect(),
        }
    }
}

/// How to dial `addr`: to the peer it names (`/p2p/…`), or to whoever answers there.
fn dial_opts(addr: Multiaddr) -> DialOpts {
    match addr::peer_id_of(&addr) {
        Some(peer) => DialOpts::peer_id(peer).addresses(vec![addr]).build(),
        None => DialOpts::unknown_peer_id().address(addr).build(),
    }
}

/// A dial error as the user sees it.
pub(super) fn unreachable(target: &Multiaddr, error: &impl std::fmt::Display) -> Error {
    Error::Unreachable {
        peer: target.to_string(),
        reason: error.to_string(),
    }
}

/// Why the store refused a local write: the last refusal among `local` (the store's
/// outcomes of this call), else kad's own error.
fn local_refusal(
    local: std::collections::VecDeque<crate::store::WriteOutcome>,
    error: &dyn std::fmt::Display,
) -> Error {
    let cause = local
        .into_iter()
        .rev()
        .find_map(|o| o.result.err())
        .unwrap_or_else(|| crate::store::RefusalCause::Database(error.to_string()));
    Error::StoreRefused(cause)
}
