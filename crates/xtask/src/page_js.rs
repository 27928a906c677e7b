//! The js-libp2p reference page for the page benchmark (`tests/page-js`): the wasm page's
//! protocols in js-libp2p, bundled from exactly pinned npm packages by the pinned esbuild.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cmd::{program, run_step, workspace_root};

/// Where the js-libp2p reference page lives, relative to the workspace root.
pub const PAGE_JS_DIR: &str = "tests/page-js";

/// The esbuild flags of the bundle: one minified ES module for browsers (the packages'
/// `browser` fields pick their browser builds). js-libp2p needs no `--define`s: its
/// `process` and `global` uses are guarded.
const ESBUILD_FLAGS: [&str; 5] = [
    "--bundle",
    "--minify",
    "--format=esm",
    "--platform=browser",
    "--target=es2022",
];

/// Builds the js-libp2p reference page into `out` (relative paths are from the workspace
/// root): `main.js`, the bundle, and `index.html`, which loads it by a relative URL so the
/// page works under a subpath such as `/js/`. Installs the locked npm dependencies first
/// when they are missing or older than `package-lock.json`.
pub fn build_js_page(out: &Path) -> Result<()> {
    ensure_page_js_deps()?;
    let root = workspace_root();
    let dir = root.join(PAGE_JS_DIR);
    let out = root.join(out);
    std::fs::create_dir_all(&out).with_context(|| {
        format!(
            "step `bundle the js-libp2p page`: creating {}",
            out.display()
        )
    })?;
    let esbuild = dir.join("node_modules/.bin/esbuild");
    let entry = dir.join("src/main.js");
    let outfile = format!("--outfile={}", out.join("main.js").display());
    let mut args = vec![entry.to_str().context("the workspace path is not UTF-8")?];
    args.extend(ESBUILD_FLAGS);
    args.push(&outfile);
    run_step(
        "bundle the js-libp2p page",
        &mut program(&esbuild.to_string_lossy(), &args),
    )?;
    let index = out.join("index.html");
    std::fs::copy(dir.join("index.html"), &index).with_context(|| {
        format!(
            "step `bundle the js-libp2p page`: writing {}",
            index.display()
        )
    })?;
    Ok(())
}

/// Installs the page's exact locked dependencies (`npm ci`, which brings the pinned
/// esbuild) unless `node_modules` is already up to date with `package-lock.json`.
fn ensure_page_js_deps() -> Result<()> {
    crate::interop::npm_ci(PAGE_JS_DIR, "js-libp2p page dependencies")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_locked_and_loads_its_bundle_relatively() {
        let dir = workspace_root().join(PAGE_JS_DIR);
        assert!(dir.join("package-lock.json").is_file());
        let index =
            std::fs::read_to_string(dir.join("index.html")).expect("index.html is readable");
        assert!(index.contains(r#"src="./main.js""#));
    }
}
