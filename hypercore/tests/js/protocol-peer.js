// A Node hypercore-protocol 8 peer for the Rust interop tests (tests/protocol_interop.rs).
// Opens one channel for --key, sends one of each message kind once the channel is open, logs
// every event and decoded message as a JSON line on stdout, and exits when the socket closes.
//   node protocol-peer.js --role responder --key HEX          (listens on 127.0.0.1, prints the port)
//   node protocol-peer.js --role initiator --port P --key HEX (connects to 127.0.0.1:P)
// Run with NODE_PATH pointing at the pinned stack (tests/js/node_modules of the workspace).
'use strict'
const net = require('net')
const Protocol = require('hypercore-protocol')
const rle = require('bitfield-rle')

const args = {}
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1]
const key = Buffer.from(args.key, 'hex')

function log (obj) {
  process.stdout.write(JSON.stringify(obj, (k, v) => {
    if (v && v.type === 'Buffer' && Array.isArray(v.data)) return Buffer.from(v.data).toString('hex')
    return v
  }) + '\n')
}

// Never outlive the test.
setTimeout(() => { log({ event: 'timeout' }); process.exit(3) }, 20000).unref()

function run (socket, initiator) {
  const stream = new Protocol(initiator, { timeout: 10000 })
  socket.pipe(stream).pipe(socket)
  socket.on('error', (err) => log({ event: 'socket-error', message: err.message }))
  socket.on('close', () => { log({ event: 'socket-close' }); process.exit(0) })
  stream.on('error', (err) => log({ event: 'stream-error', message: err.message }))
  stream.on('handshake', () => log({
    event: 'handshake',
    publicKey: stream.publicKey.toString('hex'),
    remotePublicKey: stream.remotePublicKey.toString('hex')
  }))
  stream.on('extensions', (names) => log({ event: 'remote-extensions', names }))
  const streamExt = stream.registerExtension('node-stream', {
    onmessage (m) { log({ event: 'stream-extension', payload: Buffer.from(m).toString('utf-8') }) }
  })

  const handlers = { onopen () {
    log({ event: 'open' })
    ch.options({ extensions: ['node-ext'], ack: true })
    ch.status({ uploading: true, downloading: false })
    ch.want({ start: 0, length: 1048576 })
    ch.have({ start: 0, length: 1048576, bitfield: rle.encode(Buffer.from([0xf8])) })
    ch.request({ index: 3, bytes: 0, hash: false, nodes: 0 })
    ch.data({ index: 3, value: Buffer.from('block three'), nodes: [{ index: 6, hash: Buffer.alloc(32, 7), size: 11 }], signature: Buffer.alloc(64, 9) })
    ch.extension(0, Buffer.from('node channel ext'))
    streamExt.send(Buffer.from('node stream ext'))
  } }
  for (const type of ['options', 'status', 'have', 'unhave', 'want', 'unwant', 'request', 'cancel', 'data']) {
    handlers['on' + type] = (message) => log({ event: 'message', type, message })
  }
  handlers.onextension = (id, payload) => log({ event: 'channel-extension', id, payload: payload.toString('utf-8') })
  handlers.onclose = () => log({ event: 'channel-close' })
  const ch = stream.open(key, handlers)
}

if (args.role === 'responder') {
  const server = net.createServer((socket) => { server.close(); run(socket, false) })
  server.listen(0, '127.0.0.1', () => log({ event: 'listening', port: server.address().port }))
} else {
  const socket = net.connect(Number(args.port), '127.0.0.1')
  run(socket, true)
}
