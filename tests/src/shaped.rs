//! A browser behind a slow link, for the page benchmark: Chromium (under chromedriver) in a
//! client namespace, `webkad serve` in a server namespace, and between them a link with the
//! round trip and the rates of a [`LinkProfile`] for every protocol alike (HTTP,
//! WebSocket, WebRTC-direct's UDP). Chromium's own network emulation does not shape WebRTC.
//!
//! ```text
//!  test process (host ns) ── 127.0.0.1:<forward> ──▶ client ns "cli": chromedriver :9515
//!                                                       and the Chromium it starts
//!                                                     eth0 11.0.2.2/24
//!                                                       │  up: rtt/2 + up rate
//!                                                       │  down: rtt/2 + down rate
//!                                                     eth0 11.0.2.1/24
//!                                                     server ns "srv": webkad serve
//! ```
//!
//! The link is a user-space wire (see `wire`): the kernels these tests run on are built
//! without `sch_netem` (and without modules), so `tc qdisc … netem` is not available; the wire
//! applies netem's `delay` + `rate` + `limit` model itself. Nothing touches the host's
//! namespace but the 127.0.0.1 forward to chromedriver; namespaces, processes and devices go
//! when the [`ShapedLab`] is dropped.

mod trace;
mod wire;

use std::{path::Path, time::Duration};

use tokio::process::Command;

pub use wire::{DirectionStats, IFACE, QUEUE_BYTES};

use crate::{
    ServeProcess,
    netns::{Lab, REQUIRE_VAR},
    webdriver::{CHROMEDRIVER, Chromedriver},
};

/// The server's address on the link (the node listens here).
pub const SERVER_IP: &str = "11.0.2.1";
/// The client's (the browser's) address on the link.
pub const CLIENT_IP: &str = "11.0.2.2";
/// The page's HTTP port that [`ShapedLab::serve_page`] uses (the namespace is fresh, so any
/// port is free).
pub const HTTP_PORT: u16 = 8080;
/// chromedriver's port on the client namespace's loopback.
const CHROMEDRIVER_PORT: u16 = 9515;
/// Short namespace names, under the [`Lab`]'s prefix.
const SERVER_NS: &str = "srv";
const CLIENT_NS: &str = "cli";

/// A network link's shape, as seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkProfile {
    /// A short label for printed figures.
    pub name: &'static str,
    /// Round-trip time added by the link (half on each direction), before any queueing.
    pub rtt: Duration,
    /// Server → client rate.
    pub down_bits_per_s: u64,
    /// Client → server rate.
    pub up_bits_per_s: u64,
}

impl LinkProfile {
    /// Lighthouse's mobile profile ("Slow 4G"): 150 ms round trip, 1.6 Mbit/s down,
    /// 750 kbit/s up.
    pub const MOBILE: Self = Self {
        name: "mobile (150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up)",
        rtt: Duration::from_millis(150),
        down_bits_per_s: 1_600_000,
        up_bits_per_s: 750_000,
    };
}

/// Which end of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The server's namespace (the node).
    Server,
    /// The client's namespace (the browser).
    Client,
}

/// What the link carried so far, per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStats {
    /// Server → client.
    pub down: DirectionStats,
    /// Client → server.
    pub up: DirectionStats,
}

/// Two namespaces joined by a shaped link; everything in them is killed and they are
/// deleted on drop.
pub struct ShapedLab {
    // Declared first: dropped (stopped) before the lab deletes the namespaces.
    wire: wire::Wire,
    lab: Lab,
    profile: LinkProfile,
}

/// Whether the wire can be built here (TUN devices); a message when not.
fn tun_unavailable() -> Option<String> {
    (!Path::new("/dev/net/tun").exists())
        .then(|| "/dev/net/tun is missing (no TUN support in this kernel or container)".into())
}

impl ShapedLab {
    /// Builds the namespaces and the link shaped by `profile`, or answers `None` (with a
    /// message) where namespaces or TUN devices are not permitted and [`REQUIRE_VAR`] is
    /// unset. Waits for the other namespace tests of this process to finish.
    pub async fn new(test: &str, profile: LinkProfile) -> Option<Self> {
        let mut lab = Lab::without_nft(test).await?;
        if let Some(why) = tun_unavailable() {
            assert!(
                std::env::var_os(REQUIRE_VAR).is_none(),
                "{test}: {why} ({REQUIRE_VAR} is set)"
            );
            eprintln!("skipping {test}: {why}");
            return None;
        }
        let (server, client) = (lab.add_ns(SERVER_NS), lab.add_ns(CLIENT_NS));
        let wire = wire::Wire::start(&server, &client, profile, CHROMEDRIVER_PORT)
            .unwrap_or_else(|e| panic!("{test}: cannot build the shaped link: {e}"));
        for (ns, ip) in [(SERVER_NS, SERVER_IP), (CLIENT_NS, CLIENT_IP)] {
            lab.exec(
                ns,
                "ip",
                &["addr", "add", &format!("{ip}/24"), "dev", IFACE],
            );
            lab.exec(ns, "ip", &["link", "set", IFACE, "up"]);
        }
        Some(Self { wire, lab, profile })
    }

    /// The link's shape.
    pub fn profile(&self) -> LinkProfile {
        self.profile
    }

    /// The underlying namespaces (e.g. [`Lab::exec`] with `"srv"` or `"cli"`).
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The namespace name of `side`, for [`Lab`]'s methods.
    pub fn ns_name(side: Side) -> &'static str {
        match side {
            Side::Server => SERVER_NS,
            Side::Client => CLIENT_NS,
        }
    }

    /// Packets and bytes the link delivered and dropped so far.
    pub fn stats(&self) -> LinkStats {
        LinkStats {
            down: self.wire.down.snapshot(),
            up: self.wire.up.snapshot(),
        }
    }

    /// `webkad serve <args>` in the server namespace (listen on [`SERVER_IP`]).
    pub async fn serve(&self, args: &[&str]) -> ServeProcess {
        self.lab.serve(SERVER_NS, args).await
    }

    /// `webkad serve --ephemeral` serving the page in `web_dir` at
    /// `http://`[`SERVER_IP`]`:`[`HTTP_PORT`], listening for browsers on WebSocket and
    /// WebRTC-direct (free ports), plus `flags`. Its `http` field is the page's origin.
    pub async fn serve_page(&self, web_dir: &Path, flags: &[&str]) -> ServeProcess {
        let http = format!("{SERVER_IP}:{HTTP_PORT}");
        let ws = format!("/ip4/{SERVER_IP}/tcp/0/ws");
        let webrtc = format!("/ip4/{SERVER_IP}/udp/0/webrtc-direct");
        let mut args = vec![
            "--ephemeral",
            "--web-dir",
            web_dir.to_str().expect("utf-8 path"),
            "--http",
            &http,
            "--listen",
            &ws,
            "--listen",
            &webrtc,
        ];
        args.extend(flags);
        self.serve(&args).await
    }

    /// chromedriver in the client namespace, driven from here through a 127.0.0.1 forward.
    /// Every session treats `origin` (the page's, e.g. `http://11.0.2.1:8080`) as a secure
    /// context, as Chromium does for 127.0.0.1, so the page gets WebCrypto and the rest.
    pub async fn chromedriver(&self, origin: &str) -> Chromedriver {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.lab.ns(CLIENT_NS), CHROMEDRIVER]);
        let url = format!("http://127.0.0.1:{}", self.wire.forward_port);
        Chromedriver::start_with(command, CHROMEDRIVER_PORT, &url)
            .await
            .with_session_args([format!(
                "--unsafely-treat-insecure-origin-as-secure={}",
                origin.trim_end_matches('/')
            )])
    }

    /// Runs `f` on a new thread inside the namespace of `side` and answers its result:
    /// sockets `f` creates live there (a listener made in the server namespace keeps
    /// serving from any thread). Blocks the caller until `f` returns.
    pub fn run_in<T: Send>(&self, side: Side, f: impl FnOnce() -> T + Send) -> T {
        let ns = self.lab.ns(Self::ns_name(side));
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    wire::enter(&ns).unwrap_or_else(|e| panic!("cannot enter {ns}: {e}"));
                    f()
                })
                .join()
                .expect("the namespace thread panicked")
        })
    }
}
