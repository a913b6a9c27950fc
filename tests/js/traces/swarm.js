#!/usr/bin/env node
'use strict'
// Captures every UDP datagram of a Node hyperswarm@2.15.3 / @hyperswarm/dht@4 run on
// 127.0.0.1 and writes tests/traces/swarm-<mode>.json, which hyperswarm/tests/codec.rs
// decodes and re-encodes:
//
//   node tests/js/traces/swarm.js tcp|utp|both [OUT_FILE]
//
//   tcp   swarm A announces and looks up a topic, swarm B only looks it up; B dials A.
//   utp   as tcp, but TCP dials between the swarms go to a closed port, so the swarms
//         connect over uTP after a _holepunch through the DHT node that referred them.
//   both  both swarms announce and look up: two connections, one dropped as a duplicate.
//
// Each run: a bootstrap node and three more DHT nodes, the swarms replicate a two-block
// hypercore over their connection, B pings the bootstrap (connectivity), A leaves the
// topic (unannounce), everything closes. Nothing leaves 127.0.0.1: listeners and sockets
// bind it (hyperswarm/tests/js/loopback.js) and multicast DNS is a silent stub, so peers are
// found through the DHT only.
//
// Not reproducible byte for byte, and so not part of `cargo xtask vectors --check`: node
// ids, ports, request ids, roundtrip-token secrets and feed keys are random, and how many
// queries a lookup sends depends on timing. Rerun it only to change what is captured.
//
// The datagrams are decoded here with a small presence-aware protobuf reader (the Rust
// tests compare field presence too) and cross-checked against dht-rpc's own decoder.

const fs = require('fs')
const path = require('path')
const Module = require('module')

// The loopback shim lives with the hyperswarm tests; let it find our packages.
process.env.NODE_PATH = path.join(__dirname, '../node_modules')
Module._initPaths()
require('../../../hyperswarm/tests/js/loopback.js')

const dgram = require('dgram')
const net = require('net')
const UTP = require('utp-native')
const DHT = require('@hyperswarm/dht')
const hyperswarm = require('hyperswarm')
const hypercore = require('hypercore')
const Protocol = require('hypercore-protocol')
const raf = require('random-access-file')
const rpcMessages = require('dht-rpc/lib/messages')
const os = require('os')

const mode = process.argv[2]
if (!['tcp', 'utp', 'both'].includes(mode)) {
  console.error('usage: swarm.js tcp|utp|both [OUT_FILE]')
  process.exit(2)
}
const out = path.resolve(process.argv[3] || path.join(__dirname, `../../traces/swarm-${mode}.json`))
setTimeout(() => { console.error('capture took over 60 s'); process.exit(3) }, 60000).unref()

const hex = (b) => Buffer.from(b).toString('hex')
const call = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ------------------------------------------------------------------ protobuf, by hand
/** Fields of a protobuf message as { number: [values] }: varints as numbers, the rest bytes. */
function fields (buf) {
  const out = {}
  let at = 0
  const varint = () => {
    let value = 0
    let scale = 1
    for (;;) {
      if (at >= buf.length) throw new Error('truncated varint')
      const b = buf[at++]
      value += (b & 0x7f) * scale
      if (b < 0x80) return value
      scale *= 128
    }
  }
  while (at < buf.length) {
    const key = varint()
    const number = Math.floor(key / 8)
    let value
    if ((key & 7) === 0) value = varint()
    else if ((key & 7) === 2) {
      const len = varint()
      value = buf.subarray(at, at + len)
      at += len
    } else throw new Error(`wire type ${key & 7}`)
    ;(out[number] = out[number] || []).push(value)
  }
  return out
}

/** A 6-byte IPv4 peer: 4 address bytes, then the port, big-endian. */
const peer = (b, at = 0) => ({ host: `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`, port: b.readUInt16BE(at + 4) })
function peers (b) {
  const list = []
  for (let at = 0; at + 6 <= b.length; at += 6) list.push(peer(b, at))
  return list
}

const TYPES = { 1: 'QUERY', 2: 'UPDATE', 3: 'RESPONSE' }

function decodeValue (command, type, value) {
  // A ping's answer is the asker's address as the node saw it, not a protobuf.
  if (command === '_ping') return type === 'RESPONSE' ? { pong: peer(value) } : undefined
  const f = fields(value)
  if (command === 'peers' && type !== 'RESPONSE') {
    const d = {}
    if (f[1]) d.port = f[1][0]
    if (f[2]) d.localAddress = hex(f[2][0])
    if (f[3]) d.unannounce = f[3][0] === 1
    return d
  }
  if (command === 'peers') {
    const d = { peers: f[1] ? peers(f[1][0]) : [] }
    if (f[2]) d.localPeers = hex(f[2][0])
    return d
  }
  if (command === '_holepunch') return { from: f[2] ? peer(f[2][0]) : null, to: f[3] ? peer(f[3][0]) : null }
  return undefined
}

/** The dht-rpc Message: only the fields present, bytes as hex. */
function decodeMessage (buf, repliesTo) {
  const f = fields(buf)
  const one = (n) => (f[n] ? f[n][0] : undefined)
  const m = { version: one(11), type: TYPES[one(1)], rid: one(2) }
  if (f[10]) m.to = peer(one(10))
  for (const [n, name] of [[3, 'id'], [4, 'target'], [6, 'roundtripToken'], [9, 'value']]) if (f[n]) m[name] = hex(one(n))
  if (f[5]) {
    const nodes = one(5)
    m.closerNodes = []
    for (let at = 0; at + 38 <= nodes.length; at += 38) m.closerNodes.push({ id: hex(nodes.subarray(at, at + 32)), ...peer(nodes, at + 32) })
  }
  if (f[7]) m.command = one(7).toString()
  if (f[8]) m.error = one(8).toString()
  const command = m.command || repliesTo
  if (m.type === 'RESPONSE' && repliesTo) m.inReplyTo = repliesTo
  if (f[9] && command) {
    const d = decodeValue(command, m.type, one(9))
    if (d) m.valueDecoded = d
  }
  // dht-rpc must read the same message.
  const lib = rpcMessages.Message.decode(buf)
  if (lib.rid !== m.rid || lib.type !== one(1) || (lib.command || undefined) !== m.command) throw new Error('dht-rpc decodes this datagram differently')
  return m
}

// ------------------------------------------------------------------ capture
const udp = []
const labels = new Map() // "127.0.0.1:port" -> name
const asked = new Map() // "from|to|rid" -> command
function record (fromPort, buf, toPort, toHost) {
  const from = `127.0.0.1:${fromPort}`
  const to = `${toHost === 'localhost' ? '127.0.0.1' : toHost}:${toPort}`
  const type = fields(buf)[1][0]
  const rid = fields(buf)[2][0]
  let repliesTo
  if (type === 3) repliesTo = asked.get(`${to}|${from}|${rid}`)
  else asked.set(`${from}|${to}|${rid}`, fields(buf)[7] ? fields(buf)[7][0].toString() : undefined)
  udp.push({ from, to, hex: hex(buf), msg: decodeMessage(buf, repliesTo) })
}
const dgramSend = dgram.Socket.prototype.send
dgram.Socket.prototype.send = function (buf, offset, length, port, host) {
  if (typeof offset === 'number' && typeof length === 'number') record(this.address().port, buf.subarray(offset, offset + length), port, host)
  return dgramSend.apply(this, arguments)
}
const utpSend = UTP.prototype.send
UTP.prototype.send = function (buf, offset, length, port, host) {
  record(this.address().port, buf.subarray(offset, offset + length), port, host)
  return utpSend.apply(this, arguments)
}

// utp mode: the swarms' TCP dials to each other go to a port nobody listens on.
const swarmPorts = new Set()
let closedPort = 0
const connect = net.connect
net.connect = function (port, host, ...rest) {
  if (mode === 'utp' && typeof port === 'number' && swarmPorts.has(port)) return connect.call(net, closedPort, host, ...rest)
  return connect.call(net, port, host, ...rest)
}

// ------------------------------------------------------------------ the run
async function main () {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ddrive-swarm-trace-'))
  process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }))
  const probe = net.createServer()
  await call((cb) => probe.listen(0, '127.0.0.1', cb))
  closedPort = probe.address().port
  await call((cb) => probe.close(cb))

  const bootstrap = DHT({ bootstrap: [], ephemeral: false })
  await call((cb) => bootstrap.listen(0, '127.0.0.1', cb))
  const bootstrapAddr = `127.0.0.1:${bootstrap.address().port}`
  labels.set(bootstrapAddr, 'bootstrap')
  const nodes = [bootstrap]
  for (let i = 1; i <= 3; i++) {
    const node = DHT({ bootstrap: [bootstrapAddr], ephemeral: false })
    await call((cb) => node.listen(0, '127.0.0.1', cb))
    labels.set(`127.0.0.1:${node.address().port}`, `dht${i}`)
    await new Promise((resolve) => node.ready(resolve))
    nodes.push(node)
  }

  const feedA = hypercore((name) => raf(path.join(scratch, 'a', name)))
  await call((cb) => feedA.ready(cb))
  await call((cb) => feedA.append([Buffer.from('hello from A'), Buffer.from('second block')], cb))
  const feedB = hypercore((name) => raf(path.join(scratch, 'b', name)), feedA.key)
  await call((cb) => feedB.ready(cb))
  const topic = feedA.discoveryKey

  const swarms = {}
  const connections = []
  for (const [name, feed] of [['swarmA', feedA], ['swarmB', feedB]]) {
    const swarm = hyperswarm({ bootstrap: [bootstrapAddr], queue: { multiplex: true } })
    swarms[name] = swarm
    // One Noise key pair per swarm, as the deduplication compares them.
    const keyPair = Protocol.keyPair()
    swarm.on('listening', () => {
      swarmPorts.add(swarm.address().port)
      labels.set(`127.0.0.1:${swarm.address().port}`, name)
    })
    swarm.on('connection', (socket, info) => {
      const c = { side: name, client: info.client, transport: socket instanceof net.Socket ? 'tcp' : 'utp' }
      connections.push(c)
      const stream = new Protocol(info.client, { live: true, keyPair })
      stream.on('handshake', () => {
        c.deduplicated = info.deduplicate(stream.publicKey, stream.remotePublicKey)
        if (!c.deduplicated) feed.replicate(info.client, { stream, live: true })
      })
      stream.on('error', () => {})
      socket.on('error', () => {})
      socket.pipe(stream).pipe(socket)
    })
  }

  swarms.swarmA.join(topic, { announce: true, lookup: true })
  await new Promise((resolve) => swarms.swarmA.once('updated', resolve))
  swarms.swarmB.join(topic, mode === 'both' ? { announce: true, lookup: true } : { announce: false, lookup: true })
  await call((cb) => feedB.get(1, cb))
  if (mode === 'both') await sleep(1500) // the second connection and its deduplication
  await new Promise((resolve) => swarms.swarmB.connectivity(() => resolve()))
  await new Promise((resolve) => swarms.swarmA.leave(topic, resolve))
  await new Promise((resolve) => swarms.swarmB.destroy(resolve))
  await new Promise((resolve) => swarms.swarmA.destroy(resolve))
  for (const node of nodes) node.destroy()

  if (mode === 'utp' && !connections.some((c) => c.transport === 'utp')) throw new Error('no uTP connection')
  const label = (addr) => labels.get(addr) || addr
  const trace = {
    description: `hyperswarm 2 on 127.0.0.1 (${mode}): every UDP datagram any node sent, captured by tests/js/traces/swarm.js`,
    mode,
    packages: Object.fromEntries(['hyperswarm', '@hyperswarm/dht', 'dht-rpc', 'utp-native'].map((p) => [p, require(`${p}/package.json`).version])),
    topic: hex(topic),
    nodes: [...labels].map(([addr, name]) => ({ label: name, addr })),
    connections,
    udp: udp.map((e) => ({ from: label(e.from), to: label(e.to), hex: e.hex, msg: e.msg }))
  }
  fs.mkdirSync(path.dirname(out), { recursive: true })
  fs.writeFileSync(out, JSON.stringify(trace, null, 1) + '\n')
  const counts = {}
  for (const e of udp) counts[`${e.msg.type}:${e.msg.command || e.msg.inReplyTo}`] = (counts[`${e.msg.type}:${e.msg.command || e.msg.inReplyTo}`] || 0) + 1
  console.log('wrote', out, udp.length, 'datagrams', JSON.stringify(counts))
  process.exit(0)
}

main().catch((err) => { console.error(err); process.exit(1) })
