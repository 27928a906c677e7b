//! What a page can choose when it creates a node.

use std::time::Duration;

use serde::Deserialize;
use wasm_bindgen::prelude::*;
use webkad_core::{
    Config, KadMode, RendezvousConfig,
    addr::AddressFilter,
    config::{BROWSER_AGENT, BROWSER_NAMESPACE},
};

use crate::identity::DEFAULT_STORAGE_KEY;

/// Options of `WebkadNode.create`. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NodeOptions {
    /// A fresh identity that is not stored (default: kept in `localStorage`).
    pub ephemeral: bool,
    /// The `localStorage` slot of the identity (default `webkad.identity`).
    pub storage_key: Option<String>,
    /// The Kademlia protocol name (default `/webkad/kad/1.0.0`).
    pub kad_protocol: Option<String>,
    /// How long one DHT query may take, in milliseconds (default 30 000).
    pub query_timeout_ms: Option<u32>,
    /// How long one dial attempt may take, in milliseconds (default 10 000).
    pub dial_timeout_ms: Option<u32>,
}

#[wasm_bindgen(typescript_custom_section)]
const NODE_OPTIONS_TS: &str = r#"
/** Options of `WebkadNode.create`; every field is optional. */
export interface NodeOptions {
  /** A fresh identity that is not stored (default: kept in localStorage). */
  ephemeral?: boolean;
  /** The localStorage slot of the identity (default "webkad.identity"). */
  storageKey?: string;
  /** The Kademlia protocol name (default "/webkad/kad/1.0.0"). */
  kadProtocol?: string;
  /** How long one DHT query may take, in ms (default 30000). */
  queryTimeoutMs?: number;
  /** How long one dial attempt may take, in ms (default 10000). */
  dialTimeoutMs?: number;
}
"#;

/// The default time one dial attempt may take.
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(10);

impl NodeOptions {
    /// Reads options from a JS value (`undefined` and `null` mean the defaults).
    pub fn from_js(value: JsValue) -> Result<Self, String> {
        if value.is_undefined() || value.is_null() {
            return Ok(Self::default());
        }
        serde_wasm_bindgen::from_value(value).map_err(|e| format!("invalid options: {e}"))
    }

    /// The `localStorage` slot of the identity.
    pub fn storage_key(&self) -> &str {
        self.storage_key.as_deref().unwrap_or(DEFAULT_STORAGE_KEY)
    }

    /// The time one dial attempt may take.
    pub fn dial_timeout(&self) -> Duration {
        self.dial_timeout_ms
            .map_or(DEFAULT_DIAL_TIMEOUT, |ms| Duration::from_millis(ms.into()))
    }

    /// The node configuration: a Kademlia client that keeps only addresses a browser can
    /// dial, with no relay server.
    pub fn config(&self) -> Config {
        let mut config = Config {
            kad_mode: KadMode::Client,
            address_filter: AddressFilter::Browser,
            relay_server: None,
            rendezvous_server: None,
            rendezvous: RendezvousConfig::in_namespace(BROWSER_NAMESPACE),
            // Not for liveness any more: our WebRTC-direct transport sees a vanished node from
            // the browser's ICE state (about 6 s after a kill -9), WebSocket from the socket.
            // The ping gives the RTT shown in the page, and finds a WebSocket whose server
            // vanished without a reset (no FIN or RST reaches the page) within 25 s.
            ping_interval: Duration::from_secs(15),
            ping_timeout: Duration::from_secs(10),
            agent_version: format!("{BROWSER_AGENT}{}", env!("CARGO_PKG_VERSION")),
            ..Config::default()
        };
        if let Some(protocol) = &self.kad_protocol {
            config.kad_protocol.clone_from(protocol);
        }
        if let Some(ms) = self.query_timeout_ms {
            config.query_timeout = Duration::from_millis(ms.into());
        }
        config
    }
}

#[wasm_bindgen]
extern "C" {
    /// The options object of `WebkadNode.create` as JavaScript passes it (typed
    /// `NodeOptions` in the `.d.ts`; an extern type, so the argument may be omitted).
    #[wasm_bindgen(typescript_type = "NodeOptions")]
    pub type JsNodeOptions;
    /// The options object of `connect` (typed `ConnectOptions` in the `.d.ts`).
    #[wasm_bindgen(typescript_type = "ConnectOptions")]
    pub type JsConnectOptions;
}
