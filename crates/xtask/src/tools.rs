//! Ensuring the Rust toolchain has what the checks need.
//!
//! Each `ensure_*` function is idempotent: it first checks whether the tool
//! is present and installs it only when it is not.

use anyhow::{Result, bail};

use crate::cmd::{cargo, program, run_step, stdout_of, succeeds, workspace_root};

/// The wasm target `webkad-core` must compile for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Ensures everything Rust-side: a recent enough rustc, rustfmt, clippy and
/// the wasm32 target.
pub fn ensure_rust_tools() -> Result<()> {
    ensure_rustc_version()?;
    ensure_components()?;
    ensure_wasm_target()
}

/// Checks that `rustc` is at least the workspace `rust-version`.
fn ensure_rustc_version() -> Result<()> {
    eprintln!("==> check rustc version");
    let Some(required) = workspace_rust_version() else {
        return Ok(());
    };
    let Some(out) = stdout_of(&mut program("rustc", &["--version"])) else {
        bail!("step `check rustc version` failed: `rustc --version` did not run");
    };
    // `rustc 1.95.0 (59807616e 2026-04-14)`
    let found = out.split_whitespace().nth(1).and_then(parse_version);
    match found {
        Some(found) if found >= required => Ok(()),
        _ => bail!(
            "step `check rustc version` failed: need rustc >= {}.{}, found `{}`",
            required.0,
            required.1,
            out.trim()
        ),
    }
}

/// The `rust-version` of the workspace root manifest, as (major, minor).
fn workspace_rust_version() -> Option<(u32, u32)> {
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).ok()?;
    manifest.lines().find_map(|line| {
        let value = line.trim().strip_prefix("rust-version")?;
        let value = value.trim().strip_prefix('=')?.trim().trim_matches('"');
        parse_version(value)
    })
}

/// Parses the major and minor of a version such as `1.95.0` or `1.88`.
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Adds rustfmt and clippy unless `cargo fmt` and `cargo clippy` already work.
fn ensure_components() -> Result<()> {
    let has_fmt = succeeds(&mut cargo(&["fmt", "--version"]));
    let has_clippy = succeeds(&mut cargo(&["clippy", "--version"]));
    if has_fmt && has_clippy {
        eprintln!("==> rustfmt and clippy: present");
        return Ok(());
    }
    run_step(
        "install rustfmt and clippy",
        &mut program("rustup", &["component", "add", "rustfmt", "clippy"]),
    )
}

/// Adds the wasm32 target unless `rustup target list --installed` has it.
fn ensure_wasm_target() -> Result<()> {
    let installed = stdout_of(&mut program("rustup", &["target", "list", "--installed"]));
    if installed.is_some_and(|out| out.lines().any(|line| line.trim() == WASM_TARGET)) {
        eprintln!("==> target {WASM_TARGET}: present");
        return Ok(());
    }
    run_step(
        "install the wasm32 target",
        &mut program("rustup", &["target", "add", WASM_TARGET]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(parse_version("1.95.0"), Some((1, 95)));
        assert_eq!(parse_version("1.88"), Some((1, 88)));
        assert_eq!(parse_version("1.96.0-nightly"), Some((1, 96)));
        assert_eq!(parse_version("x"), None);
    }

    #[test]
    fn reads_the_workspace_rust_version() {
        assert!(workspace_rust_version().is_some());
    }
}
