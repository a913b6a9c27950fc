#!/usr/bin/env node
'use strict'
// multi-hyperdrive@1.1.4's side of `cargo xtask bench multidrive`: the workloads of
// multidrive/examples/bench_multidrive.rs, printing one JSON line.
//
//   node bench-multidrive.js [files=10000] [rewrites=1000]
//
// Three drives in one corestore (random-access-file under $BENCH_DIR) each hold the same
// `files` paths (`/dir{i%10}/f{i}`, 256 bytes each; untimed setup). Timed, through the union,
// one operation at a time: stat of every path in a shuffled order (mulberry32 seed 7),
// readdir('/dir0'), readFile of every path in another shuffled order (seed 8), and after
// unlinking `rewrites` files (tombstones in the writer) writing them again (each write erases
// its tombstone).

const crypto = require('crypto')
const fs = require('fs')
const os = require('os')
const path = require('path')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')
const multiHyperdrive = require('multi-hyperdrive')
const raf = require('random-access-file')
// The same seeded content as the interop tools (and our runner) make.
const { prng } = require('../../tests/js/lib/content')

function call (fn) {
  return new Promise((resolve, reject) => fn((err, val) => (err ? reject(err) : resolve(val))))
}

// The first n bytes of SHA-512(`seed-{seed}-{counter}`) for counter 0, 1, 2, … (benchkit's
// pseudo_random).
function pseudoRandom (n, seed) {
  const parts = []
  let len = 0
  for (let counter = 0; len < n; counter++) {
    const h = crypto.createHash('sha512').update(`seed-${seed}-${counter}`).digest()
    parts.push(h)
    len += h.length
  }
  return Buffer.concat(parts).subarray(0, n)
}

function shuffled (n, seed) {
  const next = prng(seed)
  const v = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((next() / 4294967296) * (i + 1))
    const t = v[i]; v[i] = v[j]; v[j] = t
  }
  return v
}

const r2 = (x) => Math.round(x * 100) / 100
const rate = (n, ms) => n / (ms / 1000)

async function main () {
  const files = Number(process.argv[2] || 10000)
  const rewrites = Math.min(Number(process.argv[3] || 1000), files)
  const base = process.env.BENCH_DIR || os.tmpdir()
  const dir = path.join(base, `node-multidrive-${process.pid}`)
  fs.rmSync(dir, { recursive: true, force: true })
  const store = new Corestore((name) => raf(path.join(dir, name)))
  await call((cb) => store.ready(cb))
  const p = (i) => `/dir${i % 10}/f${i}`
  const pool = pseudoRandom(256 + files, 1)
  const drives = []
  for (const name of ['a', 'b', 'c']) {
    const d = hyperdrive(store, null, { namespace: name })
    await call((cb) => d.ready(cb))
    for (let i = 0; i < files; i++) await call((cb) => d.writeFile(p(i), pool.subarray(i, i + 256), cb))
    drives.push(d)
  }
  const union = multiHyperdrive(drives[0])
  for (const d of drives.slice(1)) await new Promise((resolve) => union.addDrive(d, resolve))

  let t = process.hrtime.bigint()
  const ms = () => Number(process.hrtime.bigint() - t) / 1e6
  let size = 0
  for (const i of shuffled(files, 7)) size += (await call((cb) => union.stat(p(i), cb))).size
  const statMs = ms()
  if (size !== 256 * files) throw new Error(`stat sizes add up to ${size}`)

  t = process.hrtime.bigint()
  const listed = (await call((cb) => union.readdir('/dir0', {}, cb))).length
  const readdirMs = ms()

  t = process.hrtime.bigint()
  let bytes = 0
  for (const i of shuffled(files, 8)) bytes += (await call((cb) => union.readFile(p(i), cb))).length
  const readMs = ms()
  if (bytes !== 256 * files) throw new Error(`read ${bytes} bytes`)

  for (let i = 0; i < rewrites; i++) await call((cb) => union.unlink(p(i), cb))
  t = process.hrtime.bigint()
  for (let i = 0; i < rewrites; i++) {
    await call((cb) => union.writeFile(p(i), pool.subarray(i + 1, i + 257), cb))
  }
  const rewriteMs = ms()

  for (const d of drives) await call((cb) => d.close(cb))
  await call((cb) => store.close(cb)).catch(() => {})
  fs.rmSync(dir, { recursive: true, force: true })
  console.log(JSON.stringify({
    bench: 'multidrive',
    files,
    drives: 3,
    stat_per_s: r2(rate(files, statMs)),
    readdir_entries: listed,
    readdir_ms: r2(readdirMs),
    read_per_s: r2(rate(files, readMs)),
    rewrite_per_s: r2(rate(rewrites, rewriteMs)),
    peak_rss_mib: r2(process.resourceUsage().maxRSS / 1024),
    node: process.version
  }))
}

main().catch((err) => {
  console.error(`bench-multidrive: ${err && err.stack ? err.stack : err}`)
  process.exit(1)
})
