// The webkad page: drives the WebkadNode that crates/browser compiles to WebAssembly.
//
// Trunk's loader imports the wasm module, sets window.wasmBindings and dispatches
// "TrunkApplicationStarted"; this module may run before or after that.
//
// URL parameters:
//   ?transport=webrtc-direct|ws   the transport to dial first (default webrtc-direct)
//   ?ephemeral=1                  a fresh identity, not kept in localStorage
//   ?bootstrap=<multiaddr>        dial these (repeatable) instead of asking /api/bootstrap

const TRANSPORTS = ["webrtc-direct", "ws"];
const LOG_LINES = 200;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const FETCH_TIMEOUT_MS = 5_000;
const PEERS_EVERY_MS = 1_000;
const PROBE_EVERY_MS = 2_000;
// How long after losing the bootstrap a refused redial ("already connected") means the
// old connection is stuck rather than about to be noticed closed (the ping interval is 15 s).
const STUCK_MS = 16_000;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"),
  transport: $("transport"),
  retry: $("retry"),
  prefer: $("prefer"),
  peerId: $("peer-id"),
  copy: $("copy"),
  meHint: $("me-hint"),
  peers: $("peers"),
  peerCount: $("peer-count"),
  result: $("result"),
  resultMeta: $("result-meta"),
  log: $("log"),
  logClear: $("log-clear"),
  forms: document.querySelectorAll("form[data-op]"),
};

const params = new URLSearchParams(location.search);
const wanted = params.get("transport");
const prefer = TRANSPORTS.includes(wanted) ? wanted : "webrtc-direct";
const ephemeral = ["1", "true", "yes", ""].includes(params.get("ephemeral"));
const fixedAddrs = params.getAll("bootstrap").filter(Boolean);
const createOptions = ephemeral ? { ephemeral: true } : undefined;

/** What the page knows; `phase` is one of loading, connecting, joined, waiting, failed. */
const state = {
  node: null,
  WebkadNode: null, // the class, once the wasm module is up
  phase: "loading",
  bootstrapPeer: null,
  joinedOnce: false,
  attempt: 0,
  dialing: false, // the first peer_connected of a connect attempt is the bootstrap
  reconnecting: null, // the running join loop, if any
  wake: null, // ends the current backoff wait early
  rtts: new Map(), // peer -> last ping_rtt
  opSeq: 0,
  misses: 0, // peer lists in a row without the bootstrap
  lostAt: 0,
  transport: null, // of the last join
  probing: false,
  probeMisses: 0,
};

// ---------------------------------------------------------------- small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const short = (id) => (id && id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : String(id ?? "?"));
const quote = (s) => JSON.stringify(s);
const message = (e) => (e instanceof Error ? e.message : typeof e === "string" ? e : String(e?.message ?? e));
const ms = (v) => (v == null ? "" : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
};
/** Bytes as quoted text when they are UTF-8, else as their length. */
const describe = (bytes) => {
  try {
    return quote(new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bytes)));
  } catch {
    return `${bytes.length} bytes`;
  }
};
const who = (peer) =>
  peer === state.node?.peerId ? `${short(peer)} (this page)` : peer === state.bootstrapPeer ? `${short(peer)} (bootstrap)` : short(peer);

function log(text, kind = "") {
  const now = new Date();
  const li = el("li", kind);
  const time = el("time", null, now.toTimeString().slice(0, 8));
  time.dateTime = now.toISOString();
  li.append(time, " ", text.length > 400 ? `${text.slice(0, 400)}…` : text);
  ui.log.prepend(li);
  while (ui.log.childElementCount > LOG_LINES) ui.log.lastElementChild.remove();
}

function setStatus(phase, text) {
  state.phase = phase;
  ui.status.dataset.state = phase;
  document.body.dataset.state = phase;
  ui.status.textContent = text;
  ui.status.title = text;
  const joined = phase === "joined";
  for (const form of ui.forms) form.querySelector("button").disabled = !joined;
  ui.retry.hidden = phase !== "waiting";
}

// ---------------------------------------------------------------- joining

/** Asks the node that serves this page how to reach it: { peer_id, addrs }. */
async function fetchBootstrap(timeout = FETCH_TIMEOUT_MS) {
  if (fixedAddrs.length) return { peer_id: null, addrs: fixedAddrs };
  let response;
  try {
    response = await fetch("/api/bootstrap", { cache: "no-store", signal: AbortSignal.timeout(timeout) });
  } catch (e) {
    const error = new Error(`cannot reach /api/bootstrap: ${message(e)}`);
    error.timedOut = e?.name === "TimeoutError";
    throw error;
  }
  if (!response.ok) throw new Error(`/api/bootstrap answered ${response.status} ${response.statusText}`.trim());
  const body = await response.json().catch(() => null);
  if (!Array.isArray(body?.addrs) || !body.addrs.every((a) => typeof a === "string")) {
    throw new Error("/api/bootstrap did not answer { addrs: [...] }");
  }
  return body;
}

/** Dials until joined, waiting 0.5 s, 1 s, 2 s ... 10 s (±25 %) between attempts. */
function join(first) {
  if (state.reconnecting) return state.reconnecting;
  state.reconnecting = (async () => {
    const again = state.joinedOnce;
    const verb = again ? "reconnecting" : "connecting";
    for (state.attempt = 1; ; state.attempt++) {
      const n = state.attempt;
      setStatus("connecting", n > 1 ? `${verb} (attempt ${n})…` : again ? "disconnected — reconnecting…" : "connecting…");
      try {
        const { addrs } = await (n === 1 && first ? first : fetchBootstrap());
        if (again && (await stuckOnWebrtc())) {
          // The WebRTC transport never notices a connection that died: the node would
          // refuse to redial the bootstrap ("already connected") and keep querying a dead
          // peer. Start a fresh node, with the same identity.
          await replaceNode(`the old webrtc-direct connection to ${short(state.bootstrapPeer)} is dead`);
        }
        log(`dialing ${prefer} first (${addrs.length} addresses offered)`);
        setStatus("connecting", `${verb}: dialing ${prefer} first…`);
        state.dialing = true;
        const joined = await state.node.connect(addrs, { prefer }).finally(() => (state.dialing = false));
        onJoined(joined, n);
        return;
      } catch (e) {
        const stuck = /already connected/i.test(message(e));
        log(`attempt ${n} failed: ${stuck ? "this node still counts its old connection to the bootstrap" : message(e)}`, "err");
        // The node still counts a connection the bootstrap no longer has and refuses to
        // dial it again. Over WebSocket it notices at its next ping (a failed write): wait
        // for that, then start a fresh node.
        if (stuck && performance.now() - state.lostAt >= STUCK_MS) {
          if (await replaceNode(`the old ${state.transport} connection is stuck`)) continue;
        }
        const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (n - 1));
        await countdown(again ? "disconnected" : "cannot join", Math.round(base * (0.75 + Math.random() * 0.5)));
      }
    }
  })().finally(() => {
    state.reconnecting = null;
  });
  return state.reconnecting;
}

/** Shows "<what> — reconnecting in N s" until `delay` has passed or Retry is pressed. */
async function countdown(what, delay) {
  const end = performance.now() + delay;
  const woken = new Promise((r) => (state.wake = r));
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) break;
    const secs = left < 1000 ? (left / 1000).toFixed(1) : Math.ceil(left / 1000);
    setStatus("waiting", `${what} — reconnecting in ${secs} s`);
    if ((await Promise.race([sleep(Math.min(left, left < 1000 ? 100 : 250)), woken])) === "now") break;
  }
  state.wake = null;
}

function onJoined(joined, attempts) {
  state.bootstrapPeer = joined.peer_id;
  state.misses = 0;
  state.probeMisses = 0;
  state.transport = joined.transport;
  ui.transport.textContent = joined.transport;
  setStatus("joined", "joined");
  const fellBack = joined.transport !== prefer && !(prefer === "ws" && joined.transport === "wss");
  log(
    `joined via ${joined.transport}${fellBack ? ` (${prefer} failed, fell back)` : ""} through ${short(joined.peer_id)}, ` +
      `routing table ${joined.routing_table_size}${attempts > 1 ? `, after ${attempts} attempts` : ""}`,
    "ok",
  );
  if (!state.joinedOnce) {
    state.joinedOnce = true;
    ui.status.dataset.joinedMs = String(Math.round(performance.now()));
    ui.status.dataset.transport = joined.transport;
  }
  refreshPeers();
}

/** The bootstrap may be gone: reconnect unless it is still connected. */
async function checkBootstrap(reason) {
  if (state.phase !== "joined") return;
  try {
    const peers = await state.node.peers();
    if (peers.some((p) => p.peer_id === state.bootstrapPeer)) return;
  } catch {
    // the node cannot even list its peers: treat it as lost
  }
  lost(reason);
}

function lost(reason) {
  if (state.phase !== "joined") return;
  log(`lost the bootstrap peer (${reason}), reconnecting`, "err");
  state.lostAt = performance.now();
  join();
}

/**
 * While joined, asks /api/bootstrap every few seconds whether the node serving this page
 * is still there: the wasm node may go on counting a connection to a node that has gone
 * (WebSocket: until its next ping, WebRTC: indefinitely).
 */
async function probe() {
  if (state.phase !== "joined" || fixedAddrs.length || state.probing) return;
  state.probing = true;
  try {
    const { peer_id } = await fetchBootstrap(PROBE_EVERY_MS);
    state.probeMisses = 0;
    if (peer_id && state.bootstrapPeer && peer_id !== state.bootstrapPeer) lost(`the node is now ${short(peer_id)}`);
  } catch (e) {
    // Refused or failed: gone. Slow: gone if it happens twice in a row.
    if (!e.timedOut || ++state.probeMisses >= 2) lost(message(e));
  } finally {
    state.probing = false;
  }
}

/** Whether the node still lists the lost bootstrap as connected over WebRTC-direct (or is gone). */
async function stuckOnWebrtc() {
  if (state.transport !== "webrtc-direct") return false;
  const peers = await state.node.peers().catch(() => null);
  return !peers || peers.some((p) => p.peer_id === state.bootstrapPeer && p.transport === "webrtc-direct");
}

/** Stops the node and starts another (same identity unless ephemeral). */
async function replaceNode(why) {
  log(`${why}: restarting the node in this page`, "err");
  const old = state.node;
  try {
    await old.close();
  } catch (e) {
    log(`closing the old node: ${message(e)}`, "err");
  }
  try {
    adopt(await state.WebkadNode.create(createOptions));
    return true;
  } catch (e) {
    fail(`error: cannot restart the node: ${message(e)}`);
    return false;
  }
}

function adopt(node) {
  state.node = node;
  state.rtts.clear();
  window.webkadNode = node;
  ui.peerId.textContent = node.peerId;
  ui.copy.disabled = false;
  node.onEvent(onEvent);
  log(`started as ${node.peerId}${ephemeral ? " (ephemeral)" : ""}`);
}

// ---------------------------------------------------------------- events and peers

function onEvent(ev) {
  switch (ev.type) {
    case "peer_connected":
      log(`connected to ${who(ev.peer)} via ${ev.transport} (${ev.addr})`);
      if (state.dialing) {
        state.dialing = false;
        ui.transport.textContent = ev.transport;
        setStatus("connecting", `connected via ${ev.transport}, bootstrapping the DHT…`);
      }
      break;
    case "peer_disconnected":
      log(`disconnected from ${who(ev.peer)}`, ev.peer === state.bootstrapPeer ? "err" : "");
      state.rtts.delete(ev.peer);
      if (ev.peer === state.bootstrapPeer) {
        checkBootstrap("it disconnected");
        state.wake?.("now"); // a redial refused as "already connected" may work now
      }
      break;
    case "ping_rtt":
      state.rtts.set(ev.peer, ev.rtt_ms);
      log(`ping ${who(ev.peer)}: ${ms(ev.rtt_ms)}`, "dim");
      break;
    case "routing_updated":
      log(`routing table: added ${who(ev.peer)} (${ev.routing_table_size} peers)`);
      break;
    case "bootstrapped":
      log(`DHT bootstrapped (${ev.routing_table_size} peers in the routing table)`);
      break;
    case "record_stored":
      log(`${who(ev.from)} stored a record here: ${quote(ev.key)}`);
      break;
    case "provider_stored":
      log(`${who(ev.provider)} provides ${quote(ev.key)}`);
      break;
    case "message":
      log(`message from ${who(ev.peer)}: ${describe(ev.data ?? [])}`);
      break;
    case "dial_failed":
      log(`dial failed${ev.peer ? ` to ${who(ev.peer)}` : ""}: ${ev.error}`, "err");
      break;
    case "listening":
    case "listener_closed":
      log(`${ev.type.replace("_", " ")} ${ev.addr}`, "dim");
      break;
    default:
      log(`${ev.type}`, "dim");
  }
  if (ev.type !== "listening" && ev.type !== "listener_closed") schedulePeers();
}

let peersTimer = 0;
let peersBusy = null; // the node a peers() call is out to
function schedulePeers() {
  clearTimeout(peersTimer);
  peersTimer = setTimeout(refreshPeers, 50);
}

async function refreshPeers() {
  clearTimeout(peersTimer);
  const node = state.node;
  if (!node || peersBusy === node) return;
  peersBusy = node;
  try {
    const peers = await node.peers();
    if (node === state.node) renderPeers(peers);
  } catch (e) {
    // a stopped node: keep the last list
    console.debug("peers() failed", e);
  } finally {
    if (peersBusy === node) peersBusy = null;
  }
}

function renderPeers(peers) {
  peers.sort((a, b) => (b.peer_id === state.bootstrapPeer) - (a.peer_id === state.bootstrapPeer) || (a.peer_id < b.peer_id ? -1 : 1));
  const rows = new Map(Array.from(ui.peers.children, (li) => [li.dataset.peerId, li]));
  let prev = null;
  for (const p of peers) {
    let li = rows.get(p.peer_id);
    rows.delete(p.peer_id);
    if (!li) {
      li = el("li");
      li.dataset.peerId = p.peer_id;
      const ping = el("button", "small", "ping");
      ping.type = "button";
      ping.setAttribute("aria-label", `Ping ${p.peer_id}`);
      ping.addEventListener("click", () => pingPeer(p.peer_id));
      li.append(el("code", "id", p.peer_id), el("span", "tag"), el("span", "tp"), el("span", "rtt"), ping);
    }
    const [, tag, tp, rtt] = li.children;
    const rttMs = p.rtt_ms ?? state.rtts.get(p.peer_id);
    setText(tag, p.peer_id === state.bootstrapPeer ? "bootstrap" : p.in_routing_table ? "dht" : "");
    setText(tp, p.transport);
    setText(rtt, rttMs == null ? "…" : ms(rttMs));
    const title = [p.agent_version, ...p.addrs].filter(Boolean).join("\n");
    if (li.title !== title) li.title = title;
    if (li.previousElementSibling !== prev || li.parentNode !== ui.peers) {
      if (prev) prev.after(li);
      else ui.peers.prepend(li);
    }
    prev = li;
  }
  for (const li of rows.values()) li.remove();
  ui.peerCount.textContent = peers.length ? `(${peers.length})` : "";

  // A safety net for a missed disconnect event.
  if (state.phase === "joined") {
    state.misses = peers.some((p) => p.peer_id === state.bootstrapPeer) ? 0 : state.misses + 1;
    if (state.misses >= 3) lost("no longer connected");
  }
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// ---------------------------------------------------------------- operations

/** Shows the latest operation's outcome; `value` fills a result-value child. */
function showResult(kind, text, meta = "", value = null) {
  ui.result.dataset.kind = kind;
  if (value == null) {
    ui.result.textContent = text;
  } else {
    const v = el("span", "value", value);
    v.dataset.testid = "result-value";
    ui.result.replaceChildren(v);
  }
  ui.resultMeta.textContent = meta;
}

async function run(label, work) {
  const seq = ++state.opSeq;
  const started = performance.now();
  showResult("pending", `${label}…`);
  try {
    const [kind, text, meta, value] = await work();
    const took = `${Math.round(performance.now() - started)} ms`;
    if (seq === state.opSeq) showResult(kind, text, meta ? `${meta} · ${took}` : took, value);
    log(`${label}: ${value ?? text}`.replace(/\n/g, ", "), kind === "ok" ? "ok" : "");
  } catch (e) {
    const text = `error: ${message(e)}`;
    if (seq === state.opSeq) showResult("error", text);
    log(`${label}: ${text}`, "err");
    checkBootstrap("an operation failed");
  }
}

const ops = {
  async put(key, form) {
    const value = form.elements.value.value;
    const outcome = await state.node.put(key, value);
    const where = outcome === "replicated" ? "stored on other peers too" : "kept only by this page: no other peer took it";
    return ["ok", `stored ${quote(key)} (${outcome})`, where];
  },
  async get(key) {
    const found = await state.node.get(key);
    if (!found) return ["none", "not found", `no peer has ${quote(key)}`];
    const text = found.text ?? `0x${hex(found.value)}`;
    const meta = [
      `${quote(key)}: ${found.value.length} bytes${found.text == null ? " (not UTF-8, shown as hex)" : ""}`,
      found.from ? `from ${who(found.from)}` : "from this page's own store",
      found.publisher ? `published by ${who(found.publisher)}` : "",
    ];
    return ["ok", text, meta.filter(Boolean).join(" · "), text];
  },
  async provide(key) {
    await state.node.provide(key);
    return ["ok", `providing ${quote(key)}`, "announced to the DHT"];
  },
  async providers(key) {
    const list = await state.node.providers(key);
    if (!list.length) return ["none", "no providers", `nobody provides ${quote(key)}`];
    const notes = list.map(who).filter((w) => w.includes("("));
    return ["ok", list.join("\n"), `${list.length} provider${list.length > 1 ? "s" : ""} of ${quote(key)}${notes.length ? `: ${notes.join(", ")}` : ""}`];
  },
};

const opLabels = { put: "put", get: "get", provide: "provide", providers: "get providers" };

for (const form of ui.forms) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (state.phase !== "joined") return;
    const op = form.dataset.op;
    const key = form.elements.key.value;
    run(`${opLabels[op]} ${quote(key)}`, () => ops[op](key, form));
  });
}

function pingPeer(peer) {
  run(`ping ${short(peer)}`, async () => {
    const pong = await state.node.ping(peer);
    state.rtts.set(pong.peer, pong.rtt_ms);
    schedulePeers();
    return ["ok", `pong from ${pong.peer} in ${ms(pong.rtt_ms)}`, ""];
  });
}

// ---------------------------------------------------------------- controls

ui.prefer.value = prefer;
ui.prefer.addEventListener("change", () => {
  const url = new URL(location.href);
  url.searchParams.set("transport", ui.prefer.value);
  ui.prefer.disabled = true;
  setStatus("connecting", `switching to ${ui.prefer.value}…`);
  location.assign(url);
});

ui.retry.addEventListener("click", () => state.wake?.("now"));
ui.logClear.addEventListener("click", () => ui.log.replaceChildren());

ui.copy.addEventListener("click", async () => {
  const id = ui.peerId.textContent;
  let done = false;
  try {
    await navigator.clipboard.writeText(id);
    done = true;
  } catch {
    // no clipboard API (insecure context, permission): copy through a selection
    const area = el("textarea");
    area.value = id;
    area.setAttribute("readonly", "");
    area.style.cssText = "position:fixed;opacity:0";
    document.body.append(area);
    area.select();
    try {
      done = document.execCommand("copy");
    } catch {
      done = false;
    }
    area.remove();
  }
  if (!done) getSelection()?.selectAllChildren(ui.peerId);
  ui.copy.textContent = done ? "Copied" : "Press Ctrl+C";
  setTimeout(() => (ui.copy.textContent = "Copy"), 1500);
});

addEventListener("pagehide", (event) => {
  // Tell the peers this page is going instead of letting them time out.
  if (!event.persisted) state.node?.close().catch(() => {});
});

function fail(text) {
  setStatus("failed", text);
  log(text, "err");
}

addEventListener("error", (event) => {
  if (!state.node) fail(`error: the node did not load: ${(event.message || "unknown error").replace(/^Uncaught /, "")}`);
});
addEventListener("unhandledrejection", (event) => {
  if (!state.node) fail(`error: ${message(event.reason)}`);
});

// ---------------------------------------------------------------- start

function wasmReady() {
  return window.wasmBindings
    ? Promise.resolve(window.wasmBindings)
    : new Promise((resolve) => addEventListener("TrunkApplicationStarted", () => resolve(window.wasmBindings), { once: true }));
}

async function main() {
  // Ask for the bootstrap addresses while the wasm module loads.
  const first = fetchBootstrap();
  first.catch(() => {}); // handled by the first attempt
  setStatus("loading", "loading…");
  state.WebkadNode = (await wasmReady()).WebkadNode;
  setStatus("loading", "starting node…");
  try {
    adopt(await state.WebkadNode.create(createOptions));
  } catch (e) {
    fail(`error: cannot start the node: ${message(e)}`);
    return;
  }
  ui.meHint.textContent = ephemeral
    ? "A fresh identity for this page load only."
    : "Kept in this browser's localStorage across reloads.";
  setInterval(refreshPeers, PEERS_EVERY_MS);
  setInterval(probe, PROBE_EVERY_MS);
  join(first);
}

main();
