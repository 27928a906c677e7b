//! `cargo xtask package`: the npm package `webkad`, for web developers who build on the
//! browser node (`crates/browser`).
//!
//! The same wasm the page is built from (the size-tuned `wasm-release` profile on the
//! page's nightly, [`crate::page_toolchain`]), bound with our pinned wasm-bindgen for
//! `--target web` and shrunk with binaryen 132's wasm-opt, then `npm pack`ed into
//! `target/webkad-<version>.tgz`. wasm-pack is not used for the build: it cannot pass the
//! page's nightly flags and wasm-opt parameters through, and would download its own
//! binaryen; it runs the browser tests instead (`tests/tests/browser_wasm.rs`).
//!
//! Why `--target web`, not `bundler`: `web` is plain ES modules that load the wasm with
//! `new URL("webkad_bg.wasm", import.meta.url)`, which a `<script type="module">` runs as
//! is and which Vite, Rollup, webpack 5 and esbuild all recognise as an asset. `bundler`
//! emits `import * as wasm from "./webkad_bg.wasm"` (the ES-module integration of wasm),
//! which no browser runs without a bundler and Vite only with a plugin (README's "Use it in
//! your app" has the figures).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd::{program, run_step, workspace_root};
use crate::tools::WASM_TARGET;
use crate::web_tools::binaryen_bin_dir;

/// The package's name on npm and of its files.
const NAME: &str = "webkad";
/// The package's version: the workspace's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// wasm-opt's parameters: the page's (index.html's `-O1` and `data-wasm-opt-params`),
/// minus `-g`, which keeps the function names only the page's wasm split needs. Measured
/// on the same wasm: `-Oz` is 8% smaller raw (1.77 MB against 1.94 MB) but compresses
/// 11% worse (687 KB gzip -9 against 616 KB), and a browser downloads the compressed bytes.
const WASM_OPT_PARAMS: &[&str] = &[
    "-O1",
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-multivalue",
    "--enable-reference-types",
    "--duplicate-function-elimination",
    "--dae-optimizing",
    "--reorder-functions-by-name",
    "--strip-debug",
    "--strip-producers",
];

/// The packed package: `target/webkad-<version>.tgz` in the workspace (the example app
/// installs it from there, wherever `CARGO_TARGET_DIR` points).
pub fn tarball_path() -> PathBuf {
    workspace_root()
        .join("target")
        .join(format!("{NAME}-{VERSION}.tgz"))
}

/// Where the package's files are assembled before `npm pack`.
pub fn staging_dir() -> PathBuf {
    workspace_root().join("target").join("npm").join(NAME)
}

/// cargo's target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`).
fn cargo_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds the package and packs it; answers the tarball's path.
pub fn package() -> Result<PathBuf> {
    crate::page_toolchain::ensure_page_toolchain()?;
    // rustup's `cargo` proxy, not `$CARGO` (the stable toolchain's own cargo): only the
    // proxy honours `RUSTUP_TOOLCHAIN`, as it does when trunk builds the page.
    let mut build = program(
        "cargo",
        &[
            "build",
            "-p",
            "webkad-browser",
            "--lib",
            "--target",
            WASM_TARGET,
            "--profile",
            "wasm-release",
        ],
    );
    crate::page_toolchain::apply(&mut build);
    run_step("build the wasm (wasm-release, page toolchain)", &mut build)?;
    let built = cargo_target_dir().join(format!("{WASM_TARGET}/wasm-release/webkad_browser.wasm"));

    let out = staging_dir();
    if out.exists() {
        std::fs::remove_dir_all(&out)
            .with_context(|| format!("could not empty {}", out.display()))?;
    }
    let mut bindgen = program("wasm-bindgen", &["--target", "web", "--out-name", NAME]);
    bindgen.arg("--out-dir").arg(&out).arg(&built);
    run_step(
        "bind for JavaScript (wasm-bindgen --target web)",
        &mut bindgen,
    )?;

    let types = std::fs::read_to_string(out.join(format!("{NAME}.d.ts")))?;
    let undocumented = undocumented_members(&types);
    if !undocumented.is_empty() {
        bail!("members of WebkadNode without a doc comment in the .d.ts: {undocumented:?}");
    }

    let wasm = out.join(format!("{NAME}_bg.wasm"));
    let mut opt = Command::new(binaryen_bin_dir().join("wasm-opt"));
    opt.args(WASM_OPT_PARAMS).arg(&wasm).arg("-o").arg(&wasm);
    run_step("optimise the wasm (wasm-opt, binaryen 132)", &mut opt)?;
    compute_curve_tables(&out, &wasm)?;
    check_not_heavier_than_page(&wasm)?;

    let files = package_files(&out)?;
    std::fs::write(out.join("package.json"), package_json(&files))
        .context("could not write package.json")?;
    std::fs::copy(
        workspace_root().join("crates/browser/npm/README.md"),
        out.join("README.md"),
    )
    .context("could not copy the package README (crates/browser/npm/README.md)")?;

    let tarball = tarball_path();
    let target = workspace_root().join("target");
    let mut pack = program("npm", &["pack", "--pack-destination"]);
    pack.arg(&target).current_dir(&out);
    run_step("npm pack", &mut pack)?;
    if !tarball.is_file() {
        bail!("step `npm pack` left no {}", tarball.display());
    }
    let size = std::fs::metadata(&tarball)?.len();
    eprintln!("==> {} ({size} bytes)", tarball.display());
    Ok(tarball)
}

/// The members of `class WebkadNode` in the `.d.ts` with no JSDoc comment right above them
/// (wasm-bindgen copies each method's `///` doc there), except those wasm-bindgen adds
/// itself (`free`, `[Symbol.dispose]`, the private constructor).
/// The page's curve-table cut ([`crate::page_tables`]) for the package: the glue computes
/// what the wasm no longer carries (37 KB less to download, compressed).
fn compute_curve_tables(out: &Path, wasm: &Path) -> Result<()> {
    let glue_path = out.join(format!("{NAME}.js"));
    let mut glue = std::fs::read_to_string(&glue_path)?;
    let mut bytes = std::fs::read(wasm)?;
    match crate::page_tables::compute_in_page(&mut bytes, &mut glue)? {
        crate::page_tables::Outcome::Computed { bytes: zeroed } => {
            std::fs::write(wasm, &bytes)?;
            std::fs::write(&glue_path, glue)?;
            eprintln!("==> curve tables: {zeroed} bytes of the wasm computed by the glue");
        }
        crate::page_tables::Outcome::Skipped(why) => {
            eprintln!("==> curve tables: shipped in the wasm ({why})");
        }
    }
    Ok(())
}

fn undocumented_members(types: &str) -> Vec<String> {
    let Some(start) = types.find("export class WebkadNode {") else {
        return vec!["(no class WebkadNode)".to_owned()];
    };
    let mut undocumented = Vec::new();
    let mut previous = "";
    for line in types[start..].lines().skip(1) {
        let line = line.trim();
        if line == "}" {
            break;
        }
        let generated = ["private constructor", "free(", "[Symbol.dispose]"]
            .iter()
            .any(|g| line.starts_with(g));
        let member = !line.is_empty() && !line.starts_with('*') && !line.starts_with("/**");
        if member && !generated && !previous.ends_with("*/") {
            undocumented.push(line.to_owned());
        }
        previous = line;
    }
    undocumented
}

/// The files wasm-bindgen wrote (the JS, its `.d.ts`, the wasm and its `.d.ts`, and
/// `snippets/` when a dependency brings inline JS), by name relative to `out`.
fn package_files(out: &Path) -> Result<Vec<String>> {
    let mut files: Vec<String> = std::fs::read_dir(out)
        .with_context(|| format!("could not list {}", out.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".gitignore" && name != "package.json")
        .collect();
    files.push("README.md".to_owned());
    files.sort();
    files.dedup();
    Ok(files)
}

/// The package's manifest: an ES module with its types, no side effects on import (the
/// wasm loads when the app calls `init()`), only the listed files published.
fn package_json(files: &[String]) -> String {
    let manifest = serde_json::json!({
        "name": NAME,
        "version": VERSION,
        "description": "A libp2p peer in the web page: Kademlia DHT, relay, gossipsub rooms and direct messages (Rust compiled to WebAssembly)",
        "license": "MIT",
        "type": "module",
        "main": format!("{NAME}.js"),
        "module": format!("{NAME}.js"),
        "types": format!("{NAME}.d.ts"),
        "exports": {
            ".": {
                "types": format!("./{NAME}.d.ts"),
                "default": format!("./{NAME}.js"),
            },
            format!("./{NAME}_bg.wasm"): format!("./{NAME}_bg.wasm"),
            "./package.json": "./package.json",
        },
        "files": files,
        // `snippets/` (inline JS of dependencies, when any) runs on import.
        "sideEffects": ["./snippets/*"],
        "keywords": ["libp2p", "kademlia", "dht", "p2p", "webrtc", "websocket", "gossipsub", "wasm"],
    });
    let mut text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    text.push('\n');
    text
}

/// Fails when the package's wasm is heavier than the page's (both parts of its split,
/// summed), raw or with brotli, when the page is built (`dist/`); prints the sizes.
fn check_not_heavier_than_page(wasm: &Path) -> Result<()> {
    let bytes = std::fs::read(wasm)?;
    let package = (
        bytes.len() as u64,
        crate::compress::brotli(&bytes)?.len() as u64,
    );
    let page = page_wasm_sizes();
    if page.0 == 0 {
        eprintln!(
            "==> package wasm: {} bytes, {} brotli (no built page in dist/ to compare with)",
            package.0, package.1
        );
        return Ok(());
    }
    eprintln!(
        "==> package wasm: {} bytes, {} brotli; the page's two wasm parts: {} bytes, {} brotli",
        package.0, package.1, page.0, page.1
    );
    if package.0 > page.0 || package.1 > page.1 {
        bail!(
            "the package's wasm ({package:?} bytes raw, brotli) is heavier than the page's ({page:?})"
        );
    }
    Ok(())
}

/// The page's wasm files in `dist/`, summed: raw bytes and their `.br` siblings.
fn page_wasm_sizes() -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(crate::web::dist_dir()) else {
        return (0, 0);
    };
    let size = |path: PathBuf| std::fs::metadata(path).map_or(0, |m| m.len());
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "wasm"))
        .fold((0, 0), |(raw, br), path| {
            let brotli = path.with_extension("wasm.br");
            (raw + size(path), br + size(brotli))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_members_without_doc_comments() {
        let types = "export class WebkadNode {\n    private constructor();\n    free(): void;\n    /**\n     * Documented.\n     */\n    close(): Promise<void>;\n    peers(): Promise<PeerInfo[]>;\n}\nexport function x(): void;\n";
        assert_eq!(
            undocumented_members(types),
            vec!["peers(): Promise<PeerInfo[]>;"]
        );
    }

    #[test]
    fn the_manifest_names_the_module_types_and_files() {
        let files = vec!["README.md".to_owned(), "webkad.js".to_owned()];
        let manifest: serde_json::Value =
            serde_json::from_str(&package_json(&files)).expect("valid JSON");
        assert_eq!(manifest["name"], "webkad");
        assert_eq!(manifest["version"], VERSION);
        assert_eq!(manifest["module"], "webkad.js");
        assert_eq!(manifest["types"], "webkad.d.ts");
        assert_eq!(manifest["files"][1], "webkad.js");
        assert!(manifest["sideEffects"].is_array());
    }
}
