//! webkad-browser: the webkad node in a web page.
//!
//! The shared [`webkad_core`] behaviour on the browser's transports (WebSocket and
//! WebRTC-direct, with noise and yamux), Kademlia in client mode, exposed to JavaScript as
//! the [`WebkadNode`] class:
//!
//! ```js
//! import init, { WebkadNode } from "./webkad_browser.js";
//! await init();
//! const node = await WebkadNode.create();           // identity kept in localStorage
//! const boot = await (await fetch("/api/bootstrap")).json();
//! await node.connect(boot.addrs);                    // WebSocket first, then WebRTC-direct
//! await node.put("greeting", "hello");
//! const found = await node.get("greeting");          // { value, text, from, publisher }
//! const stats = await node.stats();                  // bandwidth, latency, connections, ...
//! ```
//!
//! On native targets the crate is empty (it is only ever built for `wasm32`).
#![cfg(target_arch = "wasm32")]

mod convert;
mod identity;
mod js_error;
mod lifecycle;
mod metrics;
mod node;
mod options;
mod peer_to_peer;
mod transport;
mod ws_flush;

pub use lifecycle::live_nodes;
pub use node::WebkadNode;
pub use options::NodeOptions;
