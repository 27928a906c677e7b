//! The listener's DTLS server: dimpl's sans-IO engine driven over the ICE connection, and
//! offered to webrtc-rs's SCTP as the [`Conn`] it runs on.
//!
//! Why not webrtc-rs's dtls (0.17): its server answers every first ClientHello with a
//! HelloVerifyRequest and has no option to skip it, so each connection paid one round trip
//! before the handshake proper (150 ms on a phone's link). The cookie defends a server that
//! answers any source address; ours answers a ClientHello only from an address that first
//! sent an ICE check for its ufrag, and the mux bounds what one source address can hold (8
//! attempts for 8 s), so the cookie would only trade a round trip for every visitor against a few
//! KB/s a spoofer could reflect. dimpl (the DTLS of str0m) skips it when asked
//! ([`dimpl::ConfigBuilder::use_server_cookie`]), and answers DTLS 1.3 to a dialer that
//! offers it (Chromium does; a 1.3 handshake is one round trip shorter again) and 1.2 to the
//! others (webrtc-rs, so rust-libp2p and our native dialer). Together: a page's dial →
//! connected went from 8.1 to 5.9 round trips on the mobile link.
//!
//! One task per connection reads the ICE connection, feeds the engine, answers its timers
//! (retransmissions) and hands decrypted SCTP packets to [`DtlsServer::recv`]. Sends encrypt
//! under the same lock and go out at once. Any engine error is fatal: the connection ends
//! and SCTP sees its reads fail.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dimpl::{Dtls, DtlsCertificate, Output};
use tokio::sync::{Notify, mpsc, oneshot};
use webrtc::util::Conn;

use super::connection::Liveness;

/// Decrypted packets waiting for SCTP.
const INBOX: usize = 128;
/// The largest datagram read from ICE.
const DATAGRAM: usize = 2048;

/// Why the DTLS server failed.
#[derive(Debug, thiserror::Error)]
pub enum DtlsError {
    /// The engine refused its configuration or our certificate.
    #[error("DTLS configuration: {0}")]
    Config(String),
    /// The handshake or the connection failed.
    #[error("DTLS: {0}")]
    Engine(#[from] dimpl::Error),
    /// The connection ended before the handshake completed.
    #[error("DTLS ended during the handshake")]
    Ended,
    /// The client completed the handshake without a certificate.
    #[error("the DTLS client sent no certificate")]
    NoCertificate,
}

/// The engine settings every connection of a listener shares.
pub(crate) fn config(handshake_timeout: Duration) -> Result<Arc<dimpl::Config>, DtlsError> {
    dimpl::Config::builder()
        .use_server_cookie(false)
        .require_client_certificate(true)
        .handshake_timeout(handshake_timeout)
        .build()
        .map(Arc::new)
        .map_err(|error| DtlsError::Config(error.to_string()))
}

/// The engine and what it has told us so far.
struct Engine {
    dtls: Dtls,
    buffer: Vec<u8>,
    deadline: Option<Instant>,
    peer_certificate: Option<Vec<u8>>,
    connected: Option<oneshot::Sender<Vec<u8>>>,
}

/// What one step of the engine produced.
#[derive(Default)]
struct Step {
    packets: Vec<Vec<u8>>,
    data: Vec<Vec<u8>>,
    close_notify: bool,
}

impl Engine {
    /// Advances the clock, applies `input`, and collects every output up to the next timer.
    fn step(
        &mut self,
        input: impl FnOnce(&mut Dtls) -> Result<(), dimpl::Error>,
    ) -> Result<Step, dimpl::Error> {
        self.dtls.handle_timeout(Instant::now())?;
        input(&mut self.dtls)?;
        let mut step = Step::default();
        loop {
            match self.dtls.poll_output(&mut self.buffer) {
                Output::Packet(packet) => step.packets.push(packet.to_vec()),
                Output::BufferTooSmall { needed } => self.buffer.resize(needed, 0),
                Output::Timeout(at) => {
                    self.deadline = Some(at);
                    break;
                }
                Output::PeerCert(der) => self.peer_certificate = Some(der.to_vec()),
                Output::Connected => {
                    if let Some(connected) = self.connected.take() {
                        let _ = connected.send(self.peer_certificate.clone().unwrap_or_default());
                    }
                }
                Output::ApplicationData(data) => step.data.push(data.to_vec()),
                Output::CloseNotify => step.close_notify = true,
                _ => {}
            }
        }
        Ok(step)
    }
}

struct Shared {
    engine: Mutex<Engine>,
    ice: Arc<dyn Conn + Send + Sync>,
    /// A new timer deadline, for the driver.
    rearm: Notify,
}

impl Shared {
    fn step(
        &self,
        input: impl FnOnce(&mut Dtls) -> Result<(), dimpl::Error>,
    ) -> Result<Step, dimpl::Error> {
        let mut engine = self
            .engine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        engine.step(input)
    }

    fn deadline(&self) -> Option<Instant> {
        self.engine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .deadline
    }

    async fn transmit(&self, packets: Vec<Vec<u8>>) {
        for packet in packets {
            if let Err(error) = self.ice.send(&packet).await {
                tracing::trace!(%error, "DTLS record not sent");
            }
        }
    }
}

/// An established DTLS server connection.
pub(crate) struct DtlsServer {
    shared: Arc<Shared>,
    inbox: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
}

/// Runs the handshake on `ice` as the server with `certificate`; answers the connection and
/// the client's certificate (DER), whose sha-256 the noise prologue binds. `liveness` ends
/// when DTLS does (the client's `close_notify`, an engine error, ICE gone).
pub(crate) async fn accept(
    ice: Arc<dyn Conn + Send + Sync>,
    config: Arc<dimpl::Config>,
    certificate: DtlsCertificate,
    liveness: Arc<Liveness>,
) -> Result<(Arc<DtlsServer>, Vec<u8>), DtlsError> {
    let (connected_tx, connected) = oneshot::channel();
    let engine = Engine {
        dtls: Dtls::new_auto(config, certificate, Instant::now()),
        buffer: vec![0; DATAGRAM],
        deadline: None,
        peer_certificate: None,
        connected: Some(connected_tx),
    };
    let shared = Arc::new(Shared {
        engine: Mutex::new(engine),
        ice,
        rearm: Notify::new(),
    });
    let (inbox_tx, inbox) = mpsc::channel(INBOX);
    let (failed_tx, failed) = oneshot::channel();
    let shared_for_driver = shared.clone();
    tokio::spawn(async move {
        drive(shared_for_driver, inbox_tx, failed_tx).await;
        // webrtc-rs's SCTP closes itself when its reads fail but never ends `accept_stream`,
        // so the association cannot be what tells the connection that the dialer left.
        liveness.end();
    });
    let certificate = tokio::select! {
        certificate = connected => certificate.map_err(|_| DtlsError::Ended)?,
        error = failed => return Err(error.map_or(DtlsError::Ended, DtlsError::Engine)),
    };
    if certificate.is_empty() {
        return Err(DtlsError::NoCertificate);
    }
    let version = shared
        .engine
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .dtls
        .protocol_version();
    tracing::debug!(?version, "DTLS handshake done");
    let server = DtlsServer {
        shared,
        inbox: tokio::sync::Mutex::new(inbox),
    };
    Ok((Arc::new(server), certificate))
}

/// Feeds datagrams and timers to the engine until ICE, the engine or the peer ends it.
async fn drive(
    shared: Arc<Shared>,
    inbox: mpsc::Sender<Vec<u8>>,
    failed: oneshot::Sender<dimpl::Error>,
) {
    let mut datagram = vec![0u8; DATAGRAM];
    let result = 'run: loop {
        let deadline = shared.deadline();
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => futures::future::pending().await,
            }
        };
        let step = tokio::select! {
            received = shared.ice.recv(&mut datagram) => match received {
                Ok(length) => shared.step(|dtls| dtls.handle_packet(&datagram[..length])),
                Err(error) => {
                    tracing::trace!(%error, "ICE connection ended");
                    break Ok(());
                }
            },
            () = timer => shared.step(|_| Ok(())),
            () = shared.rearm.notified() => continue,
        };
        let step = match step {
            Ok(step) => step,
            Err(error) => break Err(error),
        };
        shared.transmit(step.packets).await;
        for data in step.data {
            if inbox.send(data).await.is_err() {
                break 'run Ok(());
            }
        }
        if step.close_notify {
            tracing::debug!("DTLS close_notify received");
            break Ok(());
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "DTLS failed");
        let _ = failed.send(error);
    }
}

#[async_trait]
impl Conn for DtlsServer {
    async fn connect(&self, _: SocketAddr) -> webrtc::util::Result<()> {
        Err(webrtc::util::Error::Other(
            "connect on a DTLS connection".to_owned(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc::util::Result<usize> {
        let mut inbox = self.inbox.lock().await;
        match inbox.recv().await {
            Some(data) => {
                let length = data.len().min(buf.len());
                buf[..length].copy_from_slice(&data[..length]);
                Ok(length)
            }
            None => Err(webrtc::util::Error::ErrUseClosedNetworkConn),
        }
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc::util::Result<(usize, SocketAddr)> {
        let length = self.recv(buf).await?;
        let from = self
            .remote_addr()
            .ok_or(webrtc::util::Error::ErrUseClosedNetworkConn)?;
        Ok((length, from))
    }

    async fn send(&self, buf: &[u8]) -> webrtc::util::Result<usize> {
        let step = self
            .shared
            .step(|dtls| dtls.send_application_data(buf).map(|_| ()))
            .map_err(|error| webrtc::util::Error::Other(error.to_string()))?;
        self.shared.rearm.notify_one();
        self.shared.transmit(step.packets).await;
        Ok(buf.len())
    }

    async fn send_to(&self, buf: &[u8], _: SocketAddr) -> webrtc::util::Result<usize> {
        self.send(buf).await
    }

    fn local_addr(&self) -> webrtc::util::Result<SocketAddr> {
        self.shared.ice.local_addr()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.shared.ice.remote_addr()
    }

    /// Sends `close_notify` (once established), so the dialer sees the end at once.
    async fn close(&self) -> webrtc::util::Result<()> {
        match self.shared.step(|dtls| dtls.close()) {
            Ok(step) => self.shared.transmit(step.packets).await,
            Err(error) => tracing::trace!(%error, "DTLS close"),
        }
        self.shared.rearm.notify_one();
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests;
