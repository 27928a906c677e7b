//! The listener's one UDP socket, shared by every connection: datagrams are routed by source
//! address once ICE registered it, before that by the local ufrag of a STUN Binding request.
//!
//! A Binding request for an unknown ufrag, with credentials of a known handshake version
//! ([`Credentials`]), is a connection attempt. Attempts are what a remote
//! can make us hold without proving anything, so they are bounded ([`Limits`]: in total and
//! per source IP), expire after [`Limits::handshake_timeout`], and hold no socket (the ICE
//! agents run with mDNS off and this mux as their only network). When the total bound is
//! full, an attempt from a quieter IP evicts the oldest of the busiest IP's, so a few
//! spraying addresses cannot lock everyone else out. The first request of an
//! attempt is kept and replayed to its agent, so no retransmission timer is waited on.
//! Binding requests reach the agents as nominations ([`stun::nominating`]), so DTLS starts
//! after the first check instead of waiting for the browser's next one.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::ice::udp_mux::{UDPMux, UDPMuxConn, UDPMuxConnParams, UDPMuxWriter};
use webrtc::util::{Conn, Error as UtilError};

use super::shed::{Reason, SHED};
use super::stun::{self, Usernames};
use crate::credentials::Credentials;
use keepalive::Keepalives;
pub use limits::Limits;
use limits::evict_from_busiest;

mod keepalive;
mod limits;

/// Largest datagram read; WebRTC stacks keep packets under the path MTU.
const RECEIVE_MTU: usize = 8192;
/// How often expired attempts and closed connections are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How often idle dialers are checked for a keepalive ([`keepalive::KEEPALIVE_IDLE`]).
const KEEPALIVE_EVERY: Duration = Duration::from_millis(125);

/// A new connection attempt for the listener to answer with a peer connection.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Where the Binding request came from.
    pub from: SocketAddr,
    /// The ICE credentials its `USERNAME` implies; `credentials.local` is the ufrag (the
    /// routing key) the new agent must use.
    pub credentials: Credentials,
}

struct Pending {
    from: SocketAddr,
    since: Instant,
    /// The latest Binding request, replayed to the agent once it asks for its connection.
    first: Vec<u8>,
    /// The dialer's credentials, for the keepalives once it is established.
    credentials: Credentials,
}

#[derive(Default)]
struct State {
    conns: HashMap<String, UDPMuxConn>,
    routes: HashMap<SocketAddr, UDPMuxConn>,
    pending: HashMap<String, Pending>,
    keepalives: Keepalives,
    closed: bool,
}

impl State {
    /// Closes the connection under `ufrag`, if any, and forgets its routes.
    fn drop_conn(&mut self, ufrag: &str) {
        self.keepalives.remove(ufrag);
        if let Some(conn) = self.conns.remove(ufrag) {
            for address in conn.get_addresses() {
                self.routes.remove(&address);
            }
            conn.close();
        }
    }
}

/// The shared socket; hand it to each agent as `UDPNetwork::Muxed`.
pub struct UdpMux {
    socket: Arc<UdpSocket>,
    local_addr: SocketAddr,
    limits: Limits,
    state: Mutex<State>,
    weak: Weak<UdpMux>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl UdpMux {
    /// Binds `addr` and starts reading it; attempts arrive on the returned receiver.
    pub fn bind(
        addr: SocketAddr,
        limits: Limits,
    ) -> io::Result<(Arc<Self>, mpsc::Receiver<Attempt>)> {
        let std_socket = std::net::UdpSocket::bind(addr)?;
        std_socket.set_nonblocking(true)?;
        let socket = Arc::new(UdpSocket::from_std(std_socket)?);
        let local_addr = socket.local_addr()?;
        let (attempts_tx, attempts_rx) = mpsc::channel(limits.max_pending.max(1));
        let mux = Arc::new_cyclic(|weak| Self {
            socket: socket.clone(),
            local_addr,
            limits,
            state: Mutex::new(State::default()),
            weak: weak.clone(),
            reader: Mutex::new(None),
        });
        let reader = tokio::spawn(read_loop(socket, Arc::downgrade(&mux), attempts_tx));
        *mux.reader.lock().expect("mux lock") = Some(reader);
        Ok((mux, attempts_rx))
    }

    /// The bound address (with the port the OS picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Attempts in flight now.
    pub fn pending(&self) -> usize {
        self.state
            .lock()
            .map(|state| state.pending.len())
            .unwrap_or(0)
    }

    /// Connections (agents holding a ufrag) now.
    pub fn connections(&self) -> usize {
        self.state
            .lock()
            .map(|state| state.conns.len())
            .unwrap_or(0)
    }

    /// The attempt under `ufrag` became a connection: it no longer counts against the limits,
    /// and its dialer gets the keepalives' announcement at once ([`keepalive`]).
    pub fn established(&self, ufrag: &str) {
        let (to, announcement) = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            let Some(pending) = state.pending.remove(ufrag) else {
                return;
            };
            if !state.conns.contains_key(ufrag) {
                return;
            }
            let announcement =
                state
                    .keepalives
                    .add(pending.from, ufrag, &pending.credentials, Instant::now());
            (pending.from, announcement)
        };
        for check in announcement {
            // A full send buffer loses a check; idle keepalives arm the page's watch too.
            let _ = self.socket.try_send_to(&check, to);
        }
    }

    /// Sends the keepalives that are due ([`keepalive`]).
    async fn keep_alive(&self) {
        let due = match self.state.lock() {
            Ok(mut state) => state.keepalives.due(Instant::now()),
            Err(_) => return,
        };
        for (to, request) in due {
            if let Err(error) = self.socket.send_to(&request, to).await {
                tracing::debug!(%to, %error, "keepalive not sent");
            }
        }
    }

    /// Routes one received datagram.
    async fn route(&self, datagram: &[u8], from: SocketAddr, attempts: &mpsc::Sender<Attempt>) {
        if keepalive::is_answer(datagram) {
            return;
        }
        let (target, nominating) = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            // Binding requests go by ufrag even from a routed address: a dialer that gave up
            // on a hung attempt tries again from the same socket with a new ufrag.
            if let Some(usernames) = stun::binding_usernames(datagram) {
                let password = usernames.local.clone();
                let conn = self.route_binding(&mut state, datagram, from, usernames, attempts);
                // Our password is our ufrag in both handshake versions (`Credentials`).
                let nominating = conn
                    .as_ref()
                    .and_then(|_| stun::nominating(datagram, &password));
                (conn, nominating)
            } else {
                (state.routes.get(&from).cloned(), None)
            }
        };
        let datagram = nominating.as_deref().unwrap_or(datagram);
        if let Some(conn) = target
            && let Err(error) = conn.write_packet(datagram, from).await
        {
            tracing::debug!(%from, %error, "datagram not delivered to its connection");
        }
    }

    fn route_binding(
        &self,
        state: &mut State,
        datagram: &[u8],
        from: SocketAddr,
        usernames: Usernames,
        attempts: &mpsc::Sender<Attempt>,
    ) -> Option<UDPMuxConn> {
        if let Some(conn) = state.conns.get(&usernames.local) {
            let addresses = conn.get_addresses();
            // One address per ufrag: another source cannot ride on someone's connection.
            return (addresses.is_empty() || addresses.contains(&from)).then(|| conn.clone());
        }
        // The request replayed to the new agent, as a nomination (see `stun::nominating`).
        let first =
            || stun::nominating(datagram, &usernames.local).unwrap_or_else(|| datagram.to_vec());
        if let Some(pending) = state.pending.get_mut(&usernames.local) {
            if pending.from == from {
                pending.first = first();
            }
            return None;
        }
        let from_ip = state
            .pending
            .values()
            .filter(|pending| pending.from.ip() == from.ip())
            .count();
        if state.closed {
            return None;
        }
        let Some(credentials) = Credentials::from_username(&usernames.local, &usernames.remote)
        else {
            tracing::debug!(%from, "binding request with an unknown handshake version or bad credentials");
            return None;
        };
        // The listener takes attempts as they come; a full queue means it is behind.
        let Ok(permit) = attempts.try_reserve() else {
            SHED.add(Reason::PendingTotal, 1);
            return None;
        };
        if state.pending.len() >= self.limits.max_pending
            && from_ip < self.limits.max_pending_per_ip
        {
            evict_from_busiest(state, from_ip);
        }
        let refused = if state.pending.len() >= self.limits.max_pending {
            Some(Reason::PendingTotal)
        } else if from_ip >= self.limits.max_pending_per_ip {
            Some(Reason::PendingPerIp)
        } else {
            None
        };
        if let Some(reason) = refused {
            tracing::debug!(%from, pending = state.pending.len(), from_ip, "connection attempt refused: limit reached");
            SHED.add(reason, 1);
            return None;
        }
        permit.send(Attempt {
            from,
            credentials: credentials.clone(),
        });
        let first = first();
        state.pending.insert(
            usernames.local,
            Pending {
                from,
                since: Instant::now(),
                first,
                credentials,
            },
        );
        None
    }

    /// Drops attempts past their deadline and connections whose agent closed.
    fn sweep(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let timeout = self.limits.handshake_timeout;
        let expired: Vec<String> = state
            .pending
            .iter()
            .filter(|(_, pending)| pending.since.elapsed() >= timeout)
            .map(|(ufrag, _)| ufrag.clone())
            .collect();
        let closed: Vec<String> = state
            .conns
            .iter()
            .filter(|(_, conn)| conn.is_closed())
            .map(|(ufrag, _)| ufrag.clone())
            .collect();
        for ufrag in expired.iter().chain(&closed) {
            state.pending.remove(ufrag);
            state.drop_conn(ufrag);
        }
        state.routes.retain(|_, conn| !conn.is_closed());
        // An attempt that became a connection left `pending` when it was established.
        if !expired.is_empty() {
            tracing::debug!(expired = expired.len(), "connection attempts expired");
            SHED.add(Reason::Expired, expired.len() as u64);
        }
    }

    fn remove(&self, ufrag: &str) {
        if let Ok(mut state) = self.state.lock() {
            if state.pending.remove(ufrag).is_some() {
                // Its handshake gave up before the attempt became a connection.
                SHED.add(Reason::Expired, 1);
            }
            state.drop_conn(ufrag);
        }
    }
}

impl Drop for UdpMux {
    fn drop(&mut self) {
        if let Ok(mut reader) = self.reader.lock()
            && let Some(reader) = reader.take()
        {
            reader.abort();
        }
    }
}

async fn read_loop(socket: Arc<UdpSocket>, mux: Weak<UdpMux>, attempts: mpsc::Sender<Attempt>) {
    let mut buffer = vec![0u8; RECEIVE_MTU];
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    let mut keepalive = tokio::time::interval(KEEPALIVE_EVERY);
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buffer) => {
                let Some(mux) = mux.upgrade() else { return };
                match received {
                    Ok((len, from)) => mux.route(&buffer[..len], from, &attempts).await,
                    // ICMP errors of earlier sends surface here on some systems; keep reading.
                    Err(error) => tracing::debug!(%error, "UDP receive failed"),
                }
            }
            _ = sweep.tick() => {
                let Some(mux) = mux.upgrade() else { return };
                mux.sweep();
            }
            _ = keepalive.tick() => {
                let Some(mux) = mux.upgrade() else { return };
                mux.keep_alive().await;
            }
        }
    }
}

#[async_trait]
impl UDPMux for UdpMux {
    async fn close(&self) -> Result<(), UtilError> {
        let conns: Vec<UDPMuxConn> = {
            let mut state = self.state.lock().map_err(|_| UtilError::ErrAlreadyClosed)?;
            if state.closed {
                return Err(UtilError::ErrAlreadyClosed);
            }
            state.closed = true;
            state.routes.clear();
            state.pending.clear();
            state.keepalives = Keepalives::default();
            state.conns.drain().map(|(_, conn)| conn).collect()
        };
        for conn in conns {
            conn.close();
        }
        Ok(())
    }

    async fn get_conn(
        self: Arc<Self>,
        ufrag: &str,
    ) -> Result<Arc<dyn Conn + Send + Sync>, UtilError> {
        let (conn, replay) = {
            let mut state = self
                .state
                .lock()
                .map_err(|_| UtilError::ErrUseClosedNetworkConn)?;
            if state.closed {
                return Err(UtilError::ErrUseClosedNetworkConn);
            }
            if let Some(conn) = state.conns.get(ufrag) {
                return Ok(Arc::new(conn.clone()));
            }
            let writer: Weak<dyn UDPMuxWriter + Send + Sync> = self.weak.clone();
            let conn = UDPMuxConn::new(UDPMuxConnParams {
                local_addr: self.local_addr,
                key: ufrag.to_owned(),
                udp_mux: writer,
            });
            state.conns.insert(ufrag.to_owned(), conn.clone());
            let replay = state
                .pending
                .get(ufrag)
                .map(|pending| (pending.first.clone(), pending.from));
            (conn, replay)
        };
        if let Some((datagram, from)) = replay
            && let Err(error) = conn.write_packet(&datagram, from).await
        {
            tracing::debug!(%from, %error, "first binding request not replayed");
        }
        Ok(Arc::new(conn))
    }

    async fn remove_conn_by_ufrag(&self, ufrag: &str) {
        self.remove(ufrag);
    }
}

#[async_trait]
impl UDPMuxWriter for UdpMux {
    async fn register_conn_for_address(&self, conn: &UDPMuxConn, addr: SocketAddr) {
        if let Ok(mut state) = self.state.lock() {
            if state.closed {
                return;
            }
            if let Some(previous) = state.routes.get(&addr)
                && previous.key() != conn.key()
            {
                // An attempt may take over the address of another attempt (the dialer
                // retried), never that of an established connection: otherwise one spoofed
                // Binding request with a fresh ufrag would divert a live connection's packets.
                let established =
                    !previous.is_closed() && !state.pending.contains_key(previous.key());
                if established && state.pending.contains_key(conn.key()) {
                    tracing::debug!(%addr, "an attempt may not take an established connection's address");
                    return;
                }
                previous.remove_address(&addr);
            }
            state.routes.insert(addr, conn.clone());
        }
    }

    async fn send_to(&self, buf: &[u8], target: &SocketAddr) -> Result<usize, UtilError> {
        if let Ok(mut state) = self.state.lock() {
            state.keepalives.sent(target, Instant::now());
        }
        Ok(self.socket.send_to(buf, *target).await?)
    }
}

#[cfg(test)]
mod tests;
