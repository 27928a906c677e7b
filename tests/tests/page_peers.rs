//! Pages meeting pages, as users do it: two independent headless Chromium sessions (each
//! with its own profile, so its own identity) on the page one `webkad serve` serves. They
//! discover each other, exchange direct messages through the relay, chat in a room that a
//! native node posts to, and exchange messages with the native node's console; a page's
//! relay reservation outlives its renewal period.
//!
//! Needs the built page and chromedriver, like `page.rs`.

use webkad_tests::{
    free_port, serve_page,
    webdriver::{Browser, Chromedriver, page_ready},
    webkad,
};

/// Opens the page and waits until it joined; answers the page's PeerId.
async fn open(page: &Browser, url: &str) -> String {
    page.goto(url).await;
    page.wait_joined().await;
    page.text("peer-id").await.trim().to_owned()
}

/// Sends a direct message from `page` and waits for its acknowledgement; answers the
/// inbox line that shows it.
async fn dm(page: &Browser, to: &str, text: &str) -> String {
    page.fill("dm-peer", to).await;
    page.fill("dm-text", text).await;
    page.click("dm-btn").await;
    let inbox = page
        .wait_text("inbox", "the DM is acknowledged", |t| {
            t.lines()
                .any(|l| l.contains(text) && l.contains("delivered in"))
        })
        .await;
    inbox
        .lines()
        .find(|l| l.contains(text))
        .unwrap_or_default()
        .to_owned()
}

/// Joins `topic` and waits until the page knows the bootstrap node carries the room.
async fn join_room(page: &Browser, topic: &str) {
    page.fill("topic", topic).await;
    page.click("join-btn").await;
    page.wait_text("room-status", "room joined", |t| t.contains("joined"))
        .await;
    page.wait_text("room-peers", "the bootstrap relays the room", |t| {
        t.contains("incl. the bootstrap")
    })
    .await;
}

async fn post(page: &Browser, text: &str) {
    page.fill("pub-text", text).await;
    page.click("pub-btn").await;
    page.wait_text("messages", "own post shown", |t| t.contains(text))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_pages_find_each_other_message_and_chat_with_a_native_node() {
    let Some(web_dir) = page_ready() else { return };
    let port = free_port();
    let mut node = serve_page(&web_dir, port, &["--ephemeral"]).await;
    let boot = node.addr("/tcp/");
    let url = format!("http://127.0.0.1:{port}/");
    let driver = Chromedriver::start().await;
    let alice = driver.session(&[]).await;
    let bob = driver.session(&[]).await;
    let alice_id = open(&alice, &url).await;
    let bob_id = open(&bob, &url).await;
    assert_ne!(alice_id, bob_id, "two sessions, two identities");

    // Discovery through the bootstrap's rendezvous server.
    alice
        .wait_text("browser-peers", "bob discovered", |t| t.contains(&bob_id))
        .await;
    bob.wait_text("browser-peers", "alice discovered", |t| {
        t.contains(&alice_id)
    })
    .await;

    // Direct messages both ways, through the relay, acknowledged.
    let sent = dm(&alice, &bob_id, "hello bob").await;
    eprintln!("alice → bob: {sent}");
    bob.wait_text("inbox", "alice's DM arrives", |t| {
        t.lines()
            .any(|l| l.contains("hello bob") && l.contains(&alice_id))
    })
    .await;
    let sent = dm(&bob, &alice_id, "hello alice").await;
    eprintln!("bob → alice: {sent}");
    alice
        .wait_text("inbox", "bob's DM arrives", |t| {
            t.lines()
                .any(|l| l.contains("hello alice") && l.contains(&bob_id))
        })
        .await;
    bob.wait_text("browser-peers", "bob reaches alice over the relay", |t| {
        t.contains(&alice_id) && t.contains("relay")
    })
    .await;

    // A room: both pages post, each sees the other's post with its author.
    join_room(&alice, "lobby").await;
    join_room(&bob, "lobby").await;
    post(&alice, "hi from alice").await;
    bob.wait_text("messages", "alice's post", |t| {
        t.lines()
            .any(|l| l.contains("hi from alice") && l.contains(&alice_id))
    })
    .await;
    post(&bob, "hi from bob").await;
    alice
        .wait_text("messages", "bob's post", |t| {
            t.lines()
                .any(|l| l.contains("hi from bob") && l.contains(&bob_id))
        })
        .await;

    // A native one-shot client posts in the same room; both pages see it.
    let posted = webkad(&["pub", "lobby", "hello from native", "--bootstrap", &boot]).await;
    assert_eq!(posted.code, 0, "webkad pub: {}", posted.stderr);
    for page in [&alice, &bob] {
        page.wait_text("messages", "the native post", |t| {
            t.contains("hello from native")
        })
        .await;
    }

    // A page and the native node exchange direct messages both ways.
    let sent = dm(&alice, &node.peer_id, "hi node").await;
    eprintln!("alice → bootstrap: {sent}");
    let got = node
        .wait_line(|l| l.starts_with("Message from") && l.contains("hi node"))
        .await;
    assert_eq!(got, format!("Message from {alice_id}: hi node"));
    node.type_line(&format!("SEND {bob_id} hi bob, from the console"))
        .await;
    let delivered = node
        .wait_line(|l| l.contains("Delivered to") || l.contains("SEND failed"))
        .await;
    assert!(
        delivered.starts_with(&format!("Delivered to {bob_id} in")),
        "{delivered}"
    );
    eprintln!("bootstrap → bob: {delivered}");
    bob.wait_text("inbox", "the console's DM", |t| {
        t.contains("hi bob, from the console")
    })
    .await;
    node.type_line(&format!("PING {alice_id}")).await;
    let pong = node
        .wait_line(|l| l.contains("Pong") || l.contains("PING failed"))
        .await;
    eprintln!("bootstrap ping alice: {pong}");

    // A page that comes back (reload: same identity, new node) rejoins the room and sees
    // new posts again.
    let bob_again = open(&bob, &url).await;
    assert_eq!(bob_again, bob_id, "the identity survives a reload");
    join_room(&bob, "lobby").await;
    let retried = webkad(&["pub", "lobby", "welcome back", "--bootstrap", &boot]).await;
    assert_eq!(retried.code, 0, "webkad pub: {}", retried.stderr);
    bob.wait_text("messages", "a post after rejoining", |t| {
        t.contains("welcome back")
    })
    .await;

    alice.close().await;
    bob.close().await;
    let (code, _) = node.terminate().await;
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_reservation_survives_its_renewal_and_stays_reachable() {
    let Some(web_dir) = page_ready() else { return };
    let port = free_port();
    // Reservations last 4 s, so the page renews every 3 s.
    let node = serve_page(
        &web_dir,
        port,
        &["--ephemeral", "--relay-reservation-ttl", "4"],
    )
    .await;
    let boot = node.addr("/tcp/");
    let url = format!("http://127.0.0.1:{port}/");
    let driver = Chromedriver::start().await;
    let page = driver.session(&[]).await;
    let page_id = open(&page, &url).await;
    page.wait_attr("relay-status", "data-renewals", "two renewals", |n| {
        n.parse::<u32>().is_ok_and(|n| n >= 2)
    })
    .await;

    // Past two renewal periods, a native client reaches the page through the relay.
    let sent = webkad(&["send", &page_id, "after the renewal", "--bootstrap", &boot]).await;
    assert_eq!(sent.code, 0, "webkad send: {} {}", sent.stdout, sent.stderr);
    assert!(
        sent.stdout
            .starts_with(&format!("delivered to {page_id} in")),
        "{}",
        sent.stdout
    );
    page.wait_text("inbox", "the DM through the renewed reservation", |t| {
        t.contains("after the renewal")
    })
    .await;

    page.close().await;
    let (code, _) = node.terminate().await;
    assert_eq!(code, 0);
}
