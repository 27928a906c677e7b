//! A per-peer rate limit on the inbound streams of a wrapped behaviour (Kademlia, direct
//! messages): a token bucket per peer; a stream over budget is dropped (the remote sees it
//! reset and its request fail) and counted, and the peer keeps its connection, so one
//! burst costs it nothing but the refused requests.
//!
//! Why streams and not requests: libp2p-kad answers FIND_NODE, GET_VALUE and
//! GET_PROVIDERS inside its connection handler and behaviour, and its handler and request
//! types are private, so no code outside kad sees a request before it is answered. What an
//! outer connection handler does see is each negotiated inbound stream, and rust-libp2p
//! and js-libp2p open one stream per Kademlia request (request-response always does). A
//! client that pipelines requests on one stream (go-libp2p's kad does) is bounded by kad's
//! 32 streams per connection and the connection limits, not by this rate.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use libp2p::{
    Multiaddr, PeerId,
    core::{Endpoint, transport::PortUse},
    swarm::{
        ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
        NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
        handler::ConnectionEvent,
    },
};
use web_time::Instant;

/// How many inbound requests a peer may make: `per_second` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRate {
    /// Tokens added per second.
    pub per_second: u32,
    /// The bucket's size.
    pub burst: u32,
}

/// One peer's token bucket.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every connected peer and what was refused since the last look.
#[derive(Debug, Default)]
struct Shared {
    buckets: HashMap<PeerId, Bucket>,
    refused: u64,
}

impl Shared {
    fn admit(&mut self, peer: PeerId, rate: RequestRate) -> bool {
        let now = Instant::now();
        let burst = f64::from(rate.burst);
        let bucket = self.buckets.entry(peer).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * f64::from(rate.per_second)).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            self.refused += 1;
            false
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `B` with its inbound streams rate-limited per peer. Dereferences to `B`.
pub struct RateLimited<B> {
    inner: B,
    rate: Option<RequestRate>,
    shared: Arc<Mutex<Shared>>,
}

impl<B> RateLimited<B> {
    /// Wraps `inner`; `None` limits nothing.
    pub fn new(inner: B, rate: Option<RequestRate>) -> Self {
        Self {
            inner,
            rate,
            shared: Arc::default(),
        }
    }

    /// How many inbound streams were refused since the last call.
    pub fn take_refused(&mut self) -> u64 {
        std::mem::take(&mut lock(&self.shared).refused)
    }

    fn wrap<H>(&self, peer: PeerId, inner: H) -> Handler<H> {
        Handler {
            inner,
            peer,
            rate: self.rate,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<B> std::ops::Deref for RateLimited<B> {
    type Target = B;
    fn deref(&self) -> &B {
        &self.inner
    }
}

impl<B> std::ops::DerefMut for RateLimited<B> {
    fn deref_mut(&mut self) -> &mut B {
        &mut self.inner
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for RateLimited<B> {
    type ConnectionHandler = Handler<THandler<B>>;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let inner = self
            .inner
            .handle_established_inbound_connection(id, peer, local, remote)?;
        Ok(self.wrap(peer, inner))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner
            .handle_pending_outbound_connection(id, peer, addresses, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let inner = self
            .inner
            .handle_established_outbound_connection(id, peer, addr, role, port_use)?;
        Ok(self.wrap(peer, inner))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(closed) = &event
            && closed.remaining_established == 0
        {
            lock(&self.shared).buckets.remove(&closed.peer_id);
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner.on_connection_handler_event(peer, id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

/// The wrapped behaviour's connection handler, dropping inbound streams over budget.
pub struct Handler<H> {
    inner: H,
    peer: PeerId,
    rate: Option<RequestRate>,
    shared: Arc<Mutex<Shared>>,
}

impl<H: ConnectionHandler> ConnectionHandler for Handler<H> {
    type FromBehaviour = H::FromBehaviour;
    type ToBehaviour = H::ToBehaviour;
    type InboundProtocol = H::InboundProtocol;
    type OutboundProtocol = H::OutboundProtocol;
    type InboundOpenInfo = H::InboundOpenInfo;
    type OutboundOpenInfo = H::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        self.inner.listen_protocol()
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<
        ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>,
    > {
        self.inner.poll(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.inner.poll_close(cx)
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        self.inner.on_behaviour_event(event);
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        if let (ConnectionEvent::FullyNegotiatedInbound(_), Some(rate)) = (&event, self.rate)
            && !lock(&self.shared).admit(self.peer, rate)
        {
            // Dropping the negotiated stream resets it: the remote's request fails at once.
            return;
        }
        self.inner.on_connection_event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_the_rate() {
        let mut shared = Shared::default();
        let peer = PeerId::random();
        let rate = RequestRate {
            per_second: 10,
            burst: 5,
        };
        let admitted = (0..20).filter(|_| shared.admit(peer, rate)).count();
        assert_eq!(admitted, 5);
        assert_eq!(shared.refused, 15);
        // Another peer has its own bucket.
        assert!(shared.admit(PeerId::random(), rate));
        std::thread::sleep(std::time::Duration::from_millis(250));
        let later = (0..20).filter(|_| shared.admit(peer, rate)).count();
        assert!((2..=3).contains(&later), "{later}");
    }
}
