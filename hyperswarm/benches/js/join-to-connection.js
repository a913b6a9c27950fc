#!/usr/bin/env node
'use strict'
// Node's side of bench_hyperswarm's join-to-connection figure, on 127.0.0.1
// over the bootstrap node the Rust runner started:
//   node join-to-connection.js BOOTSTRAP_PORT ROUNDS
// Each round: a fresh announcing swarm joins a fresh topic and waits for its
// first DHT cycle; a fresh lookup swarm is listening; the clock runs from its
// join() call to its first connection. Prints {"join_to_connection_ms": [...]}.
// Run with NODE_PATH=<workspace>/tests/js/node_modules.
require('../../tests/js/loopback')
const hyperswarm = require('hyperswarm')
const crypto = require('crypto')

setTimeout(() => process.exit(3), 300000).unref()

const bootstrap = ['127.0.0.1:' + Number(process.argv[2])]
const rounds = Number(process.argv[3] || 10)

const listen = (s) => new Promise((resolve) => s.listen(0, resolve))
const destroy = (s) => new Promise((resolve) => s.destroy(resolve))

async function round () {
  const topic = crypto.randomBytes(32)
  const a = hyperswarm({ bootstrap })
  const b = hyperswarm({ bootstrap })
  await listen(a)
  await listen(b)
  a.on('connection', (socket) => socket.on('error', () => {}))
  await new Promise((resolve) => a.join(topic, { announce: true, lookup: false }, resolve))
  const took = await new Promise((resolve) => {
    const start = process.hrtime.bigint()
    b.once('connection', (socket) => {
      socket.on('error', () => {})
      resolve(Number(process.hrtime.bigint() - start) / 1e6)
    })
    b.join(topic, { announce: false, lookup: true })
  })
  await destroy(a)
  await destroy(b)
  return took
}

async function main () {
  const ms = []
  for (let i = 0; i < rounds; i++) ms.push(await round())
  process.stdout.write(JSON.stringify({ join_to_connection_ms: ms }) + '\n')
  process.exit(0)
}
main()
