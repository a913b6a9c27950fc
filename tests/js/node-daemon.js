// Starts the real Node `hyperdrive-daemon@1.14.5` for the interop test and the daemon bench,
// confined to this machine, and prints one JSON line once it serves:
//
//   node node-daemon.js <storage> <port>    ->  {"ready":true,"pid":…,"readyMs":…}
//
// It stops on SIGTERM/SIGINT (the daemon's own handlers) and exits once stopped.
//
// What it changes around the unmodified daemon, and why:
// - gRPC binds 127.0.0.1, not the 0.0.0.0 the daemon hard-codes (`start()`).
// - No DHT bootstrap: the constructor only turns the bootstrap off for the literal list
//   ['false'] (a `false`, or the CLI's `--bootstrap false`, falls back to the public nodes).
// - No multicast: hyperswarm's LAN discovery (multicast-dns, 224.0.0.251) is replaced by a stub
//   that sends nothing, since every drive the daemon opens joins the swarm (lookup) and would
//   query the LAN.
// - No FUSE: `hyperdrive-fuse` and `fuse-native` fail to load, as where they are not installed;
//   with them, a daemon running as root with /dev/fuse mounts its root drive at ~/Hyperdrive.
// - config.json names 127.0.0.1 (the daemon writes `localhost`, which Node may resolve to ::1
//   where nothing listens).
'use strict'

const fs = require('fs')
const path = require('path')
const Module = require('module')
const { EventEmitter } = require('events')

const started = process.hrtime.bigint()
const [storage, portArg] = process.argv.slice(2)
if (!storage || !portArg) {
  process.stderr.write('usage: node node-daemon.js <storage> <port>\n')
  process.exit(2)
}
const port = Number(portArg)

// LAN discovery that discovers nothing and sends nothing.
function silentMulticast () {
  const mdns = new EventEmitter()
  mdns.query = () => {}
  mdns.response = () => {}
  mdns.destroy = (cb) => { if (cb) process.nextTick(cb) }
  return mdns
}
const load = Module._load
Module._load = function (request, parent, isMain) {
  if (request === 'multicast-dns') return silentMulticast
  if (request === 'hyperdrive-fuse' || request === 'fuse-native') {
    const err = new Error(`Cannot find module '${request}' (left out by node-daemon.js)`)
    err.code = 'MODULE_NOT_FOUND'
    throw err
  }
  return load.call(this, request, parent, isMain)
}

const daemonDir = path.dirname(require.resolve('hyperdrive-daemon/package.json'))
const grpc = require(require.resolve('@grpc/grpc-js', { paths: [daemonDir] }))
const bindAsync = grpc.Server.prototype.bindAsync
grpc.Server.prototype.bindAsync = function (address, ...rest) {
  return bindAsync.call(this, address.replace(/^0\.0\.0\.0:/, '127.0.0.1:'), ...rest)
}

const HyperdriveDaemon = require('hyperdrive-daemon')
const crypto = require('crypto')

async function main () {
  fs.mkdirSync(storage, { recursive: true })
  const metadata = { token: crypto.randomBytes(64).toString('hex'), endpoint: `127.0.0.1:${port}` }
  fs.writeFileSync(path.join(storage, 'config.json'), JSON.stringify(metadata), { mode: 0o600 })
  const daemon = new HyperdriveDaemon({
    storage,
    port,
    metadata,
    bootstrap: ['false'],
    noDebug: true
  })
  await daemon.start()
  const readyMs = Number(process.hrtime.bigint() - started) / 1e6
  process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, readyMs }) + '\n')
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => setTimeout(() => process.exit(0), 5000).unref())
  }
}

main().catch((err) => {
  process.stderr.write((err && err.stack) || String(err))
  process.stderr.write('\n')
  process.exit(1)
})
