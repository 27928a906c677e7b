//! The page benchmark: what the page costs a visitor on a real network, next to a
//! js-libp2p page with the same protocols joining the same node in the same run. Prints
//! figures; never fails on a number (machines are noisy; the byte budget is a test).
//!
//! `cargo xtask bench-page` builds both pages and a release node and runs this:
//! - bytes on the wire per file and in total, raw, gzip and brotli (the precompressed
//!   files the node serves), for our page and the js-libp2p page;
//! - where the wasm's bytes go, by crate and by kind of code ([`profile`]);
//! - load → `joined` on 127.0.0.1 and behind a shaped mobile link (150 ms round trip,
//!   1.6 Mbit/s down, 750 kbit/s up, on a veth between network namespaces, so WebRTC is
//!   shaped too), both transports, both pages: first visits in fresh profiles and repeat
//!   visits with a warm cache ([`joins`]);
//! - the milestones between navigation and `joined` (document, assets, wasm, dial,
//!   connection, routing, first DHT answer), and on the shaped link how many round trips
//!   each protocol step costs.

mod joins;
mod profile;
mod sizes;

use std::path::{Path, PathBuf};

use joins::{Runs, median, spread, step_medians};
use webkad_tests::{
    ServeProcess, free_port,
    shaped::{LinkProfile, ShapedLab},
    webdriver::{Chromedriver, page_ready},
};

/// Loads per variant (first visits, and as many repeat visits); `WEBKAD_BENCH_LOADS`.
fn loads() -> usize {
    std::env::var("WEBKAD_BENCH_LOADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5)
}

/// Whether to measure the variant `label` ("webkad over ws"): all unless
/// `WEBKAD_BENCH_VARIANTS` lists labels (comma-separated) to run alone.
fn wanted(label: &str) -> bool {
    std::env::var("WEBKAD_BENCH_VARIANTS")
        .map_or(true, |list| list.split(',').any(|v| v.trim() == label))
}

/// The two pages and the transports each is measured on.
const VARIANTS: &[(&str, &str, &str)] = &[
    ("webkad", "/", "webrtc-direct"),
    ("webkad", "/", "ws"),
    ("js-libp2p", "/js/", "ws"),
    ("js-libp2p", "/js/", "webrtc-direct"),
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the served dir");
    for entry in std::fs::read_dir(from).expect("read a page dir").flatten() {
        let path = entry.path();
        if path.is_file() {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy a page file");
        }
    }
}

/// One dir serving both pages: ours at `/`, the js-libp2p page at `/js/`.
fn served_dir(ours: &Path, js: Option<&Path>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    copy_dir(ours, dir.path());
    if let Some(js) = js {
        copy_dir(js, &dir.path().join("js"));
    }
    dir
}

fn print_sizes(ours: &Path, js: Option<&Path>) {
    println!("== bytes on the wire (what the node sends: precompressed brotli or gzip)");
    let (_, gz, br) = sizes::print_table("webkad page", &sizes::page_files(ours));
    if let Some(js) = js {
        let (_, jgz, jbr) = sizes::print_table("js-libp2p page", &sizes::page_files(js));
        println!(
            "webkad / js-libp2p: gzip {} / {} ({:.2}×), brotli {} / {} ({:.2}×)",
            sizes::kb(gz),
            sizes::kb(jgz),
            gz as f64 / jgz as f64,
            sizes::kb(br),
            sizes::kb(jbr),
            br as f64 / jbr as f64
        );
    }
}

fn print_profile(wasm: &Path) {
    let Ok(bytes) = std::fs::read(wasm) else {
        println!(
            "\n== wasm size profile: skipped ({} missing)",
            wasm.display()
        );
        return;
    };
    let p = profile::profile(&bytes);
    println!(
        "\n== where the wasm's bytes go ({}, before wasm-bindgen and wasm-opt: code {}, data {}; {} with names)",
        wasm.display(),
        sizes::kb(p.code),
        sizes::kb(p.data),
        sizes::kb(p.total)
    );
    let share = |b: usize| 100.0 * b as f64 / (p.code + p.data) as f64;
    println!("  by feature or kind of code:");
    for s in &p.by_kind {
        println!(
            "    {:<46} {:>11} {:>5.1} %",
            s.name,
            sizes::kb(s.bytes),
            share(s.bytes)
        );
    }
    println!("  by crate (top 25):");
    for s in p.by_crate.iter().take(25) {
        println!(
            "    {:<46} {:>11} {:>5.1} %",
            s.name,
            sizes::kb(s.bytes),
            share(s.bytes)
        );
    }
}

/// Runs every variant against the node at `base` (`http://host:port`) and prints them.
async fn run_network(
    title: &str,
    driver: &Chromedriver,
    base: &str,
    args: &[&str],
    with_js: bool,
    rtt_ms: Option<f64>,
) {
    println!("\n== load → joined, {title}");
    let mut all: Vec<(String, Runs)> = Vec::new();
    for (page, path, transport) in VARIANTS {
        if *page != "webkad" && !with_js {
            continue;
        }
        let label = format!("{page} over {transport}");
        if !wanted(&label) {
            continue;
        }
        let url = format!("{base}{path}?transport={transport}");
        let runs = joins::measure(driver, &url, loads(), args).await;
        let first: Vec<f64> = runs.first.iter().map(|l| l.joined_ms).collect();
        let repeat: Vec<f64> = runs.repeat.iter().map(|l| l.joined_ms).collect();
        let bytes =
            |ls: &[joins::Load]| median(&ls.iter().map(|l| l.transferred).collect::<Vec<_>>());
        let sync_loads: usize = runs
            .first
            .iter()
            .chain(&runs.repeat)
            .map(|l| l.sync_loads)
            .sum();
        let sync_note = match (*page, sync_loads) {
            ("webkad", 0) => String::new(),
            ("webkad", n) => format!("  ({n} loads needed the wasm's second part to join)"),
            _ => String::new(),
        };
        println!(
            "  {label:<28} first visit  {}  {:>9}{sync_note}",
            spread(&first),
            sizes::kb(bytes(&runs.first) as usize)
        );
        println!(
            "  {:<28} repeat visit {}  {:>9}",
            "",
            spread(&repeat),
            sizes::kb(bytes(&runs.repeat) as usize)
        );
        all.push((label, runs));
    }
    println!(
        "  milestones (first visits, median ms since navigation; Δ from the previous{}):",
        if rtt_ms.is_some() {
            ", in round trips"
        } else {
            ""
        }
    );
    for (label, runs) in &all {
        let mut line = format!("    {label:<26}");
        let mut previous = 0.0;
        for (step, at) in step_medians(&runs.first) {
            let delta = at - previous;
            match rtt_ms {
                Some(rtt) => line.push_str(&format!(" {step} {at:.0} (+{:.1} RTT)", delta / rtt)),
                None => line.push_str(&format!(" {step} {at:.0}")),
            }
            previous = at;
        }
        println!("{line}");
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let Some(web_dir) = page_ready() else { return };
    let js_dir = std::env::var_os("WEBKAD_JS_PAGE_DIR").map(PathBuf::from);
    let js_dir = js_dir.filter(|d| d.join("index.html").is_file());
    print_sizes(&web_dir, js_dir.as_deref());
    if let Some(wasm) = std::env::var_os("WEBKAD_WASM_PROFILE") {
        print_profile(Path::new(&wasm));
    }
    let served = served_dir(&web_dir, js_dir.as_deref());
    let served_path = served.path().to_str().expect("utf-8 path").to_owned();

    let port = free_port();
    let node = ServeProcess::start(&[
        "--ephemeral",
        "--web-dir",
        &served_path,
        "--http",
        &format!("127.0.0.1:{port}"),
        "--listen",
        "/ip4/127.0.0.1/tcp/0/ws",
        "--listen",
        "/ip4/127.0.0.1/udp/0/webrtc-direct",
    ])
    .await;
    let driver = Chromedriver::start().await;
    let base = format!("http://127.0.0.1:{port}");
    run_network("127.0.0.1", &driver, &base, &[], js_dir.is_some(), None).await;
    drop(driver);
    drop(node);

    let profile = LinkProfile::MOBILE;
    let Some(lab) = ShapedLab::new("bench-page", profile).await else {
        println!("\n== load → joined, shaped link: skipped (needs root and network namespaces)");
        return;
    };
    let node = lab.serve_page(served.path(), &[]).await;
    let origin = node.http.clone().expect("the node serves http");
    let driver = lab.chromedriver(&origin).await;
    let title = format!(
        "{} link (Chromium and the node in two network namespaces, every packet shaped)",
        profile.name
    );
    let rtt = profile.rtt.as_secs_f64() * 1000.0;
    run_network(&title, &driver, &origin, &[], js_dir.is_some(), Some(rtt)).await;
    let stats = lab.stats();
    println!(
        "  link: {} packets down, {} up, {} dropped",
        stats.down.packets,
        stats.up.packets,
        stats.down.dropped + stats.up.dropped
    );
    drop(driver);
    drop(node);
}
