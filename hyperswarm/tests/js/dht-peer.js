#!/usr/bin/env node
'use strict'
// A Node @hyperswarm/dht 4 bootstrap node plus an ephemeral client node on
// 127.0.0.1, driven line by line over stdin for hyperswarm/tests/interop.rs.
// Run with NODE_PATH=<workspace>/tests/js/node_modules.
//   stdout line 1: {"bootstrap": port, "client": port, "bootstrapId": hex}
//   stdin:  announce HEX | lookup HEX | unannounce HEX | nodes | quit
//   stdout: one JSON line per command
const DHT = require('@hyperswarm/dht')
const readline = require('readline')

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
// never outlive the test that started us
setTimeout(() => process.exit(3), 120000).unref()

const boot = DHT({ bootstrap: [], ephemeral: false })
boot.listen(0, '127.0.0.1', () => {
  const bport = boot.address().port
  const client = DHT({ bootstrap: ['127.0.0.1:' + bport], ephemeral: true })
  client.listen(0, '127.0.0.1', () => {
    client.ready(() => {
      out({ bootstrap: bport, client: client.address().port, bootstrapId: boot.id.toString('hex') })
      serve(client)
    })
  })
})

function serve (client) {
  const rl = readline.createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    const [cmd, hex] = line.trim().split(/\s+/)
    const topic = hex && Buffer.from(hex, 'hex')
    if (cmd === 'quit') { boot.destroy(); client.destroy(); process.exit(0) }
    if (cmd === 'nodes') return out({ nodes: boot.getNodes().map(n => ({ id: n.id.toString('hex'), host: n.host, port: n.port })) })
    if (cmd === 'lookup') {
      return client.lookup(topic, (err, res) => {
        const peers = []
        for (const r of res || []) for (const p of r.peers || []) peers.push(p.host + ':' + p.port)
        out({ err: err && err.message, peers })
      })
    }
    if (cmd === 'announce' || cmd === 'unannounce') {
      // hyperswarm announces with port 0: "use my UDP source port"
      return client[cmd](topic, { port: 0 }, (err) => out({ err: err && err.message }))
    }
    out({ err: 'unknown command ' + cmd })
  })
}
