//! The DTLS server against webrtc-rs's DTLS client over an in-memory pipe.

use std::sync::Mutex;

use webrtc::dtls::config::{Config as ClientConfig, ExtendedMasterSecretType};
use webrtc::dtls::conn::DTLSConn;
use webrtc::util::conn::conn_pipe::pipe;

use super::*;
use crate::native::Certificate;

/// A connection that remembers what went out on it.
struct Recorder {
    inner: Arc<dyn Conn + Send + Sync>,
    sent: Mutex<Vec<Vec<u8>>>,
}

#[async_trait]
impl Conn for Recorder {
    async fn connect(&self, addr: SocketAddr) -> webrtc::util::Result<()> {
        self.inner.connect(addr).await
    }
    async fn recv(&self, buf: &mut [u8]) -> webrtc::util::Result<usize> {
        self.inner.recv(buf).await
    }
    async fn recv_from(&self, buf: &mut [u8]) -> webrtc::util::Result<(usize, SocketAddr)> {
        self.inner.recv_from(buf).await
    }
    async fn send(&self, buf: &[u8]) -> webrtc::util::Result<usize> {
        self.sent.lock().expect("lock").push(buf.to_vec());
        self.inner.send(buf).await
    }
    async fn send_to(&self, buf: &[u8], to: SocketAddr) -> webrtc::util::Result<usize> {
        self.send(buf).await?;
        let _ = to;
        Ok(buf.len())
    }
    fn local_addr(&self) -> webrtc::util::Result<SocketAddr> {
        self.inner.local_addr()
    }
    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }
    async fn close(&self) -> webrtc::util::Result<()> {
        self.inner.close().await
    }
    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// webrtc-rs's DTLS client, as the native dialers configure it, with `certificates`,
/// handshaking on `side` in a task of its own.
fn client(
    side: impl Conn + Send + Sync + 'static,
    certificates: Vec<webrtc::dtls::crypto::Certificate>,
) -> tokio::task::JoinHandle<Result<DTLSConn, webrtc::dtls::Error>> {
    let config = ClientConfig {
        certificates,
        insecure_skip_verify: true,
        extended_master_secret: ExtendedMasterSecretType::Require,
        ..ClientConfig::default()
    };
    tokio::spawn(async move { DTLSConn::new(Arc::new(side), config, true, None).await })
}

/// webrtc-rs's DTLS client (the native dialers') against our server: the server's first
/// record is its ServerHello (no HelloVerifyRequest), it learns the client's certificate,
/// data crosses both ways, and the client's `close_notify` ends the server's reads.
#[tokio::test]
async fn webrtc_rs_clients_get_a_server_hello_at_once() {
    // webrtc-rs's DTLS client asks rustls for the process's provider, which a workspace
    // build (both rustls back ends enabled) cannot pick by itself: as the dialer does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (client_side, server_side) = pipe();
    let recorder = Arc::new(Recorder {
        inner: Arc::new(server_side),
        sent: Mutex::new(Vec::new()),
    });
    let (server_certificate, client_certificate) = (
        Certificate::generate().expect("certificate"),
        Certificate::generate().expect("certificate"),
    );
    let client = client(client_side, vec![client_certificate.dtls()]);
    let settings = config(Duration::from_secs(5)).expect("config");
    let liveness = Liveness::new();
    let (server, client_der) = accept(
        recorder.clone(),
        settings,
        server_certificate.dimpl(),
        liveness.clone(),
    )
    .await
    .expect("handshake");
    let client = client
        .await
        .expect("client task")
        .expect("client handshake");
    assert_eq!(
        crate::native::sha256(&client_der),
        client_certificate.fingerprint().0
    );
    let first = recorder.sent.lock().expect("lock")[0].clone();
    // A handshake record (22) whose first message is a ServerHello (2), not a
    // HelloVerifyRequest (3).
    assert_eq!((first[0], first[13]), (22, 2));

    let mut buffer = [0u8; 64];
    client.send(b"ping").await.expect("client send");
    let length = server.recv(&mut buffer).await.expect("server recv");
    assert_eq!(&buffer[..length], b"ping");
    server.send(b"pong").await.expect("server send");
    let length = client.recv(&mut buffer).await.expect("client recv");
    assert_eq!(&buffer[..length], b"pong");

    client.close().await.expect("client close");
    let ended = tokio::time::timeout(Duration::from_secs(2), server.recv(&mut buffer)).await;
    assert!(matches!(ended, Ok(Err(_))), "close_notify ends the reads");
    tokio::time::timeout(Duration::from_secs(2), liveness.gone())
        .await
        .expect("close_notify ends the connection");
}

/// A client without a certificate cannot connect: noise needs its fingerprint.
#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (client_side, server_side) = pipe();
    let client = client(client_side, Vec::new());
    let settings = config(Duration::from_secs(5)).expect("config");
    let server = Certificate::generate().expect("certificate").dimpl();
    let accepted = tokio::time::timeout(
        Duration::from_secs(5),
        accept(Arc::new(server_side), settings, server, Liveness::new()),
    )
    .await
    .expect("the server gives up at once");
    assert!(accepted.is_err());
    client.abort();
}
