//! webkad-node: the native webkad node (`webkad serve`) and command-line client.
//!
//! # Layout
//! - [`cli`]: the clap command line.
//! - [`node`]: start and stop a node ([`node::start`] is what tests use).
//! - [`swarm`]: the native transports (TCP, QUIC, WebSocket, WebRTC-direct).
//! - [`upnp`]: removes UPnP port mappings on shutdown.
//! - [`webrtc_gate`]: holds a WebRTC connection's first streams until the browser is ready.
//! - [`data_dir`]: identity key, WebRTC certificate and record database on disk.
//! - [`http`]: the page, `/api/bootstrap`, `/api/stats`, `/metrics` and `/healthz`;
//!   [`http_serve`] accepts its connections within [`http_limits`] ([`idle_io`],
//!   [`fd_budget`]).
//! - [`page_files`]: the page's files, precompressed, with cache headers.
//! - [`process_metrics`]: the `process_*` series (CPU, memory, open files).
//! - [`serve`]: `webkad serve`.
//! - [`console`]: the stdin command console ([`nat_report`]: its `NAT` report).
//! - [`oneshot`]: `webkad put|get|provide|providers|find-peer|send|pub|ping`.
//! - [`output`], [`signal`], [`stats_text`]: presentation, process signals, `STATS`.

pub mod cli;
pub mod console;
pub mod data_dir;
pub mod fd_budget;
pub mod http;
pub mod http_limits;
pub mod http_serve;
pub mod idle_io;
pub mod nat_report;
pub mod node;
pub mod oneshot;
mod oneshot_put;
pub mod output;
pub mod page_files;
pub mod process_metrics;
pub mod serve;
pub mod signal;
pub mod stats_text;
pub mod swarm;
pub mod upnp;
pub mod webrtc_direct;
pub mod webrtc_gate;
