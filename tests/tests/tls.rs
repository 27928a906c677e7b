//! TLS with the operator's certificate: the page and API over HTTPS, libp2p over `/tls/ws`
//! (WSS), both signed by a throwaway CA made here, and a renewed certificate served
//! without a restart while connections made before stay up.

use std::time::{Duration, Instant};

use webkad_tests::{ServeProcess, free_port, test_ca::TestCa, webkad};

/// Runs `webkad <args> --tls-ca <ca>`.
async fn with_ca(args: &[&str], ca: &std::path::Path) -> webkad_tests::Output {
    let mut args = args.to_vec();
    args.extend(["--tls-ca", ca.to_str().expect("utf-8 path")]);
    webkad(&args).await
}

/// HTTPS GET of `path` on `addr`, trusting `ca`: status line and body.
async fn https_get(ca: &TestCa, addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = ca.connect(addr).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_wss_with_a_test_ca_and_a_renewal_without_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write CA");
    let first = ca.leaf("first");
    first.write(dir.path());
    let https = format!("127.0.0.1:{}", free_port());
    let cert = dir.path().join("fullchain.pem");
    let key = dir.path().join("privkey.pem");
    let node = ServeProcess::start(&[
        "--ephemeral",
        "--http",
        "127.0.0.1:0",
        "--https",
        &https,
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
        "--listen",
        "/ip4/127.0.0.1/tcp/0/tls/ws",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ])
    .await;
    let wss = node.addr("/tls/ws/");
    let wss_socket = socket_of(&wss);

    // The API over HTTPS lists the WSS address.
    let bootstrap = https_get(&ca, &https, "/api/bootstrap").await;
    assert!(bootstrap.starts_with("HTTP/1.1 200"), "{bootstrap}");
    assert!(bootstrap.contains(&wss), "{bootstrap}");
    assert_eq!(ca.served_leaf(&https).await, first.der);
    assert_eq!(ca.served_leaf(&wss_socket).await, first.der);

    // A native one-shot client reaches the node over /tls/ws (trusting the test CA), and
    // one that trusts only the public CAs does not.
    let put = with_ca(&["put", "over-wss", "yes", "--bootstrap", &wss], &ca_file).await;
    assert_eq!(put.code, 0, "{put:?}");
    let untrusted = webkad(&["get", "over-wss", "--bootstrap", &wss]).await;
    assert_ne!(untrusted.code, 0, "{untrusted:?}");

    // A client that stays connected over WSS across the renewal.
    let mut provider = tokio::process::Command::new(webkad_tests::webkad_bin())
        .args(["provide", "renewal", "--bootstrap", &wss, "--tls-ca"])
        .arg(&ca_file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("provide starts");
    let found = wait_for(|| async {
        let out = with_ca(&["providers", "renewal", "--bootstrap", &wss], &ca_file).await;
        out.code == 0
    })
    .await;
    assert!(found, "the provider did not register over WSS");

    // Renewal: new files, SIGHUP; the next handshakes get the new certificate.
    let renewed = ca.leaf("renewed");
    renewed.write(dir.path());
    node.signal("HUP");
    let started = Instant::now();
    while ca.served_leaf(&wss_socket).await != renewed.der {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "WSS still serves the old certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ca.served_leaf(&https).await, renewed.der);
    // A renewal with no signal is noticed by the files' modification time (checked every
    // 5 s).
    let again = ca.leaf("renewed again");
    again.write(dir.path());
    let started = Instant::now();
    while ca.served_leaf(&https).await != again.der {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the changed files were not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let get = with_ca(&["get", "over-wss", "--bootstrap", &wss], &ca_file).await;
    assert_eq!((get.code, get.stdout.trim()), (0, "yes"), "{get:?}");

    // The connection made before the renewal is still up.
    assert!(
        provider.try_wait().expect("provide status").is_none(),
        "the provider exited"
    );
    let providers = with_ca(&["providers", "renewal", "--bootstrap", &wss], &ca_file).await;
    assert_eq!(providers.code, 0, "{providers:?}");
    let _ = provider.kill().await;
}

/// The reverse-proxy layout: TLS terminated in front of a plain `/ws` listener, the
/// proxy's WSS address announced. The proxy here is the test's own (rustls in front of a
/// TCP relay); nginx or Caddy do the same. No DNS in tests, so the announced address names
/// 127.0.0.1 where a server would announce /dns4/<name>/tcp/443/tls/ws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_tls_proxy_the_announced_wss_address_reaches_the_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write CA");
    let leaf = ca.leaf("proxy");
    let (ws_port, proxy_port) = (free_port(), free_port());
    let ws = format!("/ip4/127.0.0.1/tcp/{ws_port}/ws");
    let announced = format!("/ip4/127.0.0.1/tcp/{proxy_port}/tls/ws");
    let node = ServeProcess::start(&[
        "--ephemeral",
        "--http",
        "127.0.0.1:0",
        "--listen",
        &ws,
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--announce",
        &announced,
    ])
    .await;
    let proxy = tokio::spawn(tls_proxy(
        format!("127.0.0.1:{proxy_port}"),
        format!("127.0.0.1:{ws_port}"),
        leaf.server_config(),
    ));
    let http = node.http.clone().expect("http");
    let (_, bootstrap) = webkad_tests::http_get(&format!("{http}/api/bootstrap")).await;
    assert!(bootstrap.contains(&announced), "{bootstrap}");

    let through_proxy = format!("{announced}/p2p/{}", node.peer_id);
    let put = with_ca(
        &["put", "proxied", "yes", "--bootstrap", &through_proxy],
        &ca_file,
    )
    .await;
    assert_eq!(put.code, 0, "{put:?}");
    let get = with_ca(&["get", "proxied", "--bootstrap", &through_proxy], &ca_file).await;
    assert_eq!((get.code, get.stdout.trim()), (0, "yes"), "{get:?}");
    proxy.abort();
}

/// Accepts TLS on `listen` and relays the plaintext to `upstream`.
async fn tls_proxy(listen: String, upstream: String, config: std::sync::Arc<rustls::ServerConfig>) {
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .expect("proxy binds");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
        });
    }
}

/// The `host:port` of a `/ip4/<host>/tcp/<port>/…` address.
fn socket_of(addr: &str) -> String {
    let parts: Vec<&str> = addr.split('/').collect();
    format!("{}:{}", parts[2], parts[4])
}

/// Polls `check` every 200 ms for up to 10 s.
async fn wait_for<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_on_https_joins_over_wss_and_stays_joined_across_a_renewal() {
    let Some(web_dir) = webkad_tests::webdriver::page_ready() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write CA");
    let (first, renewed) = (ca.leaf("first"), ca.leaf("renewed"));
    first.write(dir.path());
    let https_port = free_port();
    let https = format!("127.0.0.1:{https_port}");
    let (cert, key) = (
        dir.path().join("fullchain.pem"),
        dir.path().join("privkey.pem"),
    );
    let node = ServeProcess::start(&[
        "--ephemeral",
        "--web-dir",
        web_dir.to_str().expect("utf-8"),
        "--http",
        "127.0.0.1:0",
        "--https",
        &https,
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
        "--listen",
        "/ip4/127.0.0.1/tcp/0/ws",
        "--listen",
        "/ip4/127.0.0.1/tcp/0/tls/ws",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ])
    .await;
    let wss_socket = socket_of(&node.addr("/tls/ws/"));

    // Chromium trusts the two leaf keys (not the CA): the flag takes SPKI hashes.
    let driver = webkad_tests::webdriver::Chromedriver::start().await;
    let spki = format!(
        "--ignore-certificate-errors-spki-list={},{}",
        first.spki_sha256, renewed.spki_sha256
    );
    let page = driver.session(&[&spki]).await;
    let url = format!("https://{https}/");
    page.goto(&url).await;
    page.wait_joined().await;
    assert_eq!(page.text("transport").await, "wss");

    renewed.write(dir.path());
    node.signal("HUP");
    let started = Instant::now();
    while ca.served_leaf(&wss_socket).await != renewed.der {
        assert!(started.elapsed() < Duration::from_secs(5), "not renewed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The page joined before the renewal is still joined and stores through its node.
    page.submit(
        &[
            ("put-key", "over-https"),
            ("put-value", "from an https page"),
        ],
        "put-btn",
        |r| r.contains("stored"),
    )
    .await;
    assert!(page.text("status").await.contains("joined"));
    let got = webkad(&["get", "over-https", "--bootstrap", &node.addr("/tcp/")]).await;
    assert_eq!(got.stdout.trim(), "from an https page", "{got:?}");

    // A reload handshakes again (now with the renewed certificate) and joins over WSS.
    page.goto(&url).await;
    page.wait_joined().await;
    assert_eq!(page.text("transport").await, "wss");
    page.close().await;
}
