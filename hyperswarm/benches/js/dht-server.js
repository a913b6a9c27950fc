#!/usr/bin/env node
'use strict'
// A Node @hyperswarm/dht 4 node for bench_hyperswarm's load generator, on
// 127.0.0.1 with no bootstrap list: prints {"port": P, "pid": PID} and runs
// until stdin closes (or 300 s). Run with NODE_PATH=<workspace>/tests/js/node_modules.
const DHT = require('@hyperswarm/dht')

setTimeout(() => process.exit(3), 300000).unref()
const node = DHT({ bootstrap: [], ephemeral: false })
node.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: node.address().port, pid: process.pid }) + '\n')
})
process.stdin.on('end', () => node.destroy(() => process.exit(0)))
process.stdin.resume()
