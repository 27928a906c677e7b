//! `cargo xtask`: project automation for webkad.
//!
//! Every subcommand prints each step as `==> step` on stderr before running
//! it and stops at the first failing step with a one-line error naming it.
//!
//! * `cargo xtask test` sets up the toolchain and runs every check CI runs.
//! * `cargo xtask run [-- serve args]` builds the page and runs the bootstrap node
//!   (`webkad serve`) serving it.
//! * `cargo xtask build-web` builds the page into `dist/`.
//! * `cargo xtask bench-page` prints the page's size and load-to-joined times.
//! * `cargo xtask page-profile` records what the page runs up to `joined` (the wasm split).
//! * `cargo xtask package` builds the npm package `webkad` into `target/webkad-<version>.tgz`.
//! * `cargo xtask example-app` packs the package and builds `examples/chat-app/` on it.
//! * `cargo xtask fixture` holds the browser tests' native fixture for `wasm-pack test`.
//! * `cargo xtask fuzz [--runs N]` runs the codec fuzz targets (a million inputs each).

mod chat_app;
mod cmd;
mod compress;
mod debian;
mod fuzz;
mod interop;
mod package;
mod page_js;
mod page_minify;
mod page_profile;
mod page_split;
mod page_tables;
mod page_toolchain;
mod run;
mod test;
mod tools;
mod wasm_split;
mod web;
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
    /// Build the page, then run the bootstrap node serving it (`webkad serve`), with the
    /// console on this terminal.
    Run(run::RunArgs),
    /// Build the page into dist/ (trunk, release, size-tuned).
    BuildWeb,
    /// Measure the page: wasm and page size (raw, gzipped) and load-to-joined times.
    BenchPage,
    /// Record which wasm functions the page runs up to `joined` (web/page-profile.txt, what
    /// the page's wasm split keeps in the module loaded first), then rebuild the page.
    PageProfile,
    /// Build the npm package `webkad` (the browser node for web apps) and pack it into
    /// target/webkad-<version>.tgz.
    Package,
    /// Pack the npm package, then install and build the example app on it
    /// (examples/chat-app: npm ci, tsc --noEmit, vite build).
    ExampleApp,
    /// Start the native fixture of the browser tests and hold it until Ctrl-C, for
    /// `wasm-pack test --headless --chrome crates/browser` in another terminal.
    Fixture,
    /// Run the fuzz targets of our codecs and parsers (default: a million inputs each).
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Test(args) => test::test(&args),
        Command::Run(args) => run::run(&args),
        Command::BuildWeb => tools::ensure_rust_tools()
            .and_then(|()| web_tools::ensure_page_tools())
            .and_then(|()| web::build_web()),
        Command::BenchPage => tools::ensure_rust_tools()
            .and_then(|()| web_tools::ensure_web_tools())
            .and_then(|()| web::bench_page()),
        Command::PageProfile => tools::ensure_rust_tools()
            .and_then(|()| web_tools::ensure_web_tools())
            .and_then(|()| page_profile::page_profile()),
        Command::Package => tools::ensure_rust_tools()
            .and_then(|()| web_tools::ensure_page_tools())
            .and_then(|()| package::package().map(|_| ())),
        Command::ExampleApp => tools::ensure_rust_tools()
            .and_then(|()| web_tools::ensure_page_tools())
            .and_then(|()| chat_app::build_example_app()),
        Command::Fixture => web::fixture(),
        Command::Fuzz(args) => fuzz::fuzz(&args),
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
