//! The HTTP side of the node: `/api/bootstrap` for pages and tools that need the node's
//! addresses, and `/healthz` for supervisors.

use std::net::SocketAddr;

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde::Serialize;
use tokio::{sync::oneshot, task::JoinHandle};
use webkad_core::{Client, addr};

/// A running HTTP server.
#[derive(Debug)]
pub struct HttpServer {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `addr` and serves the API in the background.
    pub async fn start(addr: SocketAddr, client: Client) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(client);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "http server failed");
            }
        });
        tracing::info!(%local_addr, "serving http");
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
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn router(client: Client) -> Router {
    Router::new()
        .route("/api/bootstrap", get(bootstrap))
        .route("/healthz", get(healthz))
        .with_state(client)
}

/// The node's identity and dialable addresses.
#[derive(Debug, Serialize)]
struct Bootstrap {
    peer_id: String,
    addrs: Vec<String>,
}

async fn bootstrap(State(client): State<Client>) -> impl IntoResponse {
    match client.addresses().await {
        Ok(addresses) => {
            let mut addrs: Vec<String> = Vec::new();
            for a in addresses.external.iter().chain(&addresses.listen) {
                let s = a.to_string();
                if !addr::is_unspecified(a) && !addrs.contains(&s) {
                    addrs.push(s);
                }
            }
            let body = Bootstrap {
                peer_id: addresses.peer_id.to_string(),
                addrs,
            };
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

async fn healthz(State(client): State<Client>) -> impl IntoResponse {
    match client.stats().await {
        Ok(_) => (StatusCode::OK, "ok\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "stopped\n"),
    }
}
