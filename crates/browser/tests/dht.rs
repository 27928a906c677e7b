//! The browser node against real native nodes, in headless Chromium.
//!
//! Run by `cargo xtask test` through `tests/tests/browser_wasm.rs` (with `wasm-pack test
//! --headless --chrome`), which starts the native
//! fixture first: a bootstrap node serving HTTP on [`FIXTURE_HTTP`], a third node that
//! holds a record nobody else has, and records and provider records made by `webkad`
//! commands. After these tests it checks with `webkad get` and `webkad providers` what
//! they stored. By hand: `cargo xtask fixture` (holds that fixture), then
//! `wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver --mode no-install crates/browser`.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use webkad_browser::WebkadNode;

wasm_bindgen_test_configure!(run_in_browser);

/// Where the fixture's bootstrap node serves `/api/bootstrap` (keep in step with
/// `tests/tests/browser.rs`).
const FIXTURE_HTTP: &str = "http://127.0.0.1:18765";

/// The bootstrap node's PeerId and addresses, as the page would fetch them.
async fn bootstrap_info() -> (String, Vec<String>) {
    let window = web_sys::window().expect("a window");
    let response = JsFuture::from(window.fetch_with_str(&format!("{FIXTURE_HTTP}/api/bootstrap")))
        .await
        .expect("the fixture's /api/bootstrap answers (is the fixture running?)");
    let response: web_sys::Response = response.dyn_into().expect("a Response");
    let json = JsFuture::from(response.json().expect("json"))
        .await
        .expect("JSON body");
    let peer_id = field(&json, "peer_id").as_string().expect("peer_id");
    let addrs = Array::from(&field(&json, "addrs"))
        .iter()
        .filter_map(|a| a.as_string())
        .collect();
    (peer_id, addrs)
}

fn field(value: &JsValue, name: &str) -> JsValue {
    Reflect::get(value, &name.into()).expect("an object")
}

fn text(value: &JsValue, name: &str) -> Option<String> {
    field(value, name).as_string()
}

fn options(ephemeral: bool) -> JsValue {
    let object = js_sys::Object::new();
    Reflect::set(&object, &"ephemeral".into(), &ephemeral.into()).expect("set");
    object.into()
}

fn prefer(transport: &str) -> JsValue {
    let object = js_sys::Object::new();
    Reflect::set(&object, &"prefer".into(), &transport.into()).expect("set");
    object.into()
}

/// A fresh node joined through the bootstrap node over `transport` (only its addresses).
async fn joined(transport: &str) -> (WebkadNode, JsValue, String) {
    let (bootstrap, addrs) = bootstrap_info().await;
    let marker = format!("/{transport}/");
    let addrs: Vec<String> = addrs.into_iter().filter(|a| a.contains(&marker)).collect();
    assert!(
        !addrs.is_empty(),
        "the bootstrap node lists a {transport} address"
    );
    let node = WebkadNode::create(Some(options(true).unchecked_into()))
        .await
        .expect("node starts");
    let connected = node
        .connect(addrs, Some(prefer(transport).unchecked_into()))
        .await
        .unwrap_or_else(|e| panic!("join over {transport} failed: {e:?}"));
    (node, connected, bootstrap)
}

async fn get_text(node: &WebkadNode, key: &str) -> Option<(String, Option<String>)> {
    let found = node.get(key.into()).await.expect("get runs");
    if found.is_null() {
        return None;
    }
    Some((
        text(&found, "text").expect("UTF-8 value"),
        text(&found, "from"),
    ))
}

#[wasm_bindgen_test]
async fn joins_over_websocket_and_pings_the_bootstrap() {
    let (node, connected, bootstrap) = joined("ws").await;
    assert_eq!(text(&connected, "transport").as_deref(), Some("ws"));
    assert_eq!(text(&connected, "peer_id"), Some(bootstrap.clone()));
    let size = field(&connected, "routing_table_size")
        .as_f64()
        .expect("size");
    assert!(size >= 1.0, "the routing table holds the bootstrap node");
    let relay = field(&connected, "relay");
    let relay = JsFuture::from(relay.unchecked_into::<js_sys::Promise>())
        .await
        .expect("the reservation promise resolves")
        .as_string()
        .expect("a relay reservation");
    assert!(
        relay.contains("/p2p-circuit"),
        "reachable through the relay: {relay}"
    );
    let pong = node.ping(bootstrap.clone()).await.expect("ping answers");
    assert_eq!(text(&pong, "peer"), Some(bootstrap));
    node.close().await.expect("close");
}

#[wasm_bindgen_test]
async fn joins_over_webrtc_direct() {
    let (node, connected, bootstrap) = joined("webrtc-direct").await;
    assert_eq!(
        text(&connected, "transport").as_deref(),
        Some("webrtc-direct")
    );
    assert_eq!(text(&connected, "peer_id"), Some(bootstrap.clone()));
    // The bootstrap query may have dialed other DHT servers too.
    let peers = Array::from(&node.peers().await.expect("peers"));
    let to_bootstrap = peers
        .iter()
        .find(|p| text(p, "peer_id").as_ref() == Some(&bootstrap))
        .expect("connected to the bootstrap node");
    assert_eq!(
        text(&to_bootstrap, "transport").as_deref(),
        Some("webrtc-direct")
    );
    node.close().await.expect("close");
}

#[wasm_bindgen_test]
async fn reads_what_webkad_put_stored() {
    let (node, _, _) = joined("ws").await;
    let (value, _) = get_text(&node, "from-native")
        .await
        .expect("the record `webkad put` stored is found");
    assert_eq!(value, "hello from native");
    assert!(
        get_text(&node, "nobody-stored-this").await.is_none(),
        "a missing key is not found"
    );
    node.close().await.expect("close");
}

#[wasm_bindgen_test]
async fn stores_and_provides_for_webkad_to_read() {
    let (node, _, _) = joined("webrtc-direct").await;
    let outcome = node
        .put("from-browser".into(), "hello from the browser".into())
        .await
        .expect("put");
    assert_eq!(outcome.as_string().as_deref(), Some("replicated"));
    // The native side checks that `webkad providers browser-provides` finds this peer.
    // Kademlia's ADD_PROVIDER has no answer, so the put that follows (which has one) is what
    // shows the announcement went out before the node closes.
    node.provide("browser-provides".into())
        .await
        .expect("provide");
    node.put("fixture/browser-peer".into(), node.peer_id().into())
        .await
        .expect("put own peer id");
    let providers = Array::from(
        &node
            .providers("browser-provides".into())
            .await
            .expect("providers"),
    );
    assert!(
        providers
            .iter()
            .any(|p| p.as_string() == Some(node.peer_id())),
        "the page finds itself as a provider"
    );
    let oversized = "x".repeat(64 * 1024);
    let refused = node.put("too-big".into(), oversized.into()).await;
    let message = format!("{:?}", refused.expect_err("an oversized value is refused"));
    assert!(message.contains("the limit is"), "clear error: {message}");
    node.close().await.expect("close");
}

#[wasm_bindgen_test]
async fn finds_providers_announced_natively() {
    let (node, _, bootstrap) = joined("ws").await;
    let (third, _) = get_text(&node, "fixture/third-peer")
        .await
        .expect("the fixture names its third node");
    let providers: Vec<String> = Array::from(
        &node
            .providers("native-provides".into())
            .await
            .expect("providers"),
    )
    .iter()
    .filter_map(|p| p.as_string())
    .collect();
    assert!(
        providers.contains(&third),
        "the third node provides native-provides: {providers:?}"
    );
    assert!(!providers.contains(&bootstrap));
    node.close().await.expect("close");
}

#[wasm_bindgen_test]
async fn a_lookup_goes_past_the_bootstrap_to_a_third_node() {
    let (node, _, bootstrap) = joined("ws").await;
    let (third, _) = get_text(&node, "fixture/third-peer")
        .await
        .expect("the fixture names its third node");
    let (value, from) = get_text(&node, "beyond-bootstrap")
        .await
        .expect("the record only the third node holds is found");
    assert_eq!(value, "only on the third node");
    assert_eq!(
        from.as_deref(),
        Some(third.as_str()),
        "served by the third node"
    );
    assert_ne!(from, Some(bootstrap));
    let peers: Vec<String> = Array::from(&node.peers().await.expect("peers"))
        .iter()
        .filter_map(|p| text(&p, "peer_id"))
        .collect();
    assert!(
        peers.contains(&third),
        "the page dialed the third node itself"
    );
    node.close().await.expect("close");
}
