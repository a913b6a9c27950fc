#!/usr/bin/env node
'use strict'
// Node side of ddrive's hypercore interop tests. Prints one JSON document on stdout; exits 1
// with a message on stderr on any error.
//
//   feed-tool.js write <dir> <spec.json>         create a feed from {keySeed, batches}
//   feed-tool.js append <dir> <spec.json>        append {batches} to the writable feed in dir
//   feed-tool.js clear <dir> <start> <end>      mark blocks [start, end) not stored
//   feed-tool.js truncate <dir> <length>        shorten the writable feed in dir
//   feed-tool.js read <dir> <keyhex> [--writable] audit and read every stored block
//   feed-tool.js sparse <srcdir> <dstdir> <i,j,...>      sparse clone over replication streams
//   feed-tool.js sparse-put <srcdir> <dstdir> <i,j,...>  sparse clone with explicit proof/put
//   feed-tool.js run <jobs.json>                 run [{op, ...args}] in order; prints the results

const fs = require('fs')
const feeds = require('./lib/feeds')

function readJson (file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

function indexList (s) {
  return s === '' ? [] : s.split(',').map(count)
}

function count (s) {
  const n = Number(s)
  if (!Number.isInteger(n) || n < 0) throw new Error(`bad count ${s}`)
  return n
}

function need (args, n, usage) {
  if (args.length < n) throw new Error(`usage: feed-tool.js ${usage}`)
}

async function job (j) {
  switch (j.op) {
    case 'write': return feeds.write(j.dir, j.spec)
    case 'append': return feeds.append(j.dir, j.spec)
    case 'clear': return feeds.clear(j.dir, j.start, j.end)
    case 'truncate': return feeds.truncate(j.dir, j.length)
    case 'read': return feeds.read(j.dir, j.key, { writable: !!j.writable })
    case 'sparse': return feeds.sparse(j.src, j.dst, j.indices)
    case 'sparse-put': return feeds.sparsePut(j.src, j.dst, j.indices)
    default: throw new Error(`unknown op ${JSON.stringify(j.op)}`)
  }
}

async function main (argv) {
  const [cmd, ...args] = argv
  switch (cmd) {
    case 'write':
      need(args, 2, 'write <dir> <spec.json>')
      return feeds.write(args[0], readJson(args[1]))
    case 'append':
      need(args, 2, 'append <dir> <spec.json>')
      return feeds.append(args[0], readJson(args[1]))
    case 'clear':
      need(args, 3, 'clear <dir> <start> <end>')
      return feeds.clear(args[0], count(args[1]), count(args[2]))
    case 'truncate':
      need(args, 2, 'truncate <dir> <length>')
      return feeds.truncate(args[0], count(args[1]))
    case 'read':
      need(args, 2, 'read <dir> <keyhex> [--writable]')
      return feeds.read(args[0], args[1], { writable: args.includes('--writable') })
    case 'sparse':
    case 'sparse-put':
      need(args, 3, `${cmd} <srcdir> <dstdir> <i,j,...>`)
      return job({ op: cmd, src: args[0], dst: args[1], indices: indexList(args[2]) })
    case 'run': {
      need(args, 1, 'run <jobs.json>')
      const results = []
      for (const [n, j] of readJson(args[0]).entries()) {
        try {
          results.push(await job(j))
        } catch (err) {
          err.message = `job ${n} (${j.op} ${j.dir || j.dst || ''}): ${err.message}`
          throw err
        }
      }
      return results
    }
    default:
      throw new Error('usage: feed-tool.js <write|append|clear|truncate|read|sparse|sparse-put|run> ...')
  }
}

// A replication that never delivers would hang the Rust test; fail loudly instead.
const WATCHDOG_MS = Number(process.env.FEED_TOOL_TIMEOUT_MS || 120000)
setTimeout(() => {
  process.stderr.write(`feed-tool: gave up after ${WATCHDOG_MS} ms\n`)
  process.exit(2)
}, WATCHDOG_MS).unref()

// Node exits quietly with code 0 when a pending get leaves nothing to wait on; say so.
let finished = false
process.on('exit', (code) => {
  if (!finished && code === 0) {
    process.stderr.write('feed-tool: stopped before finishing (waiting for a block no peer has?)\n')
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
    process.stderr.write(`feed-tool: ${err && err.stack ? err.stack : err}\n`)
    process.exit(1)
  }
)
