#!/usr/bin/env node
'use strict'
// A Node hyperswarm 2.15.3 peer on a test LAN for hyperswarm/tests/netns:
// run only inside a network namespace the test created (real multicast-dns
// on 224.0.0.251:5353 there, an empty DHT bootstrap list so nothing else is
// contacted). Run with NODE_PATH=<workspace>/tests/js/node_modules.
//   node lan-peer.js ANNOUNCE_TOPIC_HEX LOOKUP_TOPIC_HEX
// It dials what it finds for the lookup topic and accepts dials for the
// announced one. On each connection the dialler writes "ping <name>\n" and
// the acceptor answers "pong <name>\n"; Node prints
// {"connection": {client, type, remote, got}} per finished exchange and
// exits 0 after one of each (3 on timeout).
const hyperswarm = require('hyperswarm')

setTimeout(() => process.exit(3), 100000).unref()
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

const [announceHex, lookupHex] = process.argv.slice(2)
const swarm = hyperswarm({ bootstrap: [] })
const done = new Set()

swarm.on('connection', (socket, info) => {
  const client = info.client
  const remote = socket.remoteAddress + ':' + socket.remotePort
  let got = ''
  socket.on('error', () => {})
  socket.on('data', (d) => {
    got += d.toString()
    if (!got.endsWith('\n')) return
    got = got.trim()
    if (!client) socket.write('pong node\n')
    out({ connection: { client, type: info.type, remote, got } })
    done.add(client)
    if (done.size === 2) swarm.destroy(() => process.exit(0))
  })
  if (client) socket.write('ping node\n')
})

swarm.join(Buffer.from(announceHex, 'hex'), { announce: true, lookup: false })
swarm.join(Buffer.from(lookupHex, 'hex'), { announce: false, lookup: true })
