//! The js-libp2p peer the interoperability test runs against (`tests/interop/js`), and the
//! locked npm install it shares with the js-libp2p reference page.

use std::path::Path;

use anyhow::{Result, bail};

use crate::cmd::{program, run_step, succeeds, workspace_root};

/// Where the js-libp2p interop peer lives, relative to the workspace root.
pub const JS_INTEROP_DIR: &str = "tests/interop/js";

/// Installs the js-libp2p peer's exact locked dependencies.
pub fn ensure_js_interop_deps() -> Result<()> {
    npm_ci(JS_INTEROP_DIR, "js-libp2p interop peer")
}

/// `npm ci` in `dir` (relative to the workspace root) unless its `node_modules` is already
/// up to date with its `package-lock.json`; `what` names it in the steps and errors.
pub fn npm_ci(dir: &str, what: &str) -> Result<()> {
    let dir = workspace_root().join(dir);
    let modified = |path: &Path| path.metadata().and_then(|m| m.modified()).ok();
    let installed = modified(&dir.join("node_modules/.package-lock.json"));
    let locked = modified(&dir.join("package-lock.json"));
    if matches!((installed, locked), (Some(i), Some(l)) if i >= l) {
        eprintln!("==> {what}: present");
        return Ok(());
    }
    if !succeeds(&mut program("npm", &["--version"])) {
        bail!("npm is missing: install Node.js 20+ with npm for the {what}");
    }
    let dir = dir.to_string_lossy().into_owned();
    run_step(
        &format!("install the {what}"),
        &mut program("npm", &["ci", "--prefix", &dir, "--no-audit", "--no-fund"]),
    )
}
