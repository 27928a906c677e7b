//! The `webkad` binary: parses flags, sets up logging, runs the command.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use webkad_node::{
    cli::{Cli, Command},
    config_file, oneshot, serve,
};

#[tokio::main]
async fn main() -> ExitCode {
    let argv = match config_file::expand(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(i32::from(oneshot::USAGE));
        }
    };
    let cli = Cli::parse_from(argv);
    let serving = matches!(cli.command, Command::Serve(_));
    init_tracing(if serving { "info" } else { "warn" });
    let code = match cli.command {
        Command::Serve(args) => match serve::run(*args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(oneshot::FAILED)
            }
        },
        command => oneshot::run(command).await,
    };
    // Do not wait for the blocking stdin reader of the console: exit now.
    std::process::exit(if code == ExitCode::SUCCESS {
        0
    } else {
        exit_number(code)
    })
}

fn exit_number(code: ExitCode) -> i32 {
    if code == ExitCode::from(oneshot::USAGE) {
        i32::from(oneshot::USAGE)
    } else {
        i32::from(oneshot::FAILED)
    }
}

/// The WebRTC stack warns about every DTLS extension and SCTP chunk Chrome sends that it
/// does not know, and about each closed ICE candidate when a tab goes away; harmless, and
/// one browser fills a screen. Quieted unless `RUST_LOG` names those crates.
const QUIET_WEBRTC: &str = "dtls=error,webrtc=error,webrtc_ice=error,webrtc_sctp=error";

fn init_tracing(default: &str) {
    let mut directives = std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_owned());
    if !directives.contains("dtls") && !directives.contains("webrtc") {
        directives = format!("{directives},{QUIET_WEBRTC}");
    }
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A log write that fails (stderr redirected to a full disk) is otherwise reported
        // with `eprintln!`, which panics when stderr fails too, and took the event loop
        // down with it (issue 12). A node whose log cannot be written keeps serving.
        .log_internal_errors(false)
        .init();
}
