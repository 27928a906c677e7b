//! The `webkad` binary driven as a user would: `serve` with its console on stdin, the
//! one-shot commands, `--help`, bad input, and a restart on the same data dir.

use webkad_tests::{LOOPBACK_LISTEN, ServeProcess, http_get, webkad};

/// A bootstrap on free loopback ports (TCP, WebSocket, WebRTC-direct) and free HTTP port.
async fn serve(data_dir: &std::path::Path) -> ServeProcess {
    let mut args = vec![
        "--data-dir",
        data_dir.to_str().expect("utf-8 path"),
        "--http",
        "127.0.0.1:0",
    ];
    args.extend(LOOPBACK_LISTEN);
    ServeProcess::start(&args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_answers_the_classic_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = serve(&dir.path().join("data")).await;

    assert_eq!(
        node.console("PUT greeting hello there").await,
        "Put record \"greeting\" locally; no other DHT server took a copy yet"
    );
    assert_eq!(
        node.console("GET greeting").await,
        "Got record \"greeting\" \"hello there\""
    );
    assert_eq!(
        node.console("GET nothing").await,
        "Record \"nothing\" not found"
    );
    assert_eq!(
        node.console("PUT lonely").await,
        "PUT needs a key and a value"
    );
    assert_eq!(node.console("GET").await, "GET needs a key");
    assert_eq!(
        node.console("FROB x").await,
        "unknown command \"FROB\"; type HELP for the list"
    );
    assert!(
        node.console("PING /ip4/1.2.3/tcp/1")
            .await
            .contains("not a valid multiaddr")
    );
    assert_eq!(
        node.console("PUT_PROVIDER song").await,
        "Providing \"song\""
    );
    let providers = node.console("GET_PROVIDERS song").await;
    assert_eq!(
        providers,
        format!("Providers of \"song\": {}", node.peer_id)
    );
    assert_eq!(node.console("PEERS").await, "No connected peers");
    let addrs = node.console_lines("ADDRS", 1 + 2 * node.addrs.len()).await;
    assert_eq!(addrs[0], format!("Peer id {}", node.peer_id));
    for addr in &node.addrs {
        assert!(addrs.contains(&format!("Listening on {addr}")), "{addrs:?}");
        assert!(addrs.contains(&format!("Announcing {addr}")), "{addrs:?}");
    }
    let help = node
        .console_lines("HELP", webkad_node::console::HELP.lines().count())
        .await;
    assert_eq!(help.join("\n"), webkad_node::console::HELP);

    // A one-shot client shows up among the peers while it runs, and can be pinged back.
    let tcp = node.addr("/tcp/");
    let got = webkad(&["get", "greeting", "--bootstrap", &tcp]).await;
    assert_eq!(
        (got.code, got.stdout.as_str()),
        (0, "hello there\n"),
        "{}",
        got.stderr
    );

    // Closing stdin turns the console off but the node keeps serving.
    node.close_stdin();
    let again = webkad(&["get", "greeting", "--bootstrap", &tcp]).await;
    assert_eq!(again.stdout, "hello there\n");
    let (code, rest) = node.terminate().await;
    assert_eq!(code, 0, "clean exit on SIGTERM");
    assert!(rest.contains("Stopped"), "{rest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_commands_put_get_provide_find_and_ping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = serve(&dir.path().join("data")).await;
    let ws = node.addr("/ws/");

    let put = webkad(&["put", "hello", "world", "--bootstrap", &ws]).await;
    assert_eq!(put.code, 0, "{}", put.stderr);
    let get = webkad(&["get", "hello", "--bootstrap", &ws]).await;
    assert_eq!((get.code, get.stdout.as_str()), (0, "world\n"));
    let json = webkad(&["get", "hello", "--json", "--bootstrap", &ws]).await;
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("json output");
    assert_eq!(parsed["value"], "world");
    assert_eq!(parsed["from"], node.peer_id.as_str());
    let missing = webkad(&["get", "nobody-put-this", "--bootstrap", &ws]).await;
    assert_eq!((missing.code, missing.stderr.trim()), (1, "not found"));

    // A provider stays online; others find it, and find its addresses, through the DHT.
    let mut provider = tokio::process::Command::new(webkad_tests::webkad_bin())
        .args(["provide", "dataset", "--bootstrap", &ws])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("provide starts");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
        provider.stdout.take().expect("piped"),
    ));
    let announced = webkad_tests::within("provide output", lines.next_line())
        .await
        .expect("readable")
        .expect("a line");
    let provider_id = announced
        .split(" as ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .expect("peer id");
    let found = webkad(&["providers", "dataset", "--bootstrap", &ws]).await;
    assert_eq!(
        (found.code, found.stdout.trim()),
        (0, provider_id),
        "{}",
        found.stderr
    );
    let route = webkad(&["find-peer", provider_id, "--bootstrap", &ws]).await;
    assert_eq!(route.code, 0, "{}", route.stderr);
    assert!(
        route.stdout.contains("/ip4/127.0.0.1/tcp/"),
        "{}",
        route.stdout
    );
    let ping_peer = webkad(&["ping", provider_id, "--bootstrap", &ws]).await;
    assert!(
        ping_peer
            .stdout
            .starts_with(&format!("pong from {provider_id}: ")),
        "{ping_peer:?}"
    );
    provider.kill().await.expect("provider stops");

    let nobody = webkad(&["providers", "no-such-thing", "--bootstrap", &ws]).await;
    assert_eq!(nobody.code, 1);

    // Ping needs no bootstrap when given an address; every transport answers.
    for needle in ["/tcp/", "/ws/", "webrtc-direct"] {
        let ping = webkad(&["ping", &node.addr(needle)]).await;
        assert_eq!(ping.code, 0, "ping over {needle}: {}", ping.stderr);
        assert!(
            ping.stdout
                .starts_with(&format!("pong from {}: ", node.peer_id)),
            "{}",
            ping.stdout
        );
    }

    // /dns4 addresses resolve (localhost, from /etc/hosts).
    let tcp = node.addr("/tcp/");
    let dns = tcp.replace("/ip4/127.0.0.1/", "/dns4/localhost/");
    let via_dns = webkad(&["get", "hello", "--bootstrap", &dns]).await;
    assert_eq!(via_dns.stdout, "world\n", "{}", via_dns.stderr);

    let (status, body) = http_get(&format!(
        "{}/api/bootstrap",
        node.http.as_deref().expect("http")
    ))
    .await;
    assert_eq!(status, 200);
    let api: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(api["peer_id"], node.peer_id.as_str());
    let addrs: Vec<String> = api["addrs"]
        .as_array()
        .expect("addrs")
        .iter()
        .map(|a| a.as_str().expect("string").to_owned())
        .collect();
    for addr in &node.addrs {
        assert!(addrs.contains(addr), "{addr} missing from {addrs:?}");
    }
    assert!(
        addrs
            .iter()
            .all(|a| a.ends_with(&format!("/p2p/{}", node.peer_id)))
    );
    assert!(addrs.iter().any(|a| a.contains("/webrtc-direct/certhash/")));
    let (health, _) = http_get(&format!("{}/healthz", node.http.as_deref().expect("http"))).await;
    assert_eq!(health, 200);
    node.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_peer_id_certhash_and_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let first = serve(&data).await;
    let put = webkad(&["put", "hello", "world", "--bootstrap", &first.addr("/tcp/")]).await;
    assert_eq!(put.code, 0, "{}", put.stderr);
    let (peer_id, cert) = (
        first.peer_id.clone(),
        certhash(&first.addr("webrtc-direct")),
    );
    first.terminate().await;

    let second = serve(&data).await;
    assert_eq!(second.peer_id, peer_id);
    assert_eq!(certhash(&second.addr("webrtc-direct")), cert);
    let get = webkad(&["get", "hello", "--bootstrap", &second.addr("/tcp/")]).await;
    assert_eq!(get.stdout, "world\n", "{}", get.stderr);
    second.terminate().await;
}

fn certhash(addr: &str) -> String {
    addr.split("/certhash/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .expect("certhash")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_is_there_for_every_command() {
    let top = webkad(&["--help"]).await;
    assert_eq!(top.code, 0);
    for command in [
        "serve",
        "put",
        "get",
        "provide",
        "providers",
        "find-peer",
        "ping",
    ] {
        assert!(
            top.stdout.contains(command),
            "top-level help lists {command}"
        );
        let help = webkad(&[command, "--help"]).await;
        assert_eq!(help.code, 0, "{command} --help");
        assert!(help.stdout.contains("Usage: webkad"), "{}", help.stdout);
    }
    let provide = webkad(&["provide", "--help"]).await;
    assert!(
        provide.stdout.contains("keep running until interrupted"),
        "{}",
        provide.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_loses_nothing() {
    let bad_addr = webkad(&["get", "k", "--bootstrap", "/ip4/not-an-ip/tcp/1"]).await;
    assert_eq!(bad_addr.code, 2);
    assert!(
        bad_addr
            .stderr
            .starts_with("error: invalid value '/ip4/not-an-ip/tcp/1'"),
        "{}",
        bad_addr.stderr
    );
    let missing = webkad(&["put", "only-a-key"]).await;
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("required"), "{}", missing.stderr);
    let unknown = webkad(&["frobnicate"]).await;
    assert_eq!(unknown.code, 2);
    let no_bootstrap = webkad(&["get", "k"]).await;
    assert_eq!(no_bootstrap.code, 2);
    assert_eq!(
        no_bootstrap.stderr.trim(),
        "error: this command needs --bootstrap <MULTIADDR> (or WEBKAD_BOOTSTRAP)"
    );
    let bad_listen = webkad(&["serve", "--listen", "garbage"]).await;
    assert_eq!(bad_listen.code, 2);

    let dir = tempfile::tempdir().expect("tempdir");
    let node = serve(&dir.path().join("data")).await;
    let tcp = node.addr("/tcp/");
    assert_eq!(
        webkad(&["put", "keep", "me", "--bootstrap", &tcp])
            .await
            .code,
        0
    );
    let huge = "x".repeat(webkad_core::config::DEFAULT_MAX_VALUE_BYTES + 1);
    let too_big = webkad(&["put", "keep", &huge, "--bootstrap", &tcp]).await;
    assert_eq!(too_big.code, 1);
    assert_eq!(
        too_big.stderr.trim(),
        format!(
            "the value is {} bytes; the limit is 12288 bytes",
            huge.len()
        )
    );
    let unreachable = webkad(&["get", "keep", "--bootstrap", "/ip4/127.0.0.1/tcp/1"]).await;
    assert_eq!(
        (unreachable.code, unreachable.stderr.trim()),
        (1, "could not reach any bootstrap node")
    );
    let kept = webkad(&["get", "keep", "--bootstrap", &tcp]).await;
    assert_eq!(kept.stdout, "me\n", "the earlier record is untouched");
    node.terminate().await;

    // A data dir that cannot be a directory, and a corrupt identity key.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a dir").expect("write");
    let blocked = webkad(&[
        "serve",
        "--no-console",
        "--data-dir",
        file.join("data").to_str().expect("utf-8"),
    ])
    .await;
    assert_eq!(blocked.code, 1);
    assert!(
        blocked
            .stderr
            .trim()
            .starts_with("error: cannot use data dir"),
        "{}",
        blocked.stderr
    );
    assert_eq!(
        blocked.stderr.trim().lines().count(),
        1,
        "{}",
        blocked.stderr
    );
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).expect("mkdir");
    std::fs::write(corrupt.join("identity.key"), b"garbage").expect("write");
    let refused = webkad(&[
        "serve",
        "--no-console",
        "--data-dir",
        corrupt.to_str().expect("utf-8"),
    ])
    .await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("is not a valid identity key"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        std::fs::read(corrupt.join("identity.key")).expect("kept"),
        b"garbage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bootstrap_addresses_are_usage_errors() {
    for (arg, says) in [
        ("/dns4/", "a DNS component without a name"),
        ("", "an empty multiaddr"),
        ("/ip4/1.2.3/tcp/1", "not a valid multiaddr"),
    ] {
        let out = webkad(&["get", "k", "--bootstrap", arg]).await;
        assert_eq!(out.code, 2, "{arg:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{arg:?}: {}", out.stderr);
    }
}
