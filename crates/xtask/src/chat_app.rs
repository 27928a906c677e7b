//! `cargo xtask example-app`: the example app outside the workspace
//! (`examples/chat-app/`), built the way a web developer builds on the npm package.
//!
//! `npm ci` installs exactly the lockfile (TypeScript and Vite, pinned, from the npm
//! registry or npm's cache) and the freshly packed `target/webkad-<version>.tgz`; then
//! `npm run build` type-checks against the package's `.d.ts` (`tsc --noEmit`) and bundles
//! with Vite into `examples/chat-app/dist/`, fetching nothing.
//!
//! The lockfile's `webkad` entry has no `integrity` on purpose: npm would otherwise serve
//! the first tarball it ever saw from its cache (keyed by that hash) instead of the one
//! `cargo xtask package` just built.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cmd::{program, run_step, workspace_root};

/// The example app's directory.
pub fn app_dir() -> PathBuf {
    workspace_root().join("examples").join("chat-app")
}

/// Where Vite writes the built app.
pub fn app_dist() -> PathBuf {
    app_dir().join("dist")
}

/// Packs the package, installs it and the app's pinned tools, type-checks and builds.
pub fn build_example_app() -> Result<()> {
    crate::package::package()?;
    let dir = app_dir();
    let mut install = program("npm", &["ci", "--no-audit", "--no-fund"]);
    install.current_dir(&dir);
    run_step("install the example app (npm ci)", &mut install)?;
    check_fresh_install(&dir)?;
    let mut build = program("npm", &["run", "build"]);
    build.current_dir(&dir);
    run_step(
        "type-check and build the example app (tsc, vite)",
        &mut build,
    )?;
    if !app_dist().join("index.html").is_file() {
        bail!(
            "step `build the example app` left no {}",
            app_dist().display()
        );
    }
    Ok(())
}

/// Fails when `npm ci` installed another wasm than the one just packed (a lockfile whose
/// `webkad` entry regained an `integrity` makes npm serve its cached copy).
fn check_fresh_install(app: &Path) -> Result<()> {
    let name = "webkad_bg.wasm";
    let installed = std::fs::read(app.join("node_modules/webkad").join(name))
        .context("npm ci installed no webkad package")?;
    let packed = std::fs::read(crate::package::staging_dir().join(name))
        .context("the packed package is missing")?;
    if installed != packed {
        bail!(
            "npm ci installed a stale webkad (npm's cached copy): remove the `integrity` line of \
             `node_modules/webkad` from examples/chat-app/package-lock.json"
        );
    }
    Ok(())
}
