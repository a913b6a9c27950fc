#!/usr/bin/env node
'use strict'
// A Node hyperswarm 2.15.3 peer for hyperswarm/tests/swarm_interop.rs, kept on
// 127.0.0.1: TCP and uTP/DHT sockets are bound to 127.0.0.1 instead of all
// interfaces, and multicast-dns is replaced by a silent stub (nothing is ever
// multicast). Run with NODE_PATH=<workspace>/tests/js/node_modules.
//   node swarm-peer.js BOOTSTRAP_PORT
//   stdout line 1: {"port": shared TCP/UDP port}
//   stdin:  announce HEX | lookup HEX | leave HEX | quit
//   stdout: {"joined": HEX} after the first DHT cycle, {"left": HEX}, and per
//           connection {"connection": {client, type, remote, got}} once the
//           peer's first line ("...\n") arrived. Node writes "node client\n"
//           at once when it dialled, "node server\n" after that line when not.
const readline = require('readline')

setTimeout(() => process.exit(3), 120000).unref()

require('./loopback') // TCP and uTP on 127.0.0.1, multicast-dns stubbed

const hyperswarm = require('hyperswarm')
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

const bootPort = Number(process.argv[2])
const swarm = hyperswarm({ bootstrap: ['127.0.0.1:' + bootPort] })

swarm.on('connection', (socket, info) => {
  const type = info.type
  const client = info.client
  const remote = socket.remoteAddress + ':' + socket.remotePort
  let got = ''
  // the dialer speaks first, as the Noise initiator does in hypercore-protocol
  // (a libutp dialer sends no packet until it writes)
  if (client) socket.write('node client\n')
  socket.on('data', (d) => {
    got += d.toString()
    if (!got.endsWith('\n')) return
    out({ connection: { client, type, remote, got: got.trim() } })
    if (!client) socket.write('node server\n')
  })
  socket.on('error', () => {})
})

swarm.listen(0, () => {
  out({ port: swarm.address().port })
  const rl = readline.createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    const [cmd, hex] = line.trim().split(/\s+/)
    if (!cmd || (cmd !== 'quit' && !hex)) return
    if (cmd === 'quit') return swarm.destroy(() => process.exit(0))
    const topic = Buffer.from(hex, 'hex')
    if (cmd === 'leave') return swarm.leave(topic, () => out({ left: hex }))
    const opts = cmd === 'announce' ? { announce: true, lookup: false } : { announce: false, lookup: true }
    swarm.join(topic, opts, () => out({ joined: hex }))
  })
})
