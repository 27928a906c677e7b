//! What an operator sets and sees: limits from a `--config` file and flags, listeners that
//! refuse a port another process holds, and the systemd unit in contrib/.

use webkad_tests::{ServeProcess, free_port, webkad, workspace_root};

/// A config file that serves on free loopback ports with `extra` appended.
fn config_file(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("webkad.toml");
    let text = format!(
        "# written by the operator test\nephemeral = true\nhttp = \"127.0.0.1:0\"\nlisten = [\"/ip4/127.0.0.1/tcp/0\", \"/ip4/127.0.0.1/tcp/0/ws\"]\n{extra}"
    );
    std::fs::write(&path, text).expect("config file written");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_sets_limits_and_a_flag_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(dir.path(), "max-value-bytes = 100\n");
    let config = config.to_str().expect("utf-8 path");
    let value = "v".repeat(200);

    let from_file = ServeProcess::start(&["--config", config]).await;
    let refused = webkad(&["put", "k", &value, "--bootstrap", &from_file.addr("/tcp/")]).await;
    // The client's own limit is the default; the node refuses (its log names the limit).
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.starts_with("not stored"),
        "{}",
        refused.stderr
    );
    drop(from_file);

    let flag_wins = ServeProcess::start(&["--config", config, "--max-value-bytes", "1000"]).await;
    let stored = webkad(&["put", "k", &value, "--bootstrap", &flag_wins.addr("/tcp/")]).await;
    assert_eq!(stored.code, 0, "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_or_value_in_the_config_file_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "max-conections = 5\n",
            "line 5: unknown key \"max-conections\"",
        ),
        (
            "max-connections = -1\n",
            "line 5: invalid value '-1' for '--max-connections <N>'",
        ),
        ("mdns = \"yes\"\n", "line 5: mdns is a switch"),
        ("max-records = \n", "TOML parse error at line 5"),
    ];
    for (extra, expected) in cases {
        let config = config_file(dir.path(), extra);
        let out = webkad(&["serve", "--config", config.to_str().expect("utf-8")]).await;
        assert_eq!(out.code, 2, "{extra}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{extra}: {}", out.stderr);
    }
}

/// `webkad serve` on `listen` and `http`, expected to refuse to start.
async fn refused(listen: &str, http: &str) -> String {
    let out = webkad(&[
        "serve",
        "--ephemeral",
        "--no-console",
        "--listen",
        listen,
        "--http",
        http,
    ])
    .await;
    assert_ne!(out.code, 0, "a second node started on {listen} / {http}");
    out.stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_on_a_port_in_use_exits_and_the_first_keeps_its_connections() {
    let (tcp, udp, webrtc, http) = (free_port(), free_port(), free_port(), free_port());
    let tcp_addr = format!("/ip4/127.0.0.1/tcp/{tcp}");
    let quic_addr = format!("/ip4/127.0.0.1/udp/{udp}/quic-v1");
    let webrtc_addr = format!("/ip4/127.0.0.1/udp/{webrtc}/webrtc-direct");
    let http_addr = format!("127.0.0.1:{http}");
    let first = ServeProcess::start(&[
        "--ephemeral",
        "--listen",
        &tcp_addr,
        "--listen",
        &quic_addr,
        "--listen",
        &webrtc_addr,
        "--http",
        &http_addr,
    ])
    .await;
    for listen in [&tcp_addr, &quic_addr, &webrtc_addr] {
        let error = refused(listen, "127.0.0.1:0").await;
        assert!(
            error.to_lowercase().contains("address already in use")
                && error.contains(listen.as_str()),
            "{listen}: {error}"
        );
    }
    let error = refused("/ip4/127.0.0.1/tcp/0", &http_addr).await;
    assert!(
        error.to_lowercase().contains("address already in use"),
        "{error}"
    );
    // Every connection to the TCP port still reaches the first node (with SO_REUSEPORT
    // shared, the kernel gave about half of them to the second).
    let target = format!("{tcp_addr}/p2p/{}", first.peer_id);
    for _ in 0..8 {
        let ping = webkad(&["ping", &target]).await;
        assert_eq!(ping.code, 0, "{ping:?}");
    }
}

#[tokio::test]
async fn the_systemd_unit_is_valid() {
    let unit = workspace_root().join("contrib/webkad.service");
    let text = std::fs::read_to_string(&unit).expect("contrib/webkad.service exists");
    for needed in [
        "ExecStart=/usr/local/bin/webkad serve",
        "Restart=on-failure",
        "LimitNOFILE=",
        "StateDirectory=webkad",
        "NoNewPrivileges=yes",
    ] {
        assert!(text.contains(needed), "the unit lacks {needed}");
    }
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output();
    let Ok(out) = verify else {
        println!("skipped systemd-analyze verify: systemd-analyze is not installed");
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify checks that ExecStart's binary exists; on a machine without webkad installed
    // that one complaint is expected, every other line is a fault in the unit.
    let faults: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.contains("/usr/local/bin/webkad"))
        .filter(|l| {
            !l.contains("Failed to prepare filename")
                && !l.contains("Command /usr/local/bin/webkad is not executable")
        })
        .collect();
    assert!(faults.is_empty(), "systemd-analyze verify: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wss_listener_without_a_certificate_is_a_clear_error() {
    let out = webkad(&[
        "serve",
        "--ephemeral",
        "--no-console",
        "--no-http",
        "--listen",
        "/ip4/127.0.0.1/tcp/0/tls/ws",
    ])
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("a WSS listener needs a certificate: --tls-cert and --tls-key"),
        "{}",
        out.stderr
    );
}
