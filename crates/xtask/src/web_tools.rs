//! Tools for building and testing the browser peer: wasm-bindgen-cli, trunk, npm's
//! binaryen (wasm-opt) and esbuild (the page's JS minifier) and Debian's chromium +
//! chromedriver.
//!
//! Every function is idempotent and skips the install when the tool is already present
//! with the pinned version.

use std::path::PathBuf;

use anyhow::Result;

use crate::cmd::{cargo, program, reports_version, run_step, workspace_root};

/// Pinned wasm-bindgen-cli; must match the `wasm-bindgen` crate in Cargo.lock.
pub const WASM_BINDGEN_VERSION: &str = "0.2.108";
/// Pinned trunk.
pub const TRUNK_VERSION: &str = "0.21.14";
/// Pinned wasm-pack: runs the browser tests (`wasm-pack test --headless --chrome`). It
/// finds wasm-bindgen and wasm-bindgen-test-runner 0.2.108 on PATH and is always run with
/// `--mode no-install`, so it never downloads them.
pub const WASM_PACK_VERSION: &str = "0.15.1";
/// Pinned binaryen npm package (provides `wasm-opt`).
pub const BINARYEN_VERSION: &str = "132.0.0";
/// Pinned esbuild npm package: minifies the page's scripts (`crate::page_minify`); the
/// same version bundles the js-libp2p reference page (`tests/page-js/package.json`).
pub const ESBUILD_VERSION: &str = "0.28.2";

/// Ensures every browser tool: the page tools, wasm-pack and chromium.
pub fn ensure_web_tools() -> Result<()> {
    ensure_page_tools()?;
    ensure_wasm_pack()?;
    ensure_chromium()
}

/// Installs wasm-pack [`WASM_PACK_VERSION`] unless `wasm-pack --version` already prints
/// that version.
pub fn ensure_wasm_pack() -> Result<()> {
    if reports_version(&mut program("wasm-pack", &["--version"]), WASM_PACK_VERSION) {
        eprintln!("==> wasm-pack {WASM_PACK_VERSION}: present");
        return Ok(());
    }
    run_step(
        "install wasm-pack",
        &mut cargo_install(&["wasm-pack", "--version", WASM_PACK_VERSION]),
    )
}

/// Ensures what building the page needs: wasm-bindgen-cli, trunk, binaryen, esbuild.
pub fn ensure_page_tools() -> Result<()> {
    ensure_wasm_bindgen_cli()?;
    ensure_trunk()?;
    ensure_binaryen()?;
    ensure_esbuild()
}

/// `cargo install --locked <args>`, built for install speed: trunk's own release profile
/// asks for fat LTO and one codegen unit (about 10 minutes on two cores); a build tool
/// gains nothing from them.
fn cargo_install(args: &[&str]) -> std::process::Command {
    let mut command = cargo(&["install", "--locked"]);
    command
        .args(args)
        .env("CARGO_PROFILE_RELEASE_LTO", "off")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false");
    command
}

/// Installs wasm-bindgen-cli [`WASM_BINDGEN_VERSION`] unless
/// `wasm-bindgen --version` already prints that version.
pub fn ensure_wasm_bindgen_cli() -> Result<()> {
    let mut version = program("wasm-bindgen", &["--version"]);
    if reports_version(&mut version, WASM_BINDGEN_VERSION) {
        eprintln!("==> wasm-bindgen {WASM_BINDGEN_VERSION}: present");
        return Ok(());
    }
    run_step(
        "install wasm-bindgen-cli",
        &mut cargo_install(&["wasm-bindgen-cli", "--version", WASM_BINDGEN_VERSION]),
    )
}

/// Installs trunk [`TRUNK_VERSION`] unless `trunk --version` already prints
/// that version.
pub fn ensure_trunk() -> Result<()> {
    if reports_version(&mut program("trunk", &["--version"]), TRUNK_VERSION) {
        eprintln!("==> trunk {TRUNK_VERSION}: present");
        return Ok(());
    }
    run_step(
        "install trunk",
        &mut cargo_install(&["trunk", "--version", TRUNK_VERSION]),
    )
}

/// The project-local npm prefix binaryen is installed into (git-ignored).
pub fn binaryen_prefix() -> PathBuf {
    workspace_root().join(".tools").join("binaryen")
}

/// The directory holding `wasm-opt` and the other binaryen executables;
/// put it on `PATH` for trunk.
pub fn binaryen_bin_dir() -> PathBuf {
    binaryen_prefix().join("node_modules").join(".bin")
}

/// Installs npm `binaryen@`[`BINARYEN_VERSION`] into [`binaryen_prefix`]
/// unless that version is already installed there.
pub fn ensure_binaryen() -> Result<()> {
    ensure_npm_tool("binaryen", BINARYEN_VERSION, &binaryen_prefix())
}

/// The project-local npm prefix esbuild is installed into (git-ignored).
fn esbuild_prefix() -> PathBuf {
    workspace_root().join(".tools").join("esbuild")
}

/// The pinned esbuild executable ([`ensure_esbuild`] installs it).
pub fn esbuild_bin() -> PathBuf {
    esbuild_prefix().join("node_modules/.bin/esbuild")
}

/// Installs npm `esbuild@`[`ESBUILD_VERSION`] into its project-local prefix unless that
/// version is already installed there.
pub fn ensure_esbuild() -> Result<()> {
    ensure_npm_tool("esbuild", ESBUILD_VERSION, &esbuild_prefix())
}

/// Installs npm `<name>@<version>` into `prefix` unless that version is already there.
fn ensure_npm_tool(name: &str, version: &str, prefix: &std::path::Path) -> Result<()> {
    let manifest = prefix.join("node_modules").join(name).join("package.json");
    let installed = std::fs::read_to_string(manifest).is_ok_and(|text| {
        text.lines().any(|line| {
            let line = line.trim().trim_end_matches(',');
            line == format!("\"version\": \"{version}\"")
        })
    });
    if installed {
        eprintln!("==> {name} {version}: present");
        return Ok(());
    }
    let package = format!("{name}@{version}");
    let prefix = prefix.to_string_lossy().into_owned();
    run_step(
        &format!("install {name}"),
        &mut program(
            "npm",
            &["install", "--no-save", "--prefix", &prefix, &package],
        ),
    )
}

/// Installs chromium and chromium-driver with apt-get unless they are present.
pub fn ensure_chromium() -> Result<()> {
    crate::debian::ensure("chromium", &crate::debian::CHROMIUM)
}
