//! The part of `WebkadNode` that connects pages with each other: relay reservations,
//! rendezvous discovery, direct messages and pub/sub rooms.

use js_sys::Function;
use libp2p::{Multiaddr, PeerId};
use wasm_bindgen::prelude::*;

use crate::{
    convert::{bytes_of, js_error, js_object, to_js},
    node::WebkadNode,
};

#[wasm_bindgen(typescript_custom_section)]
const PEER_TO_PEER_TS: &str = r#"
/** A page (or native node) found through the rendezvous server. */
export interface BrowserPeer {
  peer_id: string;
  /** Where it registered (for a page: its relay circuit addresses). */
  addrs: string[];
  /** Whether this page has a connection to it now. */
  connected: boolean;
  /** "relay" for a circuit through the bootstrap node, null when not connected. */
  transport: string | null;
  rtt_ms: number | null;
}
/** A message received: a direct message, or a post in a room this page joined. */
export type ReceivedMessage =
  | { kind: "direct"; from: string; data: Uint8Array; text: string | null; at_ms: number }
  | { kind: "room"; topic: string; from: string; data: Uint8Array; text: string | null; id: string; at_ms: number };
/** A room this page joined and who is in it. */
export interface Room {
  topic: string;
  peers: string[];
}
"#;

#[wasm_bindgen]
impl WebkadNode {
    /// Reserves a slot on a circuit relay v2: `relayAddr` (ending in `/p2p/<relay>`), or the
    /// bootstrap node `connect` reached. Resolves this page's `/p2p-circuit` address; the
    /// reservation renews itself while the connection lasts. `connect` already reserves.
    pub async fn reserve(
        &self,
        #[wasm_bindgen(js_name = relayAddr)] relay_addr: Option<String>,
    ) -> Result<String, JsValue> {
        let relay = match relay_addr {
            Some(text) => Some(parse_addr(&text)?),
            None => self.bootstrap.borrow().clone(),
        };
        let addr = self.client.reserve(relay).await.map_err(js_error)?;
        Ok(addr.to_string())
    }

    /// Asks the rendezvous server for the peers registered under `namespace` (default
    /// `"webkad-browsers"`, where every page registers). This page is never listed.
    #[wasm_bindgen(unchecked_return_type = "BrowserPeer[]")]
    pub async fn discover(&self, namespace: Option<String>) -> Result<JsValue, JsValue> {
        to_js(&self.client.discover(namespace).await.map_err(js_error)?)
    }

    /// The peers discovered so far, with their reachability, without asking anyone.
    #[wasm_bindgen(js_name = browserPeers, unchecked_return_type = "BrowserPeer[]")]
    pub async fn browser_peers(&self) -> Result<JsValue, JsValue> {
        to_js(&self.client.discovered().await.map_err(js_error)?)
    }

    /// Sends a direct message (through the relay when `peer` is a page). Resolves
    /// `{ peer, rtt_ms }` once the peer acknowledged it.
    #[wasm_bindgen(unchecked_return_type = "{ peer: string; rtt_ms: number }")]
    pub async fn send(
        &self,
        peer: String,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] data: JsValue,
    ) -> Result<JsValue, JsValue> {
        let peer_id = parse_peer(&peer)?;
        let data = bytes_of(&data, "message")?;
        let (_, rtt) = self.client.send(peer_id, data).await.map_err(js_error)?;
        js_object(&[
            ("peer", peer.into()),
            ("rtt_ms", (rtt.as_secs_f64() * 1000.0).into()),
        ])
    }

    /// Calls `listener(message)` for every direct message and every post in a joined room.
    #[wasm_bindgen(js_name = onMessage)]
    pub fn on_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(message: ReceivedMessage) => void")]
        listener: Function,
    ) {
        self.message_listeners.borrow_mut().push(listener);
    }

    /// Joins the room `topic` (a gossipsub topic).
    pub async fn subscribe(&self, topic: String) -> Result<(), JsValue> {
        self.client
            .join_room(topic)
            .await
            .map(drop)
            .map_err(js_error)
    }

    /// Leaves the room `topic`.
    pub async fn unsubscribe(&self, topic: String) -> Result<(), JsValue> {
        self.client
            .leave_room(topic)
            .await
            .map(drop)
            .map_err(js_error)
    }

    /// Posts in the room `topic` (joining it first). Resolves the message id. Own posts
    /// are not echoed to `onMessage`.
    pub async fn publish(
        &self,
        topic: String,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] data: JsValue,
    ) -> Result<String, JsValue> {
        let data = bytes_of(&data, "message")?;
        self.client.publish(topic, data).await.map_err(js_error)
    }

    /// The rooms this page joined and the peers known in each.
    #[wasm_bindgen(unchecked_return_type = "Room[]")]
    pub async fn rooms(&self) -> Result<JsValue, JsValue> {
        to_js(&self.client.rooms().await.map_err(js_error)?)
    }
}

fn parse_addr(text: &str) -> Result<Multiaddr, JsValue> {
    text.parse()
        .map_err(|e| js_error(format!("invalid multiaddr {text:?}: {e}")))
}

fn parse_peer(text: &str) -> Result<PeerId, JsValue> {
    text.trim()
        .parse()
        .map_err(|_| js_error(format!("{text:?} is not a PeerId")))
}
