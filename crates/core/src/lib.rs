//! webkad-core: the behaviour, event loop, client API and record store of a webkad node,
//! written once for native (tokio) and browser (wasm32) nodes.
//!
//! # Layout
//! - [`config`]: every tunable, with documented defaults and limits.
//! - [`behaviour`]: the composed libp2p `NetworkBehaviour` (kad, identify, ping, relay,
//!   direct messages, connection limits).
//! - [`event_loop`]: the one owner of the swarm; spawn [`EventLoop::run`] on any runtime.
//! - [`client`]: the cloneable [`Client`] that drives the loop with commands.
//! - [`event`]: what subscribers hear.
//! - [`join`]: reaching bootstrap peers and joining the DHT.
//! - [`signed`]: owner-signed records (`/webkad/pk/<peer-id>/<name>`).
//! - [`store`]: the Kademlia record store, written through to disk on native nodes.
//! - [`messaging`]: the direct-message wire protocol.
//! - [`nat`]: what the node knows of its reachability (AutoNAT, UPnP, relays, DCUtR).
//! - [`metrics`]: the metrics model (libp2p-metrics + webkad's series) and its summary.
//! - [`addr`]: multiaddr helpers (transport names, what a browser can dial).
//! - [`error`]: the client API's errors.
//!
//! The caller builds the transport (it differs by target), then:
//! `Behaviour::new` → `SwarmBuilder::…with_behaviour` → [`EventLoop::new`] → spawn `run`.

pub mod addr;
pub mod behaviour;
pub mod client;
pub mod config;
pub mod error;
pub mod event;
pub mod event_loop;
pub mod join;
pub mod messaging;
pub mod metrics;
pub mod nat;
pub mod signed;
pub mod store;

pub use behaviour::Behaviour;
pub use client::{Client, PingTarget};
pub use config::{
    Config, KadMode, NatConfig, RelayLimits, RendezvousConfig, RendezvousServerLimits, RoomsConfig,
    WebRtcAttemptLimits,
};
pub use error::Error;
pub use event::Event;
pub use event_loop::EventLoop;
pub use metrics::Metrics;
pub use store::Store;

pub use libp2p;
