//! The `WebkadNode` class JavaScript sees.

use std::{cell::RefCell, rc::Rc};

use futures::StreamExt;
use js_sys::{Array, Function, Reflect};
use libp2p::{Multiaddr, PeerId};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use webkad_core::{
    Client, EventLoop, Metrics, PingTarget, addr,
    join::{self, Reached},
    metrics::Registry,
};

use crate::{
    convert::{bytes_of, js_error, js_object, message_to_js, record_to_js, to_js},
    identity,
    metrics::WasmMemoryCollector,
    options::{JsConnectOptions, JsNodeOptions, NodeOptions},
    transport,
};

#[wasm_bindgen(typescript_custom_section)]
const RESULT_TYPES_TS: &str = r#"
/** What `connect` reached. */
export interface Connected {
  /** The bootstrap peer. */
  peer_id: string;
  /** The address that worked. */
  addr: string;
  /** "webrtc-direct", "ws" or "wss". */
  transport: string;
  /** Peers in the Kademlia routing table once the bootstrap query was answered. */
  routing_table_size: number;
  /** Where other peers will reach this page through the bootstrap node's relay: resolves
   *  the `/p2p-circuit` address once the reservation is accepted, or null when it is
   *  refused. `connect` does not wait for it (a `reservation_accepted` event comes too). */
  relay: Promise<string | null>;
}
/** Options of `connect`. */
export interface ConnectOptions {
  /** The transport to try first (default "ws": on a 150 ms link it joins 1.8 s sooner than
   *  WebRTC-direct, see the README's page figures); the others follow. */
  prefer?: "webrtc-direct" | "ws";
}
/** A record found in the DHT. */
export interface FoundRecord {
  /** The value's bytes. */
  value: Uint8Array;
  /** The value as text, when it is UTF-8. */
  text: string | null;
  /** The peer that answered; null when it came from this node's own store. */
  from: string | null;
  /** The peer that published it, when it says. */
  publisher: string | null;
  /** For a signed key (`<peer-id>/<name>`): the owner, whose signature was checked
   *  (copies that fail are discarded); null for a plain key. */
  signed_by: string | null;
  /** For a signed key: the owner's sequence number. */
  seq: number | null;
}
/** What `putSigned` did. */
export interface SignedPut {
  /** The key to read it with: `<peer-id>/<name>`. */
  key: string;
  /** The sequence number signed. */
  seq: number;
  outcome: "replicated" | "local_only";
}
/** A connected peer. */
export interface PeerInfo {
  peer_id: string;
  /** The addresses of its open connections. */
  addrs: string[];
  /** "ws", "wss", "webrtc-direct" or "relay". */
  transport: string;
  /** The last ping round trip, null before the first. */
  rtt_ms: number | null;
  /** What it says it runs (identify), once identify answered. */
  agent_version: string | null;
  /** Whether Kademlia has it in the routing table. */
  in_routing_table: boolean;
}
/** Something that happened on the node; `type` tells which. */
export type NodeEvent =
  /** A listen address is open (a page listens only on its relay circuit). */
  | { type: "listening"; addr: string }
  /** That listen address closed. */
  | { type: "listener_closed"; addr: string }
  /** A connection to `peer` opened (`transport`: "ws", "wss", "webrtc-direct" or "relay"). */
  | { type: "peer_connected"; peer: string; addr: string; transport: string }
  /** The last connection to `peer` closed. */
  | { type: "peer_disconnected"; peer: string }
  /** A ping to `peer` came back after `rtt_ms`. */
  | { type: "ping_rtt"; peer: string; rtt_ms: number }
  /** `peer` entered the Kademlia routing table. */
  | { type: "routing_updated"; peer: string; routing_table_size: number }
  /** A Kademlia bootstrap finished. */
  | { type: "bootstrapped"; routing_table_size: number }
  /** A peer stored a record on this node (a page rarely serves). */
  | { type: "record_stored"; key: string; from: string }
  /** A peer announced itself as a provider of `key` to this node. */
  | { type: "provider_stored"; key: string; provider: string }
  /** A direct message arrived (`data`: its bytes; `onMessage` gives a Uint8Array and text). */
  | { type: "message"; peer: string; data: number[]; at_ms: number }
  /** A post arrived in a joined room (also given to `onMessage`). */
  | { type: "room_message"; topic: string; from: string; data: number[]; id: string; at_ms: number }
  /** `peer` joined the room `topic`. */
  | { type: "room_peer_joined"; topic: string; peer: string }
  /** `peer` left the room `topic`. */
  | { type: "room_peer_left"; topic: string; peer: string }
  /** The relay accepted (or renewed) this page's reservation; `addr`: its `/p2p-circuit` address. */
  | { type: "reservation_accepted"; relay: string; renewal: boolean; addr: string | null }
  /** The reservation on `relay` ended: this page is unreachable through it until `reserve` again. */
  | { type: "reservation_lost"; relay: string; reason: string }
  /** A relayed connection closed (`limit_reached`: the relay's time or byte limit; `reopening`: it is being reopened). */
  | { type: "circuit_closed"; peer: string; reason: string; limit_reached: boolean; reopening: boolean }
  /** This page registered at a rendezvous server under `namespace` for `ttl_secs`. */
  | { type: "registered"; rendezvous: string; namespace: string; ttl_secs: number }
  /** The rendezvous server listed a new peer. */
  | { type: "peer_discovered"; peer: string; addrs: string[] }
  /** A discovered peer's registration expired. */
  | { type: "peer_expired"; peer: string }
  /** A dial failed (`peer` null when dialing a bare address). */
  | { type: "dial_failed"; peer: string | null; error: string };
"#;

/// A webkad node running in this page. Create it with `WebkadNode.create(options)`.
#[wasm_bindgen]
pub struct WebkadNode {
    pub(crate) client: Client,
    listeners: Rc<RefCell<Vec<Function>>>,
    pub(crate) message_listeners: Rc<RefCell<Vec<Function>>>,
    /// The bootstrap node `connect` reached: the default relay of `reserve`.
    pub(crate) bootstrap: Rc<RefCell<Option<Multiaddr>>>,
}

#[wasm_bindgen]
impl WebkadNode {
    /// Starts a node: identity from `localStorage` (or ephemeral), the browser transports,
    /// Kademlia in client mode. It is not connected until `connect`.
    #[wasm_bindgen(unchecked_return_type = "WebkadNode")]
    pub async fn create(options: Option<JsNodeOptions>) -> Result<WebkadNode, JsValue> {
        let options = NodeOptions::from_js(options.map_or(JsValue::UNDEFINED, Into::into))
            .map_err(js_error)?;
        let keypair = if options.ephemeral {
            libp2p::identity::Keypair::generate_ed25519()
        } else {
            identity::load_or_create(options.storage_key())
        };
        let config = options.config();
        let mut registry = Registry::default();
        WasmMemoryCollector::register(&mut registry);
        let signing_key = keypair.clone();
        let swarm = transport::build(keypair, &config, options.dial_timeout(), &mut registry)
            .map_err(crate::js_error::internal)?;
        let (event_loop, client) = EventLoop::new(swarm, config, Metrics::new(registry));
        let client = client.with_identity(signing_key);
        spawn_local(crate::lifecycle::counted(event_loop.run()));
        let listeners: Rc<RefCell<Vec<Function>>> = Rc::default();
        let message_listeners: Rc<RefCell<Vec<Function>>> = Rc::default();
        let mut events = client.subscribe().await.map_err(js_error)?;
        let sinks = Rc::clone(&listeners);
        let message_sinks = Rc::clone(&message_listeners);
        spawn_local(async move {
            while let Some(event) = events.next().await {
                if let Some(Ok(message)) = message_to_js(&event) {
                    call_all(&message_sinks, &message);
                }
                if let Ok(value) = to_js(&event) {
                    call_all(&sinks, &value);
                }
            }
        });
        Ok(WebkadNode {
            client,
            listeners,
            message_listeners,
            bootstrap: Rc::default(),
        })
    }

    /// This node's PeerId.
    #[wasm_bindgen(getter = peerId)]
    pub fn peer_id(&self) -> String {
        self.client.local_peer_id().to_string()
    }

    /// Calls `listener(event)` for every event from now on.
    #[wasm_bindgen(js_name = onEvent)]
    pub fn on_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: NodeEvent) => void")] listener: Function,
    ) {
        self.listeners.borrow_mut().push(listener);
    }

    /// Joins the DHT through the first of `addrs` that answers: the preferred transport's
    /// addresses first (WebRTC-direct unless `options.prefer` says `"ws"`), then the others.
    /// Addresses a browser cannot dial are skipped. Resolves once Kademlia knows a peer and
    /// the network has answered a bootstrap query; meanwhile it reserves a slot on the
    /// bootstrap node's relay, so other peers can reach this page (and its provider records
    /// carry that address).
    #[wasm_bindgen(unchecked_return_type = "Connected")]
    pub async fn connect(
        &self,
        addrs: Vec<String>,
        options: Option<JsConnectOptions>,
    ) -> Result<JsValue, JsValue> {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let prefer = if options.is_object() {
            Reflect::get(&options, &"prefer".into())?.as_string()
        } else {
            None
        };
        // WebSocket first by default: measured behind a 150 ms link, it joins 1.8 s sooner than
        // WebRTC-direct (whose connection setup costs 15 round trips) and a return visit
        // does not wait for a lingering WebRTC connection to be noticed.
        let candidates = dial_order(&addrs, prefer.as_deref().unwrap_or("ws"))?;
        let events = self.client.subscribe().await.map_err(js_error)?;
        let Reached { peer, addr } = join::dial_first(&self.client, &candidates)
            .await
            .map_err(js_error)?;
        // A browser cannot be dialed: it becomes reachable through a reservation on the
        // bootstrap node's circuit relay, at the address its provider records carry.
        let relay = addr::with_peer_id(&addr, peer);
        let previous = self.bootstrap.replace(Some(relay.clone()));
        // Rejoining through another server: the one lost would hold the bootstrap query
        // below until its dead addresses time out.
        let lost = previous
            .as_ref()
            .and_then(addr::peer_id_of)
            .filter(|lost| *lost != peer);
        if let Some(lost) = lost {
            self.client
                .remove_dht_server(lost)
                .await
                .map_err(js_error)?;
        }
        // `joined` is: connected, routed and answered by the DHT. The reservation runs
        // beside the bootstrap query and never delays it.
        let client = self.client.clone();
        let reserved = wasm_bindgen_futures::future_to_promise(async move {
            match client.reserve(Some(relay)).await {
                Ok(addr) => Ok(JsValue::from(addr.to_string())),
                Err(error) => {
                    tracing::warn!(%error, "no relay reservation: this page cannot be reached");
                    Ok(JsValue::NULL)
                }
            }
        });
        // The node behind /api/bootstrap serves the DHT: query it now, beside identify.
        self.client
            .add_dht_server(peer, addr.clone())
            .await
            .map_err(js_error)?;
        let size = if lost.is_some() {
            // A rejoin through another server: the routing table is there already, and those
            // that answer still list the lost one, whose dead addresses would hold the query
            // (WebRTC-direct: a 10 s dial timeout). Joined now; the refresh runs behind.
            let client = self.client.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(error) = join::bootstrap_when_routed(&client, events).await {
                    tracing::debug!(%error, "routing table refresh after a rejoin failed");
                }
            });
            self.client
                .stats()
                .await
                .map_err(js_error)?
                .routing_table_size
        } else {
            join::bootstrap_when_routed(&self.client, events)
                .await
                .map_err(js_error)?
        };
        js_object(&[
            ("peer_id", peer.to_string().into()),
            ("addr", addr.to_string().into()),
            ("transport", addr::transport_name(&addr).into()),
            ("routing_table_size", (size as u32).into()),
            ("relay", reserved.into()),
        ])
    }

    /// Stores `value` under `key` (strings or Uint8Arrays) in the DHT. Resolves
    /// `"replicated"` or `"local_only"`.
    #[wasm_bindgen(unchecked_return_type = "\"replicated\" | \"local_only\"")]
    pub async fn put(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] value: JsValue,
    ) -> Result<JsValue, JsValue> {
        let key = bytes_of(&key, "key")?;
        let value = bytes_of(&value, "value")?;
        let outcome = self.client.put(key, value).await.map_err(js_error)?;
        to_js(&outcome)
    }

    /// Stores `value` as this node's owner-signed record `name`: only this identity can
    /// change it, every server checks the signature and keeps the highest sequence number.
    /// Read it with `get("<peer-id>/<name>")`.
    #[wasm_bindgen(js_name = putSigned, unchecked_return_type = "SignedPut")]
    pub async fn put_signed(
        &self,
        name: String,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] value: JsValue,
    ) -> Result<JsValue, JsValue> {
        let value = bytes_of(&value, "value")?;
        let (signed, receipt) = self
            .client
            .put_signed(&name, value)
            .await
            .map_err(js_error)?;
        js_object(&[
            (
                "key",
                format!("{}/{name}", self.client.local_peer_id()).into(),
            ),
            ("seq", (signed.seq as f64).into()),
            ("outcome", to_js(&receipt.outcome())?),
        ])
    }

    /// Looks `key` up. Resolves the record, or `null` when no peer has it. A string
    /// `<peer-id>/<name>` reads that peer's signed record (its signature is checked).
    #[wasm_bindgen(unchecked_return_type = "FoundRecord | null")]
    pub async fn get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] key: JsValue,
    ) -> Result<JsValue, JsValue> {
        let key = match key.as_string() {
            Some(text) => webkad_core::signed::parse_user_key(&text),
            None => bytes_of(&key, "key")?,
        };
        match self.client.get(key).await.map_err(js_error)? {
            Some(record) => record_to_js(&record),
            None => Ok(JsValue::NULL),
        }
    }

    /// Announces this node as a provider of `key`.
    pub async fn provide(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] key: JsValue,
    ) -> Result<(), JsValue> {
        let key = bytes_of(&key, "key")?;
        self.client.start_providing(key).await.map_err(js_error)
    }

    /// The PeerIds providing `key` (empty when none).
    #[wasm_bindgen(unchecked_return_type = "string[]")]
    pub async fn providers(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] key: JsValue,
    ) -> Result<JsValue, JsValue> {
        let key = bytes_of(&key, "key")?;
        let providers = self.client.get_providers(key).await.map_err(js_error)?;
        Ok(providers
            .iter()
            .map(|p| JsValue::from(p.to_string()))
            .collect::<Array>()
            .into())
    }

    /// Measures a round trip to a PeerId or a multiaddr. Resolves `{ peer, rtt_ms }`.
    #[wasm_bindgen(unchecked_return_type = "{ peer: string; rtt_ms: number }")]
    pub async fn ping(&self, target: String) -> Result<JsValue, JsValue> {
        let target = ping_target(&target)?;
        let (peer, rtt) = self.client.ping(target).await.map_err(js_error)?;
        js_object(&[
            ("peer", peer.to_string().into()),
            ("rtt_ms", (rtt.as_secs_f64() * 1000.0).into()),
        ])
    }

    /// The connected peers, with transport and last ping RTT.
    #[wasm_bindgen(unchecked_return_type = "PeerInfo[]")]
    pub async fn peers(&self) -> Result<JsValue, JsValue> {
        to_js(&self.client.peers().await.map_err(js_error)?)
    }

    /// Closes every connection and stops the node: its event loop, timers and listeners are
    /// gone when this resolves (`liveNodes()` no longer counts it), and later calls reject
    /// with code `"closed"`. The small JS handle itself is freed by the garbage collector
    /// (or at once with `free()`).
    pub async fn close(&self) -> Result<(), JsValue> {
        self.listeners.borrow_mut().clear();
        self.message_listeners.borrow_mut().clear();
        self.client.shutdown().await.map_err(js_error)
    }
}

/// Calls every listener with `value`; a listener that throws is logged and skipped.
fn call_all(listeners: &Rc<RefCell<Vec<Function>>>, value: &JsValue) {
    for listener in listeners.borrow().iter() {
        if let Err(error) = listener.call1(&JsValue::NULL, value) {
            tracing::warn!(?error, "a listener threw");
        }
    }
}

/// `addrs` parsed, without those a browser cannot dial, the `prefer`red transport first.
fn dial_order(addrs: &[String], prefer: &str) -> Result<Vec<Multiaddr>, JsValue> {
    let mut parsed = Vec::with_capacity(addrs.len());
    for text in addrs {
        let addr: Multiaddr = text
            .parse()
            .map_err(|e| js_error(format!("invalid multiaddr {text:?}: {e}")))?;
        if addr::is_browser_dialable(&addr) {
            parsed.push(addr);
        }
    }
    if parsed.is_empty() {
        return Err(js_error(
            "none of the addresses can be dialed from a browser (need /ws, /wss or /webrtc-direct with /certhash)",
        ));
    }
    // `ws` covers `wss`. A stable sort keeps the caller's order within each transport.
    let family = |a: &Multiaddr| match addr::transport_name(a) {
        "wss" => "ws",
        other => other,
    };
    parsed.sort_by_key(|a| family(a) != prefer);
    Ok(parsed)
}

fn ping_target(text: &str) -> Result<PingTarget, JsValue> {
    if text.starts_with('/') {
        let addr = text
            .parse()
            .map_err(|e| js_error(format!("invalid multiaddr {text:?}: {e}")))?;
        return Ok(PingTarget::Addr(addr));
    }
    let peer: PeerId = text
        .parse()
        .map_err(|_| js_error(format!("{text:?} is neither a PeerId nor a multiaddr")))?;
    Ok(PingTarget::Peer(peer))
}
