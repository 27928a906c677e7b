//! The js-libp2p peer the interoperability test runs against (`tests/interop/js`).

use anyhow::{Result, bail};

use crate::cmd::{program, run_step, succeeds, workspace_root};

/// Where the js-libp2p interop peer lives, relative to the workspace root.
pub const JS_INTEROP_DIR: &str = "tests/interop/js";

/// Installs the js-libp2p peer's exact locked dependencies (`npm ci`) unless
/// `node_modules` is already up to date with `package-lock.json`.
pub fn ensure_js_interop_deps() -> Result<()> {
    let dir = workspace_root().join(JS_INTEROP_DIR);
    let lock = dir.join("package-lock.json");
    let installed = dir.join("node_modules/.package-lock.json");
    let modified = |path: &std::path::Path| path.metadata().and_then(|m| m.modified()).ok();
    if matches!((modified(&installed), modified(&lock)), (Some(i), Some(l)) if i >= l) {
        eprintln!("==> js-libp2p interop peer: present");
        return Ok(());
    }
    if !succeeds(&mut program("npm", &["--version"])) {
        bail!("npm is missing: install Node.js 20+ with npm to run the js-libp2p interop test");
    }
    let dir = dir.to_string_lossy().into_owned();
    run_step(
        "install js-libp2p interop peer",
        &mut program("npm", &["ci", "--prefix", &dir, "--no-audit", "--no-fund"]),
    )
}
