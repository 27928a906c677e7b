//! The page, as a user meets it: served by `webkad serve`, opened in headless Chromium and
//! driven through its `data-testid` hooks with WebDriver (Debian's chromedriver).
//!
//! Needs the built page (`cargo xtask build-web`; `cargo xtask test` builds it and points
//! `WEBKAD_WEB_DIR` at it) and chromedriver; without them these tests print `skipping: ...`
//! and pass, unless `WEBKAD_REQUIRE_BROWSER` is set.

use std::path::{Path, PathBuf};

use webkad_tests::{
    free_port, serve_page,
    webdriver::{Chromedriver, page_ready},
    webkad, within,
};

#[tokio::test(flavor = "multi_thread")]
async fn the_page_joins_stores_reloads_and_rejoins_after_a_restart() {
    let Some(web_dir) = page_ready() else { return };
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    let port = free_port();
    let node = serve_page(&web_dir, port, &["--data-dir", data_dir]).await;
    let boot = node.addr("/tcp/");
    let driver = Chromedriver::start().await;
    let page = driver.session(&[]).await;
    let url = format!("http://127.0.0.1:{port}/");

    page.goto(&url).await;
    page.wait_joined().await;
    // The wasm is split (crates/xtask/src/wasm_split.rs): the first part joins, the second
    // follows by itself. A join that needed the second part (a path the profile missed, or
    // a stale web/page-profile.txt: `cargo xtask page-profile`) still works, with one
    // synchronous load; the benchmark counts those, so this only reports it.
    let sync_loads = page.attr("status", "data-sync-loads").await;
    assert!(
        sync_loads.is_some(),
        "the page records its synchronous loads"
    );
    if sync_loads.as_deref() != Some("0") {
        let slot = page.attr("status", "data-sync-slot").await;
        eprintln!(
            "joining loaded the wasm's second part (slot {slot:?}, target/page-split-slots.txt)"
        );
    }
    page.wait_attr("status", "data-steps", "the wasm's second part", |s| {
        s.contains("\"rest\"")
    })
    .await;
    let peer_id = page.text("peer-id").await;
    assert!(
        peer_id.starts_with("12D3"),
        "the page shows its PeerId: {peer_id:?}"
    );
    let transport = page.text("transport").await;
    assert!(
        ["webrtc-direct", "ws"].contains(&transport.as_str()),
        "transport: {transport:?}"
    );
    page.wait_text("peers", "the bootstrap node in the peer list", |t| {
        t.contains(&node.peer_id)
    })
    .await;

    // PUT through the form, read with the CLI.
    page.submit(
        &[
            ("put-key", "page-key"),
            ("put-value", "typed into the page"),
        ],
        "put-btn",
        |r| r.contains("stored"),
    )
    .await;
    let got = webkad(&["get", "page-key", "--bootstrap", &boot]).await;
    assert_eq!(got.stdout.trim(), "typed into the page", "{}", got.stderr);

    // PUT with the CLI, GET through the form; a missing key is "not found".
    let put = webkad(&[
        "put",
        "cli-key",
        "from the command line",
        "--bootstrap",
        &boot,
    ])
    .await;
    assert_eq!(put.code, 0, "{}", put.stderr);
    page.submit(&[("get-key", "cli-key")], "get-btn", |r| {
        r.contains("from the command line")
    })
    .await;
    page.submit(&[("get-key", "no-such-key")], "get-btn", |r| {
        r.contains("not found")
    })
    .await;

    // Providers both ways through the forms.
    page.submit(&[("provide-key", "page-provides")], "provide-btn", |r| {
        r.contains("providing")
    })
    .await;
    // Kademlia's ADD_PROVIDER has no answer: the page reports success once it is sent, so
    // the record may land a moment after.
    let native = within("webkad providers finding the page", async {
        loop {
            let out = webkad(&["providers", "page-provides", "--bootstrap", &boot]).await;
            if out.stdout.contains(&peer_id) {
                return out;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await;
    assert_eq!(native.code, 0);

    // A reload keeps the identity.
    page.client.refresh().await.expect("reload");
    page.wait_joined().await;
    assert_eq!(
        page.text("peer-id").await,
        peer_id,
        "same PeerId after a reload"
    );

    // The node goes away: the page says so, then rejoins by itself when it is back.
    let node = page
        .rejoin_after_restart(node, &web_dir, port, &["--data-dir", data_dir])
        .await;
    assert_eq!(page.text("peer-id").await, peer_id);
    page.submit(&[("get-key", "page-key")], "get-btn", |r| {
        r.contains("typed into the page")
    })
    .await;

    page.close().await;
    drop(node);
}

#[tokio::test(flavor = "multi_thread")]
async fn over_webrtc_direct_the_page_joins_stores_and_stays_joined() {
    let Some(web_dir) = page_ready() else { return };
    let port = free_port();
    let node = serve_page(&web_dir, port, &["--ephemeral"]).await;
    let boot = node.addr("/tcp/");
    let driver = Chromedriver::start().await;
    let page = driver.session(&[]).await;
    page.goto(&format!("http://127.0.0.1:{port}/?transport=webrtc-direct"))
        .await;
    page.wait_joined().await;
    assert_eq!(page.text("transport").await, "webrtc-direct");
    let steps = page.attr("status", "data-steps").await.unwrap_or_default();
    for step in ["\"dial\"", "\"connected\"", "\"joined\""] {
        assert!(steps.contains(step), "milestone {step} recorded: {steps}");
    }
    page.submit(
        &[("put-key", "rtc-key"), ("put-value", "over webrtc")],
        "put-btn",
        |r| r.contains("stored"),
    )
    .await;
    let got = webkad(&["get", "rtc-key", "--bootstrap", &boot]).await;
    assert_eq!(got.stdout.trim(), "over webrtc", "{}", got.stderr);
    // Identify, Kademlia and rendezvous open and close streams meanwhile; the connection
    // and the page go on working (libp2p-webrtc-websys, replaced by our dialer, threw
    // `closure invoked recursively or after being dropped` from late data-channel events).
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let status = page.text("status").await;
    assert!(status.contains("joined"), "still joined: {status}");
    page.submit(&[("get-key", "rtc-key")], "get-btn", |r| {
        r.contains("over webrtc")
    })
    .await;

    // Owner-signed records (issue 13): the CLI's signed record read by the page, which
    // says who signed it; the page's own signed record read by the CLI.
    let owner_dir = tempfile::tempdir().expect("owner data dir");
    let put = webkad(&[
        "put",
        "--signed",
        "--data-dir",
        owner_dir.path().to_str().expect("utf-8 path"),
        "--bootstrap",
        &boot,
        "greeting",
        "signed by the cli",
        "--json",
    ])
    .await;
    assert_eq!(put.code, 0, "{put:?}");
    let put: serde_json::Value = serde_json::from_str(&put.stdout).expect("json");
    let owner = put["signed_by"].as_str().expect("signer").to_owned();
    page.submit(
        &[("get-key", &format!("{owner}/greeting"))],
        "get-btn",
        |r| r.contains("signed by the cli"),
    )
    .await;
    let meta = page.text("result-meta").await;
    assert!(meta.contains(&format!("signed by {owner}")), "{meta}");
    let page_id = page.text("peer-id").await;
    page.click("put-signed").await;
    page.submit(
        &[("put-key", "note"), ("put-value", "signed in the page")],
        "put-btn",
        |r| r.contains("stored"),
    )
    .await;
    let got = webkad(&["get", &format!("{page_id}/note"), "--bootstrap", &boot]).await;
    assert_eq!(got.stdout.trim(), "signed in the page", "{got:?}");
    assert!(
        got.stderr.contains(&format!("signed by {page_id}")),
        "{got:?}"
    );
    page.close().await;
    drop(node);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_sdp_munging_forbidden_the_page_joins_over_webrtc_direct() {
    let Some(web_dir) = page_ready() else { return };
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    let port = free_port();
    let node = serve_page(&web_dir, port, &["--data-dir", data_dir]).await;
    let driver = Chromedriver::start().await;
    // The field trial that forbids SDP ufrag munging, which broke the v1 handshake of
    // libp2p-webrtc-websys (the page fell back to WebSocket); our dialer speaks v2 (issue 14).
    let page = driver
        .session(&["--force-fieldtrials=WebRTC-NoSdpMangleUfrag/Enabled/"])
        .await;
    page.goto(&format!("http://127.0.0.1:{port}/?transport=webrtc-direct"))
        .await;
    page.wait_joined().await;
    assert_eq!(
        page.text("transport").await,
        "webrtc-direct",
        "joined over WebRTC-direct without munging"
    );
    page.close().await;
    drop(node);
}

/// The `.wasm` files of the built page.
fn wasm_files(web_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(web_dir)
        .expect("read the page dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect()
}

/// The import modules of a wasm file.
fn import_modules(wasm: &Path) -> std::collections::BTreeSet<String> {
    let bytes = std::fs::read(wasm).expect("read the wasm");
    let mut modules = std::collections::BTreeSet::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let wasmparser::Payload::ImportSection(imports) = payload.expect("valid wasm") {
            for import in imports.into_imports() {
                modules.insert(import.expect("valid import").module.to_owned());
            }
        }
    }
    modules
}

#[test]
fn the_built_wasm_imports_nothing_from_env() {
    let Some(web_dir) = page_ready() else { return };
    let wasm = wasm_files(&web_dir);
    // The split (crates/xtask/src/wasm_split.rs): the module loaded first and `*_lazy.wasm`.
    assert_eq!(wasm.len(), 2, "two .wasm files in the page: {wasm:?}");
    for file in &wasm {
        let modules = import_modules(file);
        assert!(
            !modules.contains("env"),
            "native code leaked into the page: {} imports from \"env\" ({modules:?})",
            file.display()
        );
        let lazy = file.to_string_lossy().ends_with("_lazy.wasm");
        if lazy {
            let expected = std::collections::BTreeSet::from(["primary".to_owned()]);
            assert_eq!(modules, expected, "the second part imports only the first");
        } else {
            assert!(modules.contains("wk"), "the first part imports the loader");
            assert!(modules.len() >= 2, "the module imports its JS glue");
        }
    }
}
