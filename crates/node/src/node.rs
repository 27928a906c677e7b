//! Starting and stopping a native node: data directory, swarm, listeners, bootstrap, HTTP.
//!
//! [`start`] is what `webkad serve` and the one-shot commands run, and what tests call to
//! get real nodes on 127.0.0.1; [`RunningNode::shutdown`] stops one cleanly.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use libp2p::{Multiaddr, PeerId, identity::Keypair};
use tokio::{net::TcpListener, task::JoinHandle};
use webkad_core::{
    Client, Config, EventLoop, Metrics, Store,
    behaviour::store_limits,
    metrics::Registry,
    store::{
        PersistenceError,
        open::{OnDamaged, OpenError, open_store},
    },
};

use crate::{
    data_dir::{self, DataDir, DataDirError},
    http,
    http_limits::{HttpLimits, HttpMetrics},
    process_metrics::ProcessCollector,
    swarm,
    tls::CertStore,
};

/// Everything needed to start a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Behaviour configuration.
    pub config: Config,
    /// Data directory; `None` keeps nothing on disk.
    pub data_dir: Option<PathBuf>,
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Addresses to announce instead of the listen addresses.
    pub announce: Vec<Multiaddr>,
    /// Nodes to join through.
    pub bootstrap: Vec<Multiaddr>,
    /// Where to serve HTTP, if anywhere.
    pub http: Option<SocketAddr>,
    /// The HTTP server's bounds.
    pub http_limits: HttpLimits,
    /// The built page to serve over HTTP at `/` (trunk's `dist/`), if any.
    pub web_dir: Option<PathBuf>,
    /// What to do when the record store file is damaged.
    pub on_damaged_store: OnDamaged,
    /// The identity to use when there is no data dir (`None`: a new one). `webkad put
    /// --signed` reads only the data dir's key, leaving its store to the node that may be
    /// running on it.
    pub identity: Option<Keypair>,
    /// The operator's certificate, for `/tls/ws` listen addresses and HTTPS.
    pub tls: Option<TlsOptions>,
    /// Other server nodes that `/api/bootstrap` lists for pages to fall back on (at most
    /// [`MAX_PEER_BOOTSTRAP`], each ending in `/p2p/<id>`).
    pub peer_bootstrap: Vec<Multiaddr>,
    /// Certificate authorities (PEM) to trust, besides the public ones, when dialing
    /// `/tls/ws`: a private CA, or a test's.
    pub tls_ca: Option<PathBuf>,
}

/// The certificate files, and where to serve HTTPS with them.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// The certificate chain, PEM (Let's Encrypt's `fullchain.pem`).
    pub cert: PathBuf,
    /// The private key, PEM (Let's Encrypt's `privkey.pem`).
    pub key: PathBuf,
    /// Where to serve the page and API over HTTPS, if anywhere.
    pub https: Option<SocketAddr>,
}

impl NodeOptions {
    /// The default listen addresses of a bootstrap node, on 127.0.0.1.
    pub fn default_listen() -> Vec<Multiaddr> {
        [
            "/ip4/127.0.0.1/tcp/4001",
            "/ip4/127.0.0.1/udp/4001/quic-v1",
            "/ip4/127.0.0.1/tcp/4002/ws",
            "/ip4/127.0.0.1/udp/4002/webrtc-direct",
        ]
        .iter()
        .map(|a| a.parse().expect("valid default address"))
        .collect()
    }

    /// Options for a node on 127.0.0.1 with every transport on a free port: for tests.
    pub fn loopback(config: Config) -> Self {
        Self {
            config,
            data_dir: None,
            listen: [
                "/ip4/127.0.0.1/tcp/0",
                "/ip4/127.0.0.1/udp/0/quic-v1",
                "/ip4/127.0.0.1/tcp/0/ws",
                "/ip4/127.0.0.1/udp/0/webrtc-direct",
            ]
            .iter()
            .map(|a| a.parse().expect("valid address"))
            .collect(),
            announce: Vec::new(),
            bootstrap: Vec::new(),
            http: None,
            http_limits: HttpLimits::default(),
            web_dir: None,
            on_damaged_store: OnDamaged::Recover,
            identity: None,
            tls: None,
            tls_ca: None,
            peer_bootstrap: Vec::new(),
        }
    }
}

pub use crate::http::MAX_PEER_BOOTSTRAP;

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory is unusable.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The record database cannot be opened.
    #[error("cannot open the record store: {0}")]
    Store(#[from] PersistenceError),
    /// The record database is damaged and the operator asked to refuse, or it could not be
    /// moved aside.
    #[error(transparent)]
    DamagedStore(#[from] OpenError),
    /// The libp2p stack cannot be built.
    #[error(transparent)]
    Swarm(#[from] swarm::SwarmError),
    /// A listen address cannot be used.
    #[error(transparent)]
    Listen(webkad_core::Error),
    /// The certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The HTTP address cannot be bound.
    #[error("cannot serve HTTP on {addr}: {source}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A started node.
#[derive(Debug)]
pub struct RunningNode {
    /// Drives the node.
    pub client: Client,
    /// The node's peer id.
    pub peer_id: PeerId,
    /// One address per listener, each ending in `/p2p/<peer_id>`.
    pub listen_addrs: Vec<Multiaddr>,
    /// Where HTTP is served, if it is.
    pub http_addr: Option<SocketAddr>,
    /// Where HTTPS is served, if it is.
    pub https_addr: Option<SocketAddr>,
    /// The certificate in use, if the node has one.
    pub tls: Option<Arc<CertStore>>,
    event_loop: JoinHandle<()>,
    http_server: Option<http::HttpServer>,
    https_server: Option<http::HttpServer>,
    tls_watch: Option<JoinHandle<()>>,
}

impl RunningNode {
    /// The first listen address using `transport` (`tcp`, `quic`, `ws`, `webrtc-direct`).
    pub fn addr(&self, transport: &str) -> Option<&Multiaddr> {
        self.listen_addrs
            .iter()
            .find(|a| webkad_core::addr::transport_name(a) == transport)
    }

    /// Stops HTTP, closes every connection, waits for the event loop to end, and removes
    /// the node's UPnP port mappings from the gateway.
    pub async fn shutdown(self) {
        if let Some(server) = self.http_server {
            server.stop().await;
        }
        if let Some(server) = self.https_server {
            server.stop().await;
        }
        if let Some(watch) = self.tls_watch {
            watch.abort();
        }
        let mapped = self.client.nat().await.map_or_else(
            |_| Vec::new(),
            |nat| nat.upnp.mappings.into_iter().map(|m| m.external).collect(),
        );
        if let Err(error) = self.client.shutdown().await {
            tracing::debug!(%error, "event loop already stopped");
        }
        let _ = self.event_loop.await;
        crate::upnp::release(&mapped).await;
    }
}

/// Opens the data directory (or makes up an ephemeral identity), builds the swarm, listens,
/// joins the bootstrap nodes and serves HTTP.
pub async fn start(mut options: NodeOptions) -> Result<RunningNode, StartError> {
    // Several libp2p transports use rustls with different crypto back ends enabled; without a
    // process default, the first WebRTC handshake panics. Already installed is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    crate::port_probe::check_tcp_ports(&options.listen).map_err(|(addr, error)| {
        StartError::Listen(webkad_core::Error::Listen {
            addr: addr.to_string(),
            reason: error.to_string(),
        })
    })?;
    if options.tls.is_none()
        && let Some(wss) = options
            .listen
            .iter()
            .find(|a| crate::wss::to_plain_ws(a).is_some())
    {
        return Err(StartError::Listen(webkad_core::Error::Listen {
            addr: wss.to_string(),
            reason: "a WSS listener needs a certificate: --tls-cert and --tls-key".into(),
        }));
    }
    let tls = match &options.tls {
        Some(files) => Some(CertStore::open(&files.cert, &files.key)?),
        None => None,
    };
    let trusted = match &options.tls_ca {
        Some(path) => crate::tls::load_ca(path)?,
        None => Vec::new(),
    };
    // The HTTP ports are taken before libp2p listens: its ephemeral ports (`/tcp/0/ws`) could
    // otherwise take a fixed HTTP port chosen a moment before (the tests pick free ports so).
    let http_listener = bind_http(options.http).await?;
    let https_listener = bind_http(options.tls.as_ref().and_then(|t| t.https)).await?;
    let (keypair, certificate, store) = open_state(&options)?;
    let peer_id = keypair.public().to_peer_id();
    // In auto mode AutoNAT decides which addresses are reachable; otherwise the listen
    // addresses are announced unless --announce names others.
    options.config.announce_listen_addrs =
        options.announce.is_empty() && options.config.kad_mode != webkad_core::KadMode::Auto;
    let mut registry = Registry::default();
    ProcessCollector::register(&mut registry);
    crate::webrtc_metrics::WebRtcShedCollector::register(&mut registry);
    let http_metrics = HttpMetrics::register(&mut registry);
    let swarm = swarm::build(
        keypair.clone(),
        certificate,
        store,
        &options.config,
        &mut registry,
        tls.clone(),
        trusted,
    )
    .await?;
    let metrics = Metrics::new(registry);
    let (event_loop, client) = EventLoop::new(swarm, options.config.clone(), metrics);
    let client = client.with_identity(keypair);
    let event_loop = tokio::spawn(event_loop.run());

    let mut listen_addrs = Vec::new();
    for addr in &options.listen {
        match client.listen(addr.clone()).await {
            Ok(addr) => listen_addrs.push(addr),
            Err(error) => {
                let _ = client.shutdown().await;
                return Err(StartError::Listen(error));
            }
        }
    }
    for addr in &options.announce {
        client
            .add_external_address(addr.clone())
            .await
            .map_err(StartError::Listen)?;
    }
    join(&client, &options.bootstrap).await;

    let http_server = match http_listener {
        Some(listener) => Some(serve_http(&options, &client, &http_metrics, listener, None).await?),
        None => None,
    };
    let https_server = match https_listener.zip(tls.as_ref()) {
        Some((listener, certs)) => {
            let config = certs.server_config(&[b"http/1.1"]);
            Some(serve_http(&options, &client, &http_metrics, listener, Some(config)).await?)
        }
        None => None,
    };
    Ok(RunningNode {
        peer_id,
        listen_addrs,
        http_addr: http_server.as_ref().map(|s| s.local_addr()),
        https_addr: https_server.as_ref().map(|s| s.local_addr()),
        tls_watch: tls.clone().map(|t| tokio::spawn(crate::tls::watch(t))),
        tls,
        client,
        event_loop,
        http_server,
        https_server,
    })
}

/// Binds an HTTP(S) port, if one is asked for; answers the asked address with it.
async fn bind_http(
    addr: Option<SocketAddr>,
) -> Result<Option<(SocketAddr, TcpListener)>, StartError> {
    let Some(addr) = addr else { return Ok(None) };
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(Some((addr, listener))),
        Err(source) => Err(StartError::Http { addr, source }),
    }
}

/// Serves the page and API on `listener` (bound for `addr`), over TLS when `tls` is given.
async fn serve_http(
    options: &NodeOptions,
    client: &Client,
    metrics: &HttpMetrics,
    (addr, listener): (SocketAddr, TcpListener),
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<http::HttpServer, StartError> {
    http::HttpServer::start(
        listener,
        client.clone(),
        options.web_dir.clone(),
        options.http_limits.clone(),
        metrics.clone(),
        tls,
        options
            .peer_bootstrap
            .iter()
            .take(MAX_PEER_BOOTSTRAP)
            .map(|a| a.to_string())
            .collect(),
    )
    .await
    .map_err(|source| StartError::Http { addr, source })
}

/// Dials every bootstrap address, then refreshes the routing table. Failures are warnings:
/// a node whose bootstrap peers are down keeps serving and retries on its periodic bootstrap.
/// Returns how many bootstrap nodes answered.
pub async fn join(client: &Client, bootstrap: &[Multiaddr]) -> usize {
    if bootstrap.is_empty() {
        return 0;
    }
    let events = client.subscribe().await.ok();
    let mut reached = 0;
    for addr in bootstrap {
        match client.dial(addr.clone()).await {
            Ok(peer) => {
                reached += 1;
                tracing::info!(%peer, %addr, "connected to bootstrap node");
            }
            Err(error) => tracing::warn!(%addr, %error, "bootstrap node unreachable"),
        }
    }
    if reached == 0 {
        return 0;
    }
    let bootstrapped = match events {
        Some(events) => webkad_core::join::bootstrap_when_routed(client, events).await,
        None => client.bootstrap().await,
    };
    match bootstrapped {
        Ok(size) => tracing::info!(routing_table_size = size, "joined the DHT"),
        Err(error) => tracing::warn!(%error, "bootstrap query failed"),
    }
    reached
}

fn open_state(
    options: &NodeOptions,
) -> Result<(Keypair, libp2p_webrtc::tokio::Certificate, Store), StartError> {
    let limits = store_limits(&options.config);
    match &options.data_dir {
        Some(path) => {
            let dir = DataDir::open(path)?;
            let keypair = dir.identity()?;
            let certificate = dir.certificate()?;
            let opened = open_store(&dir.store_path(), dir.is_new(), options.on_damaged_store)?;
            let damaged = opened.damaged_entries as u64;
            let peer_id = keypair.public().to_peer_id();
            let mut store = Store::with_backend(peer_id, limits, Box::new(opened.store))?;
            store.set_damaged_at_load(damaged);
            Ok((keypair, certificate, store))
        }
        None => {
            let keypair = options
                .identity
                .clone()
                .unwrap_or_else(Keypair::generate_ed25519);
            let store = Store::in_memory(keypair.public().to_peer_id(), limits);
            Ok((keypair, data_dir::new_certificate(), store))
        }
    }
}
