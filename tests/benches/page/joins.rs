//! Load → `joined`, measured in headless Chromium: fresh first visits (a new profile each,
//! nothing cached) and repeat visits (the same window navigating to the page again), with
//! the bytes each visit transferred and the page's own milestones (`data-steps`).

use std::collections::BTreeMap;

use serde_json::Value;
use webkad_tests::webdriver::{Browser, Chromedriver};

/// What one page load showed.
pub struct Load {
    /// Navigation start → `joined`, in ms (the page's `data-joined-ms`).
    pub joined_ms: f64,
    /// Bytes the browser received for the document and every resource (transferSize).
    pub transferred: f64,
    /// Milestones in ms since navigation start: the page's `data-steps` plus `html` (the
    /// document's last byte) and `assets` (the last byte of the last script, style or wasm).
    pub steps: BTreeMap<String, f64>,
    /// Synchronous loads of the wasm's second part before `joined` (0 or 1; our page only).
    pub sync_loads: usize,
}

/// The loads of one variant.
#[derive(Default)]
pub struct Runs {
    pub first: Vec<Load>,
    pub repeat: Vec<Load>,
}

/// What the Performance API knows about the document and its resources.
const TIMING: &str = r#"
const nav = performance.getEntriesByType("navigation")[0];
// The wasm's second part (`_lazy.wasm`) and the metrics panel (`/metrics-<hash>.js`) are
// fetched after joined: not part of the load.
const assets = performance.getEntriesByType("resource")
  .filter((r) => !r.name.includes("/api/") && !r.name.endsWith("_lazy.wasm") && !/\/metrics-[0-9a-f]+\.js$/.test(r.name));
return {
  html: nav ? nav.responseEnd : null,
  assets: assets.length ? Math.max(...assets.map((r) => r.responseEnd)) : null,
  transferred: (nav ? nav.transferSize : 0) + assets.reduce((n, r) => n + r.transferSize, 0),
};
"#;

/// How long after `joined` a load waits for the relay reservation's milestone.
const RELAY_WAIT: std::time::Duration = std::time::Duration::from_secs(4);

/// The page's milestones: `data-steps`, plus the js page's `data-relay-ms` as `relay`.
async fn read_steps(page: &Browser) -> BTreeMap<String, f64> {
    let mut steps: BTreeMap<String, f64> = page
        .attr("status", "data-steps")
        .await
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    if let Some(ms) = page
        .attr("status", "data-relay-ms")
        .await
        .and_then(|s| s.parse().ok())
    {
        steps.insert("relay".to_owned(), ms);
    }
    steps
}

/// How long a load may take to join before the benchmark counts it as failed.
const JOIN_WAIT: std::time::Duration = std::time::Duration::from_secs(45);

/// Waits for `joined`; a load that fails (the js page's WebRTC-direct sometimes does) is
/// reported and left out rather than ending the benchmark.
async fn joined(page: &Browser) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < JOIN_WAIT {
        if page.text("status").await.contains("joined") {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    println!("    (a load did not join within {JOIN_WAIT:?}: left out)");
    false
}

async fn read_load(page: &Browser) -> Option<Load> {
    if !joined(page).await {
        return None;
    }
    let joined_ms = page.attr("status", "data-joined-ms").await?.parse().ok()?;
    // The relay reservation runs beside the join and usually lands after it: give it a
    // moment (ours records `relay` in data-steps, the js page in data-relay-ms).
    let mut steps = read_steps(page).await;
    let started = std::time::Instant::now();
    while !steps.contains_key("relay") && started.elapsed() < RELAY_WAIT {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        steps = read_steps(page).await;
    }
    let timing = page.client.execute(TIMING, vec![]).await.ok()?;
    for key in ["html", "assets"] {
        if let Some(ms) = timing.get(key).and_then(Value::as_f64) {
            steps.insert(key.to_owned(), ms);
        }
    }
    let transferred = timing
        .get("transferred")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let sync_loads = page.attr("status", "data-sync-loads").await;
    Some(Load {
        joined_ms,
        transferred,
        steps,
        sync_loads: sync_loads.and_then(|n| n.parse().ok()).unwrap_or(0),
    })
}

/// `loads` first visits of `url`, each in a fresh profile, then `loads` repeat visits in
/// one window (navigating away and back, as a returning visitor does).
pub async fn measure(driver: &Chromedriver, url: &str, loads: usize, args: &[&str]) -> Runs {
    let mut runs = Runs::default();
    for _ in 0..loads {
        let page = driver.session(args).await;
        page.goto(url).await;
        if let Some(load) = read_load(&page).await {
            runs.first.push(load);
        }
        report_uncaught(page.finish().await);
    }
    let page = driver.session(args).await;
    page.goto(url).await;
    read_load(&page).await;
    for _ in 0..loads {
        page.goto("about:blank").await;
        page.goto(url).await;
        if let Some(load) = read_load(&page).await {
            runs.repeat.push(load);
        }
    }
    report_uncaught(page.finish().await);
    runs
}

/// A benchmark notes what a page threw, and goes on.
fn report_uncaught(errors: Vec<String>) {
    for error in errors {
        eprintln!("the page threw: {error}");
    }
}

/// The median of `samples` (NaN when empty).
pub fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// `median (min–max)` of `samples` in ms.
pub fn spread(samples: &[f64]) -> String {
    if samples.is_empty() {
        return "no sample".to_owned();
    }
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "median {:>6.0} ms (min {:>5.0}, max {:>5.0}, n={})",
        median(samples),
        min,
        max,
        samples.len()
    )
}

/// The median time of each milestone over `loads`, in the order they happen.
pub fn step_medians(loads: &[Load]) -> Vec<(String, f64)> {
    let mut names: Vec<String> = loads.iter().flat_map(|l| l.steps.keys().cloned()).collect();
    names.sort();
    names.dedup();
    let mut out: Vec<(String, f64)> = names
        .into_iter()
        .map(|name| {
            let samples: Vec<f64> = loads
                .iter()
                .filter_map(|l| l.steps.get(&name).copied())
                .collect();
            (name, median(&samples))
        })
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    out
}
