//! Helpers for webkad's end-to-end tests: real nodes over real sockets on 127.0.0.1.
//!
//! Every wait is bounded ([`within`]); nodes started here stop when the test drops them
//! ([`ServeProcess`] kills its child by PID on drop).

pub mod netns;
pub mod page_bytes;
pub mod shaped;
pub mod test_ca;
pub mod webdriver;

use std::{
    future::Future,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use libp2p::Multiaddr;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};
use webkad_core::Config;
use webkad_node::node::{self, NodeOptions, RunningNode};

/// `webkad serve` flags for free 127.0.0.1 ports on TCP, WebSocket and WebRTC-direct.
pub const LOOPBACK_LISTEN: [&str; 6] = [
    "--listen",
    "/ip4/127.0.0.1/tcp/0",
    "--listen",
    "/ip4/127.0.0.1/tcp/0/ws",
    "--listen",
    "/ip4/127.0.0.1/udp/0/webrtc-direct",
];

/// The longest any single step of a test may wait.
pub const STEP: Duration = Duration::from_secs(30);

/// Runs `fut`, failing the test if it takes longer than [`STEP`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: no result within {STEP:?}"),
    }
}

/// Starts an in-process node on 127.0.0.1 (every transport, free ports) with `config`,
/// joined through `bootstrap`.
pub async fn spawn_node(config: Config, bootstrap: &[Multiaddr]) -> RunningNode {
    let mut options = NodeOptions::loopback(config);
    options.bootstrap = bootstrap.to_vec();
    within("starting a node", node::start(options))
        .await
        .expect("node starts")
}

/// A DHT server like the bootstrap node, with a relay server.
pub fn server_config() -> Config {
    Config::bootstrap()
}

/// A DHT client, like a browser or a one-shot command.
pub fn client_config() -> Config {
    Config::default()
}

/// Installs a test log subscriber once (`RUST_LOG` picks the level; quiet by default).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// The `webkad` binary built next to this test (`target/<profile>/webkad`), or the one
/// `WEBKAD_BIN` names.
///
/// `cargo test` does not build another package's binaries, so `cargo xtask test` runs
/// `cargo build --workspace --bins` first (it shares every artifact with the tests). A nested
/// `cargo build` from here would resolve features differently and rebuild half the tree on
/// every run, so when running `cargo test -p webkad-tests` by hand, build the binary first.
pub fn webkad_bin() -> PathBuf {
    // The page benchmark runs a release node from a debug harness.
    if let Some(bin) = std::env::var_os("WEBKAD_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("webkad{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (cargo xtask test does)",
        bin.display()
    );
    bin
}

/// The output of a finished `webkad` command.
#[derive(Debug)]
pub struct Output {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `webkad <args>` to completion (bounded), with stdin closed.
pub async fn webkad(args: &[&str]) -> Output {
    webkad_with(
        Command::new(webkad_bin()),
        args,
        &format!("webkad {args:?}"),
    )
    .await
}

/// Like [`webkad`], with the binary run by `command` (e.g. wrapped in `ip netns exec`);
/// `what` names the run in a timeout message.
pub async fn webkad_with(mut command: Command, args: &[&str], what: &str) -> Output {
    let run = command
        .args(args)
        .env_remove("WEBKAD_BOOTSTRAP")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = within(what, run).await.expect("webkad runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A `webkad serve` child process with its console on a pipe.
pub struct ServeProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The `Local peer id` it printed.
    pub peer_id: String,
    /// The `Listening on` addresses it printed.
    pub addrs: Vec<String>,
    /// The HTTP base URL it printed, e.g. `http://127.0.0.1:41234`.
    pub http: Option<String>,
}

impl ServeProcess {
    /// Starts `webkad serve <args>` and reads its banner up to "Console ready".
    pub async fn start(args: &[&str]) -> Self {
        Self::start_with(Command::new(webkad_bin()), args).await
    }

    /// Like [`start`](Self::start), with `webkad` run by `command` (e.g. wrapped in
    /// `ip netns exec <ns>`, which execs it: the child's PID is the node's).
    pub async fn start_with(command: Command, args: &[&str]) -> Self {
        Self::start_inner(command, args, Stdio::inherit()).await
    }

    /// Like [`start`](Self::start), with the node's log (stderr) written to `log`.
    pub async fn start_logged(args: &[&str], log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("log file");
        Self::start_inner(Command::new(webkad_bin()), args, Stdio::from(file)).await
    }

    async fn start_inner(mut command: Command, args: &[&str], stderr: Stdio) -> Self {
        let mut child = command
            .arg("serve")
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("WEBKAD_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("webkad serve starts");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut process = Self {
            child,
            stdin,
            stdout,
            peer_id: String::new(),
            addrs: Vec::new(),
            http: None,
        };
        loop {
            let line = process.next_line().await;
            if let Some(id) = line.strip_prefix("Local peer id: ") {
                process.peer_id = id.to_owned();
            } else if let Some(addr) = line.strip_prefix("Listening on ") {
                process.addrs.push(addr.to_owned());
            } else if let Some(url) = line.strip_prefix("HTTP API on ") {
                process.http = Some(url.trim_end_matches("/api/bootstrap").to_owned());
            } else if line.starts_with("Console ready") {
                return process;
            }
        }
    }

    /// The node's process id (the child's: wrappers such as `prlimit` exec it).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The first printed address containing `needle` (e.g. `/tcp/`, `/ws/`, `webrtc-direct`).
    pub fn addr(&self, needle: &str) -> String {
        self.addrs
            .iter()
            .find(|a| a.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} address in {:?}", self.addrs))
            .clone()
    }

    /// The next line the node prints on stdout.
    pub async fn next_line(&mut self) -> String {
        within("reading webkad serve output", self.stdout.next_line())
            .await
            .expect("stdout readable")
            .expect("webkad serve exited early")
    }

    /// Types a console line and returns the first line of the answer.
    pub async fn console(&mut self, line: &str) -> String {
        self.type_line(line).await;
        self.next_line().await
    }

    /// Types a console line without reading the answer.
    pub async fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("console stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write console");
        stdin.flush().await.expect("flush console");
    }

    /// Reads output lines until one satisfies `accept` (messages arrive between answers);
    /// answers that line.
    pub async fn wait_line(&mut self, accept: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self.next_line().await;
            if accept(&line) {
                return line;
            }
        }
    }

    /// Types a console line and returns the `n` lines of the answer.
    pub async fn console_lines(&mut self, line: &str, n: usize) -> Vec<String> {
        let mut lines = vec![self.console(line).await];
        while lines.len() < n {
            lines.push(self.next_line().await);
        }
        lines
    }

    /// Closes the console's stdin (the node must keep serving).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends `signal` (e.g. `HUP`, `KILL`) to the node.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Waits for the node to exit (after a signal sent some other way), so that its ports and
    /// data dir are free for the next node.
    pub async fn exited(mut self) {
        within("webkad serve exit", self.child.wait())
            .await
            .expect("wait");
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit code and the rest of stdout.
    pub async fn terminate(mut self) -> (i32, String) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid}");
        let mut rest = String::new();
        while let Ok(Ok(Some(line))) = tokio::time::timeout(STEP, self.stdout.next_line()).await {
            rest.push_str(&line);
            rest.push('\n');
        }
        let status = within("webkad serve exit", self.child.wait())
            .await
            .expect("wait");
        (status.code().unwrap_or(-1), rest)
    }
}

/// `webkad serve` serving the built page in `web_dir` on HTTP port `http_port` (fixed, so a
/// restart comes back where the page looks) and free loopback ports, with `flags` (e.g.
/// `--data-dir DIR` to come back with the same PeerId and certhash, or `--ephemeral`).
pub async fn serve_page(web_dir: &Path, http_port: u16, flags: &[&str]) -> ServeProcess {
    let http = format!("127.0.0.1:{http_port}");
    let mut args = vec![
        "--web-dir",
        web_dir.to_str().expect("utf-8 path"),
        "--http",
        &http,
    ];
    args.extend(LOOPBACK_LISTEN);
    args.extend(flags);
    ServeProcess::start(&args).await
}

/// Fetches `url` with a plain HTTP/1.1 GET on 127.0.0.1 and returns (status, body).
pub async fn http_get(url: &str) -> (u16, String) {
    http_get_with(url, &[]).await
}

/// [`http_get`] with extra request headers such as `("Accept", "...")`.
pub async fn http_get_with(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let response = http_fetch(url, headers).await;
    (
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    )
}

/// A raw HTTP response: status, header block, body bytes.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The status line and headers, as sent.
    pub head: String,
    /// The body bytes, as sent (still encoded).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// A plain HTTP/1.1 GET of `url` on 127.0.0.1 with extra request `headers`.
pub async fn http_fetch(url: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        let mut response = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut response)
            .await
            .expect("read response");
        response
    };
    let response = within("http get", fetch).await;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = response.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("http status");
    HttpResponse { status, head, body }
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
