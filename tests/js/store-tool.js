#!/usr/bin/env node
'use strict'
// Node side of ddrive's corestore interop tests. Prints one JSON document on stdout; exits 1
// with a message on stderr on any error.
//
//   store-tool.js run <jobs.json>   run [{op, ...args}] in order; prints the results, where
//     {op: 'visit', dir, entries: [{via, batches}]}   get each core, append, report it

const fs = require('fs')
const stores = require('./lib/stores')

async function job (j) {
  switch (j.op) {
    case 'visit': return stores.visit(j.dir, j.entries)
    default: throw new Error(`unknown op ${JSON.stringify(j.op)}`)
  }
}

async function main (argv) {
  const [cmd, file] = argv
  if (cmd !== 'run' || !file) throw new Error('usage: store-tool.js run <jobs.json>')
  const results = []
  for (const [n, j] of JSON.parse(fs.readFileSync(file, 'utf8')).entries()) {
    try {
      results.push(await job(j))
    } catch (err) {
      err.message = `job ${n} (${j.op} ${j.dir}): ${err.message}`
      throw err
    }
  }
  return results
}

const WATCHDOG_MS = Number(process.env.STORE_TOOL_TIMEOUT_MS || 120000)
setTimeout(() => {
  process.stderr.write(`store-tool: gave up after ${WATCHDOG_MS} ms\n`)
  process.exit(2)
}, WATCHDOG_MS).unref()

// A core that never opens leaves Node with nothing to wait on: it exits 0 quietly, which must
// not read as success.
let finished = false
process.on('exit', (code) => {
  if (!finished && code === 0) {
    process.stderr.write('store-tool: stopped before finishing (a core that never opened?)\n')
    process.exitCode = 3
  }
})

main(process.argv.slice(2)).then(
  (out) => {
    finished = true
    process.stdout.write(JSON.stringify(out) + '\n')
  },
  (err) => {
    finished = true
    process.stderr.write(`store-tool: ${err && err.stack ? err.stack : err}\n`)
    process.exit(1)
  }
)
