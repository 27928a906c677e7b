//! The browser node (`crates/browser`) in headless Chromium against real native nodes.
//!
//! This test is the fixture and the judge for `crates/browser/tests/dht.rs`, which runs
//! in Chromium through `wasm-pack test --headless --chrome` (wasm-bindgen-test-runner and
//! chromedriver underneath), with the crate's other wasm tests (`lifecycle.rs`):
//! - before: a bootstrap node serving `/api/bootstrap` on [`FIXTURE_HTTP`] (the wasm tests
//!   fetch its addresses from there, as the page does); a third node holding a record no
//!   other node has and providing a key; records stored with `webkad put`;
//! - the wasm tests join over WebSocket and WebRTC-direct, read and write records and
//!   provider records, and look a record up past the bootstrap node;
//! - after: `webkad get` and `webkad providers` find what the browser stored.
//!
//! `cargo xtask test` installs wasm-pack and sets `WEBKAD_REQUIRE_BROWSER=1`. Without
//! wasm-pack (or chromedriver), this test prints `skipping: ...` and passes unless
//! `WEBKAD_REQUIRE_BROWSER` is set.
//!
//! `cargo xtask fixture` runs this test with `WEBKAD_FIXTURE_ONLY=1`: it starts the fixture
//! and holds it until Ctrl-C, so `wasm-pack test --headless --chrome crates/browser` can be
//! run by hand in another terminal.

use std::path::Path;

use tokio::process::Command;
use webkad_tests::{LOOPBACK_LISTEN, ServeProcess, webkad, within, workspace_root};

/// Where the bootstrap node serves HTTP; `crates/browser/tests/dht.rs` fetches it.
const FIXTURE_HTTP: &str = "127.0.0.1:18765";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether wasm-pack and chromedriver are there to run the wasm tests.
fn ready() -> bool {
    if std::env::var_os("WEBKAD_FIXTURE_ONLY").is_some() {
        return true;
    }
    let wasm_pack = std::process::Command::new("wasm-pack")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let why = if !wasm_pack {
        "wasm-pack is not installed (cargo xtask test installs it)"
    } else if !Path::new(CHROMEDRIVER).exists() {
        "/usr/bin/chromedriver is missing (apt-get install chromium-driver)"
    } else {
        return true;
    };
    if std::env::var_os("WEBKAD_REQUIRE_BROWSER").is_some() {
        panic!("WEBKAD_REQUIRE_BROWSER is set but {why}");
    }
    eprintln!("skipping: {why}");
    false
}

/// `wasm-pack test --headless --chrome crates/browser`: builds the crate's wasm tests and
/// runs each in headless Chromium through wasm-bindgen-test-runner. `--mode no-install`:
/// wasm-pack uses wasm-bindgen 0.2.108 from PATH (the version Cargo.lock pins) and never
/// downloads a tool; `--chromedriver` is Debian's, and `webdriver.json` (read from the
/// crate directory) names Debian's chromium.
fn wasm_pack_test(crate_dir: &Path) -> Command {
    let mut command = Command::new("wasm-pack");
    command
        .args([
            "test",
            "--headless",
            "--chrome",
            "--chromedriver",
            CHROMEDRIVER,
        ])
        .args(["--mode", "no-install"])
        .arg(crate_dir)
        .current_dir(crate_dir)
        .env(
            "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
            crate_dir.join("webdriver.json"),
        )
        .env("WASM_BINDGEN_TEST_TIMEOUT", "240")
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_node_joins_reads_and_writes_the_dht() {
    if !ready() {
        return;
    }

    // The bootstrap node, and a third node the browser can only find through it.
    let mut args = vec!["--ephemeral", "--http", FIXTURE_HTTP];
    args.extend(LOOPBACK_LISTEN);
    let mut bootstrap = ServeProcess::start(&args).await;
    let boot_tcp = bootstrap.addr("/tcp/");
    let mut args = vec!["--ephemeral", "--no-http"];
    args.extend(LOOPBACK_LISTEN);
    let mut third = ServeProcess::start(&args).await;
    // Stored while the third node knows no one: it stays there (republishing is hourly).
    let put = third
        .console("PUT beyond-bootstrap only on the third node")
        .await;
    assert!(put.contains("locally"), "{put}");
    let pong = third.console(&format!("PING {boot_tcp}")).await;
    assert!(pong.starts_with("Pong"), "{pong}");
    // Announce until the bootstrap node holds the provider record (the routing entry
    // appears a round trip after the ping).
    within(
        "the third node's provider record reaching the bootstrap node",
        async {
            loop {
                third.console("PUT_PROVIDER native-provides").await;
                let found = bootstrap.console("GET_PROVIDERS native-provides").await;
                if found.contains(&third.peer_id) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        },
    )
    .await;
    for (key, value) in [
        ("fixture/third-peer", third.peer_id.as_str()),
        ("from-native", "hello from native"),
    ] {
        let out = webkad(&["put", key, value, "--bootstrap", &boot_tcp]).await;
        assert_eq!(out.code, 0, "webkad put {key}: {}", out.stderr);
    }

    if std::env::var_os("WEBKAD_FIXTURE_ONLY").is_some() {
        println!(
            "fixture ready: /api/bootstrap on http://{FIXTURE_HTTP}; in another terminal run\n  \
             wasm-pack test --headless --chrome --chromedriver {CHROMEDRIVER} --mode no-install crates/browser\n\
             Ctrl-C stops the fixture"
        );
        let _ = tokio::signal::ctrl_c().await;
        return;
    }
    let crate_dir = workspace_root().join("crates/browser");
    let run = wasm_pack_test(&crate_dir).output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(600), run)
        .await
        .expect("the wasm tests build and finish within 10 minutes")
        .expect("wasm-pack runs (cargo xtask test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(output.status.success(), "wasm-pack test in Chromium failed");
    assert!(
        stdout.contains("test result: ok"),
        "no test summary: {stdout}"
    );

    // What the browser stored, read by the command-line client.
    let got = webkad(&["get", "from-browser", "--bootstrap", &boot_tcp]).await;
    assert_eq!(
        got.stdout.trim(),
        "hello from the browser",
        "{}",
        got.stderr
    );
    let page = webkad(&["get", "fixture/browser-peer", "--bootstrap", &boot_tcp]).await;
    let page_peer = page.stdout.trim();
    assert!(
        page_peer.starts_with("12D3"),
        "the page stored its peer id: {page:?}"
    );
    let providers = webkad(&["providers", "browser-provides", "--bootstrap", &boot_tcp]).await;
    assert!(
        providers.stdout.contains(page_peer),
        "webkad providers finds the page: {providers:?}"
    );
    drop(third);
    drop(bootstrap);
}
