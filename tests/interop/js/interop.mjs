#!/usr/bin/env node
// A js-libp2p peer that talks to a webkad node, for tests/tests/interop_js.rs.
//
// Usage: node interop.mjs <bootstrap-multiaddr-with-/p2p/> <mode> <key> [value]
//   put KEY VALUE   store a record; prints "stored on N peer(s)"
//   get KEY         print the value alone (exit 1 when not found)
//   provide KEY     announce this peer as a provider, print "providing <peerId>", then
//                   stay alive until SIGTERM/SIGINT or until stdin closes
//   providers KEY   print one provider peer id per line (exit 1 when none)
//
// Keys and values are UTF-8 strings; their bytes are the DHT key and the value, exactly as
// the webkad CLI and `webkad_core::Client` use them.
//
// Provider keys: js-libp2p provides CIDs, and its DHT key is the CID's multihash bytes, not
// arbitrary bytes. So `provide`/`providers` turn KEY into a CIDv1 (raw codec) whose
// multihash is the *identity* multihash of KEY's UTF-8 bytes: DHT key = 0x00, varint(len),
// bytes. The Rust side computes the same bytes without any hashing crate
// (`identity_multihash` in interop_js.rs) and calls `start_providing`/`get_providers`
// with them. (The webkad CLI cannot express that key: it would start with a NUL byte.)
//
// The kad protocol is /webkad/kad/1.0.0 (webkad's default); WEBKAD_KAD_PROTOCOL overrides it.
// Everything listens on 127.0.0.1 only, and every wait is bounded (STEP_MS per step, TOTAL_MS
// for a whole put/get/providers run and for provide's announcement); failures are one line on
// stderr starting with "interop: " and exit code 1 (2 for bad usage).

// js-libp2p and its helpers (it-queue, mortice, yamux, ...) call Promise.withResolvers,
// which Node.js has from v22 only; this test runs on Node 20. The polyfill below is the
// ES2024 definition. Modules are imported dynamically so that it is installed first.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const [
  { noise },
  { yamux },
  { identify },
  { kadDHT, passthroughMapper },
  { ping },
  { tcp },
  { multiaddr },
  { createLibp2p },
  { CID },
  raw,
  { identity },
  { fromString: utf8Bytes },
  { toString: bytesToString }
] = await Promise.all([
  import('@chainsafe/libp2p-noise'),
  import('@chainsafe/libp2p-yamux'),
  import('@libp2p/identify'),
  import('@libp2p/kad-dht'),
  import('@libp2p/ping'),
  import('@libp2p/tcp'),
  import('@multiformats/multiaddr'),
  import('libp2p'),
  import('multiformats/cid'),
  import('multiformats/codecs/raw'),
  import('multiformats/hashes/identity'),
  import('uint8arrays/from-string'),
  import('uint8arrays/to-string')
])

const KAD_PROTOCOL = process.env.WEBKAD_KAD_PROTOCOL ?? '/webkad/kad/1.0.0'
// The longest any single step may take.
const STEP_MS = 20_000
// The longest a whole run may take (provide: until it announces). Shorter than the Rust
// test's own 30 s bound, so that this process reports what it was waiting for.
const TOTAL_MS = 25_000

function fail (message) {
  process.stderr.write(`interop: ${message}\n`)
  process.exit(1)
}

function log (message) {
  process.stderr.write(`interop: ${message}\n`)
}

const watchdog = setTimeout(() => fail(`no result within ${TOTAL_MS} ms`), TOTAL_MS)
watchdog.unref()

const [bootstrapArg, mode, key, value] = process.argv.slice(2)
const usage = 'usage: node interop.mjs <bootstrap-multiaddr-with-/p2p/> (put KEY VALUE | get KEY | provide KEY | providers KEY)'
if (bootstrapArg == null || key == null || !['put', 'get', 'provide', 'providers'].includes(mode) ||
    (mode === 'put') !== (value != null)) {
  process.stderr.write(`${usage}\n`)
  process.exit(2)
}

// webkad record keys look like /webkad/<name>; js kad-dht only accepts records whose
// namespace (the first path segment) has a validator, and picks among several with a
// selector. Our node accepts any record, so be just as permissive for that namespace.
const permissive = {
  validators: { webkad: async () => {} },
  selectors: { webkad: () => 0 }
}

/** Runs `fn(signal)`, failing with `what` if it takes longer than STEP_MS. */
async function bounded (what, fn) {
  const signal = AbortSignal.timeout(STEP_MS)
  try {
    return await fn(signal)
  } catch (err) {
    if (signal.aborted) {
      fail(`${what}: no result within ${STEP_MS} ms`)
    }
    fail(`${what}: ${process.env.INTEROP_STACK != null ? err?.stack : (err?.message ?? err)}`)
  }
}

function providerCid (k) {
  return CID.createV1(raw.code, identity.digest(utf8Bytes(k)))
}

// Client mode (query only) except for `provide`, which serves the DHT while it runs, like
// `webkad provide` does.
const node = await bounded('starting js-libp2p', async () => createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({
      protocol: KAD_PROTOCOL,
      clientMode: mode !== 'provide',
      // The default mapper drops private addresses, and in the test everything is 127.0.0.1.
      peerInfoMapper: passthroughMapper,
      ...permissive
    })
  }
}))
const dht = node.services.dht
log(`peer ${node.peerId} on ${node.getMultiaddrs().map(String).join(' ')}, dht ${dht.getMode()} mode`)

let stopping = false
async function stop (code) {
  if (stopping) return
  stopping = true
  const timer = setTimeout(() => process.exit(code), 5_000)
  timer.unref()
  try {
    await node.stop()
  } finally {
    process.exit(code)
  }
}

// Join: dial the bootstrap node, then wait until kad-dht put it in the routing table (it
// does once identify shows the peer speaks KAD_PROTOCOL and a ping succeeds).
let bootstrap
try {
  bootstrap = multiaddr(bootstrapArg)
} catch (err) {
  fail(`bad bootstrap multiaddr ${bootstrapArg}: ${err.message}`)
}
const connection = await bounded(`dialing ${bootstrapArg}`, (signal) => node.dial(bootstrap, { signal }))
const bootstrapPeer = connection.remotePeer
await bounded(`waiting for ${bootstrapPeer} in the routing table (does it speak ${KAD_PROTOCOL}?)`, async (signal) => {
  while ((await dht.routingTable.find(bootstrapPeer)) == null) {
    signal.throwIfAborted()
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
})
log(`routing table has ${bootstrapPeer} (size ${dht.routingTable.size})`)

/** Runs a DHT query to completion; returns its events and the query errors, as text. */
async function query (what, start) {
  return bounded(what, async (signal) => {
    const events = []
    const errors = []
    for await (const event of start({ signal })) {
      events.push(event)
      if (event.name === 'QUERY_ERROR') {
        errors.push(`${event.from}: ${event.error?.message ?? event.error}`)
      }
    }
    return { events, errors }
  })
}

const answered = (events, messageName) => new Set(events
  .filter((e) => e.name === 'PEER_RESPONSE' && e.messageName === messageName)
  .map((e) => e.from.toString()))

switch (mode) {
  case 'put': {
    const { events, errors } = await query(`put ${key}`, (options) =>
      dht.put(utf8Bytes(key), utf8Bytes(value), options))
    const stored = answered(events, 'PUT_VALUE')
    for (const error of errors) {
      stored.delete(error.split(':')[0])
    }
    if (stored.size === 0) {
      fail(`put ${key}: no DHT server stored the record${errors.length > 0 ? ` (${errors.join('; ')})` : ''}`)
    }
    process.stdout.write(`stored on ${stored.size} peer(s): ${[...stored].join(' ')}\n`)
    await stop(0)
    break
  }
  case 'get': {
    const found = await bounded(`get ${key}`, async (signal) => {
      for await (const event of dht.get(utf8Bytes(key), { signal })) {
        if (event.name === 'VALUE') {
          return event.value
        }
      }
      return undefined
    })
    if (found == null) {
      process.stderr.write(`interop: get ${key}: not found\n`)
      await stop(1)
    }
    process.stdout.write(`${bytesToString(found)}\n`)
    await stop(0)
    break
  }
  case 'provide': {
    const cid = providerCid(key)
    log(`providing ${cid} (DHT key ${bytesToString(cid.multihash.bytes, 'base16')})`)
    const { events, errors } = await query(`provide ${key}`, (options) => dht.provide(cid, options))
    const told = answered(events, 'ADD_PROVIDER')
    if (told.size === 0) {
      fail(`provide ${key}: no DHT server took the provider record${errors.length > 0 ? ` (${errors.join('; ')})` : ''}`)
    }
    clearTimeout(watchdog)
    process.stdout.write(`providing ${node.peerId}\n`)
    log(`provider record sent to ${[...told].join(' ')}; serving until SIGTERM or end of stdin`)
    process.on('SIGTERM', () => { void stop(0) })
    process.on('SIGINT', () => { void stop(0) })
    process.stdin.on('end', () => { void stop(0) })
    process.stdin.on('error', () => { void stop(0) })
    process.stdin.resume()
    break
  }
  case 'providers': {
    const cid = providerCid(key)
    const { events, errors } = await query(`providers ${key}`, (options) => dht.findProviders(cid, options))
    const providers = new Set(events
      .filter((e) => e.name === 'PROVIDER')
      .flatMap((e) => e.providers.map((p) => p.id.toString())))
    if (providers.size === 0) {
      process.stderr.write(`interop: providers ${key}: none found${errors.length > 0 ? ` (${errors.join('; ')})` : ''}\n`)
      await stop(1)
    }
    process.stdout.write([...providers].map((p) => `${p}\n`).join(''))
    await stop(0)
    break
  }
}
