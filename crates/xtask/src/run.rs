//! `cargo xtask run`: the bootstrap node with its console on this terminal.

use anyhow::Result;
use clap::Args;

use crate::cmd::{cargo, run_step};
use crate::tools::ensure_rust_tools;

/// Options of `cargo xtask run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Build and run the debug profile instead of release.
    #[arg(long)]
    pub debug: bool,
    /// Extra arguments for `webkad serve` (after `--`).
    #[arg(last = true, value_name = "SERVE_ARGS")]
    pub serve_args: Vec<String>,
}

/// Ensures the Rust tools, then runs
/// `cargo run [--release] -p webkad-node --bin webkad -- serve <serve args>`
/// with stdin, stdout and stderr inherited so the console works.
pub fn run(args: &RunArgs) -> Result<()> {
    ensure_rust_tools()?;
    let mut command = cargo(&["run"]);
    if !args.debug {
        command.arg("--release");
    }
    command.args(["-p", "webkad-node", "--bin", "webkad", "--", "serve"]);
    command.args(&args.serve_args);
    run_step("run webkad serve", &mut command)
}
