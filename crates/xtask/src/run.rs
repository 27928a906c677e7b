//! `cargo xtask run`: build the page, then the bootstrap node serving it, with its console
//! on this terminal.

use anyhow::Result;
use clap::Args;

use crate::cmd::run_step;
use crate::tools::ensure_rust_tools;
use crate::web::{build_web, serve_command};
use crate::web_tools::ensure_page_tools;

/// Options of `cargo xtask run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Build and run the debug profile of the node instead of release.
    #[arg(long)]
    pub debug: bool,
    /// Do not build the page (serve whatever `dist/` holds).
    #[arg(long)]
    pub no_page: bool,
    /// Extra arguments for `webkad serve` (after `--`).
    #[arg(last = true, value_name = "SERVE_ARGS")]
    pub serve_args: Vec<String>,
}

/// Ensures the tools, builds the page with trunk into `dist/`, then runs
/// `cargo run [--release] -p webkad-node --bin webkad -- serve --web-dir dist <serve args>`
/// with stdin, stdout and stderr inherited so the console works.
pub fn run(args: &RunArgs) -> Result<()> {
    ensure_rust_tools()?;
    if !args.no_page {
        ensure_page_tools()?;
        build_web()?;
    }
    run_step(
        "run webkad serve",
        &mut serve_command(!args.debug, &args.serve_args),
    )
}
