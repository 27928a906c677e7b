//! The one owner of the swarm.
//!
//! ```text
//!  Client ──Command──▶ ┌───────────┐ ──dial/query──▶ Swarm<Behaviour> ──▶ network
//!  Client ◀──reply──── │ EventLoop │ ◀──SwarmEvent── (kad, identify, ping, relay, messages)
//!  subscribers ◀Event─ └───────────┘
//! ```
//!
//! Commands start work and park their reply channel in a `pending_*` map keyed by what will
//! finish the work (a Kademlia `QueryId`, a `ConnectionId`, a request id, a peer). Swarm
//! events complete the work and answer. The loop ends on [`Command::Shutdown`] or when every
//! [`Client`] is dropped. It is runtime-agnostic: the caller spawns [`EventLoop::run`].

mod commands;
mod discovery;
mod kad_events;
mod limits;
mod nat;
mod node_stats;
mod observe;
mod relay;
mod rooms;
mod swarm_events;

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use futures::{FutureExt, StreamExt, channel::mpsc};
use libp2p::{
    Multiaddr, PeerId, Swarm, core::transport::ListenerId, gossipsub::TopicHash, kad::QueryId,
    request_response::OutboundRequestId, swarm::ConnectionId,
};
use web_time::Instant;

use crate::{
    behaviour::Behaviour,
    client::{Client, Command, DiscoveredPeer, FoundRecord, PutReceipt, Reply},
    config::Config,
    error::Error,
    event::Event,
    metrics::{DiscoveryMethod, Metrics},
};

/// How many commands may queue up before `Client` calls wait.
const COMMAND_QUEUE: usize = 64;
/// How many events a subscriber may fall behind before it misses some.
const SUBSCRIBER_QUEUE: usize = 256;
/// What a client call waits on top of the query timeout.
const CLIENT_MARGIN: Duration = Duration::from_secs(5);

/// How often the loop does its own upkeep (registrations, discovery, relayed rooms).
const TICK: Duration = Duration::from_secs(1);
/// How long a shutdown waits for the connections it closes to say goodbye on the wire.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The reply of a direct message: the acknowledgement and the round-trip time.
type SendReply = Reply<(Vec<u8>, Duration)>;

/// One open connection.
#[derive(Debug, Clone)]
struct ConnectionInfo {
    /// The remote address.
    addr: Multiaddr,
    /// When it was established.
    since: Instant,
    /// Whether this node dialed it.
    dialer: bool,
}

/// What the loop knows about a connected peer.
#[derive(Debug, Default)]
struct PeerState {
    connections: HashMap<ConnectionId, ConnectionInfo>,
    rtt: Option<(Duration, Instant)>,
    agent_version: Option<String>,
    /// It serves circuit relay v2 (said so over identify).
    relay: bool,
    /// It serves rendezvous (said so over identify).
    rendezvous: bool,
}

impl PeerState {
    /// The transport of one of its connections (`relay` for a circuit).
    fn transport(&self) -> Option<&'static str> {
        self.connections
            .values()
            .next()
            .map(|c| crate::addr::transport_name(&c.addr))
    }

    /// The last ping round trip, in milliseconds.
    fn rtt_ms(&self) -> Option<f64> {
        self.rtt.map(|(rtt, _)| rtt.as_secs_f64() * 1000.0)
    }

    /// The address of its first direct (not relayed) connection, ending in `/p2p/<peer>`.
    fn direct_addr(&self, peer: PeerId) -> Option<Multiaddr> {
        self.connections
            .values()
            .find(|c| !crate::addr::is_relayed(&c.addr))
            .map(|c| crate::addr::with_peer_id(&c.addr, peer))
    }
}

/// A peer found through rendezvous (or, on a rendezvous server, registered here).
#[derive(Debug, Clone)]
struct Discovered {
    addrs: Vec<Multiaddr>,
    namespace: String,
}

/// Work in progress, each keyed by what will finish it.
#[derive(Default)]
struct Pending {
    listen: HashMap<ListenerId, Reply<Multiaddr>>,
    dial: HashMap<ConnectionId, Reply<PeerId>>,
    bootstrap: HashMap<QueryId, Reply<usize>>,
    /// Puts, with how many servers a put to all of them reaches.
    put: HashMap<QueryId, (Reply<PutReceipt>, usize)>,
    get: HashMap<QueryId, Reply<Option<FoundRecord>>>,
    /// The best valid copy of a signed record a GET found so far, and how many it found.
    signed_best: HashMap<QueryId, (FoundRecord, usize)>,
    start_providing: HashMap<QueryId, Reply<()>>,
    get_providers: HashMap<QueryId, (Reply<Vec<PeerId>>, HashSet<PeerId>)>,
    find_peer: HashMap<QueryId, (PeerId, Reply<Vec<Multiaddr>>)>,
    /// Pings waiting for the next round trip measured with a peer.
    ping: HashMap<PeerId, Vec<Reply<(PeerId, Duration)>>>,
    /// Pings waiting for a dial to an address to finish.
    ping_dial: HashMap<ConnectionId, Reply<(PeerId, Duration)>>,
    /// Direct messages awaiting their acknowledgement, with the time they were sent.
    send: HashMap<OutboundRequestId, (SendReply, Instant)>,
    /// Discovery requests, by the rendezvous server asked.
    discover: HashMap<PeerId, Vec<Reply<Vec<DiscoveredPeer>>>>,
    /// Reservations waiting for the relay's answer, by listener.
    reserve: HashMap<ListenerId, Reply<Multiaddr>>,
}

/// Relay reservations, registrations, discoveries and rooms: the state of issue-4 features.
#[derive(Default)]
struct Reach {
    /// Circuit listeners (one per relay reserved on) and the relay each is on.
    reservations: HashMap<ListenerId, PeerId>,
    /// The circuit address of each relay's reservation, once accepted.
    reserved_addrs: HashMap<PeerId, Multiaddr>,
    /// Circuit limits each relay announced: duration and bytes.
    circuit_limits: HashMap<PeerId, (Option<Duration>, Option<u64>)>,
    /// Peers exchanging direct messages with us: their circuits are reopened when a relay
    /// limit closes them.
    in_use: HashSet<PeerId>,
    /// When each rendezvous server's registration is due for refreshing.
    register_due: HashMap<PeerId, Instant>,
    /// When discovery next runs.
    discover_due: Option<Instant>,
    /// Peers found through rendezvous.
    discovered: HashMap<PeerId, Discovered>,
    /// Rooms the user joined.
    joined: HashSet<TopicHash>,
    /// Rooms joined only to relay them for others.
    relayed: HashSet<TopicHash>,
}

/// Owns the swarm and serves [`Client`] commands. Create with [`EventLoop::new`], then spawn
/// [`EventLoop::run`].
pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    config: Config,
    commands: mpsc::Receiver<Command>,
    subscribers: Vec<mpsc::Sender<Event>>,
    peers: HashMap<PeerId, PeerState>,
    pending: Pending,
    reach: Reach,
    /// AutoNAT results and UPnP mappings (native only: a page is never dialable).
    #[cfg(not(target_arch = "wasm32"))]
    nat: nat::NatState,
    metrics: Metrics,
    started: Instant,
    /// How each peer was first learned about, for the discovery series.
    discovered_by: HashMap<PeerId, DiscoveryMethod>,
}

impl EventLoop {
    /// Wraps a built swarm; returns the loop and its first client. The loop and every
    /// client record into `metrics`.
    pub fn new(swarm: Swarm<Behaviour>, config: Config, metrics: Metrics) -> (Self, Client) {
        let (sender, commands) = mpsc::channel(COMMAND_QUEUE);
        let client = Client::new(
            sender,
            *swarm.local_peer_id(),
            config.query_timeout + CLIENT_MARGIN,
            metrics.clone(),
        );
        let event_loop = Self {
            swarm,
            config,
            commands,
            subscribers: Vec::new(),
            peers: HashMap::new(),
            pending: Pending::default(),
            reach: Reach::default(),
            #[cfg(not(target_arch = "wasm32"))]
            nat: nat::NatState::default(),
            metrics,
            started: Instant::now(),
            discovered_by: HashMap::new(),
        };
        (event_loop, client)
    }

    /// Runs until [`Client::shutdown`] or until every client is dropped.
    pub async fn run(mut self) {
        let mut tick = futures_timer::Delay::new(TICK).fuse();
        loop {
            futures::select! {
                event = self.swarm.select_next_some() => {
                    self.observe(&event);
                    self.on_swarm_event(event);
                }
                () = tick => {
                    self.on_tick();
                    tick = futures_timer::Delay::new(TICK).fuse();
                }
                command = self.commands.next() => match command {
                    Some(Command::Shutdown(reply)) => {
                        self.close_all().await;
                        let _ = reply.send(Ok(()));
                        break;
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        self.close_all().await;
                        break;
                    }
                },
            }
        }
        tracing::info!("event loop stopped");
    }

    /// Closes every connection and drives the swarm until they are closed on the wire (at
    /// most [`CLOSE_WAIT`]): a connection merely dropped with the process says no goodbye,
    /// and a WebRTC peer then notices only when ICE gives up on silence, seconds later.
    async fn close_all(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let mut deadline = futures_timer::Delay::new(CLOSE_WAIT).fuse();
        while self.swarm.connected_peers().next().is_some() {
            futures::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                () = deadline => {
                    tracing::debug!("connections still closing at shutdown");
                    break;
                }
            }
        }
    }

    /// Sends `event` to every subscriber; drops subscribers that went away.
    fn publish(&mut self, event: Event) {
        self.subscribers
            .retain_mut(|s| match s.try_send(event.clone()) {
                Ok(()) => true,
                Err(e) if e.is_full() => true,
                Err(_) => false,
            });
    }

    fn local_peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    fn routing_table_size(&mut self) -> usize {
        self.swarm
            .behaviour_mut()
            .kad
            .kbuckets()
            .map(|bucket| bucket.num_entries())
            .sum()
    }

    fn subscribe(&mut self) -> mpsc::Receiver<Event> {
        let (sender, receiver) = mpsc::channel(SUBSCRIBER_QUEUE);
        self.subscribers.push(sender);
        receiver
    }
}

/// Milliseconds since the Unix epoch, now.
fn unix_ms() -> u64 {
    web_time::SystemTime::now()
        .duration_since(web_time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Answers a reply channel; a caller that stopped waiting is not an error.
fn answer<T>(reply: Reply<T>, result: Result<T, Error>) {
    let _ = reply.send(result);
}
