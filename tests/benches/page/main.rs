//! The page benchmark: how big the page is and how fast it joins. Prints figures; never
//! fails on a number (machines are noisy).
//!
//! `cargo xtask bench-page` builds the page and a release node and runs this. Figures:
//! - the `.wasm` raw and gzipped (`gzip -9` equivalent), and the whole page gzipped (every
//!   file in `dist/`, as the node sends it);
//! - time from navigation start to `joined` (the page's `data-joined-ms`), median over 10
//!   loads per transport, each in a fresh browser profile (a first visit: nothing cached),
//!   and over 10 reloads in one window (a return visit: the wasm comes from the cache).

use std::{io::Write, path::Path, time::Duration};

use flate2::{Compression, write::GzEncoder};
use webkad_tests::{
    ServeProcess, free_port,
    webdriver::{Browser, Chromedriver, page_ready},
};

const LOADS: usize = 10;

fn gzipped_len(bytes: &[u8]) -> usize {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory").len()
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

fn sizes(web_dir: &Path) {
    let mut page_raw = 0;
    let mut page_gz = 0;
    println!("{:<44} {:>12} {:>12}", "file", "raw", "gzip -9");
    let mut entries: Vec<_> = std::fs::read_dir(web_dir)
        .expect("read dist")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let bytes = std::fs::read(entry.path()).expect("read file");
        let gz = gzipped_len(&bytes);
        page_raw += bytes.len();
        page_gz += gz;
        let name = entry.file_name().to_string_lossy().into_owned();
        println!("{name:<44} {:>12} {:>12}", kb(bytes.len()), kb(gz));
    }
    println!(
        "{:<44} {:>12} {:>12}",
        "whole page",
        kb(page_raw),
        kb(page_gz)
    );
    println!("budget for the whole page: 400.0 KB gzipped");
}

async fn joined_ms(page: &Browser) -> Option<f64> {
    page.wait_joined().await;
    page.attr("status", "data-joined-ms")
        .await
        .and_then(|ms| ms.parse().ok())
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

fn show(label: &str, samples: &[f64]) {
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(0.0, f64::max);
    println!(
        "{label:<40} median {:>7.0} ms   min {:>6.0}   max {:>6.0}   (n={})",
        median(samples.to_vec()),
        min,
        max,
        samples.len()
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let Some(web_dir) = page_ready() else { return };
    println!("== page size ({})", web_dir.display());
    sizes(&web_dir);

    let port = free_port();
    let node = ServeProcess::start(&[
        "--ephemeral",
        "--web-dir",
        web_dir.to_str().expect("utf-8 path"),
        "--http",
        &format!("127.0.0.1:{port}"),
        "--listen",
        "/ip4/127.0.0.1/tcp/0/ws",
        "--listen",
        "/ip4/127.0.0.1/udp/0/webrtc-direct",
    ])
    .await;
    let driver = Chromedriver::start().await;
    println!("\n== load to `joined` ({LOADS} loads each, 127.0.0.1)");
    for transport in ["webrtc-direct", "ws"] {
        let url = format!("http://127.0.0.1:{port}/?transport={transport}");
        let mut first_visits = Vec::new();
        for _ in 0..LOADS {
            let page = driver.session(&[]).await;
            page.goto(&url).await;
            if let Some(ms) = joined_ms(&page).await {
                first_visits.push(ms);
            }
            assert_eq!(page.text("transport").await, transport);
            page.close().await;
        }
        show(&format!("{transport}, first visit"), &first_visits);
        let page = driver.session(&[]).await;
        page.goto(&url).await;
        joined_ms(&page).await;
        let mut reloads = Vec::new();
        for _ in 0..LOADS {
            page.client.refresh().await.expect("reload");
            if let Some(ms) = joined_ms(&page).await {
                reloads.push(ms);
            }
        }
        show(&format!("{transport}, reload (cached)"), &reloads);
        page.close().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(node);
}
