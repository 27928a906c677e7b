// The metrics panel: the page node's own stats(), about once a second, as SVG charts
// (bandwidth and ping RTT over the last minute, DHT query latency) and counters.
//
// Hand-drawn SVG, no chart library: the page is over its size budget and this needs only
// a few lines per chart. The SVG elements are made once and updated in place.
//
// app.js announces each node it runs with `dispatchEvent(new CustomEvent("webkad:node",
// { detail: node }))` (`detail: null` before it closes one); the panel polls that node,
// one stats() call at a time, until the next announcement. It starts once app.js says the
// wasm's second part is in (`webkad:rest`, after joined): summarising a scrape is not on
// the way to joined, so its code stays out of the part the page loads first.

const TICK_MS = 1_000;
const WINDOW_MS = 60_000;
const W = 600; // chart coordinates; the SVGs stretch to their box (preserveAspectRatio none)
const H = 120;
const TOP = 6; // room for the max label
const PEER_LINES = 6; // RTT lines drawn at once (one colour each)
const SVG = "http://www.w3.org/2000/svg";
const DHT_OPS = ["put", "get", "provide", "find_providers", "find_peer"]; // latency.dht_queries

const $ = (id) => document.getElementById(id);
const root = $("metrics");
const ui = {
  summary: $("m-summary"),
  bw: $("chart-bandwidth"),
  bwIn: $("m-bw-in"),
  bwOut: $("m-bw-out"),
  bwMax: $("m-bw-max"),
  bwNow: $("m-bw-now"),
  bwTitle: $("m-bw-title"),
  rtt: $("chart-rtt"),
  rttSvg: $("m-rtt-svg"),
  rttMax: $("m-rtt-max"),
  rttNow: $("m-rtt-now"),
  rttTitle: $("m-rtt-title"),
  rttLegend: $("m-rtt-legend"),
  conn: $("conn-count"),
  connMore: $("m-conn-more"),
  dht: $("dht-latency"),
  dhtSvg: $("m-dht-svg"),
  dhtTitle: $("m-dht-title"),
  dhtBins: $("m-dht-bins"),
  dhtNow: $("m-dht-now"),
  dhtOps: $("m-dht-ops"),
  disc: $("discovery-counts"),
  discTotal: $("m-disc-total"),
  sec: $("security-counts"),
  secKinds: $("m-sec-kinds"),
  raw: $("m-raw"),
  rawText: $("m-raw-text"),
  rawSave: $("m-raw-save"),
  rawAt: $("m-raw-at"),
};

// ---------------------------------------------------------------- formatting

const UNITS = ["B", "KiB", "MiB", "GiB"];
function bytes(n) {
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) (n /= 1024), i++;
  return `${i ? +n.toFixed(n < 10 ? 1 : 0) : Math.round(n)} ${UNITS[i]}`;
}
const ms = (v) => `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
const bound = (le) => (le == null ? "+Inf" : le < 1000 ? `${le} ms` : `${+(le / 1000).toPrecision(3)} s`);
const short = (id) => (id.length > 16 ? `${id.slice(0, 6)}…${id.slice(-4)}` : id);
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const list = (counts) => counts.map((c) => `${c.name} ${c.count}`).join(" · ");

/** The smallest 1-2-5 step at or above `v` (at least `floor`), for a chart's top. */
function nice(v, floor) {
  if (!(v > floor)) return floor;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= v);
}

function set(node, text) {
  if (node.textContent !== text) node.textContent = text;
}
function attr(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}
function svg(tag, parent, cls) {
  const e = document.createElementNS(SVG, tag);
  if (cls) e.setAttribute("class", cls);
  parent.append(e);
  return e;
}
function el(tag, parent, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  parent?.append(e);
  return e;
}

// ---------------------------------------------------------------- time series

/**
 * `points` ([t, v], t from performance.now()) as a path over the last minute, 0..top; a
 * gap of several ticks (a throttled background tab, a slow node) breaks the line.
 */
function path(points, now, top) {
  let d = "";
  let prev = -Infinity;
  for (const [t, v] of points) {
    const x = W - ((now - t) / WINDOW_MS) * W;
    d += `${t - prev > 3 * TICK_MS ? "M" : "L"}${x.toFixed(1)} ${(H - ((H - TOP) * v) / top).toFixed(1)}`;
    prev = t;
  }
  return d;
}
const prune = (points, now) => {
  while (points.length && now - points[0][0] > WINDOW_MS + TICK_MS) points.shift();
};

const bw = { prev: null, in: [], out: [], lineIn: null, lineOut: null };
const rtt = { peers: new Map(), latest: null };

function renderBandwidth(b, now) {
  const total = b.inbound_bytes + b.outbound_bytes;
  ui.bw.dataset.totalBytes = String(total);
  set(ui.bwIn, `in ${bytes(b.inbound_bytes)}`);
  set(ui.bwOut, `out ${bytes(b.outbound_bytes)}`);
  const p = bw.prev;
  bw.prev = { t: now, in: b.inbound_bytes, out: b.outbound_bytes };
  // A new node starts its counters at zero: no rate across that.
  if (p && now > p.t && b.inbound_bytes >= p.in && b.outbound_bytes >= p.out) {
    const secs = (now - p.t) / 1000;
    bw.in.push([now, (b.inbound_bytes - p.in) / secs]);
    bw.out.push([now, (b.outbound_bytes - p.out) / secs]);
  }
  prune(bw.in, now);
  prune(bw.out, now);
  const peak = Math.max(0, ...bw.in.map((x) => x[1]), ...bw.out.map((x) => x[1]));
  // A 1-2-5 step in the unit the label will use (5 KiB/s, not 4.9).
  const unit = 1024 ** Math.min(3, Math.max(1, Math.floor(Math.log2(Math.max(1, peak)) / 10)));
  const top = nice(peak / unit, 1) * unit;
  attr(bw.lineIn, "d", path(bw.in, now, top));
  attr(bw.lineOut, "d", path(bw.out, now, top));
  set(ui.bwMax, `${bytes(top)}/s`);
  const rin = bw.in.at(-1)?.[1];
  const rout = bw.out.at(-1)?.[1];
  const rates = rin == null ? "" : `now ↓ ${bytes(rin)}/s ↑ ${bytes(rout)}/s`;
  set(ui.bwNow, rates);
  const by = b.by_transport.map((t) => `${t.transport} ${bytes(t.inbound_bytes + t.outbound_bytes)}`).join(", ");
  set(ui.bwTitle, `Bytes per second over the last minute. Since start: in ${bytes(b.inbound_bytes)}, out ${bytes(b.outbound_bytes)}${by ? ` (${by})` : ""}. ${rates}`);
}

function renderRtt(latency, now) {
  const seen = new Set();
  let changed = null;
  for (const p of latency.peers) {
    seen.add(p.peer);
    let s = rtt.peers.get(p.peer);
    if (!s) {
      if (p.rtt_ms == null) continue;
      const used = new Set(Array.from(rtt.peers.values(), (x) => x.colour));
      const colour = [...Array(PEER_LINES).keys()].find((c) => !used.has(c)) ?? rtt.peers.size % PEER_LINES;
      s = { points: [], colour, line: null, li: null, last: null };
      rtt.peers.set(p.peer, s);
    }
    s.transport = p.transport;
    if (p.rtt_ms == null) continue;
    if (p.rtt_ms !== s.last) changed = p;
    s.last = p.rtt_ms;
    s.points.push([now, p.rtt_ms]);
  }
  // The RTT measured last: a value that just changed, else the one shown, else any.
  const still = rtt.latest && latency.peers.find((p) => p.peer === rtt.latest.peer && p.rtt_ms != null);
  rtt.latest = changed ?? still ?? latency.peers.find((p) => p.rtt_ms != null) ?? null;
  let peak = 0;
  for (const [peer, s] of rtt.peers) {
    prune(s.points, now);
    if (!s.points.length) {
      s.line?.remove();
      s.li?.remove();
      rtt.peers.delete(peer);
      continue;
    }
    for (const [, v] of s.points) peak = Math.max(peak, v);
  }
  const top = nice(peak, 1);
  const names = [];
  for (const [peer, s] of rtt.peers) {
    if (!s.line) {
      s.line = svg("path", ui.rttSvg, `m-line m-c${s.colour}`);
      s.li = el("li", ui.rttLegend, `m-key m-c${s.colour}`);
      s.li.title = peer;
      el("code", s.li, null, short(peer));
      el("span", s.li, "m-tp");
      el("b", s.li);
    }
    attr(s.line, "d", path(s.points, now, top));
    const [, tp, last] = s.li.children;
    set(tp, s.transport);
    const gone = !seen.has(peer);
    set(last, gone ? "gone" : ms(s.last));
    s.li.classList.toggle("m-gone", gone);
    names.push(`${short(peer)} ${gone ? "gone" : ms(s.last)}`);
  }
  set(ui.rttMax, ms(top));
  if (rtt.latest) ui.rtt.dataset.latestRttMs = String(rtt.latest.rtt_ms);
  else delete ui.rtt.dataset.latestRttMs;
  const ping = latency.ping;
  set(ui.rttNow, ping.count ? `${plural(ping.count, "ping")} · mean ${ms(ping.mean_ms)}` : "");
  set(ui.rttTitle, `Ping round trip per peer over the last minute${names.length ? `: ${names.join(", ")}` : ": no RTT measured yet"}`);
}

function renderDhtLatency(latency) {
  const h = latency.dht_queries;
  ui.dht.dataset.count = String(h.count);
  set(ui.dhtNow, h.count ? `${plural(h.count, "query", "queries")} · mean ${ms(h.mean_ms)}` : "no query yet");
  // From the first bucket with a query to the last: no empty head or tail.
  const first = h.buckets.findIndex((b) => b.count > 0);
  const last = h.buckets.findLastIndex((b) => b.count > 0);
  const bins = first < 0 ? [] : h.buckets.slice(first, last + 1);
  const peak = Math.max(1, ...bins.map((b) => b.count));
  attr(ui.dhtSvg, "viewBox", `0 0 ${Math.max(1, bins.length) * 10} ${H}`);
  const bars = ui.dhtSvg.querySelectorAll("rect");
  const labels = ui.dhtBins.children;
  const names = [];
  for (let i = 0; i < Math.max(bins.length, bars.length); i++) {
    const b = bins[i];
    const bar = bars[i] ?? svg("rect", ui.dhtSvg, "m-bar");
    const li = labels[i] ?? el("li", ui.dhtBins);
    bar.style.display = b ? "" : "none";
    li.hidden = !b;
    if (!b) continue;
    const lower = first + i > 0 ? h.buckets[first + i - 1].le_ms : null;
    const name = b.le_ms == null ? `>${bound(lower)}` : `≤${bound(b.le_ms)}`;
    const height = b.count ? Math.max(2, ((H - TOP) * b.count) / peak) : 0;
    attr(bar, "x", String(i * 10 + 2));
    attr(bar, "width", "6");
    attr(bar, "y", (H - height).toFixed(1));
    attr(bar, "height", height.toFixed(1));
    set(bar.firstChild ?? svg("title", bar), `${name}: ${plural(b.count, "query", "queries")}`);
    set(li, `${b.count}\n${name}`);
    names.push(`${name} ${b.count}`);
  }
  ui.dhtBins.style.gridTemplateColumns = `repeat(${Math.max(1, bins.length)}, 1fr)`;
  set(ui.dhtTitle, `DHT query latency histogram: ${names.join(", ") || "no query yet"}`);
  const ops = latency.operations
    .filter((o) => DHT_OPS.includes(o.operation) && o.ok + o.failed > 0)
    .map((o) => `${o.operation} ${o.ok}${o.failed ? ` (${o.failed} failed)` : ""}`);
  set(ui.dhtOps, ops.length ? `by operation: ${ops.join(" · ")}` : "");
}

function renderConnections(c) {
  ui.conn.dataset.open = String(c.open);
  set(ui.conn, `${c.open} open${c.by_transport.length ? ` — ${list(c.by_transport)}` : ""}`);
  const more = [`inbound ${c.inbound}`, `outbound ${c.outbound}`, `established ${c.established_total}`, `failed ${c.failed_total}`];
  if (c.closed.length) more.push(`closed: ${list(c.closed)}`);
  set(ui.connMore, more.join(" · "));
  ui.connMore.title = c.failures.length ? `Failures: ${list(c.failures)}` : "";
}

function renderDiscovery(d) {
  set(ui.discTotal, `(${d.peers_total})`);
  ui.disc.dataset.peers = String(d.peers_total);
  const body = ui.disc.tBodies[0];
  const rows = new Map(Array.from(body.rows, (r) => [r.dataset.method, r]));
  for (const m of d.by_method) {
    let row = rows.get(m.method);
    rows.delete(m.method);
    if (!row) {
      row = body.insertRow();
      row.dataset.method = m.method;
      el("th", row, null, m.method).scope = "row";
      for (let i = 0; i < 3; i++) row.insertCell();
    }
    [m.peers, m.dials_ok, m.dials_failed].forEach((n, i) => set(row.cells[i + 1], String(n)));
    row.dataset.nonzero = String(m.peers + m.dials_ok + m.dials_failed > 0);
  }
  for (const row of rows.values()) row.remove();
}

function renderSecurity(s) {
  for (const dd of ui.sec.querySelectorAll("dd")) {
    const n = s[dd.dataset.key] ?? 0;
    set(dd, String(n));
    dd.dataset.nonzero = String(n > 0);
  }
  set(ui.secKinds, list(s.by_kind.filter((k) => k.count > 0)));
}

function renderSummary(s) {
  const up = Math.round(s.uptime_seconds);
  const parts = [
    `up ${up >= 60 ? `${Math.floor(up / 60)} min ${up % 60} s` : `${up} s`}`,
    `routing table ${s.routing_table_size}`,
    `store ${plural(s.resources.store_records, "record")}, ${bytes(s.resources.store_bytes)}`,
  ];
  if (s.resources.memory_bytes != null) parts.push(`wasm memory ${bytes(s.resources.memory_bytes)}`);
  set(ui.summary, parts.join(" · "));
}

function render(s, now) {
  renderSummary(s);
  renderBandwidth(s.bandwidth, now);
  renderRtt(s.latency, now);
  renderDhtLatency(s.latency);
  renderConnections(s.connections);
  renderDiscovery(s.discovery);
  renderSecurity(s.security);
}

// ---------------------------------------------------------------- polling

let node = null;
let generation = 0;
let timer = 0; // the next tick's timeout, 0 while none is set
let busy = 0; // the generation whose stats() call is out
let restLoaded = false; // the wasm's second part is in (app.js's `webkad:rest`)

/** Takes a scrape into the <details> (when opened, not every tick: it would lose a selection). */
function showRaw() {
  try {
    set(ui.rawText, node ? node.metrics() : "");
  } catch (e) {
    set(ui.rawText, `metrics() failed: ${e?.message ?? e}`);
  }
  set(ui.rawAt, `taken at ${new Date().toTimeString().slice(0, 8)}; close and open again for a new one`);
}

async function tick(gen) {
  timer = 0;
  // Nobody looks at a hidden tab: no scrape, no drawing (the lines break over the gap).
  if (document.hidden) {
    bw.prev = null;
    return;
  }
  busy = gen;
  const started = performance.now();
  try {
    const stats = await node.stats();
    if (gen !== generation) return;
    render(stats, performance.now());
    root.dataset.state = "live";
    root.dataset.ticks = String(+(root.dataset.ticks ?? 0) + 1);
    delete root.dataset.error;
  } catch (e) {
    if (gen !== generation) return;
    // A stopped node, or a bug in this panel: say so on the panel, keep polling.
    root.dataset.state = "error";
    root.dataset.error = String(e?.message ?? e);
  } finally {
    if (busy === gen) busy = 0;
  }
  timer = setTimeout(tick, Math.max(0, TICK_MS - (performance.now() - started)), gen);
}

/** Polls again when the tab is shown, unless a call is out or one is due. */
function resume() {
  if (restLoaded && !document.hidden && node && !timer && busy !== generation) tick(generation);
}

/** Polls `next` (a WebkadNode, or null to stop); a new node starts new counters. */
function watch(next) {
  clearTimeout(timer);
  generation++;
  node = next;
  bw.prev = null;
  root.dataset.state = node ? "starting" : "idle";
  if (node && restLoaded) tick(generation);
}

bw.lineIn = svg("path", $("m-bw-svg"), "m-line m-in");
bw.lineOut = svg("path", $("m-bw-svg"), "m-line m-out");
addEventListener("webkad:node", (e) => watch(e.detail ?? null));
document.addEventListener("visibilitychange", resume);
addEventListener("webkad:rest", () => {
  restLoaded = true;
  resume();
});
ui.raw.addEventListener("toggle", () => ui.raw.open && showRaw());
ui.rawSave.addEventListener("click", () => {
  showRaw();
  const a = el("a");
  a.href = URL.createObjectURL(new Blob([ui.rawText.textContent], { type: "text/plain" }));
  a.download = `webkad-page-${new Date().toISOString().slice(0, 19).replace(/:/g, "")}.prom`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
});
