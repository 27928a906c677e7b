//! Real kernel network stacks for the NAT tests: network namespaces joined by veth pairs and
//! bridges, NAT gateways with nftables masquerade, and Debian's miniupnpd as an IGD.
//!
//! A [`Lab`] creates every namespace under a prefix unique to the test run and deletes them
//! all when dropped (panics included); daemons it starts are killed by PID first. No veth end
//! is left in the host's namespace, so no packet can leave the lab: the "internet" below may
//! use global addresses (libp2p-upnp refuses a gateway whose external address is private)
//! without ever touching the real one.
//!
//! ```text
//!  internet (ns "net", bridge br0 11.0.0.1/24: the bootstrap / relay runs here)
//!    ├── public host  ns "<name>"  11.0.0.x
//!    ├── gateway i    ns "gw<i>"   wan 11.0.0.1<i> ── lan 192.168.<i>.1 ── host ns "h<i>" 192.168.<i>.2
//!    …
//!  LAN (ns "lan", bridge br0) ── ns "m1" 192.168.50.2, "m2" 192.168.50.3 …
//! ```
//!
//! Gateways behave like a home router (OpenWrt's defaults): source NAT for the LAN, and new
//! connections from the WAN rejected (TCP reset, ICMP port unreachable) unless miniupnpd
//! forwards them.

use std::{
    path::Path,
    process::{Child, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
};

mod procs;
mod upnp;

/// The internet's bridge address, where the bootstrap node (and relay) listens.
pub const INTERNET_IP: &str = "11.0.0.1";

/// Set to make the namespace tests fail instead of skipping when namespaces are missing
/// (`cargo xtask test` sets it: CI runs as root).
pub const REQUIRE_VAR: &str = "WEBKAD_REQUIRE_NETNS";

static LABS: AtomicUsize = AtomicUsize::new(0);
/// The NAT tests share the kernel and two cores: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every name starts with this, then the test process id.
const PREFIX: &str = "wkt-";

/// The nftables ruleset of a gateway: masquerade out of `wan`, reject what comes in unasked,
/// and the empty chains miniupnpd fills (its defaults: table `inet filter`).
const GATEWAY_RULES: &str = r#"
table inet filter {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "wan" ct state established,related accept
    iifname "wan" meta l4proto tcp reject with tcp reset
    iifname "wan" reject
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    ct state established,related accept
    jump miniupnpd
    iifname "wan" meta l4proto tcp reject with tcp reset
    iifname "wan" reject
  }
  chain miniupnpd { }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "wan" masquerade
  }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
"#;

/// A set of namespaces for one test, removed on drop.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    daemons: Vec<Child>,
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

/// Runs a setup command to completion; panics with its stderr when it fails.
fn run(program: &str, args: &[&str]) {
    run_with_input(program, args, None);
}

fn run_with_input(program: &str, args: &[&str], input: Option<&str>) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} cannot run: {e}"));
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Why namespaces cannot be used here, if they cannot (and, when `nft` is asked for, why
/// nftables cannot).
fn unavailable(nft: bool) -> Option<String> {
    let probe = format!("{PREFIX}{}-probe", std::process::id());
    let out = std::process::Command::new("ip")
        .args(["netns", "add", &probe])
        .output();
    match out {
        Err(e) => Some(format!("`ip` cannot run ({e}); install iproute2")),
        Ok(o) if !o.status.success() => Some(format!(
            "cannot create a network namespace ({}); run as root",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &probe])
                .output();
            if !nft || Path::new("/usr/sbin/nft").exists() {
                None
            } else {
                Some("nft is missing (Debian package nftables)".to_owned())
            }
        }
    }
}

/// Deletes namespaces left by test processes that no longer run (killed before their
/// guards ran).
fn sweep_stale() {
    let Ok(out) = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
    else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", name])
                .output();
        }
    }
}

impl Lab {
    /// A new, empty lab, or `None` (with a message) when namespaces are not permitted and
    /// [`REQUIRE_VAR`] is unset. Waits for the other NAT tests of this process to finish.
    pub async fn new(test: &str) -> Option<Self> {
        Self::open(test, true).await
    }

    /// Like [`new`](Self::new), for a lab that needs no nftables (no NAT gateway).
    pub async fn without_nft(test: &str) -> Option<Self> {
        Self::open(test, false).await
    }

    async fn open(test: &str, nft: bool) -> Option<Self> {
        let serial = SERIAL.lock().await;
        if let Some(why) = unavailable(nft) {
            assert!(
                std::env::var_os(REQUIRE_VAR).is_none(),
                "{test}: {why} ({REQUIRE_VAR} is set)"
            );
            eprintln!("skipping {test}: {why}");
            return None;
        }
        sweep_stale();
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        Some(Self {
            prefix: format!("{PREFIX}{}-{n}-", std::process::id()),
            namespaces: Vec::new(),
            daemons: Vec::new(),
            _serial: serial,
        })
    }

    /// The full name of namespace `name`.
    pub fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Creates namespace `name` with its loopback up.
    pub fn add_ns(&mut self, name: &str) -> String {
        let full = self.ns(name);
        run("ip", &["netns", "add", &full]);
        self.namespaces.push(full.clone());
        run("ip", &["-n", &full, "link", "set", "lo", "up"]);
        full
    }

    /// Runs `program args` inside namespace `name`; answers its stdout.
    pub fn exec(&self, name: &str, program: &str, args: &[&str]) -> String {
        let ns = self.ns(name);
        let mut all = vec!["netns", "exec", &ns, program];
        all.extend(args);
        run_with_input("ip", &all, None)
    }

    /// A bridge `br0` in a new namespace `name`, with `addr` (CIDR) on it if given.
    fn bridge(&mut self, name: &str, addr: Option<&str>) {
        let ns = self.add_ns(name);
        run("ip", &["-n", &ns, "link", "add", "br0", "type", "bridge"]);
        if let Some(addr) = addr {
            run("ip", &["-n", &ns, "addr", "add", addr, "dev", "br0"]);
        }
        run("ip", &["-n", &ns, "link", "set", "br0", "up"]);
    }

    /// A veth from `iface` in namespace `host` to a port `port` of bridge namespace
    /// `bridge`, with `addr` (CIDR) on the host side.
    fn plug(&mut self, host: &str, iface: &str, bridge: &str, port: &str, addr: &str) {
        let (h, b) = (self.ns(host), self.ns(bridge));
        run(
            "ip",
            &[
                "-n", &h, "link", "add", iface, "type", "veth", "peer", "name", port, "netns", &b,
            ],
        );
        run(
            "ip",
            &["-n", &b, "link", "set", port, "master", "br0", "up"],
        );
        run("ip", &["-n", &h, "addr", "add", addr, "dev", iface]);
        run("ip", &["-n", &h, "link", "set", iface, "up"]);
    }

    /// The internet: namespace `net` with a bridge at [`INTERNET_IP`]/24.
    pub fn internet(&mut self) {
        self.bridge("net", Some(&format!("{INTERNET_IP}/24")));
    }

    /// A host on the internet at `ip`.
    pub fn public_host(&mut self, name: &str, ip: &str) {
        self.add_ns(name);
        let port = format!("v-{name}");
        self.plug(name, "eth0", "net", &port, &format!("{ip}/24"));
    }

    /// Gateway `gw<i>` (WAN 11.0.0.1<i>) with host `h<i>` (192.168.<i>.2) behind its NAT.
    /// Answers the gateway's WAN address.
    pub fn nat_gateway(&mut self, i: u8) -> String {
        let (gw, host) = (format!("gw{i}"), format!("h{i}"));
        let wan_ip = format!("11.0.0.1{i}");
        self.add_ns(&gw);
        self.plug(
            &gw,
            "wan",
            "net",
            &format!("v-{gw}"),
            &format!("{wan_ip}/24"),
        );
        let (g, h) = (self.ns(&gw), self.add_ns(&host));
        run(
            "ip",
            &[
                "-n", &g, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", &h,
            ],
        );
        let lan = format!("192.168.{i}");
        run(
            "ip",
            &[
                "-n",
                &g,
                "addr",
                "add",
                &format!("{lan}.1/24"),
                "dev",
                "lan",
            ],
        );
        run("ip", &["-n", &g, "link", "set", "lan", "up"]);
        run(
            "ip",
            &[
                "-n",
                &h,
                "addr",
                "add",
                &format!("{lan}.2/24"),
                "dev",
                "eth0",
            ],
        );
        run("ip", &["-n", &h, "link", "set", "eth0", "up"]);
        run(
            "ip",
            &[
                "-n",
                &h,
                "route",
                "add",
                "default",
                "via",
                &format!("{lan}.1"),
            ],
        );
        run(
            "ip",
            &[
                "netns",
                "exec",
                &g,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        );
        run_with_input(
            "ip",
            &["netns", "exec", &g, "nft", "-f", "-"],
            Some(GATEWAY_RULES),
        );
        wan_ip
    }

    /// One LAN (namespace `lan`, a bridge) with a host namespace per name, at
    /// 192.168.50.2, .3, … in order. Answers the hosts' addresses.
    pub fn lan(&mut self, hosts: &[&str]) -> Vec<String> {
        self.bridge("lan", None);
        hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let ip = format!("192.168.50.{}", i + 2);
                self.add_ns(host);
                self.plug(
                    host,
                    "eth0",
                    "lan",
                    &format!("v-{host}"),
                    &format!("{ip}/24"),
                );
                ip
            })
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for daemon in &mut self.daemons {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
        for ns in self.namespaces.iter().rev() {
            // What the lab's processes started there (a browser under chromedriver) dies
            // with the namespace: `ip netns del` alone would leave it running.
            let pids = std::process::Command::new("ip")
                .args(["netns", "pids", ns])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for pid in pids.split_whitespace() {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", pid])
                    .output();
            }
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .output();
        }
    }
}
