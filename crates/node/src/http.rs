//! The HTTP side of the node: the built page at `/`, `/api/bootstrap` for pages and tools
//! that need the node's addresses, `/api/nat` for its reachability, `/metrics` for
//! Prometheus, `/api/stats` (the same numbers summarised as JSON) and `/healthz` for
//! supervisors.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use serde::Serialize;
use tokio::{sync::watch, task::JoinHandle};
use tower_http::compression::CompressionLayer;
use webkad_core::{Client, addr, metrics};

use crate::http_limits::{HttpLimits, HttpMetrics};

/// A running HTTP server.
#[derive(Debug)]
pub struct HttpServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Serves the API on `listener`, and the page built into `web_dir` if given, in the
    /// background, within `limits`; what the limits shed is counted in `metrics`.
    pub async fn start(
        listener: tokio::net::TcpListener,
        client: Client,
        web_dir: Option<PathBuf>,
        limits: HttpLimits,
        metrics: HttpMetrics,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
        servers: Vec<String>,
    ) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let app = router(client, web_dir, servers);
        let https = tls.is_some();
        let tls = tls.map(tokio_rustls::TlsAcceptor::from);
        let task = tokio::spawn(crate::http_serve::serve(
            listener, tls, app, limits, metrics, stopped,
        ));
        tracing::info!(%local_addr, https, "serving http");
        Ok(Self {
            local_addr,
            stop,
            task,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting requests and waits for the server to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn router(client: Client, web_dir: Option<PathBuf>, servers: Vec<String>) -> Router {
    let servers: std::sync::Arc<[String]> = servers.into();
    let api = Router::new()
        .route(
            "/api/bootstrap",
            get(move |state| bootstrap(state, servers.clone())),
        )
        .route("/api/stats", get(stats))
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .route("/api/nat", get(nat))
        .with_state(client);
    let app = match web_dir {
        Some(dir) => api.fallback_service(crate::page_files::router(dir)),
        None => api,
    };
    app.layer(CompressionLayer::new())
}

/// Whether `dir` holds a built page.
pub fn has_page(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

/// The node's identity and dialable addresses.
#[derive(Debug, Serialize)]
struct Bootstrap {
    peer_id: String,
    addrs: Vec<String>,
    /// Other server nodes of the network (`--peer-bootstrap`, `--bootstrap`, then DHT
    /// servers in the routing table a browser can dial), each ending in `/p2p/<id>`, at
    /// most [`MAX_PEER_BOOTSTRAP`]: a page remembers them and rejoins through one when this
    /// node goes away.
    servers: Vec<String>,
}

/// How many other server addresses `/api/bootstrap` lists at most.
pub const MAX_PEER_BOOTSTRAP: usize = 16;

async fn bootstrap(
    State(client): State<Client>,
    servers: std::sync::Arc<[String]>,
) -> impl IntoResponse {
    match client.addresses().await {
        Ok(addresses) => {
            let mut addrs: Vec<String> = Vec::new();
            for a in addresses.external.iter().chain(&addresses.listen) {
                let s = a.to_string();
                if !addr::is_unspecified(a) && !addrs.contains(&s) {
                    addrs.push(s);
                }
            }
            let mut listed: Vec<String> =
                servers.iter().take(MAX_PEER_BOOTSTRAP).cloned().collect();
            let learned = client
                .dht_servers(MAX_PEER_BOOTSTRAP)
                .await
                .unwrap_or_default();
            for a in learned {
                let s = a.to_string();
                if listed.len() < MAX_PEER_BOOTSTRAP && !listed.contains(&s) {
                    listed.push(s);
                }
            }
            let body = Bootstrap {
                peer_id: addresses.peer_id.to_string(),
                addrs,
                servers: listed,
            };
            // Any origin may read the addresses: web apps embed the node from elsewhere.
            let cors = [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
            (StatusCode::OK, cors, Json(body)).into_response()
        }
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

/// The seven metric groups as JSON.
async fn stats(State(client): State<Client>) -> impl IntoResponse {
    match client.stats().await {
        Ok(stats) => {
            let cors = [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
            (StatusCode::OK, cors, Json(stats)).into_response()
        }
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

/// The Prometheus scrape: OpenMetrics when the scraper asks for it (Prometheus does),
/// else the classic text format (curl, promtool).
async fn scrape(State(client): State<Client>, headers: HeaderMap) -> impl IntoResponse {
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if let Err(error) = client.refresh_metrics().await {
        tracing::debug!(%error, "scraping a stopped node");
    }
    let m = client.metrics();
    let (content_type, body) = if wants_openmetrics {
        (metrics::OPENMETRICS_CONTENT_TYPE, m.open_metrics())
    } else {
        (metrics::PROMETHEUS_CONTENT_TYPE, m.prometheus_text())
    };
    ([(header::CONTENT_TYPE, content_type)], body)
}

async fn healthz(State(client): State<Client>) -> impl IntoResponse {
    match client.stats().await {
        Ok(_) => (StatusCode::OK, "ok\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "stopped\n"),
    }
}

/// The node's reachability: AutoNAT verdict, external addresses, UPnP, relays, connections.
async fn nat(State(client): State<Client>) -> impl IntoResponse {
    match client.nat().await {
        Ok(nat) => (StatusCode::OK, Json(nat)).into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}
