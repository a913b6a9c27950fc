#!/usr/bin/env node
'use strict'
// Captures hypercore-protocol 8 sessions between real Node peers (hypercore@9.12.0,
// hyperdrive@10.21.0) over TCP on 127.0.0.1 and writes tests/traces/hypercore-replication.json,
// which hypercore/tests/protocol_trace.rs replays:
//
//   node tests/js/traces/hypercore-replication.js [OUT_FILE]
//
// Not reproducible byte for byte, and so not part of `cargo xtask vectors --check`: the
// Noise key pairs and the payload nonces are random (the trace records the initiator's
// secrets so a replay can recreate its side), feed keys are random, and which frames go
// when (keep-alives, Have batching) depends on timing. Rerun it only to change what is
// captured, and commit the result.
//
// Five sessions, each on its own TCP connection; the writer is the TCP server and the Noise
// responder, the reader dials and initiates:
//   sparse-live       a sparse live clone: a feed extension and a stream extension, get(3),
//                     download the rest, a live append, then the writer opens two more feeds
//                     on the stream (the reader opens one and closes the other), an idle
//                     spell long enough for keep-alives, and the feeds close.
//   full-nonlive      a default (non-sparse, non-live) clone downloads everything and the
//                     stream ends by itself.
//   hyperdrive        a drive clone reads a file: metadata and content feed on one stream.
//   large-sparse-ack  10 000 one-byte blocks (two bitfield pages), ack: true, three gets.
//   static-feed       an unsigned feed (live: false, finalized), two gets.
// For each: the handshake secrets and keys, both directions' wire bytes, and every
// plaintext frame with its offset. The frames are parsed here from the decrypted bytes and
// checked against what the library itself decoded.

const fs = require('fs')
const net = require('net')
const path = require('path')

// Record every X25519 key pair Noise makes, so the initiator's secrets can be written out.
const dh = require('noise-protocol/dh')
const secrets = new Map()
const generate = dh.generateKeypair
dh.generateKeypair = function (pk, sk) {
  generate(pk, sk)
  secrets.set(Buffer.from(pk).toString('hex'), Buffer.from(sk))
}

const hypercore = require('hypercore')
const hyperdrive = require('hyperdrive')
const os = require('os')
const raf = require('random-access-file')
const wire = require('./wire')

// Feeds live in a scratch folder (random-access-file: the pinned stack has no memory storage).
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ddrive-trace-'))
process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }))
let feeds = 0
function storage () {
  const dir = path.join(scratch, String(feeds++))
  return (name) => raf(path.join(dir, name))
}

const KEEP_ALIVE_TIMEOUT = 4000 // a keep-alive goes after half of this without sending
const hex = (b) => Buffer.from(b).toString('hex')
const call = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function until (what, test, ms = 8000) {
  const end = Date.now() + ms
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** A memory feed with `blocks` appended. */
async function feedWith (blocks, opts) {
  const feed = hypercore(storage(), opts)
  await call((cb) => feed.ready(cb))
  if (blocks.length) await call((cb) => feed.append(blocks.map((b) => Buffer.from(b)), cb))
  return feed
}

/** Wraps the library's frame decoder to record (channel, type, body) as it saw them. */
function libraryView (stream) {
  const seen = []
  const decoder = stream.state._messages
  const onmessage = decoder._onmessage
  decoder._onmessage = function (channel, type, message, ...rest) {
    seen.push({ channel, type, body: Buffer.from(message) })
    return onmessage.call(this, channel, type, message, ...rest)
  }
  return seen
}

/**
 * One TCP connection on 127.0.0.1 between `responder()` (server side) and `initiator()`
 * (client side) streams; `run` drives the peers, then both sockets close.
 */
async function session (name, { responder, initiator, run }) {
  const server = net.createServer()
  await call((cb) => server.listen(0, '127.0.0.1', cb))
  const accepted = new Promise((resolve) => server.once('connection', resolve))
  const client = net.connect(server.address().port, '127.0.0.1')
  const socket = await accepted
  const c2s = []
  const s2c = []
  socket.on('data', (d) => c2s.push(Buffer.from(d)))
  client.on('data', (d) => s2c.push(Buffer.from(d)))
  socket.on('error', () => {})
  client.on('error', () => {})

  const serverStream = responder()
  const clientStream = initiator()
  const seenByServer = libraryView(serverStream)
  const seenByClient = libraryView(clientStream)
  // Closing the sockets at the end ends the streams early: expected, not a failure.
  serverStream.on('error', () => {})
  clientStream.on('error', () => {})
  const streams = { serverStream, clientStream, ended: false }
  clientStream.on('close', () => { streams.ended = true })
  socket.pipe(serverStream).pipe(socket)
  client.pipe(clientStream).pipe(client)
  await until(`${name}: handshake`, () => serverStream.state.handshakeHash && clientStream.state.handshakeHash)
  await run(streams)
  client.destroy()
  socket.destroy()
  await sleep(100)
  server.close()
  return describe(name, clientStream, serverStream, Buffer.concat(c2s), Buffer.concat(s2c), { c2s: seenByServer, s2c: seenByClient })
}

function describe (name, initiator, responder, c2s, s2c, seen) {
  const i = initiator.state
  const r = responder.state
  const c2sHandshake = wire.handshakeLength(c2s, 2) // msg1 and msg3
  const s2cHandshake = wire.handshakeLength(s2c, 1) // msg2
  const ephemeralPublicKey = c2sHandshake.messages[0].subarray(0, 32)
  const tx = i._split.tx.subarray(0, 32)
  const rx = i._split.rx.subarray(0, 32)
  const directions = [
    ['c2s', c2s.subarray(c2sHandshake.length), tx, i._payload.nonce],
    ['s2c', s2c.subarray(s2cHandshake.length), rx, r._payload.nonce]
  ]
  const frames = []
  for (const [dir, cipher, key, nonce] of directions) {
    const parsed = wire.frames(wire.decrypt(cipher, key, nonce))
    const messages = parsed.filter((f) => f.typeName !== 'KeepAlive')
    const lib = seen[dir]
    const agrees = messages.length === lib.length && messages.every((f, k) => f.channel === lib[k].channel && f.type === lib[k].type && f.body.equals(lib[k].body))
    if (!agrees) throw new Error(`${name} ${dir}: our frame parse differs from the library's`)
    for (const f of parsed) {
      const frame = { dir, offset: f.offset, raw: hex(f.raw), typeName: f.typeName }
      if (f.typeName !== 'KeepAlive') Object.assign(frame, { channel: f.channel, type: f.type })
      frames.push(frame)
    }
  }
  return {
    name,
    handshake: {
      initiator: {
        staticPublicKey: hex(initiator.publicKey),
        staticSecretKey: hex(secrets.get(hex(initiator.publicKey))),
        ephemeralPublicKey: hex(ephemeralPublicKey),
        ephemeralSecretKey: hex(secrets.get(hex(ephemeralPublicKey))),
        payloadNonce: hex(i._payload.nonce)
      },
      responder: { staticPublicKey: hex(responder.publicKey), payloadNonce: hex(r._payload.nonce) },
      handshakeHash: hex(i.handshakeHash),
      initiatorTxKey: hex(tx),
      initiatorRxKey: hex(rx)
    },
    wire: { c2sHex: hex(c2s), s2cHex: hex(s2c), c2sHandshakeBytes: c2sHandshake.length, s2cHandshakeBytes: s2cHandshake.length },
    frames
  }
}

async function sparseLive (a, a2, a3) {
  const b = hypercore(storage(), a.key, { sparse: true })
  await call((cb) => b.ready(cb))
  let b2 = null
  const pong = new Promise((resolve) => {
    const ext = a.registerExtension('wire-trace', { encoding: 'utf-8', onmessage: (msg, peer) => ext.send('pong from the writer', peer) })
    b.registerExtension('wire-trace', { encoding: 'utf-8', onmessage: resolve })
  })
  const extB = b.extensions.get('wire-trace')
  return session('sparse-live', {
    responder: () => a.replicate(false, { live: true, timeout: KEEP_ALIVE_TIMEOUT }),
    initiator: () => b.replicate(true, { live: true, timeout: KEEP_ALIVE_TIMEOUT }),
    run: async ({ serverStream, clientStream }) => {
      serverStream.registerExtension('wire-stream-ext', { encoding: 'utf-8' })
      const streamExt = clientStream.registerExtension('wire-stream-ext', { encoding: 'utf-8' })
      // Open the feed the writer offers that we know (a2), close the one we do not (a3).
      clientStream.on('discovery-key', (dk) => {
        if (!dk.equals(a2.discoveryKey)) return clientStream.close(dk)
        b2 = hypercore(storage(), a2.key, { sparse: true })
        b2.ready(() => {
          b2.replicate(true, { stream: clientStream, live: true })
          b2.get(1, () => {})
        })
      })
      await until('the reader sees the writer', () => b.peers.length && b.peers[0].remoteOpened)
      extB.send('ping from the reader', b.peers[0])
      streamExt.send('stream-level hello from the reader')
      await pong
      await call((cb) => b.get(3, cb))
      await call((cb) => b.download({ start: 0, end: a.length }, cb))
      await call((cb) => a.append(Buffer.from('appended while live'), cb))
      await until('the Have reaches the reader', () => b.peers[0] && b.peers[0].remoteLength >= a.length)
      await call((cb) => b.update({ minLength: a.length }, cb))
      await call((cb) => b.get(a.length - 1, cb))
      a2.replicate(false, { stream: serverStream, live: true })
      a3.replicate(false, { stream: serverStream, live: true })
      await until('the second feed replicates', () => b2 && b2.length === 2 && b2.has(1))
      await sleep(KEEP_ALIVE_TIMEOUT / 2 + 600) // idle: keep-alives in both directions
      await call((cb) => b2.close(cb))
      await call((cb) => b.close(cb))
      await sleep(300)
    }
  })
}

async function fullNonLive (a) {
  const c = hypercore(storage(), a.key)
  await call((cb) => c.ready(cb))
  return session('full-nonlive', {
    responder: () => a.replicate(false, { live: false, timeout: KEEP_ALIVE_TIMEOUT }),
    initiator: () => c.replicate(true, { live: false, timeout: KEEP_ALIVE_TIMEOUT }),
    run: async (streams) => {
      await until('the full download', () => c.length === a.length && c.downloaded() === a.length)
      await until('the non-live stream ends', () => streams.ended, 3000).catch(() => {})
    }
  })
}

async function drive () {
  const writer = hyperdrive(storage())
  await call((cb) => writer.ready(cb))
  await call((cb) => writer.writeFile('/hello.txt', 'hello from a hyperdrive v10 writer', cb))
  const content = await call((cb) => writer.getContent(cb))
  const reader = hyperdrive(storage(), writer.key)
  await call((cb) => reader.ready(cb))
  const trace = await session('hyperdrive', {
    responder: () => writer.replicate(false, { live: true, timeout: KEEP_ALIVE_TIMEOUT }),
    initiator: () => reader.replicate(true, { live: true, timeout: KEEP_ALIVE_TIMEOUT }),
    run: async () => {
      await call((cb) => reader.readFile('/hello.txt', 'utf-8', cb))
      await sleep(300)
    }
  })
  return { trace, keys: { metadataKey: hex(writer.metadata.key), contentKey: hex(content.key) } }
}

async function largeSparseAck () {
  const blocks = []
  for (let i = 0; i < 10000; i++) blocks.push(Buffer.from([i & 255]))
  const big = await feedWith(blocks)
  const clone = hypercore(storage(), big.key, { sparse: true })
  await call((cb) => clone.ready(cb))
  return session('large-sparse-ack', {
    responder: () => big.replicate(false, { live: true, ack: true, timeout: KEEP_ALIVE_TIMEOUT }),
    initiator: () => clone.replicate(true, { live: true, timeout: KEEP_ALIVE_TIMEOUT }),
    run: async () => {
      for (const i of [9000, 9001, 17]) await call((cb) => clone.get(i, cb))
      await sleep(200)
    }
  })
}

async function staticFeed () {
  const feed = await feedWith(['static a', 'static b', 'static c'], { live: false })
  await call((cb) => feed.finalize(cb))
  const clone = hypercore(storage(), feed.key, { sparse: true })
  await call((cb) => clone.ready(cb))
  return session('static-feed', {
    responder: () => feed.replicate(false, { live: true, timeout: KEEP_ALIVE_TIMEOUT }),
    initiator: () => clone.replicate(true, { live: true, timeout: KEEP_ALIVE_TIMEOUT }),
    run: async () => {
      await call((cb) => clone.get(2, cb))
      await call((cb) => clone.get(0, cb))
      await sleep(100)
    }
  })
}

async function main () {
  const out = path.resolve(process.argv[2] || path.join(__dirname, '../../traces/hypercore-replication.json'))
  const blocks = []
  for (let i = 0; i < 5; i++) blocks.push(`block #${i} ` + 'x'.repeat(i * 7))
  const a = await feedWith(blocks)
  const a2 = await feedWith(['second feed, block 0', 'second feed, block 1'])
  const a3 = await feedWith(['third feed (unknown to the reader)'])

  const sessions = [await sparseLive(a, a2, a3), await fullNonLive(a)]
  const d = await drive()
  sessions.push(d.trace, await largeSparseAck(), await staticFeed())

  const feedJson = (f) => ({ key: hex(f.key), discoveryKey: hex(f.discoveryKey), length: f.length })
  const trace = {
    description: 'hypercore-protocol 8 sessions between Node peers over TCP on 127.0.0.1, captured by tests/js/traces/hypercore-replication.js',
    packages: Object.fromEntries(['hypercore', 'hyperdrive', 'hypercore-protocol', 'simple-hypercore-protocol', 'noise-protocol'].map((p) => [p, require(`${p}/package.json`).version])),
    feeds: { A: feedJson(a), A2: feedJson(a2), A3: feedJson(a3) },
    hyperdrive: d.keys,
    sessions
  }
  fs.mkdirSync(path.dirname(out), { recursive: true })
  fs.writeFileSync(out, JSON.stringify(trace, null, 1) + '\n')
  console.log('wrote', out, sessions.map((s) => `${s.name}: ${s.frames.length} frames`).join(', '))
  process.exit(0)
}

setTimeout(() => { console.error('capture took over 60 s'); process.exit(3) }, 60000).unref()
main().catch((err) => { console.error(err); process.exit(1) })
