//! The cloneable handle that drives a node: every call is a [`Command`] sent to the
//! [`EventLoop`](crate::EventLoop), answered through a oneshot channel.
//!
//! Every call is bounded: the event loop answers within the query timeout (plus a margin),
//! or the call fails with [`Error::Timeout`]. A dropped event loop answers
//! [`Error::Stopped`].

use std::time::Duration;

use futures::{
    FutureExt, SinkExt,
    channel::{mpsc, oneshot},
};
use libp2p::{Multiaddr, PeerId, identity::Keypair};
use serde::Serialize;

use web_time::Instant;

mod signing;

pub use crate::metrics::stats::NodeStats;
use crate::{
    error::Error,
    event::Event,
    metrics::{Metrics, Operation},
};
pub use signing::SignedValue;

/// A reply channel carried by a command.
pub type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// What a ping targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingTarget {
    /// A peer the node is connected to or can find addresses for.
    Peer(PeerId),
    /// An address to dial (with or without `/p2p/`).
    Addr(Multiaddr),
}

/// A record found in the DHT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundRecord {
    /// The value.
    pub value: Vec<u8>,
    /// The peer that answered, `None` when it came from the local store.
    pub from: Option<PeerId>,
    /// The peer that published the record, if it says.
    pub publisher: Option<PeerId>,
    /// For a signed key (`/webkad/pk/<peer-id>/<name>`): the owner, whose signature was
    /// checked; the value is then the signed value.
    pub signed_by: Option<PeerId>,
    /// For a signed key: the owner's sequence number.
    pub seq: Option<u64>,
}

/// How a PUT went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PutOutcome {
    /// Stored locally and on at least one other peer.
    Replicated,
    /// Stored locally only: no other DHT server was known or answered.
    LocalOnly,
}

/// Where a PUT's record lives: the DHT servers that acknowledged it. A server acknowledges
/// only what its store made durable (it refuses, and the put does not count it, otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PutReceipt {
    /// How many DHT servers confirmed it.
    pub confirmations: usize,
    /// Which ones, when kad reports them (it does unless every one of the k closest
    /// servers confirmed).
    pub confirmed_by: Vec<PeerId>,
}

impl PutReceipt {
    /// The coarse outcome.
    pub fn outcome(&self) -> PutOutcome {
        if self.confirmations > 0 {
            PutOutcome::Replicated
        } else {
            PutOutcome::LocalOnly
        }
    }
}

/// A connected peer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerSummary {
    /// The peer.
    pub peer_id: PeerId,
    /// Remote addresses of its open connections.
    pub addrs: Vec<Multiaddr>,
    /// The transport of its first connection.
    pub transport: String,
    /// The last ping round trip, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// What it said it is, over identify.
    pub agent_version: Option<String>,
    /// Whether it is in our Kademlia routing table.
    pub in_routing_table: bool,
}

/// A peer found through rendezvous discovery, with how well this node reaches it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiscoveredPeer {
    /// The peer.
    pub peer_id: PeerId,
    /// The addresses it registered (for a page: its relay circuit addresses).
    pub addrs: Vec<Multiaddr>,
    /// Whether this node has a connection to it now.
    pub connected: bool,
    /// The transport of that connection (`relay` for a circuit), when connected.
    pub transport: Option<String>,
    /// The last ping round trip, in milliseconds, when connected.
    pub rtt_ms: Option<f64>,
}

/// A room this node joined and the peers known in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomInfo {
    /// The room (gossipsub topic).
    pub topic: String,
    /// Peers that joined it, as far as this node knows.
    pub peers: Vec<PeerId>,
}

/// A node's own addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Addresses {
    /// The node's peer id.
    pub peer_id: PeerId,
    /// Where it listens, each ending in `/p2p/<peer_id>`.
    pub listen: Vec<Multiaddr>,
    /// Addresses it announces to others (confirmed external), each ending in `/p2p/`.
    pub external: Vec<Multiaddr>,
}

/// An order for the event loop. Each carries its reply channel.
#[derive(Debug)]
pub enum Command {
    /// Listen on an address; answers the first concrete address of the listener.
    Listen(Multiaddr, Reply<Multiaddr>),
    /// Announce an address to others (add it as a confirmed external address).
    AddExternalAddress(Multiaddr, Reply<()>),
    /// Dial an address (with `/p2p/` or not); answers the peer it reached.
    Dial(Multiaddr, Reply<PeerId>),
    /// Put a peer known to serve the DHT (a bootstrap node just dialed) in the routing table
    /// at once, without waiting for identify to say so.
    AddDhtServer(PeerId, Multiaddr, Reply<()>),
    /// The browser-dialable addresses of DHT servers in the routing table, each ending in
    /// `/p2p/<id>`, at most this many.
    DhtServers(usize, Reply<Vec<Multiaddr>>),
    /// Take a peer out of the routing table (a bootstrap node that went away), so that
    /// queries do not wait for its dial to time out.
    RemoveDhtServer(PeerId, Reply<()>),
    /// Refresh the routing table; answers the routing table size when done.
    Bootstrap(Reply<usize>),
    /// Store a record in the DHT (`None`: on the closest servers, else on these peers).
    Put(Vec<u8>, Vec<u8>, Option<Vec<PeerId>>, Reply<PutReceipt>),
    /// Look a record up.
    Get(Vec<u8>, Reply<Option<FoundRecord>>),
    /// Announce this node as a provider of a key.
    StartProviding(Vec<u8>, Reply<()>),
    /// Find the providers of a key.
    GetProviders(Vec<u8>, Reply<Vec<PeerId>>),
    /// Find a peer's addresses through the DHT.
    FindPeer(PeerId, Reply<Vec<Multiaddr>>),
    /// Measure a round trip.
    Ping(PingTarget, Reply<(PeerId, Duration)>),
    /// Send a direct message; answers the acknowledgement and the round-trip time.
    Send(PeerId, Vec<u8>, Reply<(Vec<u8>, Duration)>),
    /// Reserve a slot on a relay (`None`: any connected relay); answers the circuit address.
    Reserve(Option<Multiaddr>, Reply<Multiaddr>),
    /// Ask rendezvous servers for the peers in a namespace (`None`: the configured one).
    Discover(Option<String>, Reply<Vec<DiscoveredPeer>>),
    /// The peers found so far, without asking anyone.
    Discovered(Reply<Vec<DiscoveredPeer>>),
    /// Join a room; answers whether it was newly joined.
    JoinRoom(String, Reply<bool>),
    /// Leave a room; answers whether it had been joined.
    LeaveRoom(String, Reply<bool>),
    /// Post in a room (joining it first); answers the message id.
    Publish(String, Vec<u8>, Reply<String>),
    /// The rooms joined and their peers.
    Rooms(Reply<Vec<RoomInfo>>),
    /// The connected peers.
    Peers(Reply<Vec<PeerSummary>>),
    /// The node's own addresses.
    Addresses(Reply<Addresses>),
    /// Counts for monitoring.
    Stats(Reply<NodeStats>),
    /// How many peers the Kademlia routing table holds.
    RoutingTableSize(Reply<usize>),
    /// Reachability: NAT status, external addresses, UPnP, relays, connections (native
    /// nodes only: a page is never dialable, and the page stays small).
    #[cfg(not(target_arch = "wasm32"))]
    Nat(Reply<crate::nat::NatStatus>),
    /// Refresh the routing-table and store gauges.
    RefreshMetrics(Reply<()>),
    /// Subscribe to events: answers a receiver of the events from now on.
    Subscribe(Reply<mpsc::Receiver<Event>>),
    /// Close every connection and stop the event loop.
    Shutdown(Reply<()>),
}

/// A cloneable handle on a running node.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    timeout: Duration,
    metrics: Metrics,
    /// The node's key, for owner-signed records ([`Client::with_identity`]).
    identity: Option<Keypair>,
}

impl Client {
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        local_peer_id: PeerId,
        timeout: Duration,
        metrics: Metrics,
    ) -> Self {
        Self {
            commands,
            local_peer_id,
            timeout,
            metrics,
            identity: None,
        }
    }

    /// This client with the node's key, so it can write owner-signed records. The key must
    /// be the one the node's peer id is made of.
    pub fn with_identity(mut self, keypair: Keypair) -> Self {
        self.identity = Some(keypair);
        self
    }

    /// The node's metrics (what `/metrics` encodes).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A call whose outcome and latency are recorded as `op`.
    async fn timed<T>(
        &self,
        op: Operation,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, Error> {
        let started = Instant::now();
        let result = self.call(make).await;
        self.metrics.operation(op, started.elapsed(), &result);
        result
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .clone()
            .send(make(reply))
            .await
            .map_err(|_| Error::Stopped)?;
        let timeout = futures_timer::Delay::new(self.timeout);
        futures::select! {
            answer = answer.fuse() => answer.map_err(|_| Error::Stopped)?,
            () = timeout.fuse() => Err(Error::Timeout(self.timeout)),
        }
    }

    /// Starts listening on `addr`; returns the first address the listener got.
    pub async fn listen(&self, addr: Multiaddr) -> Result<Multiaddr, Error> {
        self.call(|r| Command::Listen(addr, r)).await
    }

    /// Announces `addr` to other peers as one of ours.
    pub async fn add_external_address(&self, addr: Multiaddr) -> Result<(), Error> {
        self.call(|r| Command::AddExternalAddress(addr, r)).await
    }

    /// Connects to `addr`; returns the peer reached. Known DHT servers join the routing table.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, Error> {
        self.timed(Operation::Dial, |r| Command::Dial(addr, r))
            .await
    }

    /// Puts `peer`, known to serve the DHT at `addr` (a bootstrap node this node dialed), in
    /// the routing table now, so a query can start in the same round trip as identify
    /// instead of after it. Kademlia drops it again if it turns out not to serve.
    pub async fn add_dht_server(&self, peer: PeerId, addr: Multiaddr) -> Result<(), Error> {
        self.call(|r| Command::AddDhtServer(peer, addr, r)).await
    }

    /// Addresses a browser can dial (WebSocket, WebRTC-direct with certhash) of the DHT
    /// servers in the routing table, each ending in `/p2p/<id>`, at most `limit`: the other
    /// servers a page may rejoin through when this node goes away.
    pub async fn dht_servers(&self, limit: usize) -> Result<Vec<Multiaddr>, Error> {
        self.call(|r| Command::DhtServers(limit, r)).await
    }

    /// Takes `peer` out of the routing table: a bootstrap node that went away, whose dead
    /// addresses would otherwise hold every query until their dials time out (WebRTC-direct:
    /// 10 s). Kademlia adds it again if it comes back and serves.
    pub async fn remove_dht_server(&self, peer: PeerId) -> Result<(), Error> {
        self.call(|r| Command::RemoveDhtServer(peer, r)).await
    }

    /// Refreshes the routing table; returns how many peers it holds once the network has
    /// answered the lookup of this node's own key (the refresh of farther buckets goes on
    /// in the background and ends with [`Event::Bootstrapped`]).
    pub async fn bootstrap(&self) -> Result<usize, Error> {
        self.timed(Operation::Bootstrap, Command::Bootstrap).await
    }

    /// Stores `value` under `key` locally and on the closest DHT servers.
    pub async fn put(&self, key: Vec<u8>, value: Vec<u8>) -> Result<PutOutcome, Error> {
        Ok(self.put_receipt(key, value).await?.outcome())
    }

    /// Stores `value` under `key` locally and on the closest DHT servers, and says which
    /// servers confirmed it.
    pub async fn put_receipt(&self, key: Vec<u8>, value: Vec<u8>) -> Result<PutReceipt, Error> {
        self.timed(Operation::Put, |r| Command::Put(key, value, None, r))
            .await
    }

    /// Stores `value` under `key` locally and on `peers` (whether or not they are the
    /// closest), and says which of them confirmed it.
    pub async fn put_to(
        &self,
        key: Vec<u8>,
        value: Vec<u8>,
        peers: Vec<PeerId>,
    ) -> Result<PutReceipt, Error> {
        self.timed(Operation::Put, |r| Command::Put(key, value, Some(peers), r))
            .await
    }

    /// Looks `key` up: the local store first, then the DHT. `None` when nobody has it.
    pub async fn get(&self, key: Vec<u8>) -> Result<Option<FoundRecord>, Error> {
        self.timed(Operation::Get, |r| Command::Get(key, r)).await
    }

    /// Announces this node as a provider of `key`. Provider records name the node's
    /// external addresses, so it must stay online and reachable to be useful.
    pub async fn start_providing(&self, key: Vec<u8>) -> Result<(), Error> {
        self.timed(Operation::Provide, |r| Command::StartProviding(key, r))
            .await
    }

    /// Finds the peers that provide `key`.
    pub async fn get_providers(&self, key: Vec<u8>) -> Result<Vec<PeerId>, Error> {
        self.timed(Operation::FindProviders, |r| Command::GetProviders(key, r))
            .await
    }

    /// Finds `peer`'s addresses through the DHT (peer routing).
    pub async fn find_peer(&self, peer: PeerId) -> Result<Vec<Multiaddr>, Error> {
        self.timed(Operation::FindPeer, |r| Command::FindPeer(peer, r))
            .await
    }

    /// Measures a round trip to a peer or address; returns the peer and the RTT.
    pub async fn ping(&self, target: PingTarget) -> Result<(PeerId, Duration), Error> {
        self.timed(Operation::Ping, |r| Command::Ping(target, r))
            .await
    }

    /// Sends a direct message; returns the peer's acknowledgement and the round-trip time.
    pub async fn send(&self, peer: PeerId, data: Vec<u8>) -> Result<(Vec<u8>, Duration), Error> {
        self.timed(Operation::Send, |r| Command::Send(peer, data, r))
            .await
    }

    /// Reserves a slot on the relay at `relay` (an address ending in `/p2p/<relay>`), or on
    /// any connected relay when `None`; returns this node's circuit address there. The
    /// reservation is renewed by itself while the connection to the relay lasts.
    pub async fn reserve(&self, relay: Option<Multiaddr>) -> Result<Multiaddr, Error> {
        self.timed(Operation::Reserve, |r| Command::Reserve(relay, r))
            .await
    }

    /// Asks the connected rendezvous servers for the peers registered under `namespace`
    /// (the configured discovery namespace when `None`). This node is never in the list.
    pub async fn discover(&self, namespace: Option<String>) -> Result<Vec<DiscoveredPeer>, Error> {
        self.timed(Operation::Discover, |r| Command::Discover(namespace, r))
            .await
    }

    /// The peers discovered so far, with their reachability, without asking anyone.
    pub async fn discovered(&self) -> Result<Vec<DiscoveredPeer>, Error> {
        self.call(Command::Discovered).await
    }

    /// Joins the room `topic`; returns whether it was newly joined.
    pub async fn join_room(&self, topic: String) -> Result<bool, Error> {
        self.call(|r| Command::JoinRoom(topic, r)).await
    }

    /// Leaves the room `topic`; returns whether it had been joined.
    pub async fn leave_room(&self, topic: String) -> Result<bool, Error> {
        self.call(|r| Command::LeaveRoom(topic, r)).await
    }

    /// Posts `data` in the room `topic` (joining it first); returns the message id.
    /// Fails with [`Error::EmptyRoom`] while no other peer is known in the room.
    pub async fn publish(&self, topic: String, data: Vec<u8>) -> Result<String, Error> {
        self.timed(Operation::Publish, |r| Command::Publish(topic, data, r))
            .await
    }

    /// The rooms this node joined, with the peers known in each.
    pub async fn rooms(&self) -> Result<Vec<RoomInfo>, Error> {
        self.call(Command::Rooms).await
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerSummary>, Error> {
        self.call(Command::Peers).await
    }

    /// The node's own listen and external addresses.
    pub async fn addresses(&self) -> Result<Addresses, Error> {
        self.call(Command::Addresses).await
    }

    /// The seven metric groups (bandwidth, latency, connections, discovery, protocols,
    /// resources, security) with each connected peer's RTT.
    pub async fn stats(&self) -> Result<NodeStats, Error> {
        self.call(Command::Stats).await
    }

    /// How many peers the Kademlia routing table holds: what [`Client::stats`] reports as
    /// `routing_table_size`, without encoding and summarising a whole scrape (joining asks
    /// this, and the page's wasm keeps the metrics summary out of the part it loads first).
    pub async fn routing_table_size(&self) -> Result<usize, Error> {
        self.call(Command::RoutingTableSize).await
    }

    /// What the node knows of its reachability: the AutoNAT verdict, confirmed external
    /// addresses, UPnP mappings, relay reservations, and each connection, direct or relayed.
    /// Native nodes only.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn nat(&self) -> Result<crate::nat::NatStatus, Error> {
        self.call(Command::Nat).await
    }

    /// Brings the gauges only the event loop can read (routing table, store) up to date,
    /// so a scrape right after a change shows it. They are also refreshed every second.
    pub async fn refresh_metrics(&self) -> Result<(), Error> {
        self.call(Command::RefreshMetrics).await
    }

    /// Events from now on. Slow subscribers miss events rather than stall the node.
    pub async fn subscribe(&self) -> Result<mpsc::Receiver<Event>, Error> {
        self.call(Command::Subscribe).await
    }

    /// Closes every connection and stops the node. The store is already durable.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.call(Command::Shutdown).await
    }
}
