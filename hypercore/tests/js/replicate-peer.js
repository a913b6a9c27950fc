// A Node hypercore@9 peer for the Rust replication interop tests (tests/replicate_interop.rs).
// Writes or clones one feed in --dir, replicates it over one TCP connection on 127.0.0.1, logs
// events as JSON lines on stdout and takes commands on stdin ("append TEXT", "get INDEX").
//   --role responder|initiator [--port P]  listen (prints the port) or connect
//   --mode writer --seed HEX --blocks N    a writer with N blocks "block i", batches of 3
//   --mode sparse|full --key HEX           a clone; sparse fetches only what is read
//   --live 1|0                             replication `live` (default 1)
//   --get I                                read block I once the stream is up
//   --ext 1                                register the feed extensions "aaa-node-only" and
//                                          "ddrive-feed" and the stream extension
//                                          "ddrive-stream" (utf-8): log what arrives, answer
//                                          "echo: " + message to the sender; stdin
//                                          "feed-ext TEXT" / "stream-ext TEXT" send TEXT
// Run with NODE_PATH pointing at the pinned stack (tests/js/node_modules of the workspace).
'use strict'
const net = require('net')
const readline = require('readline')
const hypercore = require('hypercore')
const crypto = require('hypercore-crypto')

const args = {}
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1]
const live = args.live !== '0'

function log (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// Never outlive the test.
setTimeout(() => { log({ event: 'timeout' }); process.exit(3) }, 30000).unref()

let feed
if (args.mode === 'writer') {
  const kp = crypto.keyPair(Buffer.from(args.seed, 'hex'))
  feed = hypercore(args.dir, kp.publicKey, { secretKey: kp.secretKey })
} else {
  feed = hypercore(args.dir, Buffer.from(args.key, 'hex'), { sparse: args.mode === 'sparse' })
}

function get (index) {
  feed.get(index, (err, data) => {
    if (err) return log({ event: 'error', message: err.message })
    log({ event: 'got', index, value: data.toString(), downloaded: feed.downloaded(0, feed.length), length: feed.length })
  })
}

function appendBlocks (n, cb) {
  let i = 0
  const next = () => {
    if (i >= n) return cb()
    const batch = []
    for (let j = 0; j < 3 && i < n; j++, i++) batch.push(Buffer.from('block ' + i))
    feed.append(batch, (err) => { if (err) throw err; next() })
  }
  next()
}

// Feed extensions (hypercore `feed.registerExtension`): the Rust side knows only "ddrive-feed",
// so what goes out under "aaa-node-only" must be ignored there.
let feedExt = null
let nodeOnlyExt = null
if (args.ext === '1') {
  nodeOnlyExt = feed.registerExtension('aaa-node-only', { encoding: 'utf-8' })
  feedExt = feed.registerExtension('ddrive-feed', {
    encoding: 'utf-8',
    onmessage (message, peer) {
      log({ event: 'feed-ext', value: message })
      feedExt.send('echo: ' + message, peer)
    }
  })
}
let streamExt = null

function run (socket, initiator) {
  const stream = feed.replicate(initiator, { live })
  if (args.ext === '1') {
    streamExt = stream.registerExtension('ddrive-stream', {
      encoding: 'utf-8',
      onmessage (message) {
        log({ event: 'stream-ext', value: message })
        streamExt.send('echo: ' + message)
      }
    })
  }
  socket.pipe(stream).pipe(socket)
  socket.on('error', (err) => log({ event: 'socket-error', message: err.message }))
  socket.on('close', () => { log({ event: 'socket-close' }); process.exit(0) })
  stream.on('error', (err) => log({ event: 'stream-error', message: err.message }))
  if (args.get !== undefined) get(Number(args.get))
}

feed.on('download', (index) => {
  if (args.mode === 'full' && feed.length > 0 && feed.downloaded(0, feed.length) === feed.length) {
    log({ event: 'synced', length: feed.length })
  }
})
feed.on('append', () => log({ event: 'length', length: feed.length }))

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, ...rest] = line.split(' ')
  if (cmd === 'append') feed.append(Buffer.from(rest.join(' ')), (err) => { if (err) throw err })
  if (cmd === 'get') get(Number(rest[0]))
  if (cmd === 'feed-ext') {
    nodeOnlyExt.broadcast('never seen')
    feedExt.broadcast(rest.join(' '))
  }
  if (cmd === 'stream-ext') streamExt.send(rest.join(' '))
})

feed.ready((err) => {
  if (err) throw err
  const start = () => {
    log({ event: 'ready', key: feed.key.toString('hex'), length: feed.length })
    if (args.role === 'responder') {
      const server = net.createServer((socket) => { server.close(); run(socket, false) })
      server.listen(0, '127.0.0.1', () => log({ event: 'listening', port: server.address().port }))
    } else {
      run(net.connect(Number(args.port), '127.0.0.1'), true)
    }
  }
  if (args.mode === 'writer') appendBlocks(Number(args.blocks || 0), start)
  else start()
})
