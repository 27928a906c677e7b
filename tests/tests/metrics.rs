//! Observability as an operator sees it: `/metrics` scraped before and after real work
//! (PUT, GET, ping, a failed dial, an oversized record, a relayed message, rendezvous
//! discovery) shows the right series move, the scrape passes `promtool check metrics`, and
//! `/api/stats` and the console's `STATS` tell the same story.

use std::{path::Path, process::Stdio, time::Duration};

use webkad_core::{
    Config, RendezvousConfig,
    metrics::{Sample, parse_samples},
};
use webkad_node::node::{self, NodeOptions, RunningNode};
use webkad_tests::{
    LOOPBACK_LISTEN, ServeProcess, client_config, http_get, http_get_with, init_logs,
    server_config, webkad, within,
};

/// Where Debian's `prometheus` package puts promtool.
const PROMTOOL: &str = "/usr/bin/promtool";

/// The sum of the samples called `name` whose labels include every pair in `labels`.
fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

/// Scrapes `base/metrics` (the classic text format, as curl gets it).
async fn scrape(base: &str) -> (String, Vec<Sample>) {
    let (status, body) = http_get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200, "GET /metrics: {body}");
    let samples = parse_samples(&body);
    (body, samples)
}

/// Asserts that the series moved up by at least `by` between two scrapes.
fn assert_grew(before: &[Sample], after: &[Sample], name: &str, labels: &[(&str, &str)], by: f64) {
    let (b, a) = (total(before, name, labels), total(after, name, labels));
    assert!(
        a - b >= by,
        "{name}{labels:?} went from {b} to {a}; expected a rise of at least {by}"
    );
}

/// Runs `promtool check metrics` on `scrape`. Skips (with a message) when promtool is not
/// installed, unless `WEBKAD_REQUIRE_PROMTOOL` is set (as `cargo xtask test` does).
async fn promtool_check(scrape: &str) {
    if !Path::new(PROMTOOL).exists() {
        assert!(
            std::env::var_os("WEBKAD_REQUIRE_PROMTOOL").is_none(),
            "{PROMTOOL} is missing (apt-get install prometheus)"
        );
        eprintln!("skipping promtool check: {PROMTOOL} is missing (apt-get install prometheus)");
        return;
    }
    let mut child = tokio::process::Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, scrape.as_bytes())
        .await
        .expect("feed promtool");
    drop(stdin);
    let out = within("promtool", child.wait_with_output())
        .await
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_node_s_metrics_move_with_its_workload_and_pass_promtool() {
    let mut args = vec!["--ephemeral", "--http", "127.0.0.1:0"];
    args.extend(LOOPBACK_LISTEN);
    let mut node = ServeProcess::start(&args).await;
    let base = node.http.clone().expect("http served");
    let tcp = node.addr("/tcp/");
    let (_, before) = scrape(&base).await;

    // The workload: a PUT and a GET by one-shot clients, a ping, a dial that fails and a
    // record too large for the store.
    let put = webkad(&["put", "metrics-key", "metrics-value", "--bootstrap", &tcp]).await;
    assert_eq!(put.code, 0, "{}", put.stderr);
    let get = webkad(&["get", "metrics-key", "--bootstrap", &tcp]).await;
    assert_eq!(get.stdout, "metrics-value\n", "{}", get.stderr);
    let ping = webkad(&["ping", &tcp]).await;
    assert_eq!(ping.code, 0, "{}", ping.stderr);
    // Nothing listens on TCP port 1 of 127.0.0.1.
    let dead = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo";
    let failed = node.console(&format!("PING {dead}")).await;
    assert!(failed.starts_with("PING failed"), "{failed}");
    assert!(failed.contains("Connection refused"), "one line: {failed}");
    let big = "x".repeat(20 * 1024);
    let refused = node.console(&format!("PUT too-big {big}")).await;
    assert!(refused.contains("limit"), "{refused}");

    let (text, after) = scrape(&base).await;
    // Bandwidth, per transport and direction.
    for direction in ["Inbound", "Outbound"] {
        assert_grew(
            &before,
            &after,
            "libp2p_bandwidth_bytes_total",
            &[("protocols", "/ip4/tcp"), ("direction", direction)],
            1.0,
        );
    }
    // Queries served and RTT samples.
    for request in ["PutRecord", "GetRecord"] {
        assert_grew(
            &before,
            &after,
            "libp2p_kad_inbound_requests_total",
            &[("request", request)],
            1.0,
        );
    }
    assert_grew(&before, &after, "libp2p_ping_rtt_seconds_count", &[], 1.0);
    // Connections: three one-shot clients connected and left.
    assert_grew(
        &before,
        &after,
        "libp2p_swarm_connections_established_total",
        &[],
        3.0,
    );
    assert_grew(&before, &after, "webkad_connections_closed_total", &[], 2.0);
    // Discovery: the clients told their addresses over identify.
    assert_grew(
        &before,
        &after,
        "webkad_peers_discovered_total",
        &[("method", "identify")],
        1.0,
    );
    // Failures: the dead address.
    assert_grew(
        &before,
        &after,
        "libp2p_swarm_outgoing_connection_error_total",
        &[],
        1.0,
    );
    assert_grew(
        &before,
        &after,
        "webkad_discovery_dials_total",
        &[("method", "bootstrap"), ("outcome", "error")],
        1.0,
    );
    assert_grew(
        &before,
        &after,
        "webkad_operations_total",
        &[("operation", "ping"), ("outcome", "error")],
        1.0,
    );
    // Security: the oversized record.
    assert_grew(
        &before,
        &after,
        "webkad_records_rejected_total",
        &[("reason", "value_too_large"), ("origin", "local")],
        1.0,
    );
    // Resources: the store holds the record; the process figures are there.
    assert!(total(&after, "webkad_store_records", &[("kind", "record")]) >= 1.0);
    assert!(total(&after, "webkad_store_bytes", &[]) >= 20.0);
    assert!(total(&after, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(total(&after, "process_open_fds", &[]) > 0.0);

    promtool_check(&text).await;

    // Prometheus itself asks for OpenMetrics and gets it.
    let (status, openmetrics) = http_get_with(
        &format!("{base}/metrics"),
        &[("Accept", "application/openmetrics-text;version=1.0.0")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        openmetrics.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );
    assert!(openmetrics.contains("# TYPE libp2p_bandwidth_bytes counter"));

    // /api/stats summarises the same numbers.
    let (status, body) = http_get(&format!("{base}/api/stats")).await;
    assert_eq!(status, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).expect("stats are JSON");
    let n = |path: &str| {
        stats
            .pointer(path)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or_else(|| panic!("{path} missing in {body}"))
    };
    assert!(n("/bandwidth/inbound_bytes") > 0.0);
    assert!(n("/bandwidth/outbound_bytes") > 0.0);
    assert!(n("/latency/ping/count") >= 1.0);
    assert!(n("/connections/established_total") >= 3.0);
    assert!(n("/connections/failed_total") >= 1.0);
    assert!(n("/discovery/peers_total") >= 1.0);
    assert!(n("/resources/memory_bytes") > 0.0);
    assert!(n("/resources/store_records") >= 1.0);
    assert!(n("/security/records_rejected") >= 1.0);
    let kad = stats["protocols"]
        .as_array()
        .expect("protocols")
        .iter()
        .find(|p| p["protocol"] == "kad")
        .expect("kad in protocols");
    assert!(kad["inbound"].as_f64() >= Some(2.0), "{kad}");

    // The console's STATS: one line per group.
    let lines = node.console_lines("STATS", 8).await;
    let heads: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        heads,
        [
            "Node",
            "Bandwidth",
            "Latency",
            "Connections",
            "Discovery",
            "Protocols",
            "Resources",
            "Security"
        ],
        "{lines:#?}"
    );
    assert!(lines[1].contains("tcp"), "{}", lines[1]);
    assert!(lines[7].contains("1 records rejected"), "{}", lines[7]);
    node.terminate().await;
}

/// A node with HTTP on a free port, serving its metrics.
async fn start_with_http(
    config: Config,
    bootstrap: Vec<libp2p::Multiaddr>,
    listen: bool,
) -> RunningNode {
    let mut options = NodeOptions::loopback(config);
    options.http = Some("127.0.0.1:0".parse().expect("socket address"));
    options.bootstrap = bootstrap;
    if !listen {
        options.listen = Vec::new();
    }
    within("starting a node", node::start(options))
        .await
        .expect("node starts")
}

fn in_namespace(mut config: Config) -> Config {
    config.rendezvous = RendezvousConfig {
        discover_interval: Duration::from_millis(500),
        ..RendezvousConfig::in_namespace("metrics-test")
    };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_traffic_discovery_and_refused_records_show_on_both_ends() {
    init_logs();
    let relay = start_with_http(server_config(), Vec::new(), true).await;
    let relay_base = format!("http://{}", relay.http_addr.expect("http"));
    let relay_addr = relay.addr("tcp").expect("tcp").clone();
    let (_, before) = scrape(&relay_base).await;

    // A node that cannot be dialed (like a page) reserves a slot and registers.
    let hidden = start_with_http(
        in_namespace(client_config()),
        vec![relay_addr.clone()],
        false,
    )
    .await;
    within("reserve", hidden.client.reserve(Some(relay_addr.clone())))
        .await
        .expect("reservation");
    // A sender whose own limit allows bigger records than the relay's store.
    let mut sender_config = in_namespace(client_config());
    sender_config.max_value_bytes = 40 * 1024;
    let sender = start_with_http(sender_config, vec![relay_addr.clone()], true).await;
    let sender_base = format!("http://{}", sender.http_addr.expect("http"));
    let (_, sender_before) = scrape(&sender_base).await;

    // Discovery through rendezvous, then a direct message through the relay.
    within("discover", async {
        loop {
            let found = sender.client.discover(None).await.expect("discover");
            if found.iter().any(|p| p.peer_id == hidden.peer_id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    within(
        "send",
        sender
            .client
            .send(hidden.peer_id, b"through the relay".to_vec()),
    )
    .await
    .expect("delivered");
    // A record within the sender's limit but over the relay's: the relay refuses it.
    let outcome = within(
        "put",
        sender
            .client
            .put(b"big-record".to_vec(), vec![7; 20 * 1024]),
    )
    .await;
    assert!(outcome.is_ok(), "kept locally at least: {outcome:?}");

    let (relay_text, after) = scrape(&relay_base).await;
    for event in ["ReservationReqAccepted", "CircuitReqAccepted"] {
        assert_grew(
            &before,
            &after,
            "libp2p_relay_events_total",
            &[("event", event)],
            1.0,
        );
    }
    assert_grew(
        &before,
        &after,
        "webkad_protocol_requests_total",
        &[
            ("protocol", "rendezvous"),
            ("direction", "inbound"),
            ("outcome", "ok"),
        ],
        2.0,
    );
    assert_grew(
        &before,
        &after,
        "webkad_records_rejected_total",
        &[("reason", "value_too_large"), ("origin", "remote")],
        1.0,
    );
    promtool_check(&relay_text).await;

    let (_, sender_after) = scrape(&sender_base).await;
    // (The sender discovered the hidden node as soon as it met the rendezvous server.)
    assert!(
        total(
            &sender_after,
            "webkad_peers_discovered_total",
            &[("method", "rendezvous")]
        ) >= 1.0
    );
    assert_grew(
        &sender_before,
        &sender_after,
        "webkad_protocol_requests_total",
        &[
            ("protocol", "/webkad/msg/1.0.0"),
            ("direction", "outbound"),
            ("outcome", "ok"),
        ],
        1.0,
    );
    assert_grew(
        &sender_before,
        &sender_after,
        "webkad_operation_duration_seconds_count",
        &[("operation", "send")],
        1.0,
    );
    let relayed = |samples: &[Sample]| {
        samples
            .iter()
            .filter(|s| s.name == "libp2p_bandwidth_bytes_total")
            .filter(|s| {
                s.label("protocols")
                    .is_some_and(|p| p.contains("p2p-circuit"))
            })
            .map(|s| s.value)
            .sum::<f64>()
    };
    assert!(
        relayed(&sender_after) > relayed(&sender_before),
        "bytes over the circuit are counted"
    );
    let stats = within("stats", sender.client.stats()).await.expect("stats");
    assert!(
        stats
            .bandwidth
            .by_transport
            .iter()
            .any(|t| t.transport == "relay" && t.outbound_bytes > 0),
        "{:?}",
        stats.bandwidth
    );
    assert!(
        stats
            .latency
            .peers
            .iter()
            .any(|p| p.peer == relay.peer_id.to_string()),
        "{:?}",
        stats.latency.peers
    );

    for node in [sender, hidden, relay] {
        node.shutdown().await;
    }
}
