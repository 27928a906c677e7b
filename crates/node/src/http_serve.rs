//! The HTTP accept loop: every connection is bounded (see [`HttpLimits`]) and what is shed
//! is counted by reason.
//!
//! At a cap, a new connection does not wait in the kernel's backlog behind silent ones: the
//! oldest idle connection (no request in progress; from the same IP when the per-IP cap is
//! what bites) is closed to make room, and only when none is idle is the new one refused.
//! So a flood of silent connections can delay a real request by at most the time it takes
//! to accept it, and every silent connection is gone within the header timeout.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    http::{Request, Response, StatusCode, header},
};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::oneshot, sync::watch};

use crate::{
    fd_budget,
    http_limits::{HttpLimits, HttpMetrics, ShedReason},
    idle_io::{IdleTimeout, is_idle_timeout},
};

/// One open connection.
struct Entry {
    ip: IpAddr,
    /// Requests being answered right now.
    busy: usize,
    /// When it last became idle (accepted, or its last request answered).
    idle_since: Instant,
    evict: Option<oneshot::Sender<ShedReason>>,
}

/// The open connections, by id.
#[derive(Default)]
struct Table {
    next: u64,
    conns: HashMap<u64, Entry>,
}

impl Table {
    /// Closes the idle connection (of `ip`, if given) that has been idle longest.
    fn evict_oldest_idle(&mut self, ip: Option<IpAddr>, reason: ShedReason) -> bool {
        let victim = self
            .conns
            .iter_mut()
            .filter(|(_, e)| e.busy == 0 && e.evict.is_some() && ip.is_none_or(|ip| e.ip == ip))
            .min_by_key(|(_, e)| e.idle_since);
        match victim.and_then(|(_, e)| e.evict.take()) {
            Some(evict) => evict.send(reason).is_ok(),
            None => false,
        }
    }

    /// Makes room for a connection from `ip`, or says why there is none. Evicted
    /// connections still count until their task ends, so admission counts them out here.
    fn admit(
        &mut self,
        ip: IpAddr,
        limits: &HttpLimits,
        fd_short: bool,
    ) -> Result<(u64, oneshot::Receiver<ShedReason>), ShedReason> {
        let live = |t: &Self, ip: Option<IpAddr>| {
            t.conns
                .values()
                .filter(|e| e.evict.is_some() && ip.is_none_or(|ip| e.ip == ip))
                .count()
        };
        if live(self, Some(ip)) >= limits.max_connections_per_ip
            && !self.evict_oldest_idle(Some(ip), ShedReason::PerIp)
        {
            return Err(ShedReason::PerIp);
        }
        if live(self, None) >= limits.max_connections
            && !self.evict_oldest_idle(None, ShedReason::ConnectionCap)
        {
            return Err(ShedReason::ConnectionCap);
        }
        if fd_short && !self.evict_oldest_idle(None, ShedReason::FdReserve) {
            return Err(ShedReason::FdReserve);
        }
        let id = self.next;
        self.next += 1;
        let (evict, evicted) = oneshot::channel();
        self.conns.insert(
            id,
            Entry {
                ip,
                busy: 0,
                idle_since: Instant::now(),
                evict: Some(evict),
            },
        );
        Ok((id, evicted))
    }

    /// Closes every connection idle since before `since`: no request head arrived in time.
    fn evict_idle_since(&mut self, since: Instant) {
        for entry in self.conns.values_mut() {
            if entry.busy == 0
                && entry.idle_since < since
                && let Some(evict) = entry.evict.take()
            {
                let _ = evict.send(ShedReason::HeaderTimeout);
            }
        }
    }

    fn remove(&mut self, id: u64) {
        self.conns.remove(&id);
    }

    fn set_busy(&mut self, id: u64, start: bool) {
        if let Some(entry) = self.conns.get_mut(&id) {
            if start {
                entry.busy += 1;
            } else {
                entry.busy = entry.busy.saturating_sub(1);
                if entry.busy == 0 {
                    entry.idle_since = Instant::now();
                }
            }
        }
    }
}

type Conns = Arc<Mutex<Table>>;

fn with<T>(conns: &Conns, f: impl FnOnce(&mut Table) -> T) -> T {
    let mut table = conns
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut table)
}

/// Marks a connection busy while a request is answered.
struct Busy(Conns, u64);

impl Busy {
    fn enter(conns: &Conns, id: u64) -> Self {
        with(conns, |t| t.set_busy(id, true));
        Self(conns.clone(), id)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        with(&self.0, |t| t.set_busy(self.1, false));
    }
}

/// The finest granularity of the idle sweep.
const MIN_SWEEP: Duration = Duration::from_millis(250);

/// How often the open descriptors are counted while accepting.
const FD_CHECK: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` within `limits` until `stop` turns true; over TLS when `tls`
/// is given (HTTPS).
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    limits: HttpLimits,
    metrics: HttpMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let conns: Conns = Arc::default();
    let fd_limit = fd_budget::soft_limit();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        // hyper refuses buffers under 8 KiB.
        .max_buf_size(limits.max_head_bytes.max(8192));
    // hyper's own header-read timer does not run on a connection that never sent a byte,
    // so idle connections are swept here: no request head within the timeout, counted from
    // the connection's start or from the end of its last response.
    let (mut fd_short, mut fd_checked) = (false, Instant::now() - FD_CHECK);
    let mut sweep = tokio::time::interval((limits.header_timeout / 4).max(MIN_SWEEP));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = sweep.tick() => {
                if let Some(since) = Instant::now().checked_sub(limits.header_timeout) {
                    with(&conns, |t| t.evict_idle_since(since));
                }
                continue;
            }
            _ = stop.changed() => return,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, most likely: free one and pause instead of spinning.
                metrics.shed(ShedReason::AcceptError);
                tracing::debug!(%error, "http accept failed");
                with(&conns, |t| t.evict_oldest_idle(None, ShedReason::FdReserve));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let ip = remote.ip().to_canonical();
        // Counting descriptors reads a directory: at most every FD_CHECK, not per accept.
        if fd_checked.elapsed() >= FD_CHECK {
            fd_short = fd_budget::short(fd_limit, limits.fd_reserve);
            fd_checked = Instant::now();
        }
        let (id, evicted) = match with(&conns, |t| t.admit(ip, &limits, fd_short)) {
            Ok(admitted) => admitted,
            Err(reason) => {
                metrics.shed(reason);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = request_service(
            app.clone(),
            conns.clone(),
            id,
            limits.max_body_bytes,
            metrics.clone(),
        );
        let (builder, tls, conns, metrics) =
            (builder.clone(), tls.clone(), conns.clone(), metrics.clone());
        let (header_timeout, idle_timeout) = (limits.header_timeout, limits.idle_timeout);
        let mut stop = stop.clone();
        tokio::spawn(async move {
            metrics.opened(1);
            if let Some(stream) = handshake(stream, tls, header_timeout).await {
                let io = TokioIo::new(IdleTimeout::new(stream, idle_timeout));
                let conn = builder.serve_connection(io, service);
                tokio::pin!(conn);
                tokio::select! {
                    served = conn.as_mut() => count_end(&metrics, served),
                    Ok(reason) = evicted => metrics.shed(reason),
                    _ = stop.changed() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            }
            with(&conns, |t| t.remove(id));
            metrics.opened(-1);
        });
    }
}

/// A byte stream HTTP is served on: plain TCP or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// The stream as is, or after a TLS handshake (bounded like a request head); `None` when
/// the handshake failed.
async fn handshake(
    stream: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    timeout: Duration,
) -> Option<Box<dyn Io>> {
    let Some(acceptor) = tls else {
        return Some(Box::new(stream));
    };
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(Box::new(stream)),
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}

/// Counts a connection that ended on a limit.
fn count_end(metrics: &HttpMetrics, served: Result<(), hyper::Error>) {
    let Err(error) = served else { return };
    if error.is_timeout() {
        metrics.shed(ShedReason::HeaderTimeout);
    } else if error.is_parse_too_large() {
        metrics.shed(ShedReason::TooLarge);
    } else if is_idle_timeout(&error) {
        metrics.shed(ShedReason::IdleTimeout);
    } else {
        tracing::trace!(%error, "http connection ended");
    }
}

/// The router behind the body limit, marking the connection busy while it answers.
fn request_service(
    app: Router,
    conns: Conns,
    id: u64,
    max_body: u64,
    metrics: HttpMetrics,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone {
    let app = TowerToHyperService::new(app);
    service_fn(move |request: Request<Incoming>| {
        let app = app.clone();
        let conns = conns.clone();
        let metrics = metrics.clone();
        async move {
            if body_too_large(&request, max_body) {
                metrics.shed(ShedReason::TooLarge);
                let mut response = Response::new(Body::from("request body too large\n"));
                *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                response.headers_mut().insert(
                    header::CONNECTION,
                    header::HeaderValue::from_static("close"),
                );
                return Ok(response);
            }
            let busy = Busy::enter(&conns, id);
            let response = hyper::service::Service::call(&app, request).await?;
            // Busy until the body is sent: a large file to a slow client is not idle.
            Ok(response.map(|body| {
                Body::new(BusyBody {
                    inner: body,
                    _busy: busy,
                })
            }))
        }
    })
}

/// A response body that keeps its connection marked busy until it is sent or dropped.
struct BusyBody {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a request announces a body over `max` bytes, or one of unknown length (the API
/// reads no bodies, so nothing needs one).
fn body_too_large(request: &Request<Incoming>, max: u64) -> bool {
    let headers = request.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize) -> HttpLimits {
        HttpLimits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            ..HttpLimits::default()
        }
    }

    #[test]
    fn a_full_table_evicts_the_oldest_idle_connection() {
        let mut table = Table::default();
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        let limits = limits(2, 2);
        let (first, mut first_evicted) = table.admit(a, &limits, false).expect("room");
        let (second, _) = table.admit(a, &limits, false).expect("room");
        table.set_busy(second, true);
        // Full: the idle first connection makes room for a third.
        let (third, _) = table.admit(b, &limits, false).expect("evicts");
        assert_eq!(first_evicted.try_recv(), Ok(ShedReason::ConnectionCap));
        table.remove(first);
        // Now both are busy or new; the new one is idle and goes next.
        table.set_busy(third, true);
        assert_eq!(
            table.admit(b, &limits, false).err(),
            Some(ShedReason::ConnectionCap)
        );
    }

    #[test]
    fn the_per_ip_cap_evicts_only_that_ip() {
        let mut table = Table::default();
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        let limits = limits(10, 1);
        let (_, mut a_evicted) = table.admit(a, &limits, false).expect("room");
        let (_, mut b_evicted) = table.admit(b, &limits, false).expect("room");
        let _ = table.admit(a, &limits, false).expect("evicts a's own");
        assert_eq!(a_evicted.try_recv(), Ok(ShedReason::PerIp));
        assert!(b_evicted.try_recv().is_err());
    }
}
