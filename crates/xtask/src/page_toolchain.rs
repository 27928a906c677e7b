//! The pinned nightly toolchain the page's wasm is built with, and the flags that make it
//! smaller. Everything else (the native node, the tests, clippy) stays on stable.
//!
//! What nightly buys, measured on the page's wasm (wasm-opt -O1, `cargo xtask bench-page`
//! prints the current figures; ARCHITECTURE.md keeps the history):
//! - `-Zbuild-std` rebuilds the standard library with the page's size settings (opt-level
//!   z, fat LTO) instead of linking the prebuilt, speed-tuned one;
//! - `-Cpanic=immediate-abort`: a panic traps at once, so no panic message formatting,
//!   no `Location`s and no unwinding helpers are compiled in (the page already aborts on
//!   panic: `panic = "abort"`);
//! - `-Zlocation-detail=none`: `#[track_caller]` sites carry no file names and lines.

use std::process::Command;

use anyhow::Result;

use crate::cmd::{program, run_step, stdout_of};

/// The nightly the page is built with (rustc 1.97.0-nightly e50aa6fba 2026-05-19).
pub const PAGE_TOOLCHAIN: &str = "nightly-2026-05-20";

/// The rustc flags of the page's build (target code only: build scripts and proc macros
/// are host code and cargo leaves them alone when `--target` is given).
pub const PAGE_RUSTFLAGS: &[&str] = &[
    "-Zunstable-options",
    "-Cpanic=immediate-abort",
    "-Zlocation-detail=none",
    "-Zfmt-debug=shallow",
];

/// Installs [`PAGE_TOOLCHAIN`] (minimal profile) with `rust-src`, which `-Zbuild-std`
/// compiles, unless both are there.
pub fn ensure_page_toolchain() -> Result<()> {
    let installed = stdout_of(&mut program(
        "rustup",
        &[
            "component",
            "list",
            "--installed",
            "--toolchain",
            PAGE_TOOLCHAIN,
        ],
    ))
    .is_some_and(|list| list.lines().any(|l| l.starts_with("rust-src")));
    if installed {
        eprintln!("==> page toolchain {PAGE_TOOLCHAIN} with rust-src: present");
    } else {
        run_step(
            "install the page toolchain",
            &mut program(
                "rustup",
                &[
                    "toolchain",
                    "install",
                    PAGE_TOOLCHAIN,
                    "--profile",
                    "minimal",
                    "--component",
                    "rust-src",
                ],
            ),
        )?;
    }
    fetch_std_dependencies()
}

/// Downloads the crates the standard library depends on (`wasip1`, `dlmalloc`, ...) into
/// cargo's cache. trunk builds offline (`Trunk.toml`), and on a fresh machine nothing else
/// has fetched them: the build then fails with "no matching package named `wasip1`".
/// Quick when they are there already.
fn fetch_std_dependencies() -> Result<()> {
    let mut fetch = program("cargo", &["fetch", "--target", "wasm32-unknown-unknown"]);
    apply(&mut fetch);
    run_step("fetch the standard library's dependencies", &mut fetch)
}

/// Sets what makes `cargo build` (run by trunk) use the page toolchain and its flags.
pub fn apply(command: &mut Command) {
    command
        .env("RUSTUP_TOOLCHAIN", PAGE_TOOLCHAIN)
        .env("CARGO_UNSTABLE_BUILD_STD", "std,panic_abort")
        // The unit separator form, so no flag is split on spaces.
        .env("CARGO_ENCODED_RUSTFLAGS", PAGE_RUSTFLAGS.join("\u{1f}"))
        .env_remove("RUSTFLAGS");
}
