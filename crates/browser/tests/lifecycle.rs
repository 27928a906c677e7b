//! What a package user expects of `close()` and of errors, in headless Chromium, with no
//! other node: `close()` stops the node entirely (twenty nodes created and closed in one
//! page leave no node running and the wasm memory flat), and errors are `Error` objects
//! with a stable `code`.
//!
//! Run with the other browser tests: `wasm-pack test --headless --chrome crates/browser`
//! (no fixture needed for these).
#![cfg(target_arch = "wasm32")]

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use webkad_browser::{WebkadNode, live_nodes};

wasm_bindgen_test_configure!(run_in_browser);

fn ephemeral() -> JsValue {
    let object = js_sys::Object::new();
    Reflect::set(&object, &"ephemeral".into(), &true.into()).expect("set");
    object.into()
}

/// The bytes of this module's linear memory (it only ever grows).
fn memory_bytes() -> u32 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer: js_sys::ArrayBuffer = memory.buffer().unchecked_into();
    buffer.byte_length()
}

/// A node created, used and closed; answers once its event loop is gone.
async fn create_use_and_close() {
    let node = WebkadNode::create(Some(ephemeral().unchecked_into()))
        .await
        .expect("a node starts");
    node.on_event(js_sys::Function::new_no_args(""));
    node.peers().await.expect("the new node answers");
    node.close().await.expect("the node closes");
    // Calls after close fail with the stable code instead of hanging.
    let error = node.peers().await.expect_err("a closed node refuses");
    assert_eq!(code(&error), "closed");
    drop(node);
}

fn code(error: &JsValue) -> String {
    assert!(
        error.is_instance_of::<js_sys::Error>(),
        "an Error: {error:?}"
    );
    Reflect::get(error, &"code".into())
        .expect("a code property")
        .as_string()
        .expect("a string code")
}

#[wasm_bindgen_test]
async fn twenty_nodes_closed_leave_nothing_running_and_memory_flat() {
    // Warm up: the first nodes grow the heap to its working size.
    for _ in 0..5 {
        create_use_and_close().await;
    }
    assert_eq!(live_nodes(), 0, "every closed node stopped");
    let after_warm_up = memory_bytes();
    for round in 0..20 {
        create_use_and_close().await;
        assert_eq!(live_nodes(), 0, "node {round} stopped on close");
    }
    let after = memory_bytes();
    wasm_bindgen_test::console_log!(
        "wasm memory: {after_warm_up} bytes after 5 nodes, {after} after 20 more"
    );
    // Memory grows in 64 KiB pages; a leak of one node's swarm (hundreds of KB) per round
    // would add megabytes over twenty rounds.
    assert!(
        after <= after_warm_up + 256 * 1024,
        "the wasm memory grew from {after_warm_up} to {after} bytes over 20 create/close rounds"
    );
}

#[wasm_bindgen_test]
async fn errors_carry_a_stable_code() {
    let node = WebkadNode::create(Some(ephemeral().unchecked_into()))
        .await
        .expect("a node starts");
    assert_eq!(live_nodes(), 1);
    let bad_addr = node
        .connect(vec!["not a multiaddr".into()], None)
        .await
        .expect_err("a bad address is refused");
    assert_eq!(code(&bad_addr), "invalid_input");
    let bad_key = node
        .put(JsValue::from(7), "v".into())
        .await
        .expect_err("a number is not a key");
    assert_eq!(code(&bad_key), "invalid_input");
    let big = "x".repeat(1 << 20);
    let too_large = node
        .put("k".into(), big.into())
        .await
        .expect_err("a 1 MiB value is over the limit");
    assert_eq!(code(&too_large), "too_large");
    let lonely = node
        .publish("nobody-here".into(), "hello?".into())
        .await
        .expect_err("nobody else is in the room");
    assert_eq!(code(&lonely), "no_room_peers");
    let bad_peer = node
        .send("not-a-peer".into(), "hi".into())
        .await
        .expect_err("not a PeerId");
    assert_eq!(code(&bad_peer), "invalid_input");
    let Err(bad_options) = WebkadNode::create(Some(JsValue::from("nope").unchecked_into())).await
    else {
        panic!("options must be an object");
    };
    assert_eq!(code(&bad_options), "invalid_input");
    node.close().await.expect("closes");
    assert_eq!(live_nodes(), 0);
}
