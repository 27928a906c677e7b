//! The NAT ladder on real kernel network stacks: each test builds network namespaces (veth,
//! bridges, nftables NAT, miniupnpd; see `webkad_tests::netns`), runs `webkad serve` in
//! them, and checks what a user would: the console's `NAT`, `GET /api/nat`, `webkad ping`
//! and `get` results. The namespace tests skip with a message where namespaces are not
//! permitted, unless `WEBKAD_REQUIRE_NETNS` is set (`cargo xtask test` sets it); they run
//! one at a time. One test runs on 127.0.0.1 anywhere.

use serde_json::Value;
use webkad_tests::{
    ServeProcess, http_get,
    netns::{INTERNET_IP, Lab},
    webkad, within,
};

/// `webkad serve` flags for a node on `ip`: TCP and QUIC on port 4001, HTTP on 8080, a
/// throwaway identity.
fn on(ip: &str) -> Vec<String> {
    [
        "--ephemeral".to_owned(),
        "--listen".to_owned(),
        format!("/ip4/{ip}/tcp/4001"),
        "--listen".to_owned(),
        format!("/ip4/{ip}/udp/4001/quic-v1"),
        "--http".to_owned(),
        format!("{ip}:8080"),
    ]
    .into()
}

fn args(owned: &[String]) -> Vec<&str> {
    owned.iter().map(String::as_str).collect()
}

/// The bootstrap node (and relay) on the lab's internet.
async fn bootstrap(lab: &Lab) -> ServeProcess {
    lab.serve("net", &args(&on(INTERNET_IP))).await
}

/// A node in namespace `name` at `ip`, joining through `boot` plus `extra` flags.
async fn node(lab: &Lab, name: &str, ip: &str, boot: &str, extra: &[&str]) -> ServeProcess {
    let mut flags = on(ip);
    flags.extend(["--bootstrap".to_owned(), boot.to_owned()]);
    flags.extend(extra.iter().map(|s| (*s).to_owned()));
    lab.serve(name, &args(&flags)).await
}

fn str_of<'a>(json: &'a Value, key: &str) -> &'a str {
    json[key].as_str().unwrap_or_default()
}

fn strings(json: &Value, key: &str) -> Vec<String> {
    json[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Anywhere: a node that joins through a bootstrap node is dialed back over 127.0.0.1 by the
/// bootstrap's AutoNAT server, turns public and starts serving the DHT; bad `--relay` and
/// `--kad-mode` values are one-line errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autonat_confirms_a_loopback_node_and_kademlia_starts_serving() {
    let loopback = [
        "--ephemeral",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--http",
        "127.0.0.1:0",
    ];
    let boot = ServeProcess::start(&loopback).await;
    let boot_tcp = boot.addr("/tcp/");
    let mut joined = loopback.to_vec();
    joined.extend(["--bootstrap", &boot_tcp]);
    let mut node = ServeProcess::start(&joined).await;
    let url = format!("{}/api/nat", node.http.as_deref().expect("http"));
    let nat = within("AutoNAT confirming the node", async {
        loop {
            let (status, body) = http_get(&url).await;
            assert_eq!(status, 200, "{body}");
            let nat: Value = serde_json::from_str(&body).expect("json");
            if str_of(&nat, "reachability") == "public" {
                return nat;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    })
    .await;
    assert_eq!(str_of(&nat, "kad_mode"), "server", "{nat:#}");
    let external = strings(&nat, "external_addrs");
    assert!(
        external
            .iter()
            .any(|a| a.starts_with("/ip4/127.0.0.1/tcp/")),
        "{nat:#}"
    );
    assert_eq!(nat["autonat"][0]["reachable"], true, "{nat:#}");
    assert_eq!(nat["connections"][0]["kind"], "direct", "{nat:#}");
    let summary = node.console("NAT").await;
    assert!(
        summary.starts_with("NAT status: public · Kademlia server · 1 external address"),
        "{summary}"
    );

    let no_peer = webkad(&["serve", "--relay", "/ip4/127.0.0.1/tcp/1"]).await;
    assert_eq!(no_peer.code, 2);
    assert!(
        no_peer.stderr.contains("must end in /p2p/<relay peer id>"),
        "{}",
        no_peer.stderr
    );
    let bad = webkad(&["serve", "--relay", "not-an-address"]).await;
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("is not a valid multiaddr"),
        "{}",
        bad.stderr
    );
    let mode = webkad(&["serve", "--kad-mode", "sometimes"]).await;
    assert_eq!(mode.code, 2);
    assert!(
        mode.stderr.contains("invalid value 'sometimes'"),
        "{}",
        mode.stderr
    );
    assert!(!mode.stderr.contains("panicked"), "{}", mode.stderr);
}

/// Two hosts on one LAN, `--mdns`, no `--bootstrap`: they find each other, a PUT on one is
/// stored on the other, and a GET there finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mdns_peers_on_a_lan_share_records_without_bootstrap() {
    let Some(mut lab) = Lab::new("mdns").await else {
        return;
    };
    let ips = lab.lan(&["m1", "m2"]);
    let mut flags = Vec::new();
    for ip in &ips {
        let mut f = on(ip);
        f.push("--mdns".to_owned());
        flags.push(f);
    }
    let mut first = lab.serve("m1", &args(&flags[0])).await;
    let mut second = lab.serve("m2", &args(&flags[1])).await;
    // Replicated means another DHT server took a copy: the LAN peer, found by mDNS alone.
    within("a replicated PUT over mDNS", async {
        loop {
            let answer = first.console("PUT lan-key hello over mdns").await;
            if answer.starts_with("Put record \"lan-key\" (stored here and on") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    })
    .await;
    assert_eq!(
        second.console("GET lan-key").await,
        "Got record \"lan-key\" \"hello over mdns\""
    );
    let peers = second.console("PEERS").await;
    assert!(peers.starts_with(&first.peer_id), "{peers}");
    // The metrics count how the peer was found.
    let scrape = lab
        .http_get("m1", &format!("{}:8080", ips[0]), "/metrics")
        .await;
    let mdns: f64 = scrape
        .lines()
        .find(|l| l.starts_with("webkad_peers_discovered_total{") && l.contains("method=\"mdns\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    assert_eq!(mdns, 1.0, "{scrape}");
}

/// A node behind a NAT gateway is told it is private (and stays a DHT client); a node with
/// its own address on the internet is told it is public (and serves).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autonat_tells_a_node_behind_nat_from_a_public_one() {
    let Some(mut lab) = Lab::new("autonat").await else {
        return;
    };
    lab.internet();
    lab.public_host("pub1", "11.0.0.5");
    let wan = lab.nat_gateway(1);
    let boot = bootstrap(&lab).await;
    let boot_tcp = boot.addr("/tcp/");
    let public = node(&lab, "pub1", "11.0.0.5", &boot_tcp, &[]).await;
    let mut private = node(&lab, "h1", "192.168.1.2", &boot_tcp, &[]).await;

    let seen = lab
        .wait_nat("pub1", "11.0.0.5:8080", |n| n["reachability"] != "unknown")
        .await;
    assert_eq!(str_of(&seen, "reachability"), "public", "{seen:#}");
    assert_eq!(str_of(&seen, "kad_mode"), "server", "{seen:#}");
    assert!(
        strings(&seen, "external_addrs")
            .contains(&format!("/ip4/11.0.0.5/tcp/4001/p2p/{}", public.peer_id)),
        "{seen:#}"
    );

    let seen = lab
        .wait_nat("h1", "192.168.1.2:8080", |n| n["reachability"] != "unknown")
        .await;
    assert_eq!(str_of(&seen, "reachability"), "private", "{seen:#}");
    assert_eq!(str_of(&seen, "kad_mode"), "client", "{seen:#}");
    assert!(strings(&seen, "external_addrs").is_empty(), "{seen:#}");
    // The address the bootstrap observed (the gateway's) is the one that failed.
    let tested = seen["autonat"][0]["addr"].as_str().unwrap_or_default();
    assert!(tested.starts_with(&format!("/ip4/{wan}/tcp/")), "{seen:#}");
    let summary = private.console("NAT").await;
    assert!(
        summary.starts_with("NAT status: private · Kademlia client · 0 external addresses"),
        "{summary}"
    );

    // The DHT routes to the public node (a server) at its confirmed address, and not to the
    // private one (a client, in nobody's routing table).
    let found = lab
        .webkad(
            "net",
            &["find-peer", &public.peer_id, "--bootstrap", &boot_tcp],
        )
        .await;
    assert_eq!(found.code, 0, "{}", found.stderr);
    assert!(
        found.stdout.contains("/ip4/11.0.0.5/tcp/4001"),
        "{}",
        found.stdout
    );
    let hidden = lab
        .webkad(
            "net",
            &["find-peer", &private.peer_id, "--bootstrap", &boot_tcp],
        )
        .await;
    assert_eq!(hidden.code, 1, "{}", hidden.stdout);
}

/// `--upnp` behind a gateway running miniupnpd: the ports are mapped, the node is reachable
/// from the internet at the gateway's address, and the mappings are gone after it exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upnp_maps_the_ports_on_miniupnpd_and_removes_them_on_exit() {
    let Some(mut lab) = Lab::new("upnp").await else {
        return;
    };
    if !std::path::Path::new("/usr/sbin/miniupnpd").exists() {
        assert!(
            std::env::var_os(webkad_tests::netns::REQUIRE_VAR).is_none(),
            "miniupnpd is missing (Debian package miniupnpd-nftables)"
        );
        eprintln!("skipping upnp: miniupnpd is missing (Debian package miniupnpd-nftables)");
        return;
    }
    let files = tempfile::tempdir().expect("tempdir");
    lab.internet();
    lab.public_host("pub1", "11.0.0.5");
    let wan = lab.nat_gateway(1);
    lab.miniupnpd(1, files.path());
    let boot = bootstrap(&lab).await;
    let node = node(&lab, "h1", "192.168.1.2", &boot.addr("/tcp/"), &["--upnp"]).await;

    let seen = lab
        .wait_nat("h1", "192.168.1.2:8080", |n| {
            n["upnp"]["mappings"]
                .as_array()
                .is_some_and(|m| m.len() == 2)
        })
        .await;
    assert_eq!(str_of(&seen, "reachability"), "public", "{seen:#}");
    let external = strings(&seen, "external_addrs");
    for mapped in [
        format!("/ip4/{wan}/tcp/4001/p2p/{}", node.peer_id),
        format!("/ip4/{wan}/udp/4001/quic-v1/p2p/{}", node.peer_id),
    ] {
        assert!(external.contains(&mapped), "{mapped} missing: {seen:#}");
    }
    let forwards = lab.forwards(1);
    assert_eq!(forwards.len(), 2, "{forwards:?}");
    assert!(
        forwards
            .iter()
            .all(|f| f.contains("dnat ip to 192.168.1.2:4001")),
        "{forwards:?}"
    );

    // From the internet, through the gateway's forwarded port.
    let through = format!("/ip4/{wan}/tcp/4001/p2p/{}", node.peer_id);
    let pong = lab.webkad("pub1", &["ping", &through]).await;
    assert_eq!(pong.code, 0, "{}", pong.stderr);
    assert!(
        pong.stdout
            .starts_with(&format!("pong from {}", node.peer_id))
    );

    let (code, _) = node.terminate().await;
    assert_eq!(code, 0);
    assert_eq!(lab.forwards(1), Vec::<String>::new());
    let gone = lab.webkad("pub1", &["ping", &through]).await;
    assert_ne!(gone.code, 0, "{}", gone.stdout);
}

/// Two nodes behind two different NATs reserve on the relay, meet through it, and end with a
/// direct connection after DCUtR hole punching (QUIC), which nobody on the internet could
/// open to them before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_behind_two_nats_meet_through_the_relay_and_hole_punch() {
    let Some(mut lab) = Lab::new("dcutr").await else {
        return;
    };
    lab.internet();
    lab.public_host("pub1", "11.0.0.5");
    let wan1 = lab.nat_gateway(1);
    let wan2 = lab.nat_gateway(2);
    let relay = bootstrap(&lab).await;
    let relay_quic = relay.addr("/quic-v1/");
    let reserve = ["--relay", relay_quic.as_str()];
    let mut first = node(&lab, "h1", "192.168.1.2", &relay_quic, &reserve).await;
    let second = node(&lab, "h2", "192.168.2.2", &relay_quic, &reserve).await;

    let seen = lab
        .wait_nat("h2", "192.168.2.2:8080", |n| {
            n["relayed_addrs"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    // Reachable through the relay (the circuit address is also a confirmed external one).
    let circuit = format!("{relay_quic}/p2p-circuit/p2p/{}", second.peer_id);
    assert!(
        strings(&seen, "external_addrs").contains(&circuit),
        "{circuit} missing: {seen:#}"
    );
    // Nobody reaches the second node at its gateway's address.
    let direct = format!("/ip4/{wan2}/udp/4001/quic-v1/p2p/{}", second.peer_id);
    let refused = lab.webkad("pub1", &["ping", &direct]).await;
    assert_ne!(refused.code, 0, "{}", refused.stdout);

    let started = std::time::Instant::now();
    let pong = first.console(&format!("PING {circuit}")).await;
    assert!(
        pong.starts_with(&format!("Pong from {}", second.peer_id)),
        "{pong}"
    );
    let is_direct_to = |peer: &str, n: &Value| {
        n["connections"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["peer_id"] == peer && c["kind"] == "direct")
        })
    };
    let seen = lab
        .wait_nat("h1", "192.168.1.2:8080", |n| {
            is_direct_to(&second.peer_id, n)
        })
        .await;
    eprintln!(
        "direct connection {:?} after the relayed ping",
        started.elapsed()
    );
    let punched = seen["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["peer_id"] == second.peer_id.as_str() && c["kind"] == "direct")
        .expect("direct connection");
    assert!(
        punched["addr"]
            .as_str()
            .is_some_and(|a| a.starts_with(&format!("/ip4/{wan2}/udp/4001/quic-v1"))),
        "{seen:#}"
    );
    let seen = lab
        .wait_nat("h2", "192.168.2.2:8080", |n| {
            is_direct_to(&first.peer_id, n)
        })
        .await;
    assert!(
        seen["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["peer_id"] == first.peer_id.as_str()
                    && c["addr"]
                        .as_str()
                        .is_some_and(|a| a.starts_with(&format!("/ip4/{wan1}/udp/4001/quic-v1")))
            }),
        "{seen:#}"
    );
    // The first node stays private all along: the direct connection is hole-punched.
    let seen = lab
        .wait_nat("h1", "192.168.1.2:8080", |n| n["reachability"] != "unknown")
        .await;
    assert_eq!(str_of(&seen, "reachability"), "private", "{seen:#}");
    let report = first.console("NAT").await;
    assert!(report.starts_with("NAT status: private"), "{report}");
}
