//! The example app (`examples/chat-app/`, built on the packed `webkad` npm package with
//! TypeScript and Vite) in headless Chromium against a real `webkad serve` serving its
//! build: two independent sessions open it, both join, a room post from one reaches the
//! other, and a record one puts the other looks up.
//!
//! Needs the built app (`cargo xtask example-app`; `cargo xtask test` builds it and names
//! it in `WEBKAD_CHAT_APP_DIR`) and chromedriver; skips without them unless
//! `WEBKAD_REQUIRE_BROWSER` is set.

use std::path::PathBuf;

use webkad_tests::{
    free_port, serve_page,
    webdriver::{Browser, Chromedriver, site_ready},
};

/// The built app, or why the test cannot run.
fn app_ready() -> Option<PathBuf> {
    site_ready(
        "WEBKAD_CHAT_APP_DIR",
        "examples/chat-app/dist",
        "the example app",
        "cargo xtask example-app",
    )
}

/// Opens the app, waits until it joined and lists the bootstrap node as a peer; answers
/// the app's PeerId.
async fn open(page: &Browser, url: &str) -> String {
    page.goto(url).await;
    page.wait_attr("status", "data-state", "the app joins", |s| s == "joined")
        .await;
    page.wait_text("peer-count", "the bootstrap node listed", |t| {
        t.parse::<u32>().is_ok_and(|n| n >= 1)
    })
    .await;
    page.text("me").await.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_app_joins_chats_and_looks_records_up() {
    let Some(app) = app_ready() else { return };
    let port = free_port();
    let node = serve_page(&app, port, &["--ephemeral"]).await;
    let url = format!("http://127.0.0.1:{port}/?room=chat-app-test");
    let driver = Chromedriver::start().await;
    let alice = driver.session(&[]).await;
    let bob = driver.session(&[]).await;
    let alice_id = open(&alice, &url).await;
    let bob_id = open(&bob, &url).await;
    assert!(alice_id.starts_with("12D3"), "a PeerId: {alice_id:?}");
    assert_ne!(alice_id, bob_id, "two sessions, two peers");

    // The app retries its post while the gossipsub mesh forms ("no_room_peers").
    alice.fill("post-text", "hello from alice").await;
    alice.click("post-btn").await;
    alice
        .wait_text("messages", "alice's own post shown", |t| {
            t.contains("hello from alice")
        })
        .await;
    bob.wait_text("messages", "alice's post reaches bob", |t| {
        t.contains("hello from alice")
    })
    .await;

    alice.fill("put-key", "chat-app/greeting").await;
    alice.fill("put-value", "stored by alice").await;
    alice.click("put-btn").await;
    alice
        .wait_text("result", "alice's record stored", |t| {
            t.starts_with("stored chat-app/greeting")
        })
        .await;
    bob.fill("get-key", "chat-app/greeting").await;
    bob.click("get-btn").await;
    bob.wait_text("result", "bob finds alice's record", |t| {
        t.contains("stored by alice")
    })
    .await;

    alice.close().await;
    bob.close().await;
    drop(node);
}
