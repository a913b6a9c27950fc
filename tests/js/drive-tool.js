#!/usr/bin/env node
'use strict'
// Node side of ddrive's hyperdrive interop tests. Prints one JSON document on stdout; exits 1
// with a message on stderr on any error.
//
//   drive-tool.js run <jobs.json>   run [{op, ...args}] in order; prints the results, where
//     {op: 'run', dir, script: {drives, ops}}          replay drive operations into a store
//     {op: 'dump', dir, drives, query}                  answer the queries on one drive

const fs = require('fs')
const drives = require('./lib/drives')

async function job (j) {
  switch (j.op) {
    case 'run': return drives.run(j.dir, j.script)
    case 'dump': return drives.dump(j.dir, j.drives, j.query)
    default: throw new Error(`unknown op ${JSON.stringify(j.op)}`)
  }
}

async function main (argv) {
  const [cmd, file] = argv
  if (cmd !== 'run' || !file) throw new Error('usage: drive-tool.js run <jobs.json>')
  const results = []
  for (const [n, j] of JSON.parse(fs.readFileSync(file, 'utf8')).entries()) {
    try {
      drives.current.job = `job ${n} (${j.op} ${j.dir})`
      results.push(await job(j))
    } catch (err) {
      err.message = `job ${n} (${j.op} ${j.dir}): ${err.message}`
      throw err
    }
  }
  return results
}

const WATCHDOG_MS = Number(process.env.DRIVE_TOOL_TIMEOUT_MS || 300000)
setTimeout(() => {
  process.stderr.write(`drive-tool: gave up after ${WATCHDOG_MS} ms\n`)
  process.exit(2)
}, WATCHDOG_MS).unref()

// A read of a block that is not there leaves Node with nothing to wait on: it exits 0
// quietly, which must not read as success.
let finished = false
process.on('exit', (code) => {
  if (!finished && code === 0) {
    process.stderr.write(`drive-tool: stopped before finishing (a block missing from a feed?) in ${drives.current.job} at ${drives.current.step}\n`)
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
    process.stderr.write(`drive-tool: ${err && err.stack ? err.stack : err}\n`)
    process.exit(1)
  }
)
