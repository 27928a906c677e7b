//! webkad-node: the native webkad node (`webkad serve`) and command-line client.
//!
//! # Layout
//! - [`cli`]: the clap command line.
//! - [`config_file`]: `serve --config FILE`, TOML keys turned into flags.
//! - [`limit_args`]: the limit flags of `webkad serve`.
//! - [`node`]: start and stop a node ([`node::start`] is what tests use).
//! - [`swarm`]: the native transports (TCP, QUIC, WebSocket, WebRTC-direct).
//! - [`tls`]: the operator's certificate, reloaded on renewal; [`wss`]: the `/tls/ws`
//!   listener that uses it.
//! - [`upnp`]: removes UPnP port mappings on shutdown.
//! - [`webrtc_gate`]: holds a WebRTC connection's first streams until the browser is ready.
//! - [`data_dir`]: identity key, WebRTC certificate and record database on disk.
//! - [`http`]: the page, `/api/bootstrap`, `/api/stats`, `/metrics` and `/healthz`;
//!   [`http_serve`] accepts its connections within [`http_limits`] ([`idle_io`],
//!   [`fd_budget`]).
//! - [`port_probe`]: refuses a TCP port another process listens on.
//! - [`page_files`]: the page's files, precompressed, with cache headers.
//! - [`process_metrics`]: the `process_*` series (CPU, memory, open files).
//! - [`serve`]: `webkad serve`.
//! - [`console`]: the stdin command console ([`nat_report`]: its `NAT` report).
//! - [`oneshot`]: `webkad put|get|provide|providers|find-peer|send|pub|ping`.
//! - [`output`], [`signal`], [`stats_text`]: presentation, process signals, `STATS`.

pub mod cli;
pub mod config_file;
pub mod console;
pub mod data_dir;
pub mod fd_budget;
pub mod http;
pub mod http_limits;
pub mod http_serve;
pub mod idle_io;
pub mod limit_args;
pub mod nat_report;
pub mod node;
pub mod oneshot;
mod oneshot_put;
pub mod output;
pub mod page_files;
pub mod port_probe;
pub mod process_metrics;
pub mod serve;
pub mod signal;
pub mod stats_text;
pub mod swarm;
pub mod tls;
pub mod upnp;
pub mod webrtc_direct;
pub mod webrtc_gate;
pub mod webrtc_metrics;
pub mod wss;
