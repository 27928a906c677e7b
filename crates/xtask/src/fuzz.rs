//! `cargo xtask fuzz [--runs N]`: the fuzz targets of our codecs and parsers, a million
//! inputs each by default. A benchmark-like run, not part of CI (CI runs the same targets
//! with 512 inputs inside `cargo test`).
//!
//! The targets are proptest-driven loops in `crates/core/tests/codecs.rs` and
//! `crates/node/tests/parsing.rs` (`fuzz_*`): they run on stable, reuse the property
//! tests' input generators, and shrink a failing input to a small one.

use std::time::Instant;

use anyhow::Result;
use clap::Args;

use crate::cmd::{cargo, run_step};

/// Options of `cargo xtask fuzz`.
#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// Inputs per target.
    #[arg(long, default_value_t = 1_000_000)]
    pub runs: u32,
    /// Build the targets optimised (slower to build, faster to run).
    #[arg(long)]
    pub release: bool,
}

/// Runs every fuzz target with `args.runs` inputs; each prints its count and time.
pub fn fuzz(args: &FuzzArgs) -> Result<()> {
    let started = Instant::now();
    for (package, test) in [("webkad-core", "codecs"), ("webkad-node", "parsing")] {
        let mut command = cargo(&["test", "-p", package, "--test", test]);
        if args.release {
            command.arg("--release");
        }
        command
            .args(["fuzz_", "--", "--nocapture", "--test-threads", "2"])
            .env("WEBKAD_FUZZ_RUNS", args.runs.to_string());
        run_step(&format!("fuzz {package} ({test})"), &mut command)?;
    }
    eprintln!(
        "==> fuzz: {} inputs per target, no failure, in {} s",
        args.runs,
        started.elapsed().as_secs()
    );
    Ok(())
}
