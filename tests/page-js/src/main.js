// The js-libp2p reference page for the page benchmark: the same protocols as the wasm page
// (WebSockets, WebRTC-direct, WebRTC, circuit relay client, noise, yamux, identify, ping,
// Kademlia client on /webkad/kad/1.0.0, gossipsub), joining the native node that serves it.
//
// URL parameters:
//   ?transport=ws|webrtc-direct   the bootstrap address to dial (default ws)
//
// Hooks the benchmark reads (the same as the wasm page's):
//   [data-testid=status]      text `joined` (or `failed: <message>`); `data-joined-ms` is
//                             performance.now() at joined, rounded; `data-steps` is JSON of
//                             milestones in ms since navigation start (see `mark`)
//   [data-testid=transport]   the transport dialed: `ws` or `webrtc-direct`
//
// Joined means: connected to the node, the node is in the DHT routing table (it identifies
// as a Kademlia server and answers the routing table's ping), and the node answered a DHT
// query (a FIND_NODE for a random key; an answer without peers counts). The relay
// reservation runs beside it and never delays joined.

import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { circuitRelayTransport } from "@libp2p/circuit-relay-v2";
import { gossipsub } from "@libp2p/gossipsub";
import { identify } from "@libp2p/identify";
import { EventTypes, kadDHT, passthroughMapper } from "@libp2p/kad-dht";
import { ping } from "@libp2p/ping";
import { webRTC, webRTCDirect } from "@libp2p/webrtc";
import { webSockets } from "@libp2p/websockets";
import { multiaddr } from "@multiformats/multiaddr";
import { createLibp2p } from "libp2p";

// This module's first statement. Imports run first, so the bundled libraries' module code
// has already been evaluated by now.
const steps = {};
mark("script");

const KAD_PROTOCOL = "/webkad/kad/1.0.0";
const TRANSPORTS = ["ws", "webrtc-direct"];
// Every wait is bounded; WebRTC-direct to the Rust listener alone can take ~10 s.
const FETCH_TIMEOUT_MS = 5_000;
const JOIN_TIMEOUT_MS = 30_000;

const statusEl = document.querySelector('[data-testid="status"]');
const transportEl = document.querySelector('[data-testid="transport"]');

/**
 * Records the first time `step` happens, in ms since navigation start, in the status
 * element's `data-steps`. Steps after `joined` are not recorded.
 */
function mark(step) {
  if (steps[step] !== undefined || steps.joined !== undefined) return;
  steps[step] = Math.round(performance.now());
  document.querySelector('[data-testid="status"]').dataset.steps = JSON.stringify(steps);
}

function setStatus(text) {
  statusEl.textContent = text;
}

/** A transport name from `?transport=`, `ws` unless it names another we know. */
function wantedTransport() {
  const wanted = new URLSearchParams(location.search).get("transport");
  return TRANSPORTS.includes(wanted) ? wanted : "ws";
}

/** The node's `/api/bootstrap` answer: `{ peer_id, addrs }`. */
async function fetchBootstrap() {
  const response = await fetch("/api/bootstrap", { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`/api/bootstrap answered ${response.status}`);
  const body = await response.json();
  if (typeof body?.peer_id !== "string" || !Array.isArray(body?.addrs)) {
    throw new Error("/api/bootstrap: no peer_id and addrs");
  }
  return body;
}

/** The first of `addrs` for `transport`, or an error naming what was offered. */
function pickAddr(addrs, transport) {
  const marker = transport === "ws" ? "/ws/" : "/webrtc-direct/";
  const addr = addrs.find((a) => a.includes(marker) && a.includes("/p2p/"));
  if (addr === undefined) throw new Error(`no ${transport} address among ${addrs.length} bootstrap addresses`);
  return multiaddr(addr);
}

async function startNode() {
  return createLibp2p({
    // `/p2p-circuit`: reserve a slot on relays found among connected peers (the node);
    // `/webrtc`: accept WebRTC connections signalled through that relay.
    addresses: { listen: ["/p2p-circuit", "/webrtc"] },
    // No STUN servers: webRTC() would otherwise ask Google's and others' (WebRTC-direct
    // uses none); the benchmark stays on 127.0.0.1.
    transports: [webSockets(), webRTCDirect(), webRTC({ rtcConfiguration: { iceServers: [] } }), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // The browser default refuses private addresses and plain ws://; the node is on 127.0.0.1.
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: KAD_PROTOCOL,
        clientMode: true,
        // The default mapper drops private addresses, and the node's are 127.0.0.1.
        peerInfoMapper: passthroughMapper,
        // Every query waits for js-libp2p's first self-query (a lookup of our own key, once
        // the routing table has a peer), which by default starts only 1 s after start.
        initialQuerySelfInterval: 0,
      }),
      pubsub: gossipsub(),
    },
  });
}

/** Resolves once the DHT routing table is not empty. */
function routed(dht) {
  const table = dht.routingTable;
  return new Promise((resolve) => {
    if (table.size > 0) return resolve();
    table.addEventListener("peer:add", () => resolve(), { once: true });
  });
}

/**
 * Runs a FIND_NODE query for a random key and resolves at the first answer from `peer`.
 * js-libp2p starts it only after its own first self-query (one exchange with the node),
 * whose answer the page cannot observe, so `dht` comes one round trip after the first.
 */
async function firstAnswer(dht, peer, signal) {
  const key = crypto.getRandomValues(new Uint8Array(32));
  let lastError = "the query ended without an answer";
  for await (const event of dht.getClosestPeers(key, { signal })) {
    if (event.type === EventTypes.PEER_RESPONSE && event.from.equals(peer)) return;
    if (event.type === EventTypes.QUERY_ERROR) lastError = event.error?.message ?? String(event.error);
  }
  throw new Error(`no DHT answer: ${lastError}`);
}

/** Watches `node` for milestones the join does not await (`peer`: the node's PeerId text). */
function watch(node, peer) {
  node.addEventListener("connection:open", (event) => {
    if (event.detail.remotePeer.toString() === peer) mark("connected");
  });
  node.addEventListener("peer:identify", (event) => {
    if (event.detail.peerId.toString() === peer) mark("identify");
  });
  // Not a step (it may come after joined): when the relay reservation is held.
  node.addEventListener("self:peer:update", () => {
    const relayed = node.getMultiaddrs().some((a) => a.toString().includes("/p2p-circuit"));
    if (relayed && statusEl.dataset.relayMs === undefined) {
      statusEl.dataset.relayMs = String(Math.round(performance.now()));
    }
  });
}

async function join(transport) {
  const bootstrap = await fetchBootstrap();
  mark("bootstrap_addrs");
  const addr = pickAddr(bootstrap.addrs, transport);
  const peer = addr.getComponents().findLast((c) => c.name === "p2p")?.value ?? bootstrap.peer_id;
  const node = await startNode();
  mark("node");
  watch(node, peer);
  const signal = AbortSignal.timeout(JOIN_TIMEOUT_MS);
  const dht = node.services.dht;
  const isRouted = routed(dht).then(() => mark("routing"));
  mark("dial");
  try {
    const connection = await node.dial(addr, { signal });
    mark("connected");
    await raceAbort(isRouted, signal, "the DHT routing table stayed empty");
    await firstAnswer(dht, connection.remotePeer, signal);
  } catch (err) {
    if (!signal.aborted) throw err;
    const last = Object.keys(steps).at(-1);
    throw new Error(`not joined within ${JOIN_TIMEOUT_MS} ms (last step: ${last})`);
  }
  mark("dht");
  return node;
}

/** `promise`, or the error `what` when `signal` aborts first. */
function raceAbort(promise, signal, what) {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new Error(what));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

async function main() {
  const transport = wantedTransport();
  transportEl.textContent = transport;
  setStatus("connecting");
  try {
    const node = await join(transport);
    mark("joined");
    statusEl.dataset.joinedMs = String(steps.joined);
    setStatus("joined");
    globalThis.webkadJs = node; // for poking at it from the console
  } catch (err) {
    setStatus(`failed: ${err?.message ?? String(err)}`);
  }
}

main();
