//! The addresses a listener bound to the wildcard (`0.0.0.0`, `::`) reports: one per
//! interface address of its family, as libp2p's TCP and QUIC listeners do, kept current as
//! interfaces come and go. A wildcard address is useless to a dialer, and `/api/bootstrap`
//! leaves it out, so without this a node listening on `0.0.0.0` offered pages no
//! WebRTC-direct address at all.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};

use if_watch::IfEvent;
use if_watch::tokio::IfWatcher;

/// One interface address appearing or going away.
pub(crate) enum Change {
    /// The listener can now be reached at this address.
    Up(SocketAddr),
    /// This address is gone.
    Down(SocketAddr),
}

/// The interface addresses of one wildcard listener's family and port.
pub(crate) struct Interfaces {
    /// `None` once the watcher failed: the addresses reported so far stay.
    watcher: Option<IfWatcher>,
    bound: SocketAddr,
}

impl Interfaces {
    /// A watcher when `bound` is a wildcard address; `None` for a specific one.
    pub(crate) fn watch(bound: SocketAddr) -> io::Result<Option<Self>> {
        if !bound.ip().is_unspecified() {
            return Ok(None);
        }
        Ok(Some(Self {
            watcher: Some(IfWatcher::new()?),
            bound,
        }))
    }

    /// The next change of an address of the bound family (IPv4 or IPv6).
    pub(crate) fn poll_change(&mut self, cx: &mut Context<'_>) -> Poll<Change> {
        loop {
            let Some(watcher) = self.watcher.as_mut() else {
                return Poll::Pending;
            };
            let event = match watcher.poll_if_event(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(event)) => event,
                Poll::Ready(Err(error)) => {
                    tracing::warn!(%error, "no longer watching interface addresses");
                    self.watcher = None;
                    return Poll::Pending;
                }
            };
            let (ip, up) = match event {
                IfEvent::Up(net) => (net.addr(), true),
                IfEvent::Down(net) => (net.addr(), false),
            };
            if !self.same_family(ip) {
                continue;
            }
            let addr = SocketAddr::new(ip, self.bound.port());
            return Poll::Ready(if up {
                Change::Up(addr)
            } else {
                Change::Down(addr)
            });
        }
    }

    fn same_family(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.bound.is_ipv4()
    }
}
