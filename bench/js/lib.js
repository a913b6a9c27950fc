'use strict'
// What the Node benchmark scripts share: timing, scratch folders, disk and memory figures, and
// the deterministic data both sides write (benchkit is the Rust side of `pseudoRandom` and
// `rng`, so ddrive's runners write and visit exactly the same bytes and indices).

const fs = require('fs')
const path = require('path')
const { createHash } = require('crypto')
const { execFileSync } = require('child_process')

/** Where the scripts write; `cargo xtask bench` points it at its scratch folder. */
const BENCH_ROOT = process.env.BENCH_DIR || path.join(require('os').tmpdir(), 'ddrive-bench')

/** Milliseconds from a monotonic clock. */
const now = () => Number(process.hrtime.bigint()) / 1e6

function freshDir (name) {
  const dir = path.join(BENCH_ROOT, name)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

/** Apparent bytes under `dir` (du -sb), or null where du is missing. */
function duBytes (dir) {
  try {
    return Number(execFileSync('du', ['-sb', dir]).toString().split(/\s+/)[0])
  } catch (_) {
    return null
  }
}

/** Allocated bytes under `dir` (du -s in 1-byte blocks). */
function duAllocBytes (dir) {
  try {
    return Number(execFileSync('du', ['-s', '--block-size=1', dir]).toString().split(/\s+/)[0])
  } catch (_) {
    return null
  }
}

const peakRssMiB = () => +(process.resourceUsage().maxRSS / 1024).toFixed(1)
const rssMiB = () => +(process.memoryUsage().rss / 1048576).toFixed(1)

/** Calls `fn(...args, cb)` and resolves with the callback's value. */
function call (fn, ...args) {
  return new Promise((resolve, reject) => fn(...args, (err, value) => (err ? reject(err) : resolve(value))))
}

/**
 * `n` reproducible bytes: SHA-512 of the ASCII text `seed-<seed>-<counter>` for counter
 * 0, 1, 2, ..., concatenated and cut to length.
 */
function pseudoRandom (n, seed = 1) {
  const out = Buffer.allocUnsafe(n)
  for (let at = 0, counter = 0; at < n; counter++) {
    at += createHash('sha512').update(`seed-${seed}-${counter}`).digest().copy(out, at)
  }
  return out
}

/** mulberry32: a seeded generator of numbers in [0, 1), for reproducible index orders. */
function rng (seed = 42) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6D2B79F5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const r2 = (x) => +x.toFixed(2)
const mbps = (bytes, ms) => r2(bytes / 1e6 / (ms / 1000))
const rate = (count, ms) => +(count / (ms / 1000)).toFixed(1)

/** Prints the run's one JSON line (what `cargo xtask bench` reads), with memory and versions. */
function emit (figures) {
  figures.node = process.version
  figures.peak_rss_mib = peakRssMiB()
  figures.ts = new Date().toISOString()
  process.stdout.write(JSON.stringify(figures) + '\n')
}

/** Drops the page cache (needs root); false where it cannot. */
function dropCaches () {
  try {
    execFileSync('sync')
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3')
    return true
  } catch (_) {
    return false
  }
}

/** The big-file chunk `c` of `chunkBytes`, cut from a 4 MiB pool at a stride that varies it. */
const BIG_POOL = 4 * 1048576
const bigChunkOffset = (c) => (c * 65537) % BIG_POOL

module.exports = {
  BENCH_ROOT, now, freshDir, duBytes, duAllocBytes, peakRssMiB, rssMiB, call, pseudoRandom, rng, r2, mbps, rate, emit, dropCaches, BIG_POOL, bigChunkOffset
}
