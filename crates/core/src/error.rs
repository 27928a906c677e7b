//! The errors of the client API.

use std::time::Duration;

/// Why a command to the node failed. Messages are lower-case one-liners a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The key is empty.
    #[error("the key is empty")]
    EmptyKey,
    /// The key is over the configured limit.
    #[error("the key is {size} bytes; the limit is {limit} bytes")]
    KeyTooLarge {
        /// The key's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The value is over the configured limit.
    #[error("the value is {size} bytes; the limit is {limit} bytes")]
    ValueTooLarge {
        /// The value's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A direct message is over the configured limit.
    #[error("the message is {size} bytes; the limit is {limit} bytes")]
    MessageTooLarge {
        /// The message's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A room message is over the configured limit.
    #[error("the room message is {size} bytes; the limit is {limit} bytes")]
    RoomMessageTooLarge {
        /// The message's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Nobody else is known in the room, so a post would reach no one.
    #[error("no peer has joined room {0:?} yet")]
    EmptyRoom(String),
    /// The room name is unusable.
    #[error("invalid room name {0:?}: {1}")]
    BadRoom(String, String),
    /// No rendezvous server is connected.
    #[error("no rendezvous server known: connect to a bootstrap node first")]
    NoRendezvous,
    /// The local store refused the entry: full, a limit, or the disk cannot take it.
    #[error("the local store refused it: {0}")]
    StoreRefused(crate::store::RefusalCause),
    /// The node knows no peer to ask.
    #[error("no known peers: connect to a bootstrap node first")]
    NoKnownPeers,
    /// No peer stored the record.
    #[error("no peer stored the record (it is kept locally)")]
    NotReplicated,
    /// A DHT query failed.
    #[error("query failed: {0}")]
    Query(String),
    /// The peer could not be reached.
    #[error("could not reach {peer}: {reason}")]
    Unreachable {
        /// The peer or address dialed.
        peer: String,
        /// What went wrong.
        reason: String,
    },
    /// The remote peer did not answer as expected.
    #[error("{0}")]
    Remote(String),
    /// Not found in the DHT.
    #[error("not found")]
    NotFound,
    /// The operation took longer than allowed.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Listening on an address failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// A signed record was asked of a node that was given no key to sign with.
    #[error("this node has no identity key to sign records with")]
    NoIdentity,
    /// The node's event loop has stopped.
    #[error("the node has stopped")]
    Stopped,
}
