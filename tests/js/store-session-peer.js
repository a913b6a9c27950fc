#!/usr/bin/env node
'use strict'
// A Node corestore@5 replication peer for ddrive's store session interop tests
// (tests/tests/interop_store_session.rs). Logs events as JSON lines on stdout.
//
//   --dir D                               the corestore folder
//   --role responder|initiator [--port P] listen on 127.0.0.1 (prints the port) or connect
//   --blocks N                            the default core gets N blocks "node block <i>"
//
// On the stream `store.replicate` returns it registers the stream extensions "peersockets"
// (utf-8: logs what arrives and answers "echo: <message>") and "aaa-node-only" (the Rust side
// does not know it). Commands on stdin, one per line:
//   ext TEXT    sends "dropped" on "aaa-node-only", then TEXT on "peersockets"
//   close       closes the store (corestore destroys its replication streams)
const fs = require('fs')
const net = require('net')
const path = require('path')
const readline = require('readline')
const Corestore = require('corestore')
const raf = require('random-access-file')

const args = {}
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1]

function log (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

setTimeout(() => { log({ event: 'timeout' }); process.exit(3) }, Number(process.env.PEER_TIMEOUT_MS || 60000)).unref()

function call (fn) {
  return new Promise((resolve, reject) => fn((err, val) => err ? reject(err) : resolve(val)))
}

function serve (store) {
  let ext = null
  let nodeOnly = null
  const run = (socket, initiator) => {
    const stream = store.replicate(initiator, { live: true })
    ext = stream.registerExtension('peersockets', {
      encoding: 'utf-8',
      onmessage (message) {
        log({ event: 'ext', value: message })
        ext.send('echo: ' + message)
      }
    })
    nodeOnly = stream.registerExtension('aaa-node-only', { encoding: 'utf-8' })
    socket.pipe(stream).pipe(socket)
    socket.on('error', (err) => log({ event: 'socket-error', message: err.message }))
    socket.on('close', () => log({ event: 'socket-close' }))
    stream.on('error', (err) => log({ event: 'stream-error', message: err.message }))
    stream.on('close', () => log({ event: 'stream-close' }))
    stream.on('handshake', () => log({ event: 'handshake', remotePublicKey: stream.remotePublicKey.toString('hex') }))
  }
  if (args.role === 'responder') {
    const server = net.createServer((socket) => { server.close(); run(socket, false) })
    server.listen(0, '127.0.0.1', () => log({ event: 'listening', port: server.address().port }))
  } else {
    run(net.connect(Number(args.port), '127.0.0.1'), true)
  }
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, ...rest] = line.split(' ')
    if (cmd === 'ext') {
      nodeOnly.send('dropped')
      ext.send(rest.join(' '))
    } else if (cmd === 'close') {
      store.close((err) => log(err ? { event: 'error', message: err.message } : { event: 'closed' }))
    }
  })
}

async function main () {
  fs.mkdirSync(args.dir, { recursive: true })
  const store = new Corestore((name) => raf(path.join(args.dir, name)))
  await call((cb) => store.ready(cb))
  const core = store.default()
  await call((cb) => core.ready(cb))
  for (let i = 0; i < Number(args.blocks); i++) await call((cb) => core.append(Buffer.from(`node block ${i}`), cb))
  log({ event: 'ready', key: core.key.toString('hex') })
  serve(store)
}

main().catch((err) => { log({ event: 'error', message: err.stack }); process.exit(1) })
