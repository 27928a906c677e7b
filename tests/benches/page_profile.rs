//! The profile run behind the page's wasm split (`cargo xtask page-profile` runs it).
//!
//! It serves the instrumented page the xtask prepared (`WEBKAD_PROFILE_SITE`: every wasm
//! function reports itself to `window.__wkSeen`), loads it in headless Chromium, and writes
//! the functions that ran up to `joined` in any of several visits to `WEBKAD_PROFILE_OUT`,
//! one index a line. The visits run on 127.0.0.1 and behind the shaped mobile link: on a
//! slow link timers fire and events arrive in other orders before `joined`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use webkad_tests::shaped::{LinkProfile, ShapedLab};
use webkad_tests::webdriver::Chromedriver;
use webkad_tests::{ServeProcess, free_port};

/// Fresh browser profiles per link, each visiting three times (a new identity, then the
/// stored one; the node may still hold the previous visit's connection).
const LOADS: usize = 4;

/// Visits `origin` in [`LOADS`] fresh profiles, three times each; adds what ran to `seen`.
async fn visit(driver: &Chromedriver, origin: &str, seen: &mut BTreeSet<u64>) {
    // A bootstrap node on the internet knows other pages: one stays online over
    // WebRTC-direct (not profiled), so DHT answers carry browser peers and their addresses.
    let other = driver.session(&[]).await;
    other
        .goto(&format!("{origin}/?transport=webrtc-direct&ephemeral"))
        .await;
    other.wait_joined().await;
    let url = format!("{origin}/?transport=ws");
    for _ in 0..LOADS {
        let browser = driver.session(&[]).await;
        for _visit in 0..3 {
            // Away and back, as the benchmark's repeat visits (and returning users) do.
            browser.goto("about:blank").await;
            browser.goto(&url).await;
            browser.wait_joined().await;
            let snapshot = browser
                .client
                .execute("return window.__wkAtJoined || null", vec![])
                .await
                .expect("the page answers");
            let snapshot: Vec<u64> =
                serde_json::from_value(snapshot).expect("the collector's snapshot");
            seen.extend(snapshot);
        }
        browser.close().await;
    }
    other.close().await;
}

async fn loopback(site: &Path, seen: &mut BTreeSet<u64>) {
    let http = format!("127.0.0.1:{}", free_port());
    let node = ServeProcess::start(&[
        "--ephemeral",
        "--web-dir",
        site.to_str().expect("utf-8 path"),
        "--http",
        &http,
        "--listen",
        "/ip4/127.0.0.1/tcp/0/ws",
        "--listen",
        "/ip4/127.0.0.1/udp/0/webrtc-direct",
    ])
    .await;
    let driver = Chromedriver::start().await;
    visit(&driver, &format!("http://{http}"), seen).await;
    drop(driver);
    drop(node);
}

async fn shaped(site: &Path, seen: &mut BTreeSet<u64>) {
    let Some(lab) = ShapedLab::new("page-profile", LinkProfile::MOBILE).await else {
        println!("the shaped link needs root and network namespaces: 127.0.0.1 only");
        return;
    };
    let node = lab.serve_page(site, &[]).await;
    let origin = node.http.clone().expect("the node serves http");
    let driver = lab.chromedriver(&origin).await;
    visit(&driver, &origin, seen).await;
    drop(driver);
    drop(node);
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let var = |name: &str| PathBuf::from(std::env::var_os(name).expect(name));
    let site = var("WEBKAD_PROFILE_SITE");
    let out = var("WEBKAD_PROFILE_OUT");
    let mut seen = BTreeSet::new();
    loopback(&site, &mut seen).await;
    let on_loopback = seen.len();
    shaped(&site, &mut seen).await;
    let lines: Vec<String> = seen.iter().map(u64::to_string).collect();
    std::fs::write(&out, lines.join("\n")).expect("write the profile");
    println!(
        "{} functions ran up to joined ({on_loopback} on 127.0.0.1, {} more behind the mobile link)",
        seen.len(),
        seen.len() - on_loopback
    );
}
