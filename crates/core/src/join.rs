//! Joining a network: reach a bootstrap peer, let Kademlia learn its addresses, then run a
//! bootstrap query. Shared by native nodes (`--bootstrap`) and browser nodes (`connect`).

use std::time::Duration;

use futures::{FutureExt, StreamExt, channel::mpsc};
use libp2p::{Multiaddr, PeerId};

use crate::{Client, Error, Event};

/// How long to wait for identify to fill the routing table after a connection.
const ROUTING_WAIT: Duration = Duration::from_secs(5);

/// The bootstrap peer that answered a [`dial_first`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    /// The peer.
    pub peer: PeerId,
    /// The address that worked.
    pub addr: Multiaddr,
}

/// Dials `candidates` one after the other and stops at the first that answers. Errors with
/// the last failure, or [`Error::NoKnownPeers`] when there is no candidate.
pub async fn dial_first(client: &Client, candidates: &[Multiaddr]) -> Result<Reached, Error> {
    let mut last = Error::NoKnownPeers;
    for addr in candidates {
        match client.dial(addr.clone()).await {
            Ok(peer) => {
                return Ok(Reached {
                    peer,
                    addr: addr.clone(),
                });
            }
            Err(error) => {
                tracing::debug!(%addr, %error, "bootstrap address unreachable");
                last = error;
            }
        }
    }
    Err(last)
}

/// Once connected: waits (briefly) until Kademlia holds a routing entry, which identify
/// adds a round trip after the connection, then runs a bootstrap query and answers the
/// routing table size once the network has answered it.
///
/// `events` must have been subscribed before the connection was made, so that the
/// routing update cannot be missed.
pub async fn bootstrap_when_routed(
    client: &Client,
    events: mpsc::Receiver<Event>,
) -> Result<usize, Error> {
    wait_for_routing_entry(client, events).await;
    client.bootstrap().await
}

async fn wait_for_routing_entry(client: &Client, mut events: mpsc::Receiver<Event>) {
    if matches!(client.routing_table_size().await, Ok(size) if size > 0) {
        return;
    }
    let routed = async {
        while let Some(event) = events.next().await {
            if matches!(event, Event::RoutingUpdated { .. }) {
                return;
            }
        }
    };
    futures::select! {
        () = routed.fuse() => {}
        () = futures_timer::Delay::new(ROUTING_WAIT).fuse() => {}
    }
}
