// A small app on the `webkad` npm package: it joins the DHT through the node that serves
// it, lists the peers it is connected to, chats in a gossipsub room and puts and looks up
// DHT records. Everything it calls is typed by the package's webkad.d.ts.

import init, {
  WebkadNode,
  type NodeEvent,
  type ReceivedMessage,
  type WebkadError,
} from "webkad";

const ROOM = new URLSearchParams(location.search).get("room") ?? "lobby";
/** Where the bootstrap node answers `/api/bootstrap`: this page's origin by default. */
const BOOTSTRAP = new URLSearchParams(location.search).get("bootstrap") ?? location.origin;

const el = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const status = el("status");
const peersList = el<HTMLUListElement>("peers");
const messages = el<HTMLOListElement>("messages");
const result = el<HTMLOutputElement>("result");

function setStatus(state: string, text: string): void {
  status.dataset.state = state;
  status.textContent = text;
}

function log(text: string): void {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  el("log").prepend(item);
}

/** The message of a rejected call, with its stable `code` (see WebkadErrorCode). */
function describe(error: unknown): string {
  const e = error as Partial<WebkadError>;
  return e.code ? `${e.code}: ${e.message}` : String(error);
}

function addMessage(from: string, text: string, mine: boolean): void {
  const item = document.createElement("li");
  item.dataset.from = mine ? "me" : from;
  const who = document.createElement("b");
  who.textContent = mine ? "me" : `…${from.slice(-6)}`;
  item.append(who, `: ${text}`);
  messages.append(item);
  messages.scrollTop = messages.scrollHeight;
}

async function showPeers(node: WebkadNode): Promise<void> {
  const peers = await node.peers();
  el("peer-count").textContent = String(peers.length);
  peersList.replaceChildren(
    ...peers.map((p) => {
      const item = document.createElement("li");
      const rtt = p.rtt_ms === null ? "" : ` ${p.rtt_ms.toFixed(0)} ms`;
      item.textContent = `${p.peer_id} via ${p.transport}${rtt}`;
      return item;
    }),
  );
}

function onEvent(node: WebkadNode, event: NodeEvent): void {
  switch (event.type) {
    case "peer_connected":
    case "peer_disconnected":
      void showPeers(node).catch(() => {});
      log(`${event.type} ${event.peer}`);
      break;
    case "room_peer_joined":
      log(`${event.peer} joined ${event.topic}`);
      break;
    default:
      break;
  }
}

function onMessage(message: ReceivedMessage): void {
  if (message.kind === "room" && message.topic === ROOM) {
    addMessage(message.from, message.text ?? "(binary)", false);
  }
}

/** Posts `text`, retrying while nobody is in the room yet (right after joining, the
 *  gossipsub mesh is still forming). */
async function post(node: WebkadNode, text: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await node.publish(ROOM, text);
      addMessage(node.peerId, text, true);
      return;
    } catch (error) {
      if ((error as WebkadError).code !== "no_room_peers" || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function wireForms(node: WebkadNode): void {
  el<HTMLFormElement>("post-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = el<HTMLInputElement>("post-text");
    const text = input.value;
    input.value = "";
    post(node, text).catch((error) => log(`post failed: ${describe(error)}`));
  });
  el<HTMLFormElement>("put-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = el<HTMLInputElement>("put-key").value;
    const value = el<HTMLInputElement>("put-value").value;
    node
      .put(key, value)
      .then((outcome) => (result.textContent = `stored ${key}: ${outcome}`))
      .catch((error) => (result.textContent = describe(error)));
  });
  el<HTMLFormElement>("get-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = el<HTMLInputElement>("get-key").value;
    result.textContent = "looking up…";
    node
      .get(key)
      .then((found) => {
        result.textContent = found ? `${key} = ${found.text ?? "(binary)"}` : `${key}: not found`;
      })
      .catch((error) => (result.textContent = describe(error)));
  });
  for (const button of document.querySelectorAll("button")) button.disabled = false;
}

async function main(): Promise<void> {
  await init();
  // Ephemeral: two tabs of one browser share localStorage, and each should be its own peer.
  const node = await WebkadNode.create({ ephemeral: true });
  el("me").textContent = node.peerId;
  node.onEvent((event) => onEvent(node, event));
  node.onMessage(onMessage);
  window.addEventListener("pagehide", () => void node.close());

  setStatus("connecting", "connecting");
  const boot = await (await fetch(`${BOOTSTRAP}/api/bootstrap`)).json();
  const joined = await node.connect(boot.addrs);
  setStatus("joined", `joined via ${joined.transport}`);
  log(`joined ${joined.peer_id}, ${joined.routing_table_size} in the routing table`);
  await node.subscribe(ROOM);
  el("room").textContent = ROOM;
  wireForms(node);
  await showPeers(node);
  setInterval(() => void showPeers(node).catch(() => {}), 5000);
}

main().catch((error) => {
  setStatus("failed", `failed: ${describe(error)}`);
  log(describe(error));
});
