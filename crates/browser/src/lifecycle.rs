//! How many nodes are running in this page: `close()` must stop a node entirely, and
//! `liveNodes()` lets an app (and our tests) check that it did.

use std::cell::Cell;
use std::future::Future;

use wasm_bindgen::prelude::*;

thread_local! {
    /// Event loops started and not yet finished (a page's wasm has one thread).
    static LIVE: Cell<u32> = const { Cell::new(0) };
}

/// Counts `event_loop` as live from now until it finishes (after `close()`, or when the
/// node's last handle is freed): its swarm, connections and timers are dropped with it.
pub fn counted(event_loop: impl Future<Output = ()>) -> impl Future<Output = ()> {
    let guard = Live::new();
    async move {
        let _guard = guard;
        event_loop.await;
    }
}

/// One live event loop; dropping it counts the loop as finished.
struct Live;

impl Live {
    fn new() -> Self {
        LIVE.with(|live| live.set(live.get() + 1));
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.with(|live| live.set(live.get().saturating_sub(1)));
    }
}

/// The number of nodes running in this page: created and not yet closed. After
/// `await node.close()` the node's event loop, connections and timers are gone and this
/// count no longer includes it.
#[wasm_bindgen(js_name = liveNodes)]
pub fn live_nodes() -> u32 {
    LIVE.with(Cell::get)
}
