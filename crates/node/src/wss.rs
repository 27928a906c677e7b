//! The `/tls/ws` (WSS) listener: WebSocket over TLS terminated with [`CertStore`]'s
//! current certificate.
//!
//! libp2p-websocket can listen on `/tls/ws` itself, but it takes the certificate once, as
//! bytes, with no way to hand it a rustls certificate resolver, so a renewed certificate
//! would need a restart. Here TLS is done one layer down instead: [`TlsTcp`] is libp2p's TCP
//! transport whose accepted streams go through a rustls handshake (resolver: the
//! [`CertStore`]) before the WebSocket upgrade sees them, and [`WssListener`] maps the
//! `/tls/ws` listen address to the `/ws` the WebSocket layer above plain streams expects,
//! and back in the addresses it reports. Remote addresses stay the peers' own (unlike TLS
//! terminated by a proxy), so per-IP limits still see each peer. Only listening: dialing
//! `/tls/ws` is the regular WebSocket transport's job.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::{FutureExt, future::BoxFuture};
use libp2p::{
    Multiaddr,
    core::transport::{DialOpts, ListenerId, TransportError, TransportEvent},
    multiaddr::Protocol,
    tcp,
};

use crate::tls::CertStore;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TCP whose inbound streams are TLS-terminated; dials nothing.
pub struct TlsTcp {
    inner: tcp::tokio::Transport,
    acceptor: futures_rustls::TlsAcceptor,
}

impl TlsTcp {
    /// TCP (no delay) with TLS from `certs`.
    pub fn new(certs: &Arc<CertStore>) -> Self {
        Self {
            inner: tcp::tokio::Transport::new(tcp::Config::default().nodelay(true)),
            acceptor: futures_rustls::TlsAcceptor::from(certs.server_config(&[])),
        }
    }
}

type TlsStream = futures_rustls::server::TlsStream<tcp::tokio::TcpStream>;

impl libp2p::Transport for TlsTcp {
    type Output = TlsStream;
    type Error = std::io::Error;
    type ListenerUpgrade = BoxFuture<'static, Result<TlsStream, std::io::Error>>;
    type Dial = BoxFuture<'static, Result<TlsStream, std::io::Error>>;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        self.inner.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inner.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        Err(TransportError::MultiaddrNotSupported(addr))
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        let acceptor = self.acceptor.clone();
        Pin::new(&mut self.inner).poll(cx).map(|event| {
            event.map_upgrade(move |upgrade| {
                async move {
                    let stream = upgrade.await?;
                    let handshake = acceptor.accept(stream);
                    futures::select! {
                        done = handshake.fuse() => done,
                        () = futures_timer::Delay::new(HANDSHAKE_TIMEOUT).fuse() => Err(
                            std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"),
                        ),
                    }
                }
                .boxed()
            })
        })
    }
}

/// WebSocket over [`TlsTcp`], listening on `/tls/ws` addresses only.
pub struct WssListener {
    inner: libp2p::websocket::Config<TlsTcp>,
}

impl WssListener {
    /// A WSS listener with TLS from `certs`.
    pub fn new(certs: &Arc<CertStore>) -> Self {
        Self {
            inner: libp2p::websocket::Config::new(TlsTcp::new(certs)),
        }
    }
}

/// `…/tls/ws` (or `…/wss`) as the `…/ws` of the layer below; `None` for other addresses.
pub fn to_plain_ws(addr: &Multiaddr) -> Option<Multiaddr> {
    let protocols: Vec<Protocol<'_>> = addr.iter().collect();
    let prefix = match protocols.as_slice() {
        [prefix @ .., Protocol::Tls, Protocol::Ws(_)] | [prefix @ .., Protocol::Wss(_)] => prefix,
        _ => return None,
    };
    let mut plain: Multiaddr = prefix.iter().cloned().collect();
    plain.push(Protocol::Ws("/".into()));
    Some(plain)
}

/// `…/ws` reported by the layer below as the `…/tls/ws` peers dial.
pub fn to_tls_ws(addr: Multiaddr) -> Multiaddr {
    let mut protocols: Vec<Protocol<'_>> = addr.iter().collect();
    if let Some(position) = protocols.iter().position(|p| matches!(p, Protocol::Ws(_))) {
        protocols.insert(position, Protocol::Tls);
    }
    protocols.into_iter().collect()
}

impl libp2p::Transport for WssListener {
    type Output = <libp2p::websocket::Config<TlsTcp> as libp2p::Transport>::Output;
    type Error = <libp2p::websocket::Config<TlsTcp> as libp2p::Transport>::Error;
    type ListenerUpgrade =
        <libp2p::websocket::Config<TlsTcp> as libp2p::Transport>::ListenerUpgrade;
    type Dial = <libp2p::websocket::Config<TlsTcp> as libp2p::Transport>::Dial;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        let Some(plain) = to_plain_ws(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        self.inner.listen_on(id, plain).map_err(|e| match e {
            TransportError::MultiaddrNotSupported(_) => TransportError::MultiaddrNotSupported(addr),
            other => other,
        })
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inner.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        Err(TransportError::MultiaddrNotSupported(addr))
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.inner).poll(cx).map(|event| match event {
            TransportEvent::NewAddress {
                listener_id,
                listen_addr,
            } => TransportEvent::NewAddress {
                listener_id,
                listen_addr: to_tls_ws(listen_addr),
            },
            TransportEvent::AddressExpired {
                listener_id,
                listen_addr,
            } => TransportEvent::AddressExpired {
                listener_id,
                listen_addr: to_tls_ws(listen_addr),
            },
            TransportEvent::Incoming {
                listener_id,
                upgrade,
                local_addr,
                send_back_addr,
            } => TransportEvent::Incoming {
                listener_id,
                upgrade,
                local_addr: to_tls_ws(local_addr),
                send_back_addr,
            },
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_ws_addresses_map_both_ways() {
        let tls: Multiaddr = "/ip4/127.0.0.1/tcp/4443/tls/ws".parse().expect("valid");
        let plain = to_plain_ws(&tls).expect("a wss address");
        assert_eq!(plain.to_string(), "/ip4/127.0.0.1/tcp/4443/ws");
        assert_eq!(to_tls_ws(plain), tls);
        let wss: Multiaddr = "/ip4/127.0.0.1/tcp/4443/wss".parse().expect("valid");
        assert_eq!(
            to_plain_ws(&wss).expect("wss").to_string(),
            "/ip4/127.0.0.1/tcp/4443/ws"
        );
        let ws: Multiaddr = "/ip4/127.0.0.1/tcp/4002/ws".parse().expect("valid");
        assert_eq!(to_plain_ws(&ws), None);
    }
}
