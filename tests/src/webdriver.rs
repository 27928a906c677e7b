//! Headless Chromium through Debian's chromedriver, for the page tests and the page
//! benchmark. Chromium is started with a fresh profile, no background networking (this
//! machine's network is closed), and only ever pointed at 127.0.0.1.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::workspace_root;

/// Debian's chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's chromium binary (behind the `/usr/bin/chromium` wrapper script).
pub const CHROMIUM: &str = "/usr/lib/chromium/chromium";
/// Chromium's log inside a session's profile: its pages' console messages among others.
const CHROME_LOG: &str = "chrome.log";
/// How long a page gets to reach a state.
pub const PAGE_WAIT: Duration = Duration::from_secs(45);

/// The built page (`WEBKAD_WEB_DIR`, else `<workspace>/dist`), if it is there, and whether
/// the page tests can run; `None` means skip (or panic under `WEBKAD_REQUIRE_BROWSER`).
pub fn page_ready() -> Option<PathBuf> {
    site_ready(
        "WEBKAD_WEB_DIR",
        "dist",
        "the page",
        "cargo xtask build-web",
    )
}

/// A site built into `var` (else `<workspace>/<default>`), `what` for the message and the
/// `command` that builds it, if it is there and chromedriver too; `None` means skip (or
/// panic under `WEBKAD_REQUIRE_BROWSER`).
pub fn site_ready(var: &str, default: &str, what: &str, command: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(default));
    let why = if !dir.join("index.html").is_file() {
        format!("{what} is not built in {} ({command})", dir.display())
    } else if !Path::new(CHROMEDRIVER).exists() {
        format!("{CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)")
    } else {
        return Some(dir);
    };
    if std::env::var_os("WEBKAD_REQUIRE_BROWSER").is_some() {
        panic!("WEBKAD_REQUIRE_BROWSER is set but {why}");
    }
    eprintln!("skipping: {why}");
    None
}

/// A running chromedriver the test reaches over 127.0.0.1; killed on drop.
pub struct Chromedriver {
    child: Child,
    url: String,
    /// Chromium arguments every session gets (see [`with_session_args`](Self::with_session_args)).
    session_args: Vec<String>,
}

impl Chromedriver {
    /// Starts chromedriver on a free 127.0.0.1 port and waits until it answers.
    pub async fn start() -> Self {
        let port = crate::free_port();
        Self::start_with(
            Command::new(CHROMEDRIVER),
            port,
            &format!("http://127.0.0.1:{port}"),
        )
        .await
    }

    /// Starts chromedriver on `port` with `command`, which runs [`CHROMEDRIVER`] (e.g.
    /// `ip netns exec <ns> /usr/bin/chromedriver`: `ip` execs it, so the child's PID is
    /// chromedriver's); the test reaches it at `url` (e.g. a forward into the namespace).
    /// Waits until `GET <url>/status` answers.
    pub async fn start_with(mut command: Command, port: u16, url: &str) -> Self {
        if std::env::var_os("WEBKAD_CHROMEDRIVER_STDERR").is_some() {
            command.arg("--enable-chrome-logs");
        }
        let child = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(match std::env::var_os("WEBKAD_CHROMEDRIVER_STDERR") {
                Some(path) => std::fs::File::create(path)
                    .expect("chromedriver log")
                    .into(),
                None => Stdio::null(),
            })
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while !answers(url).await {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver never answered at {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            url: url.to_owned(),
            session_args: Vec::new(),
        }
    }

    /// Adds Chromium arguments to every later [`session`](Self::session).
    pub fn with_session_args(mut self, args: impl IntoIterator<Item = String>) -> Self {
        self.session_args.extend(args);
        self
    }

    /// A new headless Chromium session with its own empty profile, plus `extra_args`.
    pub async fn session(&self, extra_args: &[&str]) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-gpu".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--allow-loopback-in-peer-connection".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            // The page's console, for [`Browser::uncaught_errors`].
            "--enable-logging".to_owned(),
            format!("--log-file={}", profile.path().join(CHROME_LOG).display()),
        ];
        args.extend(self.session_args.iter().cloned());
        args.extend(extra_args.iter().map(|a| (*a).to_owned()));
        // A diagnosis knob: e.g. Chromium's own WebRTC log into a file.
        if let Ok(extra) = std::env::var("WEBKAD_CHROMIUM_ARGS") {
            args.extend(extra.split_whitespace().map(str::to_owned));
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a chromedriver session");
        Browser { client, profile }
    }
}

/// Whether a WebDriver server answers `GET /status` with 200 at `url` (`http://host:port`).
async fn answers(url: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
        let request = format!("GET /status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200"))
    };
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// One browser window; call [`Browser::close`] at the end.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    profile: tempfile::TempDir,
}

fn by_testid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

impl Browser {
    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("page loads");
    }

    /// The text of the element with `data-testid=id` ("" while it does not exist).
    pub async fn text(&self, id: &str) -> String {
        match self.client.find(Locator::Css(&by_testid(id))).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// An attribute of the element with `data-testid=id`.
    pub async fn attr(&self, id: &str, name: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(&by_testid(id))).await.ok()?;
        element.attr(name).await.ok().flatten()
    }

    /// Waits until the text of `id` satisfies `accept`; answers that text. Fails the test
    /// after [`PAGE_WAIT`], showing the text and the page log.
    pub async fn wait_text(&self, id: &str, what: &str, accept: impl Fn(&str) -> bool) -> String {
        let shown = format!("`{id}`");
        self.wait_for(what, &shown, async || self.text(id).await, accept)
            .await
    }

    /// Waits until the attribute `name` of `id` satisfies `accept`; answers its value.
    pub async fn wait_attr(
        &self,
        id: &str,
        name: &str,
        what: &str,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        let shown = format!("`{id}` {name}");
        let read = async || self.attr(id, name).await.unwrap_or_default();
        self.wait_for(what, &shown, read, accept).await
    }

    /// Polls `read` until `accept` takes its value, for at most [`PAGE_WAIT`].
    async fn wait_for(
        &self,
        what: &str,
        shown: &str,
        read: impl AsyncFn() -> String,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        loop {
            let value = read().await;
            if accept(&value) {
                return value;
            }
            if started.elapsed() > PAGE_WAIT {
                let log = self.text("log").await;
                panic!(
                    "{what}: {shown} still says {value:?} after {PAGE_WAIT:?}; page log:\n{log}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the status says `joined`.
    pub async fn wait_joined(&self) -> String {
        self.wait_text("status", "joining", |s| s.contains("joined"))
            .await
    }

    /// Stops `node`, waits until the page notices, starts the node again with
    /// [`serve_page`](crate::serve_page)`(web_dir, port, flags)` and waits until the page
    /// rejoined by itself; answers the new node.
    pub async fn rejoin_after_restart(
        &self,
        node: crate::ServeProcess,
        web_dir: &Path,
        port: u16,
        flags: &[&str],
    ) -> crate::ServeProcess {
        let (code, _) = node.terminate().await;
        assert_eq!(code, 0, "the node stops cleanly");
        self.wait_text("status", "noticing the node is gone", |s| {
            !s.contains("joined")
        })
        .await;
        let node = crate::serve_page(web_dir, port, flags).await;
        self.wait_joined().await;
        node
    }

    /// Replaces the value of the input `id` with `text`.
    pub async fn fill(&self, id: &str, text: &str) {
        let input = self
            .client
            .find(Locator::Css(&by_testid(id)))
            .await
            .unwrap_or_else(|_| panic!("no input {id}"));
        input.clear().await.expect("clear input");
        input.send_keys(text).await.expect("type into input");
    }

    /// Clicks the element `id`.
    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Css(&by_testid(id)))
            .await
            .unwrap_or_else(|_| panic!("no element {id}"))
            .click()
            .await
            .expect("click");
    }

    /// Fills `fields`, clicks `button` and waits for a new `result` accepted by `accept`.
    pub async fn submit(
        &self,
        fields: &[(&str, &str)],
        button: &str,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        for (id, text) in fields {
            self.fill(id, text).await;
        }
        self.click(button).await;
        self.wait_text("result", button, accept).await
    }

    /// Closes the window; fails the test if one of its pages left an error uncaught.
    pub async fn close(self) {
        let uncaught = self.finish().await;
        assert!(uncaught.is_empty(), "the page threw: {uncaught:#?}");
    }

    /// Closes the window and answers the errors its pages left uncaught (for benchmarks,
    /// which report them instead of failing).
    pub async fn finish(self) -> Vec<String> {
        let uncaught = self.uncaught_errors();
        let _ = self.client.close().await;
        uncaught
    }

    /// The errors this window's pages left uncaught so far (Chromium logs every console
    /// message; an exception thrown in an event handler shows as `Uncaught ...`).
    pub fn uncaught_errors(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.profile.path().join(CHROME_LOG));
        log.unwrap_or_default()
            .lines()
            .filter(|line| line.contains(":CONSOLE") && line.contains("Uncaught"))
            .map(|line| {
                line.split_once("] ")
                    .map_or(line, |(_, rest)| rest)
                    .to_owned()
            })
            .collect()
    }
}
