//! Building the browser side: the page (trunk) and the wasm tests.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, display, program, run_step, workspace_root};
use crate::tools::WASM_TARGET;
use crate::web_tools::binaryen_bin_dir;

/// Where trunk writes the built page, and where `webkad serve` looks for it by default.
pub fn dist_dir() -> PathBuf {
    workspace_root().join("dist")
}

/// `PATH` with npm's wasm-opt (binaryen 132) first, so trunk never picks Debian's
/// binaryen 108, which silently breaks the module.
fn path_with_binaryen() -> std::ffi::OsString {
    let mut paths = vec![binaryen_bin_dir()];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

/// Builds the page with `trunk build --release` into [`dist_dir`]: the browser crate in
/// the size-tuned `wasm-release` profile on the pinned nightly with the standard library
/// rebuilt ([`crate::page_toolchain`]), wasm-bindgen 0.2.108, wasm-opt from binaryen 132.
/// trunk runs offline (`Trunk.toml`), so it downloads nothing. The wasm is then split
/// ([`crate::page_split`]), the scripts minified ([`crate::page_minify`]), and every file
/// gets its `.br` and `.gz` beside it, which the node serves by content negotiation.
pub fn build_web() -> Result<()> {
    crate::page_toolchain::ensure_page_toolchain()?;
    let mut trunk = program("trunk", &["build", "--release"]);
    trunk.env("PATH", path_with_binaryen());
    crate::page_toolchain::apply(&mut trunk);
    run_step("build the page", &mut trunk)?;
    let index = dist_dir().join("index.html");
    if !index.is_file() {
        bail!("step `build the page` left no {}", index.display());
    }
    let profile = crate::page_split::profile_path();
    let split = crate::page_split::split_page(&dist_dir(), &profile)
        .context("step `split the page's wasm` failed")?;
    let (kept, moved, stubs) = split.counts;
    eprintln!(
        "==> split the wasm: {} bytes loaded first ({kept} functions, {stubs} stubs), {} after joined ({moved} functions)",
        split.primary, split.secondary
    );
    match split.tables {
        crate::page_tables::Outcome::Computed { bytes } => eprintln!(
            "==> curve tables: {bytes} bytes of the wasm computed by the page (web/curve-tables.js)"
        ),
        crate::page_tables::Outcome::Skipped(why) => {
            eprintln!("==> curve tables: shipped in the wasm ({why})")
        }
    }
    let esbuild = crate::web_tools::esbuild_bin();
    let minified = crate::page_minify::minify_page(&dist_dir(), &esbuild)
        .context("step `minify the page's scripts` failed")?;
    for (name, before, after) in minified {
        eprintln!("==> minified {name}: {before} -> {after} bytes");
    }
    eprintln!("==> precompress the page (brotli 11, zopfli gzip)");
    let files =
        crate::compress::precompress(&dist_dir()).context("step `precompress the page` failed")?;
    eprintln!("==> precompressed {} files", files.len());
    Ok(())
}

/// Builds the wasm tests of `webkad-browser` (debug) and answers the path of the test
/// binary `tests/dht.rs` became, for `wasm-bindgen-test-runner`.
pub fn build_wasm_tests() -> Result<PathBuf> {
    let mut command = cargo(&[
        "test",
        "-p",
        "webkad-browser",
        "--target",
        WASM_TARGET,
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    command.stdin(Stdio::null()).stderr(Stdio::inherit());
    eprintln!("==> build the wasm tests: {}", display(&command));
    let output = command
        .output()
        .with_context(|| format!("could not start `{}`", display(&command)))?;
    if !output.status.success() {
        bail!("step `build the wasm tests` failed ({})", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    wasm_test_executable(&stdout, "dht")
        .context("step `build the wasm tests`: cargo named no wasm test binary for tests/dht.rs")
}

/// The `"executable"` cargo reported for the test target `name`, from cargo's JSON messages.
fn wasm_test_executable(messages: &str, name: &str) -> Option<PathBuf> {
    let target = format!("\"name\":\"{name}\"");
    messages
        .lines()
        .filter(|line| line.contains("compiler-artifact") && line.contains(&target))
        .find_map(|line| {
            let rest = line.split("\"executable\":\"").nth(1)?;
            let path = rest.split('"').next()?;
            path.ends_with(".wasm").then(|| PathBuf::from(path))
        })
}

/// `cargo xtask fixture`: the native fixture of the browser tests (a bootstrap node
/// answering `/api/bootstrap` on 127.0.0.1:18765, a third node, records), held until
/// Ctrl-C, so `wasm-pack test --headless --chrome crates/browser` can run by hand.
pub fn fixture() -> Result<()> {
    run_step(
        "build binaries",
        &mut cargo(&["build", "--workspace", "--bins"]),
    )?;
    let mut hold = cargo(&[
        "test",
        "-p",
        "webkad-tests",
        "--test",
        "browser_wasm",
        "--",
        "--nocapture",
    ]);
    hold.env("WEBKAD_FIXTURE_ONLY", "1")
        .env("WEBKAD_REQUIRE_BROWSER", "1");
    run_step(
        "hold the browser tests' fixture (Ctrl-C stops it)",
        &mut hold,
    )
}

/// `webkad serve` on the built page, for `cargo xtask run`.
pub fn serve_command(release: bool, serve_args: &[String]) -> Command {
    let mut command = cargo(&["run"]);
    if release {
        command.arg("--release");
    }
    command.args(["-p", "webkad-node", "--bin", "webkad", "--", "serve"]);
    command.arg("--web-dir").arg(dist_dir());
    command.args(serve_args);
    command
}

/// The page benchmark: builds the page, the js-libp2p reference page and a release node,
/// then runs `tests/benches/page/` (its harness in the debug profile: only the node's speed
/// matters) against them. Prints sizes, the wasm's size profile and join times.
pub fn bench_page() -> Result<()> {
    build_web()?;
    let js_page = workspace_root().join("target/page-js");
    crate::page_js::build_js_page(&js_page)?;
    crate::compress::precompress(&js_page).context("step `precompress the js-libp2p page`")?;
    run_step(
        "build the release node",
        &mut cargo(&["build", "--release", "-p", "webkad-node", "--bin", "webkad"]),
    )?;
    let node = workspace_root().join("target/release/webkad");
    // cargo's wasm, before wasm-bindgen and wasm-opt: the same code with its symbol names.
    let profiled = workspace_root().join(format!(
        "target/{WASM_TARGET}/wasm-release/webkad_browser.wasm"
    ));
    let mut bench = cargo(&[
        "bench",
        "--profile",
        "dev",
        "-p",
        "webkad-tests",
        "--bench",
        "page",
    ]);
    bench
        .env("WEBKAD_BIN", node)
        .env("WEBKAD_WEB_DIR", dist_dir())
        .env("WEBKAD_JS_PAGE_DIR", js_page)
        .env("WEBKAD_WASM_PROFILE", profiled)
        .env("WEBKAD_REQUIRE_BROWSER", "1");
    run_step("page benchmark", &mut bench)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_wasm_test_binary_in_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"webkad_browser"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"dht"},"executable":"/t/wasm32-unknown-unknown/debug/deps/dht-1.wasm","fresh":true}"#,
        );
        assert_eq!(
            wasm_test_executable(messages, "dht"),
            Some(PathBuf::from(
                "/t/wasm32-unknown-unknown/debug/deps/dht-1.wasm"
            ))
        );
        assert_eq!(wasm_test_executable(messages, "other"), None);
    }
}
