//! The DTLS connection under an SCTP association, watched for its end.
//!
//! webrtc-rs's SCTP association closes itself when a read from DTLS fails, but never ends
//! `accept_stream` (its sender lives in the association) and has no other signal, so our
//! dialer did not hear of a listener's `close_notify` until the swarm's idle timeout. A
//! failed read here ends the connection's liveness at once, in either role. Every read error
//! is final: webrtc-rs's DTLS client and our server (`dtls.rs`) only fail a read once their
//! read loop or driver has ended (`close_notify`, a fatal alert, a dead transport).

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use webrtc::util::{Conn, Result};

use super::connection::Liveness;

/// A connection whose failed reads end `liveness`.
pub(crate) struct WatchedConn {
    inner: Arc<dyn Conn + Send + Sync>,
    liveness: Arc<Liveness>,
}

impl WatchedConn {
    pub(crate) fn new(inner: Arc<dyn Conn + Send + Sync>, liveness: Arc<Liveness>) -> Self {
        Self { inner, liveness }
    }

    fn watch<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(error) = &result {
            tracing::debug!(%error, "DTLS under the association ended");
            self.liveness.end();
        }
        result
    }
}

#[async_trait]
impl Conn for WatchedConn {
    async fn connect(&self, addr: SocketAddr) -> Result<()> {
        self.inner.connect(addr).await
    }

    async fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        let result = self.inner.recv(buf).await;
        self.watch(result)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        let result = self.inner.recv_from(buf).await;
        self.watch(result)
    }

    async fn send(&self, buf: &[u8]) -> Result<usize> {
        self.inner.send(buf).await
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> Result<usize> {
        self.inner.send_to(buf, target).await
    }

    fn local_addr(&self) -> Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
}
