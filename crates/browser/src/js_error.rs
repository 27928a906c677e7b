//! Errors as JavaScript sees them: an `Error` with the message and a stable `code`.
//!
//! An app branches on `error.code` (`"not_found"`, `"timeout"`, ...), never on the message,
//! which may be reworded. The codes are part of the package's API: the `WebkadErrorCode`
//! type in the `.d.ts` lists them, and a new code is a new minor version.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const ERROR_TS: &str = r#"
/** What went wrong, stable across versions (the message may be reworded: branch on this).
 *  - `invalid_input`: an argument is malformed (a bad multiaddr, PeerId, room name, option, an empty key);
 *  - `too_large`: a key, value or message is over the node's limit;
 *  - `not_found`: no peer has the record;
 *  - `timeout`: the operation took longer than allowed;
 *  - `unreachable`: a peer or address could not be dialed;
 *  - `not_connected`: the node knows no peer (or no rendezvous server) yet: `connect` first;
 *  - `no_room_peers`: nobody else is in the room, so a post would reach no one;
 *  - `not_replicated`: no peer stored the record (it is kept in this node only);
 *  - `store_refused`: this node's own store refused the entry (full, or a limit);
 *  - `query_failed`: a DHT query failed for another reason;
 *  - `remote`: the remote peer answered with an error;
 *  - `closed`: the node was closed;
 *  - `internal`: a fault in webkad itself (please report it). */
export type WebkadErrorCode =
  | "invalid_input" | "too_large" | "not_found" | "timeout" | "unreachable"
  | "not_connected" | "no_room_peers" | "not_replicated" | "store_refused"
  | "query_failed" | "remote" | "closed" | "internal" | "failed";
/** Every promise of `WebkadNode` rejects with one of these: a JS `Error` with a `code`. */
export interface WebkadError extends Error {
  code: WebkadErrorCode;
}
"#;

/// Something that can be reported to JavaScript: a message and a stable code.
pub trait ErrorCode: std::fmt::Display {
    /// The stable `code` property of the JS `Error`.
    fn code(&self) -> &'static str;
}

impl ErrorCode for webkad_core::Error {
    fn code(&self) -> &'static str {
        use webkad_core::Error as E;
        // A variant not listed (`Listen`: a page never listens; or one added later) is
        // reported as "failed": the match stays open so a new core error never breaks
        // the browser build.
        match self {
            E::EmptyKey | E::BadRoom(..) => "invalid_input",
            E::KeyTooLarge { .. }
            | E::ValueTooLarge { .. }
            | E::MessageTooLarge { .. }
            | E::RoomMessageTooLarge { .. } => "too_large",
            E::EmptyRoom(_) => "no_room_peers",
            E::NoRendezvous | E::NoKnownPeers => "not_connected",
            E::StoreRefused(_) => "store_refused",
            E::NotReplicated => "not_replicated",
            E::Query(_) => "query_failed",
            E::Unreachable { .. } => "unreachable",
            E::Remote(_) => "remote",
            E::NotFound => "not_found",
            E::Timeout(_) => "timeout",
            E::Stopped => "closed",
            _ => "failed",
        }
    }
}

/// A message of ours: it always describes an argument the caller got wrong.
impl ErrorCode for String {
    fn code(&self) -> &'static str {
        "invalid_input"
    }
}

/// A message of ours: it always describes an argument the caller got wrong.
impl ErrorCode for &str {
    fn code(&self) -> &'static str {
        "invalid_input"
    }
}

/// A JS `Error` with `error`'s message and `code`.
pub fn js_error(error: impl ErrorCode) -> JsValue {
    coded(error.code(), &error.to_string())
}

/// A JS `Error` with this `code` and `message`.
pub fn coded(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    // Setting a property on a fresh Error cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

/// A fault in webkad itself, not in what the caller passed.
pub fn internal(message: impl std::fmt::Display) -> JsValue {
    coded("internal", &message.to_string())
}
