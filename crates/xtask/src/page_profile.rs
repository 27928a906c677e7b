//! `cargo xtask page-profile`: records which wasm functions the page runs up to `joined`
//! and writes their name keys to `web/page-profile.txt`, which the page's split reads.
//!
//! Run it when the join path changed (the page test that counts synchronous loads of the
//! secondary module says so). It builds the page, serves a copy whose wasm is the unsplit
//! module instrumented by [`crate::wasm_split::instrument`], joins over WebSocket in headless
//! Chromium on 127.0.0.1 and behind the shaped mobile link (`tests/benches/page_profile.rs`) and rebuilds the page with the new profile.

use std::fs;

use anyhow::{Context, Result};

use crate::cmd::{cargo, run_step, workspace_root};
use crate::page_split::{named_wasm_path, profile_path};
use crate::wasm_split::{Parsed, instrument};
use crate::web::{build_web, dist_dir};

/// Records what runs before `joined` (`window.__wkSeen`), snapshot at `joined`.
const COLLECTOR: &str = r#"<script>
(() => {
  const seen = (window.__wkSeen = new Set());
  const add = (imports) => {
    if (imports && typeof imports === "object") {
      imports.wk = Object.assign({}, imports.wk, { mark: (i) => seen.add(i) });
    }
    return imports;
  };
  const streaming = WebAssembly.instantiateStreaming;
  WebAssembly.instantiateStreaming = (source, imports) => streaming(source, add(imports));
  const plain = WebAssembly.instantiate;
  WebAssembly.instantiate = (source, imports) => plain(source, add(imports));
  const poll = setInterval(() => {
    const status = document.querySelector("[data-steps]");
    if (!status || JSON.parse(status.dataset.steps || "{}").joined === undefined) return;
    clearInterval(poll);
    window.__wkAtJoined = [...seen];
  }, 5);
})();
</script>"#;

/// Builds, profiles and rebuilds the page; see the module docs.
pub fn page_profile() -> Result<()> {
    build_web()?;
    let named = fs::read(named_wasm_path()).context("no target/page-named.wasm")?;
    let root = workspace_root().join("target/page-profile");
    let site = root.join("site");
    let _ = fs::remove_dir_all(&site);
    fs::create_dir_all(&site)?;
    for entry in fs::read_dir(dist_dir())? {
        let path = entry?.path();
        let name = path.file_name().context("a file name")?.to_string_lossy();
        if name.ends_with(".br") || name.ends_with(".gz") {
            continue;
        }
        let target = site.join(name.as_ref());
        if name.ends_with("_bg.wasm") {
            fs::write(&target, instrument(&named)?)?;
        } else if name == "index.html" {
            let html = fs::read_to_string(&path)?;
            fs::write(
                &target,
                html.replacen("<head>", &format!("<head>{COLLECTOR}"), 1),
            )?;
        } else {
            fs::copy(&path, &target)?;
        }
    }
    // The node the benchmark measures: its timing decides which paths run before joined.
    run_step(
        "build the release node",
        &mut cargo(&["build", "--release", "-p", "webkad-node", "--bin", "webkad"]),
    )?;
    let indices = root.join("indices.txt");
    let mut bench = cargo(&["bench", "--profile", "dev", "-p", "webkad-tests"]);
    bench.args(["--bench", "page_profile"]);
    bench
        .env("WEBKAD_PROFILE_SITE", &site)
        .env("WEBKAD_PROFILE_OUT", &indices)
        .env("WEBKAD_BIN", workspace_root().join("target/release/webkad"))
        .env("WEBKAD_REQUIRE_BROWSER", "1");
    run_step("profile the page up to joined", &mut bench)?;
    let parsed = Parsed::new(&named)?;
    let mut keys: Vec<u64> = fs::read_to_string(&indices)?
        .lines()
        .filter_map(|l| l.trim().parse::<usize>().ok())
        .filter_map(|k| parsed.key(k))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut text = String::from(
        "# Name keys (crate/wasm_split.rs name_key) of the wasm functions the page runs up to\n\
         # `joined` over WebSocket; written by `cargo xtask page-profile`.\n",
    );
    for key in &keys {
        text.push_str(&format!("{key:016x}\n"));
    }
    fs::write(profile_path(), text)?;
    eprintln!(
        "==> {} functions in {}",
        keys.len(),
        profile_path().display()
    );
    build_web()
}
