//! The profile run behind the page's wasm split (`cargo xtask page-profile` runs it).
//!
//! It serves the instrumented page the xtask prepared (`WEBKAD_PROFILE_SITE`: every wasm
//! function reports itself to `window.__wkSeen`), loads it in headless Chromium, and writes
//! the functions that ran up to `joined` in any of several visits to `WEBKAD_PROFILE_OUT`,
//! one index a line.

use std::path::PathBuf;

use webkad_tests::ServeProcess;
use webkad_tests::webdriver::Chromedriver;

/// Fresh browser profiles, each visiting twice (a new identity, then the stored one).
const LOADS: usize = 6;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let site = PathBuf::from(std::env::var_os("WEBKAD_PROFILE_SITE").expect("WEBKAD_PROFILE_SITE"));
    let out = PathBuf::from(std::env::var_os("WEBKAD_PROFILE_OUT").expect("WEBKAD_PROFILE_OUT"));
    let port = webkad_tests::free_port();
    let site_arg = site.to_str().expect("utf-8 path");
    let http = format!("127.0.0.1:{port}");
    let node = ServeProcess::start(&[
        "--ephemeral",
        "--web-dir",
        site_arg,
        "--http",
        &http,
        "--listen",
        "/ip4/127.0.0.1/tcp/0/ws",
        "--listen",
        "/ip4/127.0.0.1/udp/0/webrtc-direct",
    ])
    .await;
    let driver = Chromedriver::start().await;
    // A function that runs on some loads only (timers, the order of the first events, a
    // stored or a new identity) must be in the profile too: the union of several loads.
    let mut seen = std::collections::BTreeSet::new();
    let url = format!("http://{http}/?transport=ws");
    for _ in 0..LOADS {
        let browser = driver.session(&[]).await;
        for _visit in 0..2 {
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
    let lines: Vec<String> = seen.iter().map(u64::to_string).collect();
    std::fs::write(&out, lines.join("\n")).expect("write the profile");
    println!(
        "{} functions ran up to joined in {LOADS} fresh and {LOADS} repeat visits",
        seen.len()
    );
    drop(driver);
    drop(node);
}
