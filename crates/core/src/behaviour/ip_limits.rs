//! Per-IP connection limits: how many connections one IP address may hold, and how many of
//! its connections may be in their security handshake at once. A NAT full of browsers
//! shares one address, so the defaults are generous (64 and 32); one host opening
//! hundreds is refused before any protocol runs.
//!
//! libp2p's `connection_limits` counts per peer and in total, not per address: a host can
//! make a new peer id for every connection. Connections through a relay circuit carry the
//! relay's address, so they are not counted here (the relay limits its circuits).

use std::{
    collections::HashMap,
    convert::Infallible,
    net::IpAddr,
    task::{Context, Poll},
};

use libp2p::{
    Multiaddr, PeerId,
    core::{Endpoint, multiaddr::Protocol, transport::PortUse},
    swarm::{
        ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
        THandlerOutEvent, ToSwarm, dummy,
    },
};

/// The limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpLimitsConfig {
    /// Established inbound connections per remote IP address.
    pub max_established: Option<u32>,
    /// Inbound connections still in their handshake per remote IP address.
    pub max_pending: Option<u32>,
}

/// Why a connection was refused (for the metrics' `limit` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// Too many established connections from the address.
    Established,
    /// Too many handshakes in progress from the address.
    Pending,
}

/// The refusal a denied connection carries.
#[derive(Debug, thiserror::Error)]
#[error("{ip} holds {count} {what} connections, the most one address may")]
pub struct IpLimitExceeded {
    ip: IpAddr,
    count: u32,
    what: &'static str,
}

/// Counts inbound connections per IP and refuses those over the limits.
#[derive(Debug)]
pub struct IpLimits {
    config: IpLimitsConfig,
    pending: HashMap<ConnectionId, IpAddr>,
    established: HashMap<ConnectionId, IpAddr>,
    pending_per_ip: HashMap<IpAddr, u32>,
    established_per_ip: HashMap<IpAddr, u32>,
    shed: Vec<Shed>,
}

/// The IP a direct connection comes from; `None` for relayed ones.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    if addr.iter().any(|p| p == Protocol::P2pCircuit) {
        return None;
    }
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(ip.into()),
        Protocol::Ip6(ip) => Some(ip.into()),
        _ => None,
    }
}

fn release(
    from: &mut HashMap<ConnectionId, IpAddr>,
    counts: &mut HashMap<IpAddr, u32>,
    id: ConnectionId,
) {
    if let Some(ip) = from.remove(&id)
        && let Some(count) = counts.get_mut(&ip)
    {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(&ip);
        }
    }
}

impl IpLimits {
    /// Limits as `config` says.
    pub fn new(config: IpLimitsConfig) -> Self {
        Self {
            config,
            pending: HashMap::new(),
            established: HashMap::new(),
            pending_per_ip: HashMap::new(),
            established_per_ip: HashMap::new(),
            shed: Vec::new(),
        }
    }

    /// The connections refused since the last call.
    pub fn take_shed(&mut self) -> Vec<Shed> {
        std::mem::take(&mut self.shed)
    }

    fn admit(&mut self, id: ConnectionId, ip: IpAddr, kind: Shed) -> Result<(), ConnectionDenied> {
        let (limit, map, counts, what) = match kind {
            Shed::Pending => (
                self.config.max_pending,
                &mut self.pending,
                &mut self.pending_per_ip,
                "handshaking",
            ),
            Shed::Established => (
                self.config.max_established,
                &mut self.established,
                &mut self.established_per_ip,
                "established",
            ),
        };
        let count = counts.get(&ip).copied().unwrap_or(0);
        if limit.is_some_and(|limit| count >= limit) {
            self.shed.push(kind);
            return Err(ConnectionDenied::new(IpLimitExceeded { ip, count, what }));
        }
        map.insert(id, ip);
        *counts.entry(ip).or_insert(0) += 1;
        Ok(())
    }
}

impl NetworkBehaviour for IpLimits {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        match ip_of(remote) {
            Some(ip) => self.admit(id, ip, Shed::Pending),
            None => Ok(()),
        }
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        release(&mut self.pending, &mut self.pending_per_ip, id);
        if let Some(ip) = ip_of(remote) {
            self.admit(id, ip, Shed::Established)?;
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        let id = match event {
            FromSwarm::ConnectionClosed(closed) => closed.connection_id,
            // A handshake that failed, or a connection another behaviour refused.
            FromSwarm::ListenFailure(failure) => failure.connection_id,
            _ => return,
        };
        release(&mut self.pending, &mut self.pending_per_ip, id);
        release(&mut self.established, &mut self.established_per_ip, id);
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/1").parse().expect("multiaddr")
    }

    #[test]
    fn each_address_has_its_own_count_and_closing_frees_a_slot() {
        let mut limits = IpLimits::new(IpLimitsConfig {
            max_established: Some(2),
            max_pending: Some(1),
        });
        let local = addr("127.0.0.1");
        let peer = PeerId::random();
        let open = |limits: &mut IpLimits, ip: &str| {
            let id = ConnectionId::new_unchecked(rand_id());
            limits.handle_pending_inbound_connection(id, &local, &addr(ip))?;
            limits
                .handle_established_inbound_connection(id, peer, &local, &addr(ip))
                .map(|_| id)
        };
        let first = open(&mut limits, "10.0.0.1").expect("first");
        open(&mut limits, "10.0.0.1").expect("second");
        assert!(open(&mut limits, "10.0.0.1").is_err(), "third refused");
        open(&mut limits, "10.0.0.2").expect("another address");
        assert_eq!(limits.take_shed(), vec![Shed::Established]);
        release(
            &mut limits.established,
            &mut limits.established_per_ip,
            first,
        );
        open(&mut limits, "10.0.0.1").expect("a freed slot");
        // One handshake at a time from an address.
        let id = ConnectionId::new_unchecked(rand_id());
        limits
            .handle_pending_inbound_connection(id, &local, &addr("10.0.0.3"))
            .expect("first handshake");
        let again = ConnectionId::new_unchecked(rand_id());
        assert!(
            limits
                .handle_pending_inbound_connection(again, &local, &addr("10.0.0.3"))
                .is_err()
        );
        assert_eq!(limits.take_shed(), vec![Shed::Pending]);
        // Relayed connections are not counted against the relay's address.
        let relayed: Multiaddr = format!("/ip4/10.0.0.3/tcp/1/p2p/{peer}/p2p-circuit")
            .parse()
            .expect("multiaddr");
        assert_eq!(ip_of(&relayed), None);
    }

    fn rand_id() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1_000_000);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
