//! The browser node (`crates/browser`) in headless Chromium against real native nodes.
//!
//! This test is the fixture and the judge for `crates/browser/tests/dht.rs`, which runs
//! in Chromium through `wasm-bindgen-test-runner` and chromedriver:
//! - before: a bootstrap node serving `/api/bootstrap` on [`FIXTURE_HTTP`] (the wasm tests
//!   fetch its addresses from there, as the page does); a third node holding a record no
//!   other node has and providing a key; records stored with `webkad put`;
//! - the wasm tests join over WebSocket and WebRTC-direct, read and write records and
//!   provider records, and look a record up past the bootstrap node;
//! - after: `webkad get` and `webkad providers` find what the browser stored.
//!
//! `cargo xtask test` builds the wasm tests and names them in `WEBKAD_BROWSER_TEST_WASM`,
//! and sets `WEBKAD_REQUIRE_BROWSER=1`. Without the wasm build (or chromedriver), this test
//! prints `skipping: ...` and passes unless `WEBKAD_REQUIRE_BROWSER` is set.

use std::path::{Path, PathBuf};

use tokio::process::Command;
use webkad_tests::{LOOPBACK_LISTEN, ServeProcess, webkad, within, workspace_root};

/// Where the bootstrap node serves HTTP; `crates/browser/tests/dht.rs` fetches it.
const FIXTURE_HTTP: &str = "127.0.0.1:18765";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The built wasm test binary, if there is one.
fn wasm_tests() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("WEBKAD_BROWSER_TEST_WASM") {
        return Ok(PathBuf::from(path));
    }
    let deps = workspace_root().join("target/wasm32-unknown-unknown/debug/deps");
    let newest = std::fs::read_dir(&deps)
        .map_err(|_| format!("no wasm test build in {}", deps.display()))?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("dht-") && name.ends_with(".wasm")
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    newest
        .map(|e| e.path())
        .ok_or_else(|| "the wasm tests are not built (cargo xtask test builds them)".to_owned())
}

fn ready() -> Option<PathBuf> {
    let found = wasm_tests().and_then(|wasm| {
        if Path::new(CHROMEDRIVER).exists() {
            Ok(wasm)
        } else {
            Err(format!(
                "{CHROMEDRIVER} is missing (apt-get install chromium-driver)"
            ))
        }
    });
    match found {
        Ok(wasm) => Some(wasm),
        Err(why) if std::env::var_os("WEBKAD_REQUIRE_BROWSER").is_some() => {
            panic!("WEBKAD_REQUIRE_BROWSER is set but {why}")
        }
        Err(why) => {
            eprintln!("skipping: {why}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_node_joins_reads_and_writes_the_dht() {
    let Some(wasm) = ready() else { return };

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

    let crate_dir = workspace_root().join("crates/browser");
    let run = Command::new("wasm-bindgen-test-runner")
        .arg(&wasm)
        .current_dir(&crate_dir)
        .env("CHROMEDRIVER", CHROMEDRIVER)
        .env(
            "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
            crate_dir.join("webdriver.json"),
        )
        .env("WASM_BINDGEN_TEST_TIMEOUT", "240")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(300), run)
        .await
        .expect("the wasm tests finish within 5 minutes")
        .expect("wasm-bindgen-test-runner runs (cargo xtask test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(output.status.success(), "the wasm tests in Chromium failed");
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
