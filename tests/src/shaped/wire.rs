//! The wire between the two namespaces: a TUN device `eth0` in each and a thread that
//! carries every IP packet from one to the other the way a slow link would, plus a TCP
//! forward from 127.0.0.1 in the test's namespace into the client namespace's loopback.
//!
//! ```text
//!  server ns eth0 (TUN) ─▶ down: queue, send at the down rate, wait rtt/2 ─▶ client ns eth0
//!  server ns eth0       ◀─ up:   queue, send at the up rate,   wait rtt/2 ◀─ client ns eth0 (TUN)
//!  host 127.0.0.1:<forward> ─────────────────────────────────▶ client ns 127.0.0.1:<port>
//! ```
//!
//! The model is netem's `delay <rtt/2> rate <bits> limit <QUEUE_BYTES>`: each packet waits
//! for the ones ahead of it, takes `len × 8 / rate` to send, then arrives `rtt/2` later; a
//! packet that would find more than [`QUEUE_BYTES`] queued is dropped.
//!
//! With `WEBKAD_WIRE_TRACE=<file>` the wire appends a line for every UDP packet and TCP
//! segment with a payload it delivers (milliseconds since it started, direction, size, what
//! it carries: STUN, a DTLS record's type and handshake message, TCP ports and payload size).

use std::{
    collections::VecDeque,
    io,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use tokio::{sync::oneshot, time::Instant};
use tun::AsyncDevice;

use super::LinkProfile;

/// The bottleneck queue, like netem's default `limit 1000` of full-size packets: deep enough
/// that a page's downloads are never dropped, as on a real mobile link (bufferbloat included).
pub const QUEUE_BYTES: u64 = 1_500_000;

/// The interface name of the wire in both namespaces.
pub const IFACE: &str = "eth0";

/// What one direction of the wire carried.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DirectionStats {
    /// IP packets delivered.
    pub packets: u64,
    /// Bytes of those packets (IP headers included).
    pub bytes: u64,
    /// Packets dropped because the queue was full.
    pub dropped: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> DirectionStats {
        DirectionStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// The running wire; stops (and its TUN devices vanish) on drop.
pub(super) struct Wire {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The 127.0.0.1 port in the test's namespace that forwards into the client namespace.
    pub forward_port: u16,
    /// Server → client.
    pub down: Arc<Counters>,
    /// Client → server.
    pub up: Arc<Counters>,
}

/// Moves the calling thread into network namespace `ns` (a name under /run/netns). Sockets
/// and devices the thread creates afterwards live there.
pub(super) fn enter(ns: &str) -> io::Result<()> {
    let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// A layer-3 TUN device [`IFACE`] in the calling thread's namespace, down, no address.
fn tun() -> io::Result<tun::Device> {
    let mut config = tun::Configuration::default();
    config.tun_name(IFACE).layer(tun::Layer::L3).mtu(1500);
    tun::create(&config).map_err(io::Error::other)
}

impl Wire {
    /// Creates the TUN devices in `server_ns` and `client_ns` and starts carrying packets
    /// shaped by `profile`, and forwarding a 127.0.0.1 port here to the client namespace's
    /// `127.0.0.1:client_port`. Answers once the devices exist.
    pub(super) fn start(
        server_ns: &str,
        client_ns: &str,
        profile: LinkProfile,
        client_port: u16,
    ) -> io::Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = oneshot::channel();
        let (down, up) = (Arc::<Counters>::default(), Arc::<Counters>::default());
        let counters = (down.clone(), up.clone());
        let (server_ns, client_ns) = (server_ns.to_owned(), client_ns.to_owned());
        let thread = std::thread::Builder::new()
            .name("shaped-wire".into())
            .spawn(move || {
                let setup = || -> io::Result<_> {
                    // Bound before leaving the test's namespace: the forward's listening end.
                    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                    enter(&server_ns)?;
                    let server = tun()?;
                    // The thread stays in the client namespace: the forward's connections
                    // start there.
                    enter(&client_ns)?;
                    let client = tun()?;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    Ok((listener, server, client, runtime))
                };
                let (listener, server, client, runtime) = match setup() {
                    Ok(parts) => parts,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let port = listener.local_addr().map(|a| a.port());
                let _ = ready_tx.send(port);
                runtime.block_on(async move {
                    let run = run(listener, server, client, profile, client_port, counters);
                    tokio::select! {
                        result = run => {
                            if let Err(e) = result {
                                eprintln!("shaped wire stopped: {e}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
            })?;
        let forward_port = ready_rx
            .recv()
            .map_err(|_| io::Error::other("the wire thread died"))??;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
            forward_port,
            down,
            up,
        })
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Carries both directions and the forward until one fails.
async fn run(
    listener: std::net::TcpListener,
    server: tun::Device,
    client: tun::Device,
    profile: LinkProfile,
    client_port: u16,
    (down, up): (Arc<Counters>, Arc<Counters>),
) -> io::Result<()> {
    let (server, client) = (AsyncDevice::new(server)?, AsyncDevice::new(client)?);
    let delay = profile.rtt / 2;
    let trace = super::trace::Trace::from_env();
    tokio::try_join!(
        carry(
            &server,
            &client,
            profile.down_bits_per_s,
            delay,
            &down,
            trace.side("down")
        ),
        carry(
            &client,
            &server,
            profile.up_bits_per_s,
            delay,
            &up,
            trace.side("up  ")
        ),
        forward(listener, client_port),
    )?;
    Ok(())
}

/// How long `bytes` take at `bits_per_s`.
fn serialisation(bytes: u64, bits_per_s: u64) -> Duration {
    Duration::from_nanos(bytes * 8 * 1_000_000_000 / bits_per_s.max(1))
}

/// One direction: reads packets from `from`, queues them behind a `bits_per_s` bottleneck,
/// and writes each to `to` `delay` after it left the bottleneck.
async fn carry(
    from: &AsyncDevice,
    to: &AsyncDevice,
    bits_per_s: u64,
    delay: Duration,
    counters: &Counters,
    trace: super::trace::Side,
) -> io::Result<()> {
    // Packets in flight with their arrival times, in order (a FIFO link never reorders).
    let mut in_flight: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    // When the bottleneck finishes sending what it has.
    let mut busy_until = Instant::now();
    let mut buf = vec![0; 65_536];
    loop {
        let next = in_flight.front().map(|(at, _)| *at);
        tokio::select! {
            read = from.recv(&mut buf) => {
                let len = read?;
                let now = Instant::now();
                let start = busy_until.max(now);
                let queued = (start - now).as_nanos() * u128::from(bits_per_s) / 8_000_000_000;
                if queued > u128::from(QUEUE_BYTES) {
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                busy_until = start + serialisation(len as u64, bits_per_s);
                in_flight.push_back((busy_until + delay, buf[..len].to_vec()));
            }
            () = sleep_until(next) => {
                let (_, packet) = in_flight.pop_front().expect("a packet is due");
                to.send(&packet).await?;
                trace.packet(&packet);
                counters.packets.fetch_add(1, Ordering::Relaxed);
                counters.bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Accepts connections on `listener` (in the test's namespace) and joins each to a new
/// connection to `127.0.0.1:port` opened from this thread's namespace (the client's).
async fn forward(listener: std::net::TcpListener, port: u16) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (mut inbound, _) = listener.accept().await?;
        // The current-thread runtime runs this task here, so the socket is the client's.
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}
