//! `cargo xtask`: project automation for webkad.
//!
//! Every subcommand prints each step as `==> step` on stderr before running
//! it and stops at the first failing step with a one-line error naming it.
//!
//! * `cargo xtask test` sets up the toolchain and runs every check CI runs.
//! * `cargo xtask run [-- serve args]` runs the bootstrap node (`webkad serve`).

mod cmd;
mod interop;
mod run;
mod test;
mod tools;
mod web_tools;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Project automation for the webkad workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The `cargo xtask` subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Set up the tools and run every check: fmt, clippy (native and wasm32), tests.
    Test(test::TestArgs),
    /// Run the bootstrap node: `webkad serve`, with the console on this terminal.
    Run(run::RunArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Test(args) => test::test(&args),
        Command::Run(args) => run::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` keeps the whole error chain on one line.
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
