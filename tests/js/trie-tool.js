#!/usr/bin/env node
'use strict'
// Node side of ddrive's hypertrie interop tests. Prints one JSON document on stdout; exits 1
// with a message on stderr on any error.
//
//   trie-tool.js run <jobs.json>   run [{op, ...args}] in order; prints the results, where
//     {op: 'write', dir, script: {keySeed, ops}}   create a trie and replay the writes
//     {op: 'dump', dir, key, queries}              answer the queries on the trie in dir

const fs = require('fs')
const tries = require('./lib/tries')

async function job (j) {
  switch (j.op) {
    case 'write': return tries.write(j.dir, j.script)
    case 'dump': return tries.dump(j.dir, j.key, j.queries)
    default: throw new Error(`unknown op ${JSON.stringify(j.op)}`)
  }
}

async function main (argv) {
  const [cmd, file] = argv
  if (cmd !== 'run' || !file) throw new Error('usage: trie-tool.js run <jobs.json>')
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

const WATCHDOG_MS = Number(process.env.TRIE_TOOL_TIMEOUT_MS || 300000)
setTimeout(() => {
  process.stderr.write(`trie-tool: gave up after ${WATCHDOG_MS} ms\n`)
  process.exit(2)
}, WATCHDOG_MS).unref()

// A get of a block that is not there would leave Node with nothing to wait on: it exits 0
// quietly, which must not read as success.
let finished = false
process.on('exit', (code) => {
  if (!finished && code === 0) {
    process.stderr.write('trie-tool: stopped before finishing (a block missing from the feed?)\n')
    process.exitCode = 3
  }
})

process.on('uncaughtException', (err) => {
  finished = true
  const at = tries.current.query ? ` in query ${JSON.stringify(tries.current.query)}` : ''
  process.stderr.write(`trie-tool: uncaught${at}: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})

main(process.argv.slice(2)).then(
  (out) => {
    finished = true
    process.stdout.write(JSON.stringify(out) + '\n')
  },
  (err) => {
    finished = true
    process.stderr.write(`trie-tool: ${err && err.stack ? err.stack : err}\n`)
    process.exit(1)
  }
)
