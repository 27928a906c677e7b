//! Between JavaScript values and what the core takes and gives.

use js_sys::{Object, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use webkad_core::client::FoundRecord;

pub use crate::js_error::js_error;

/// A key or value: a string (its UTF-8 bytes) or a `Uint8Array`.
pub fn bytes_of(value: &JsValue, what: &str) -> Result<Vec<u8>, JsValue> {
    if let Some(text) = value.as_string() {
        return Ok(text.into_bytes());
    }
    if let Some(array) = value.dyn_ref::<Uint8Array>() {
        return Ok(array.to_vec());
    }
    Err(js_error(format!(
        "the {what} must be a string or a Uint8Array"
    )))
}

/// Any serialisable value as a plain JS object (maps as objects, snake_case fields).
pub fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| crate::js_error::internal(format!("cannot convert for JavaScript: {e}")))
}

/// A plain JS object with these fields.
pub fn js_object(fields: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    let object = Object::new();
    for (name, value) in fields {
        Reflect::set(&object, &JsValue::from_str(name), value)?;
    }
    Ok(object.into())
}

/// A found record as `{ value: Uint8Array, text: string | null, from, publisher, signed_by, seq }`.
pub fn record_to_js(record: &FoundRecord) -> Result<JsValue, JsValue> {
    let text = text_or_null(&record.value);
    let peer = |p: Option<libp2p::PeerId>| p.map_or(JsValue::NULL, |p| p.to_string().into());
    js_object(&[
        ("value", Uint8Array::from(&record.value[..]).into()),
        ("text", text),
        ("from", peer(record.from)),
        ("publisher", peer(record.publisher)),
        ("signed_by", peer(record.signed_by)),
        (
            "seq",
            record.seq.map_or(JsValue::NULL, |s| (s as f64).into()),
        ),
    ])
}

/// Bytes as text when they are UTF-8, else `null`.
pub fn text_or_null(bytes: &[u8]) -> JsValue {
    std::str::from_utf8(bytes)
        .map(JsValue::from_str)
        .unwrap_or(JsValue::NULL)
}

/// A received message as `onMessage` listeners get it, or `None` for other events:
/// `{ kind: "direct", from, data, text, at_ms }` or
/// `{ kind: "room", topic, from, data, text, id, at_ms }`.
pub fn message_to_js(event: &webkad_core::Event) -> Option<Result<JsValue, JsValue>> {
    use webkad_core::Event;
    let bytes = |data: &[u8]| JsValue::from(Uint8Array::from(data));
    match event {
        Event::Message { peer, data, at_ms } => Some(js_object(&[
            ("kind", "direct".into()),
            ("from", peer.as_str().into()),
            ("data", bytes(data)),
            ("text", text_or_null(data)),
            ("at_ms", (*at_ms as f64).into()),
        ])),
        Event::RoomMessage {
            topic,
            from,
            data,
            id,
            at_ms,
        } => Some(js_object(&[
            ("kind", "room".into()),
            ("topic", topic.as_str().into()),
            ("from", from.as_str().into()),
            ("data", bytes(data)),
            ("text", text_or_null(data)),
            ("id", id.as_str().into()),
            ("at_ms", (*at_ms as f64).into()),
        ])),
        _ => None,
    }
}
