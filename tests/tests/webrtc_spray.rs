//! A STUN spray (Binding requests with ever-fresh ufrags, as issue 13 measured) against
//! `webkad serve` with 1,024 descriptors: the WebRTC-direct listener keeps no socket per
//! attempt, bounds the attempts and forgets them within seconds, so descriptors return to
//! their baseline and the node keeps serving.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use tokio::process::Command;
use webkad_tests::{LOOPBACK_LISTEN, ServeProcess, http_get, webkad_bin};
use webkad_webrtc_direct::native::stun;

const SPRAY: usize = 1100;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

fn udp_port(addr: &str) -> u16 {
    let parts: Vec<&str> = addr.split('/').collect();
    let at = parts
        .iter()
        .position(|p| *p == "udp")
        .expect("udp in address");
    parts[at + 1].parse().expect("port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stun_spray_of_fresh_ufrags_leaves_descriptors_at_baseline() {
    let mut command = Command::new("prlimit");
    command.arg("--nofile=1024:1024").arg(webkad_bin());
    let mut args = vec!["--ephemeral", "--http", "127.0.0.1:0"];
    args.extend(LOOPBACK_LISTEN);
    let node = ServeProcess::start_with(command, &args).await;
    let pid = node.pid().expect("running");
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, udp_port(&node.addr("webrtc-direct"))));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = open_fds(pid);

    // From eight loopback IPs, so both the per-IP and the total bounds are exercised.
    let mut peak = baseline;
    for i in 0..SPRAY {
        if i % 138 == 0 {
            peak = peak.max(open_fds(pid));
        }
        let from = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8), 0));
        let from = from.expect("bind a loopback source");
        let ufrag = format!("libp2p+webrtc+v1/spray{i:05}abcdefghijklmnopqrstuvwxyz");
        let request = stun::binding_request(&format!("{ufrag}:{ufrag}"), [i as u8; 12]);
        from.send_to(&request, target).expect("send");
    }
    peak = peak.max(open_fds(pid));

    let started = Instant::now();
    let mut now = open_fds(pid);
    while now > baseline && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        now = open_fds(pid);
    }
    eprintln!(
        "descriptors: baseline {baseline}, peak {peak}, after {:.1} s {now}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        now <= baseline,
        "descriptors {now} > baseline {baseline} 10 s after the spray (peak {peak})"
    );
    assert!(
        peak < baseline + 64,
        "peak {peak} against baseline {baseline}"
    );
    let http = node.http.clone().expect("http");
    let (status, _) = http_get(&format!("{http}/metrics")).await;
    assert_eq!(status, 200, "the node still serves after the spray");
}
