//! Several bootstrap nodes: a page joined through one rejoins through another, without a
//! reload, when the first dies, and what it stored stays readable through the survivor.

use std::time::{Duration, Instant};

use webkad_tests::{
    LOOPBACK_LISTEN, ServeProcess, free_port, serve_page,
    webdriver::{Chromedriver, page_ready},
    webkad,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_page_rejoins_through_a_second_bootstrap_when_the_first_is_killed() {
    let Some(web_dir) = page_ready() else { return };
    let mut args = vec!["--ephemeral", "--http", "127.0.0.1:0"];
    args.extend(LOOPBACK_LISTEN);
    let second = ServeProcess::start(&args).await;
    let second_tcp = second.addr("/tcp/");
    let second_ws = second.addr("/ws/");
    let port = free_port();
    let first = serve_page(
        &web_dir,
        port,
        &[
            "--ephemeral",
            "--kad-mode",
            "server",
            "--bootstrap",
            &second_tcp,
            "--peer-bootstrap",
            &second_ws,
        ],
    )
    .await;
    let (_, bootstrap) =
        webkad_tests::http_get(&format!("http://127.0.0.1:{port}/api/bootstrap")).await;
    assert!(bootstrap.contains(&second_ws), "{bootstrap}");

    let driver = Chromedriver::start().await;
    let page = driver.session(&[]).await;
    page.goto(&format!("http://127.0.0.1:{port}/")).await;
    page.wait_joined().await;
    page.wait_text("peers", "the first node in the peer list", |t| {
        t.contains(&first.peer_id)
    })
    .await;
    page.submit(
        &[("put-key", "survives"), ("put-value", "its first server")],
        "put-btn",
        |r| r.contains("stored"),
    )
    .await;

    first.signal("KILL");
    let killed = Instant::now();
    page.wait_text("log", "rejoining through the second node", |log| {
        log.lines()
            .any(|l| l.contains("joined via") && l.contains(&short(&second.peer_id)))
    })
    .await;
    let took = killed.elapsed();
    if took >= Duration::from_secs(5) {
        eprintln!("page log:\n{}", page.text("log").await);
    }
    assert!(page.text("status").await.contains("joined"));
    assert!(
        took < Duration::from_secs(5),
        "rejoined through the second node after {took:?}"
    );
    eprintln!(
        "rejoined through the second bootstrap {} ms after kill -9",
        took.as_millis()
    );

    let got = webkad(&["get", "survives", "--bootstrap", &second_tcp]).await;
    assert_eq!(got.stdout.trim(), "its first server", "{got:?}");
    // A one-shot command given several bootstrap nodes gets through the living one.
    let first_tcp = first.addr("/tcp/");
    let both = format!("{first_tcp},{second_tcp}");
    let got = webkad(&["get", "survives", "--bootstrap", &both]).await;
    assert_eq!(got.stdout.trim(), "its first server", "{got:?}");
    page.close().await;
}

/// How the page shortens a peer id in its log.
fn short(peer: &str) -> String {
    peer.chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_servers_it_learned_from_the_dht() {
    let mut args = vec!["--ephemeral", "--http", "127.0.0.1:0"];
    args.extend(LOOPBACK_LISTEN);
    let first = ServeProcess::start(&args).await;
    let first_tcp = first.addr("/tcp/");
    let mut joining = args.clone();
    joining.extend(["--kad-mode", "server", "--bootstrap", &first_tcp]);
    let second = ServeProcess::start(&joining).await;
    let second_ws = second.addr("/ws/");
    let url = format!("{}/api/bootstrap", first.http.clone().expect("http"));
    let started = Instant::now();
    loop {
        let (_, body) = webkad_tests::http_get(&url).await;
        let json: serde_json::Value = serde_json::from_str(&body).expect("json");
        let servers = json["servers"].as_array().expect("servers");
        if servers
            .iter()
            .any(|s| s.as_str() == Some(second_ws.as_str()))
        {
            assert!(servers.len() <= 16);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the second server is not listed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
