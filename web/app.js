// The webkad page: drives the WebkadNode that crates/browser compiles to WebAssembly.
//
// Trunk's loader imports the wasm module, sets window.wasmBindings and dispatches
// "TrunkApplicationStarted"; this module may run before or after that.
//
// URL parameters:
//   ?transport=ws|webrtc-direct   the transport to dial first (default ws)
//   ?ephemeral=1                  a fresh identity, not kept in localStorage
//   ?bootstrap=<multiaddr>        dial these (repeatable) instead of asking /api/bootstrap

// WebSocket first: behind a 150 ms mobile link it joins 1.8 s sooner than WebRTC-direct,
// and 11 s sooner on a return visit (cargo xtask bench-page); WebRTC-direct is the
// fallback (an https page cannot open ws:// to a node without TLS).
const TRANSPORTS = ["ws", "webrtc-direct"];
const LOG_LINES = 200;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const FETCH_TIMEOUT_MS = 5_000;
const PEERS_EVERY_MS = 1_000;
const PROBE_EVERY_MS = 2_000;
const SOCIAL_EVERY_MS = 2_000; // browser peers' reachability and room members
const CHAT_LINES = 500;
const PUBLISH_RETRIES = 5; // "no peer has joined" right after joining: the mesh is forming
const RESERVE_FIRST_MS = 1_000;
const RESERVE_MAX_MS = 10_000;
// How long after losing the bootstrap a refused redial ("already connected") means the
// old connection is stuck rather than about to be noticed closed: WebRTC-direct's ICE state
// takes about 6 s, a silent WebSocket its next ping (every 15 s, 10 s timeout).
const STUCK_MS = 26_000;

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
  relay: $("relay-status"),
  relayHint: $("relay-hint"),
  bpeers: $("browser-peers"),
  bpeerCount: $("bpeer-count"),
  bpeersEmpty: $("bpeers-empty"),
  dmForm: $("dm-form"),
  dmPeer: $("dm-peer"),
  dmText: $("dm-text"),
  dmBtn: $("dm-btn"),
  inbox: $("inbox"),
  roomForm: $("room-form"),
  topic: $("topic"),
  joinBtn: $("join-btn"),
  roomStatus: $("room-status"),
  roomPeers: $("room-peers"),
  pubForm: $("pub-form"),
  pubText: $("pub-text"),
  pubBtn: $("pub-btn"),
  messages: $("messages"),
};

/**
 * Milestones of the first join, in ms since navigation start, kept as JSON in the status
 * element's `data-steps` (the page benchmark splits load → joined by them). Only the first
 * time each step happens counts; `relay` (the first reservation) and `rest` (the
 * wasm's second part loaded) may come after `joined`.
 */
const steps = {};
function mark(step) {
  if (steps[step] !== undefined || (steps.joined !== undefined && step !== "relay" && step !== "rest")) return;
  steps[step] = Math.round(performance.now());
  ui.status.dataset.steps = JSON.stringify(steps);
}
mark("script");

const params = new URLSearchParams(location.search);
const wanted = params.get("transport");
const prefer = TRANSPORTS.includes(wanted) ? wanted : "ws";
const ephemeral = ["1", "true", "yes", ""].includes(params.get("ephemeral"));

// A page that dials WebRTC-direct first needs the wasm's second part (it holds the WebRTC
// code) before it dials: fetch it beside the first part, not after it (loadLazy's fetch
// takes the preloaded response). On the mobile link that was ten round trips after the
// first part arrived.
if (prefer !== "ws") {
  const primary = document.querySelector('link[rel="preload"][href$="_bg.wasm"]');
  if (primary) {
    const link = document.createElement("link");
    link.rel = "preload";
    link.as = "fetch";
    link.type = "application/wasm";
    link.crossOrigin = "anonymous";
    link.href = primary.href.replace(/_bg\.wasm$/, "_lazy.wasm");
    document.head.append(link);
  }
}
const fixedAddrs = params.getAll("bootstrap").filter(Boolean);
const createOptions = ephemeral ? { ephemeral: true } : undefined;

/** What the page knows; `phase` is one of loading, connecting, joined, waiting, failed. */
const state = {
  node: null,
  WebkadNode: null, // the class, once the wasm module is up
  loadLazy: null, // loads the wasm's second part (the glue's loadLazy)
  rest: null, // that load, once started
  panel: null, // the metrics panel's load, once started (after joined)
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
  originPeer: null, // the node that serves this page, per its last /api/bootstrap
  // Other pages: peer -> { peer_id, addrs, connected, transport, rtt_ms, seenAt, misses }
  bpeers: new Map(),
  // The room this page is in (kept across rejoins and node replacements), whether the
  // current node has subscribed to it, and who else is in it.
  room: null,
  roomLive: false,
  roomBusy: false,
  roomPeers: new Set(),
  seenIds: new Set(), // room message ids already shown
  relayAddr: null, // this page's /p2p-circuit address while it holds a reservation
  renewals: 0,
  reserving: false,
  listening: new Set(), // addresses the node said it listens on
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
const who = (peer) =>
  peer === state.node?.peerId ? `${short(peer)} (this page)` : peer === state.bootstrapPeer ? `${short(peer)} (bootstrap)` : short(peer);

/** A relay or rendezvous server, given as a PeerId or as a multiaddr. */
const relayName = (r) => (String(r ?? "").startsWith("/") ? r : who(r));

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
  ui.dmBtn.disabled = !joined;
  ui.pubBtn.disabled = !joined;
  renderRoom();
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
  state.originPeer = body.peer_id ?? null;
  const servers = Array.isArray(body.servers) ? body.servers.filter((a) => typeof a === "string") : [];
  rememberServers([...body.addrs, ...servers]);
  return body;
}

// ---------------------------------------------------------------- other servers

// Server addresses this page has met (its own node's and the others /api/bootstrap lists),
// kept in localStorage so that a page whose node went away rejoins through another one,
// even after a reload. Bounded and expiring: an address not seen for a week is forgotten.
const SERVERS_KEY = "webkad.servers";
const SERVERS_MAX = 32;
const SERVERS_TTL_MS = 7 * 24 * 3600 * 1000;

function loadServers() {
  try {
    const list = JSON.parse(localStorage.getItem(SERVERS_KEY) ?? "[]");
    const now = Date.now();
    return Array.isArray(list)
      ? list.filter((s) => typeof s?.addr === "string" && typeof s?.at === "number" && now - s.at < SERVERS_TTL_MS)
      : [];
  } catch {
    return [];
  }
}

function rememberServers(addrs) {
  const now = Date.now();
  const fresh = addrs.filter((a) => /\/p2p\/[^/]+$/.test(a)).map((addr) => ({ addr, at: now }));
  const merged = [...fresh, ...loadServers().filter((s) => !addrs.includes(s.addr))].slice(0, SERVERS_MAX);
  try {
    localStorage.setItem(SERVERS_KEY, JSON.stringify(merged));
  } catch {
    // storage full or disabled: the page still works with its own node
  }
}

/** Remembered addresses of servers other than `gone`, most recently seen first. */
function otherServers(gone) {
  return loadServers()
    .map((s) => s.addr)
    .filter((a) => !gone || !a.endsWith(`/p2p/${gone}`));
}

/**
 * The addresses `fetching` answers, or when the node serving this page cannot answer, the
 * other servers this page remembers (less the one it lost).
 */
async function bootstrapAddrs(fetching) {
  try {
    return (await fetching).addrs;
  } catch (e) {
    const others = forOrigin(otherServers(state.joinedOnce ? state.bootstrapPeer : null));
    if (!others.length || fixedAddrs.length) throw e;
    log(`${message(e)}: trying ${others.length} other server address${others.length === 1 ? "" : "es"}`);
    return others;
  }
}

/**
 * On an https origin the browser refuses ws:// (mixed content): only WSS (`/tls/ws`,
 * `/wss`) and WebRTC-direct addresses are offered, so the WSS one is dialed first.
 */
function forOrigin(addrs) {
  if (location.protocol !== "https:") return addrs;
  return addrs.filter((a) => !/\/ws(\/|$)/.test(a) || /\/(tls|wss)(\/|$)/.test(a));
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
        const addrs = forOrigin(await bootstrapAddrs(n === 1 && first ? first : fetchBootstrap()));
        log(`dialing ${prefer} first (${addrs.length} addresses offered)`);
        setStatus("connecting", `${verb}: dialing ${prefer} first…`);
        state.dialing = true;
        mark("dial");
        const joined = await state.node.connect(addrs, { prefer }).finally(() => (state.dialing = false));
        onJoined(joined, n);
        return;
      } catch (e) {
        const stuck = /already connected/i.test(message(e));
        log(`attempt ${n} failed: ${stuck ? "this node still counts its old connection to the bootstrap" : message(e)}`, "err");
        // The node still counts a connection the bootstrap no longer has and refuses to
        // dial it again. WebRTC-direct notices from the ICE state (about 6 s), WebSocket
        // from the socket or at its next ping: a disconnect wakes the countdown; past
        // STUCK_MS, start a fresh node.
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
    mark("joined");
    state.joinedOnce = true;
    ui.status.dataset.joinedMs = String(Math.round(performance.now()));
    ui.status.dataset.transport = joined.transport;
    // Calls into the wasm's second part before it arrived (each a synchronous load): none
    // on the way to joined while web/page-profile.txt is current.
    ui.status.dataset.syncLoads = String(globalThis.__wkSyncLoads || 0);
    if (globalThis.__wkSyncSlot !== undefined) ui.status.dataset.syncSlot = String(globalThis.__wkSyncSlot);
    loadPanel();
  }
  refreshPeers();
  afterJoin(joined);
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
  state.roomLive = false;
  setRelay(null, "the relay is the bootstrap node: reserving again once rejoined");
  join();
}

/**
 * While joined, asks /api/bootstrap every few seconds whether the node serving this page
 * is still there: the wasm node may go on counting a connection to a node that has gone
 * (WebSocket: until its next ping, WebRTC: indefinitely).
 */
async function probe() {
  if (state.phase !== "joined" || fixedAddrs.length || state.probing) return;
  // Joined through another server (this page's own node went away): that connection is
  // watched by its disconnect events, not by this origin's /api/bootstrap.
  if (state.originPeer && state.bootstrapPeer && state.bootstrapPeer !== state.originPeer) return;
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

/** Stops the node and starts another (same identity unless ephemeral). */
async function replaceNode(why) {
  log(`${why}: restarting the node in this page`, "err");
  const old = state.node;
  announce(null);
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

/** Tells the other page modules (the metrics panel) which node runs, or that none does. */
const announce = (node) => dispatchEvent(new CustomEvent("webkad:node", { detail: node }));

function adopt(node) {
  state.node = node;
  state.rtts.clear();
  window.webkadNode = node;
  announce(node);
  ui.peerId.textContent = node.peerId;
  ui.copy.disabled = false;
  state.listening.clear();
  node.onEvent(onEvent);
  if (typeof node.onMessage === "function") node.onMessage(onMessage);
  state.roomLive = false;
  log(`started as ${node.peerId}${ephemeral ? " (ephemeral)" : ""}`);
}

// ---------------------------------------------------------------- events and peers

function onEvent(ev) {
  switch (ev.type) {
    case "peer_connected":
      log(`connected to ${who(ev.peer)} via ${ev.transport} (${ev.addr})`);
      if (state.dialing) {
        mark("connected");
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
      mark("routing");
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
      // Shown and logged through onMessage; a node without it only has this event.
      if (typeof state.node?.onMessage !== "function") {
        onMessage({ kind: "direct", from: ev.peer, data: Uint8Array.from(ev.data ?? []), text: null, at_ms: ev.at_ms });
      }
      break;
    case "room_message":
      if (typeof state.node?.onMessage !== "function") {
        const data = Uint8Array.from(ev.data ?? []);
        onMessage({ kind: "room", topic: ev.topic, from: ev.from, data, text: null, id: ev.id, at_ms: ev.at_ms });
      }
      break;
    case "reservation_accepted":
      if (ev.renewal) {
        state.renewals++;
        log(`relay reservation renewed on ${relayName(ev.relay)} (${state.renewals} renewal${state.renewals === 1 ? "" : "s"})`, "dim");
      } else {
        mark("relay");
        log(`relay reservation accepted by ${relayName(ev.relay)}${ev.addr ? `: reachable at ${ev.addr}` : ""}`, "ok");
      }
      setRelay(ev.addr ?? state.relayAddr ?? "");
      break;
    case "reservation_lost":
      log(`relay reservation on ${relayName(ev.relay)} lost: ${ev.reason}`, "err");
      setRelay(null, `lost: ${ev.reason}`);
      if (state.phase === "joined") reserveAgain(ev.reason);
      break;
    case "circuit_closed":
      log(
        `circuit to ${ev.peer} closed: ${ev.reason}${ev.limit_reached ? " (relay limit reached)" : ""} — ` +
          (ev.reopening ? "reopening" : "not reopened"),
        ev.reopening ? "dim" : "err",
      );
      scheduleSocial();
      break;
    case "registered":
      log(`registered at the rendezvous ${relayName(ev.rendezvous)} as ${quote(ev.namespace)} (for ${ev.ttl_secs} s)`, "dim");
      break;
    case "peer_discovered":
      if (ev.peer === state.node?.peerId) break;
      if (!state.bpeers.has(ev.peer)) log(`discovered browser peer ${ev.peer}`, "ok");
      mergeBrowserPeers([{ peer_id: ev.peer, addrs: ev.addrs ?? [] }]);
      scheduleSocial();
      break;
    case "peer_expired":
      if (state.bpeers.delete(ev.peer)) {
        log(`browser peer ${ev.peer} expired`);
        renderBrowserPeers();
      }
      break;
    case "room_peer_joined":
      log(`${who(ev.peer)} joined room ${quote(ev.topic)}`, "dim");
      if (ev.topic === state.room && ev.peer !== state.node?.peerId) state.roomPeers.add(ev.peer);
      renderRoom();
      break;
    case "room_peer_left":
      log(`${who(ev.peer)} left room ${quote(ev.topic)}`, "dim");
      if (ev.topic === state.room) state.roomPeers.delete(ev.peer);
      renderRoom();
      break;
    case "dial_failed":
      log(`dial failed${ev.peer ? ` to ${who(ev.peer)}` : ""}: ${ev.error}`, "err");
      break;
    case "listening":
      // Every relay reservation renewal announces the same circuit addresses again.
      if (state.listening.has(ev.addr)) break;
      state.listening.add(ev.addr);
      log(`listening ${ev.addr}`, "dim");
      break;
    case "listener_closed":
      state.listening.delete(ev.addr);
      log(`listener closed ${ev.addr}`, "dim");
      break;
    default:
      log(`${ev.type}`, "dim");
  }
  if (ev.type !== "listening" && ev.type !== "listener_closed") schedulePeers();
}

/**
 * A refresh that runs at most once at a time per node: `run()` starts it now, `schedule()`
 * after `debounceMs` (a burst of events makes one call). `work(node)` gets the current node.
 */
function coalesced(work, debounceMs, what) {
  let timer = 0;
  let busy = null; // the node a call is out to
  async function run() {
    clearTimeout(timer);
    const node = state.node;
    if (!node || busy === node) return;
    busy = node;
    try {
      await work(node);
    } catch (e) {
      // a stopped node: keep what is shown
      console.debug(`${what} failed`, e);
    } finally {
      if (busy === node) busy = null;
    }
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(run, debounceMs);
  }
  return { run, schedule };
}

const peersRefresh = coalesced(async (node) => {
  const peers = await node.peers();
  if (node === state.node) renderPeers(peers);
}, 50, "peers()");
const refreshPeers = peersRefresh.run;
const schedulePeers = peersRefresh.schedule;

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
    if (form.elements.signed.checked) {
      // An owner-signed record: key <our peer id>/<name>, only this identity can change it.
      const put = await state.node.putSigned(key, value);
      const where = put.outcome === "replicated" ? "stored on other peers too" : "kept only by this page: no other peer took it";
      return ["ok", `stored ${quote(put.key)} signed (sequence ${put.seq}, ${put.outcome})`, `read it as ${put.key} · ${where}`];
    }
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
      found.signed_by ? `signed by ${found.signed_by} (sequence ${found.seq})` : "unsigned",
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

// ---------------------------------------------------------------- relay, browser peers, messages, rooms

const clock = (at) => new Date(at ?? Date.now()).toTimeString().slice(0, 8);
const ms1 = (v) => `${Number(v).toFixed(1)} ms`;
const utf8 = (bytes) => {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
};
/** A message's payload as text: its text when UTF-8, else its bytes in hex. */
const payload = (msg) => msg.text ?? utf8(msg.data ?? new Uint8Array()) ?? `0x${hex(msg.data)}`;

/** `addr`: this page's relay address while it holds a reservation ("" if unknown), null without. */
function setRelay(addr, hint = "") {
  state.relayAddr = addr;
  const n = state.renewals;
  ui.relay.dataset.state = addr == null ? "none" : "reserved";
  ui.relay.dataset.renewals = String(n);
  setText(ui.relay, addr == null ? "relay: none" : `relay: reserved (renewed ${n} time${n === 1 ? "" : "s"})`);
  ui.relay.title = addr || "";
  setText(ui.relayHint, addr ? `reachable at ${addr}` : hint);
}

/** After a reservation_lost while joined: reserve() again after 1 s, 2 s, 4 s … 10 s. */
async function reserveAgain(reason) {
  if (state.reserving) return;
  state.reserving = true;
  const node = state.node;
  try {
    for (let n = 0; ; n++) {
      const wait = Math.min(RESERVE_MAX_MS, RESERVE_FIRST_MS * 2 ** n);
      setRelay(null, `lost (${reason}): reserving again in ${wait / 1000} s`);
      await sleep(wait);
      // A rejoin reserves by itself; a new node is another story; an event may have come first.
      if (node !== state.node || state.phase !== "joined" || state.relayAddr != null) return;
      try {
        const addr = await node.reserve();
        log(`relay reservation made again: reachable at ${addr}`, "ok");
        setRelay(addr);
        return;
      } catch (e) {
        reason = message(e);
        log(`reserving a relay slot again failed: ${reason}`, "err");
      }
    }
  } finally {
    state.reserving = false;
  }
}

/** What to do once (re)joined: relay status, the room the page was in, discovery. */
async function afterJoin(joined) {
  const node = state.node;
  if (state.relayAddr == null) setRelay(null, "reserving a slot on the relay…");
  // The reservation runs beside the join; it never delays `joined`.
  Promise.resolve(joined.relay)
    .catch(() => null)
    .then((addr) => {
      if (node !== state.node || state.phase !== "joined" || state.relayAddr != null) return;
      setRelay(addr ?? null, addr ? "" : "the relay refused a reservation");
    });
  if (state.room) enterRoom(state.room, true);
  if (typeof node.discover !== "function") return;
  try {
    const found = await node.discover();
    if (node !== state.node) return;
    mergeBrowserPeers(found);
    const others = found.filter((p) => p.peer_id !== node.peerId);
    log(`discovery: ${others.length} other browser peer${others.length === 1 ? "" : "s"} registered`, "dim");
  } catch (e) {
    log(`discovery failed: ${message(e)}`, "err");
  }
}

/** Adds or updates browser peers (from discover, browserPeers or an event). */
function mergeBrowserPeers(list, now = performance.now()) {
  const me = state.node?.peerId;
  for (const p of list ?? []) {
    if (!p?.peer_id || p.peer_id === me) continue;
    const known = state.bpeers.get(p.peer_id);
    const next = { connected: false, transport: null, rtt_ms: null, addrs: [], ...known, seenAt: now, misses: 0 };
    for (const k of ["addrs", "connected", "transport", "rtt_ms"]) if (p[k] !== undefined) next[k] = p[k];
    next.peer_id = p.peer_id;
    state.bpeers.set(p.peer_id, next);
  }
  renderBrowserPeers();
}

/** Every ~2 s while joined: the browser peers' reachability and the room's members. */
const socialRefresh = coalesced(async (node) => {
  if (state.phase !== "joined") return;
  if (typeof node.browserPeers === "function") {
    const list = await node.browserPeers();
    if (node !== state.node) return;
    const now = performance.now();
    const listed = new Set(list.map((p) => p.peer_id));
    // Events say who comes and goes; a peer the node no longer lists twice in a row (and
    // not announced just now) is gone too, e.g. known only to a node this page replaced.
    for (const [id, p] of state.bpeers) {
      if (!listed.has(id) && now - p.seenAt > 2 * SOCIAL_EVERY_MS && ++p.misses >= 2) state.bpeers.delete(id);
    }
    mergeBrowserPeers(list, now);
  }
  if (state.room && state.roomLive && typeof node.rooms === "function") {
    const rooms = await node.rooms();
    const room = node === state.node && rooms.find((r) => r.topic === state.room);
    if (room) {
      state.roomPeers = new Set(room.peers.filter((p) => p !== node.peerId));
      renderRoom();
    }
  }
}, 100, "refreshing browser peers / rooms");
const refreshSocial = socialRefresh.run;
const scheduleSocial = socialRefresh.schedule;

function reachability(p) {
  if (p.connected) return ["connected", p.transport, p.rtt_ms == null ? null : ms1(p.rtt_ms)].filter(Boolean).join(" · ");
  if (p.addrs?.some((a) => a.includes("/p2p-circuit"))) return "reachable via relay";
  return p.addrs?.length ? "not connected" : "no address known";
}

function renderBrowserPeers() {
  const me = state.node?.peerId;
  const peers = [...state.bpeers.values()].filter((p) => p.peer_id !== me).sort((a, b) => (a.peer_id < b.peer_id ? -1 : 1));
  const rows = new Map(Array.from(ui.bpeers.children, (li) => [li.dataset.peerId, li]));
  let prev = null;
  for (const p of peers) {
    let li = rows.get(p.peer_id);
    rows.delete(p.peer_id);
    if (!li) {
      li = el("li");
      li.dataset.peerId = p.peer_id;
      li.title = "Click to send this peer a direct message";
      const pick = el("button", "small", "message");
      pick.type = "button";
      pick.setAttribute("aria-label", `Send a direct message to ${p.peer_id}`);
      li.append(el("code", "id", p.peer_id), " ", el("span", "reach"), " ", pick);
      li.addEventListener("click", () => pickPeer(p.peer_id));
    }
    const reach = li.querySelector(".reach");
    setText(reach, reachability(p));
    reach.dataset.connected = String(Boolean(p.connected));
    li.dataset.addrs = (p.addrs ?? []).join(" ");
    if (li.previousElementSibling !== prev || li.parentNode !== ui.bpeers) {
      if (prev) prev.after(li);
      else ui.bpeers.prepend(li);
    }
    prev = li;
  }
  for (const li of rows.values()) li.remove();
  ui.bpeerCount.textContent = peers.length ? `(${peers.length})` : "";
  ui.bpeersEmpty.hidden = peers.length > 0;
}

function pickPeer(peer) {
  ui.dmPeer.value = peer;
  ui.dmText.focus();
}

/** Appends `li` to a chat list, keeping it scrolled to the bottom if it was there. */
function appendLine(list, li) {
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  list.append(li);
  while (list.childElementCount > CHAT_LINES) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

/** "→ peer: text" / "← peer: text", then the outcome (outgoing) and the time. */
function dmLine(dir, peer, text, at) {
  const li = el("li", dir === "←" ? "in" : "out");
  const time = el("time", null, clock(at));
  time.dateTime = new Date(at ?? Date.now()).toISOString();
  li.append(el("span", "dir", dir), " ", el("code", "id", peer), ": ", el("span", "text", text), " ", el("span", "outcome"), " ", time);
  appendLine(ui.inbox, li);
  return li.querySelector(".outcome");
}

function setOutcome(span, kind, text) {
  span.dataset.kind = kind;
  span.textContent = text;
}

function onMessage(msg) {
  const text = payload(msg);
  if (msg.kind === "direct") {
    dmLine("←", msg.from, text, msg.at_ms);
    log(`DM received from ${msg.from}: ${quote(text)}`, "ok");
  } else if (msg.kind === "room") {
    if (msg.id) {
      if (state.seenIds.has(msg.id)) return;
      state.seenIds.add(msg.id);
      if (state.seenIds.size > 4 * CHAT_LINES) state.seenIds.delete(state.seenIds.values().next().value);
    }
    roomLine(msg.from, false, msg.topic, text, msg.at_ms);
  }
}

ui.dmForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const peer = ui.dmPeer.value.trim();
  const text = ui.dmText.value;
  if (!peer || !text || state.phase !== "joined") return;
  ui.dmText.value = "";
  const outcome = dmLine("→", peer, text);
  setOutcome(outcome, "pending", "sending…");
  try {
    const ack = await state.node.send(peer, text);
    setOutcome(outcome, "ok", `✓ delivered in ${ms1(ack.rtt_ms)}`);
    log(`DM sent to ${peer}: ${quote(text)}, delivered in ${ms1(ack.rtt_ms)}`, "ok");
  } catch (e) {
    setOutcome(outcome, "error", `✗ ${message(e)}`);
    log(`DM to ${peer} failed: ${message(e)}`, "err");
  }
});

/** "HH:MM:SS <from> [topic]: text", with "(you)" after the PeerId for this page's posts. */
function roomLine(from, mine, topic, text, at) {
  const li = el("li", mine ? "out" : "in");
  const time = el("time", null, clock(at));
  time.dateTime = new Date(at ?? Date.now()).toISOString();
  li.append(time, " ", el("code", "id", from));
  if (mine) li.append(" ", el("span", "you", "(you)"));
  li.append(" ", el("span", "topic", `[${topic}]`), ": ", el("span", "text", text), " ", el("span", "outcome"));
  appendLine(ui.messages, li);
  return li.querySelector(".outcome");
}

function renderRoom() {
  const joined = state.phase === "joined";
  const input = ui.topic.value.trim();
  const leaving = state.room != null && (input === state.room || !input);
  ui.joinBtn.textContent = leaving ? "Leave" : "Join";
  ui.joinBtn.setAttribute("aria-label", leaving ? `Leave room ${quote(state.room)}` : `Join room ${quote(input)}`);
  ui.joinBtn.disabled = !joined || state.roomBusy;
  if (!state.room) {
    setText(ui.roomStatus, "not in a room");
    ui.roomPeers.textContent = "";
  } else if (state.roomLive) {
    setText(ui.roomStatus, `joined room ${quote(state.room)}`);
    const n = state.roomPeers.size;
    const boot = state.bootstrapPeer && state.roomPeers.has(state.bootstrapPeer);
    // Empty while nobody else is known in the room (the bootstrap joins it soon after).
    setText(ui.roomPeers, n ? `(${n} other peer${n === 1 ? "" : "s"}${boot ? ", incl. the bootstrap" : ""})` : "");
    ui.roomPeers.title = [...state.roomPeers].join("\n");
  } else {
    setText(ui.roomStatus, `joining room ${quote(state.room)}…`);
  }
  ui.roomStatus.dataset.state = !state.room ? "none" : state.roomLive ? "joined" : "joining";
}

/** Subscribes the current node to `topic` (leaving the page's other room first). */
async function enterRoom(topic, again = false) {
  const node = state.node;
  const old = state.room;
  state.roomBusy = true;
  if (old !== topic) {
    state.roomPeers = new Set();
    if (old && state.roomLive) await node.unsubscribe(old).catch(() => {});
  }
  state.room = topic;
  state.roomLive = false;
  renderRoom();
  try {
    await node.subscribe(topic);
    if (node !== state.node || state.room !== topic) return false;
    state.roomLive = true;
    log(`${again ? "rejoined" : "joined"} room ${quote(topic)}`, "ok");
    scheduleSocial();
    return true;
  } catch (e) {
    log(`joining room ${quote(topic)} failed: ${message(e)}`, "err");
    if (!again && state.room === topic) state.room = null;
    return false;
  } finally {
    state.roomBusy = false;
    renderRoom();
  }
}

async function leaveRoom() {
  const topic = state.room;
  state.roomBusy = true;
  renderRoom();
  try {
    await state.node.unsubscribe(topic);
    log(`left room ${quote(topic)}`);
  } catch (e) {
    log(`leaving room ${quote(topic)}: ${message(e)}`, "err");
  } finally {
    if (state.room === topic) {
      state.room = null;
      state.roomLive = false;
      state.roomPeers = new Set();
    }
    state.roomBusy = false;
    renderRoom();
  }
}

ui.roomForm.addEventListener("submit", (event) => {
  event.preventDefault();
  if (state.phase !== "joined" || state.roomBusy) return;
  const topic = ui.topic.value.trim();
  if (state.room != null && (topic === state.room || !topic)) leaveRoom();
  else if (topic) enterRoom(topic);
});
ui.topic.addEventListener("input", renderRoom);

/** publish(), retried while the room has nobody in it yet (the mesh forms after a join). */
async function publish(topic, text, outcome) {
  for (let retry = 0; ; retry++) {
    try {
      return await state.node.publish(topic, text);
    } catch (e) {
      if (retry >= PUBLISH_RETRIES || !/no peer has joined/i.test(message(e))) throw e;
      setOutcome(outcome, "pending", `waiting for peers in the room (retry ${retry + 1} of ${PUBLISH_RETRIES})…`);
      await sleep(1000);
    }
  }
}

ui.pubForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = ui.pubText.value;
  if (!text || state.phase !== "joined") return;
  // Posting without having joined joins the room the field names.
  const topic = state.room ?? ui.topic.value.trim();
  if (!topic) return;
  ui.pubText.value = "";
  if (state.room == null) enterRoom(topic);
  const outcome = roomLine(state.node.peerId, true, topic, text);
  setOutcome(outcome, "pending", "posting…");
  try {
    await publish(topic, text, outcome);
    setOutcome(outcome, "ok", "");
  } catch (e) {
    setOutcome(outcome, "error", `✗ ${message(e)}`);
    log(`posting to room ${quote(topic)} failed: ${message(e)}`, "err");
  }
});

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

/** Loads the part of the wasm that joining does not need (see crates/xtask/src/page_split.rs). */
function loadRest() {
  state.rest ??= state.loadLazy().then(
    () => mark("rest"),
    (e) => log(`could not load the rest of the node's code: ${message(e)}`, "err"),
  );
  return state.rest;
}

/**
 * Loads the metrics panel (web/metrics.js) once joined and the wasm's second part is in: it
 * is not needed to join, so its bytes stay off the first load. index.html names its URL.
 * The panel then learns the current node and that the second part is in.
 */
function loadPanel() {
  const url = document.querySelector('meta[name="webkad:metrics"]')?.content;
  state.panel ??= loadRest()
    .then(() => url && import(url))
    .then(
      () => {
        announce(state.node);
        dispatchEvent(new CustomEvent("webkad:rest"));
      },
      (e) => log(`could not load the metrics panel: ${message(e)}`, "err"),
    );
  return state.panel;
}

function wasmReady() {
  return window.wasmBindings
    ? Promise.resolve(window.wasmBindings)
    : new Promise((resolve) => addEventListener("TrunkApplicationStarted", () => resolve(window.wasmBindings), { once: true }));
}

async function main() {
  // Ask for the bootstrap addresses while the wasm module loads.
  const first = fetchBootstrap();
  first.then(() => mark("bootstrap_addrs"), () => {}); // a failure is handled by the first attempt
  setStatus("loading", "loading…");
  const bindings = await wasmReady();
  state.WebkadNode = bindings.WebkadNode;
  state.loadLazy = bindings.loadLazy ?? (() => Promise.resolve());
  mark("wasm");
  // The wasm module holds what joining over WebSocket runs; the rest (WebRTC among it)
  // arrives with loadLazy() after joined, or now if this page is to dial WebRTC first.
  if (prefer !== "ws") await loadRest();
  setStatus("loading", "starting node…");
  try {
    adopt(await state.WebkadNode.create(createOptions));
    mark("node");
  } catch (e) {
    fail(`error: cannot start the node: ${message(e)}`);
    return;
  }
  ui.meHint.textContent = ephemeral
    ? "A fresh identity for this page load only."
    : "Kept in this browser's localStorage across reloads.";
  setInterval(refreshPeers, PEERS_EVERY_MS);
  setInterval(probe, PROBE_EVERY_MS);
  setInterval(refreshSocial, SOCIAL_EVERY_MS);
  join(first);
}

main();
