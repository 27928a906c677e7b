//! `cargo xtask test`: every check CI runs, in order.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Result;
use clap::Args;

use crate::cmd::{cargo, run_step};
use crate::interop::ensure_js_interop_deps;
use crate::tools::{WASM_TARGET, ensure_rust_tools};
use crate::web::{build_wasm_tests, build_web, dist_dir};
use crate::web_tools::ensure_web_tools;

/// Options of `cargo xtask test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Skip rustfmt and both clippy runs (only set up the tools and run the tests).
    #[arg(long)]
    pub skip_lint: bool,
}

/// Sets up the tools, then runs fmt, clippy (native), clippy (wasm32 on the
/// browser crates), builds the binaries, the wasm tests and the page, and runs
/// the workspace tests (which drive headless Chromium). Everything but the page
/// builds in the debug profile, in the one workspace `target/` directory.
pub fn test(args: &TestArgs) -> Result<()> {
    let started = Instant::now();
    ensure_rust_tools()?;
    if args.skip_lint {
        eprintln!("==> fmt and clippy: skipped (--skip-lint)");
    } else {
        lint()?;
    }
    ensure_js_interop_deps()?;
    ensure_web_tools()?;
    crate::debian::ensure("promtool", &[crate::debian::PROMTOOL])?;
    crate::debian::ensure("network tools for the NAT tests", &crate::debian::NETWORK)?;
    // `cargo test` builds only the binaries of the package under test, and the
    // tests in `tests/` run the `webkad` binary; the same selection
    // (`--workspace`) reuses every artifact the tests build.
    run_step(
        "build binaries",
        &mut check(&["build", "--workspace", "--bins"]),
    )?;
    // wasm-pack (run by tests/tests/browser_wasm.rs) builds the same artifacts; building
    // them here first names a compile error as this step, outside the test run.
    build_wasm_tests()?;
    build_web()?;
    let js_page = crate::cmd::workspace_root().join("target/page-js");
    crate::page_js::build_js_page(&js_page)?;
    crate::chat_app::build_example_app()?;
    let mut tests = check(&["test", "--workspace", "--no-fail-fast"]);
    // Tests that need a peer outside cargo skip themselves when it is missing; here
    // everything is set up, so they must run.
    tests
        .env("WEBKAD_REQUIRE_INTEROP", "1")
        .env("WEBKAD_REQUIRE_BROWSER", "1")
        // CI runs as root: the NAT tests build network namespaces and must not skip.
        .env("WEBKAD_REQUIRE_NETNS", "1")
        .env("WEBKAD_REQUIRE_PROMTOOL", "1")
        .env("WEBKAD_CHAT_APP_DIR", crate::chat_app::app_dist())
        .env("WEBKAD_WEB_DIR", dist_dir())
        .env("WEBKAD_JS_PAGE_DIR", js_page);
    run_step("test", &mut tests)?;
    eprintln!("==> all checks passed in {}s", started.elapsed().as_secs());
    Ok(())
}

/// rustfmt, clippy on the whole workspace, then clippy on webkad-core for wasm32.
fn lint() -> Result<()> {
    run_step("fmt", &mut check(&["fmt", "--all", "--", "--check"]))?;
    run_step(
        "clippy",
        &mut check(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // Only webkad-core, webkad-browser and webkad-webrtc-direct target the browser; the
    // native crates cannot build for wasm.
    run_step(
        "clippy (wasm32)",
        &mut check(&[
            "clippy",
            "-p",
            "webkad-core",
            "-p",
            "webkad-browser",
            "-p",
            "webkad-webrtc-direct",
            "--all-targets",
            "--target",
            WASM_TARGET,
            "--",
            "-D",
            "warnings",
        ]),
    )
}

/// A cargo command for a check. Stdin is closed, as on CI, so nothing can
/// wait for input.
fn check(args: &[&str]) -> Command {
    let mut command = cargo(args);
    command.stdin(Stdio::null());
    command
}
