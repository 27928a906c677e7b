//! The bounds of the HTTP server, what it sheds when they bite (counted in `/metrics` by
//! reason) and the overload warning it logs at most once per interval.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use prometheus_client::{
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

/// How much the HTTP server holds for anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections open at once; at the cap the oldest idle one is closed for a new one.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// How long a request's head may take to arrive, counted from the connection's start or
    /// from the end of the previous response (so also how long a connection may sit idle).
    pub header_timeout: Duration,
    /// How long a connection may make no progress while a request is served.
    pub idle_timeout: Duration,
    /// The largest request head (request line and headers), in bytes.
    pub max_head_bytes: usize,
    /// The largest request body, in bytes (the API takes none).
    pub max_body_bytes: u64,
    /// File descriptors kept free for the node's own work: at fewer, HTTP connections are shed.
    pub fd_reserve: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_connections_per_ip: 64,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_head_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            fd_reserve: 256,
        }
    }
}

/// Why an HTTP connection or request was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShedReason {
    /// The connection cap was reached.
    ConnectionCap,
    /// The per-IP connection cap was reached.
    PerIp,
    /// Too few file descriptors were left.
    FdReserve,
    /// The request head did not arrive in time (or a keep-alive connection sat idle).
    HeaderTimeout,
    /// The connection made no progress while a request was served.
    IdleTimeout,
    /// The request head or body was too large.
    TooLarge,
    /// Accepting failed (e.g. no descriptor left).
    AcceptError,
}

impl ShedReason {
    /// Every reason, for series that exist at zero.
    pub const ALL: [Self; 7] = [
        Self::ConnectionCap,
        Self::PerIp,
        Self::FdReserve,
        Self::HeaderTimeout,
        Self::IdleTimeout,
        Self::TooLarge,
        Self::AcceptError,
    ];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectionCap => "connection_cap",
            Self::PerIp => "per_ip",
            Self::FdReserve => "fd_reserve",
            Self::HeaderTimeout => "header_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::TooLarge => "too_large",
            Self::AcceptError => "accept_error",
        }
    }

    /// Whether this reason means the server is overloaded (rather than one slow client).
    fn is_overload(self) -> bool {
        matches!(
            self,
            Self::ConnectionCap | Self::PerIp | Self::FdReserve | Self::AcceptError
        )
    }
}

/// The HTTP series: `webkad_http_connections_open` and `webkad_http_shed_total{reason}`.
#[derive(Debug, Clone, Default)]
pub struct HttpMetrics {
    open: Gauge,
    shed: Family<[(&'static str, &'static str); 1], Counter>,
}

/// How often an ongoing overload is logged.
pub const OVERLOAD_LOG_INTERVAL: Duration = Duration::from_secs(10);

static OVERLOAD: Mutex<Option<(Instant, u64)>> = Mutex::new(None);

impl HttpMetrics {
    /// Registers the series (every reason at zero) in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let this = Self::default();
        let r = registry.sub_registry_with_prefix("webkad_http");
        r.register(
            "connections_open",
            "HTTP connections open",
            this.open.clone(),
        );
        r.register(
            "shed",
            "HTTP connections closed or requests refused by a limit, by reason",
            this.shed.clone(),
        );
        for reason in ShedReason::ALL {
            let _ = this.shed.get_or_create(&[("reason", reason.as_str())]);
        }
        this
    }

    /// Counts one connection opened (`+1`) or closed (`-1`).
    pub fn opened(&self, delta: i64) {
        self.open.inc_by(delta);
    }

    /// Counts something shed; an overload is logged at most once per
    /// [`OVERLOAD_LOG_INTERVAL`], with how much was shed since the last warning.
    pub fn shed(&self, reason: ShedReason) {
        self.shed
            .get_or_create(&[("reason", reason.as_str())])
            .inc();
        if !reason.is_overload() {
            return;
        }
        let Ok(mut last) = OVERLOAD.lock() else {
            return;
        };
        let now = Instant::now();
        match &mut *last {
            Some((at, count)) if now.duration_since(*at) < OVERLOAD_LOG_INTERVAL => *count += 1,
            _ => {
                let since = last.map_or(0, |(_, count)| count);
                tracing::warn!(
                    reason = reason.as_str(),
                    shed_since_last_warning = since,
                    "http overloaded: shedding connections (see webkad_http_shed_total)"
                );
                *last = Some((now, 0));
            }
        }
    }
}
