#!/usr/bin/env node
'use strict'
// Node side of ddrive's multi-hyperdrive interop tests (tests/tests/interop_multidrive.rs).
// Prints one JSON document on stdout; exits non-zero with a message on stderr on any error.
//
//   multi-tool.js run <jobs.json>   run [{op, ...args}] in order; prints the results, where
//     {op: 'run', dir, script: {drives, ops}}   replay ops into the drives of a store folder;
//                                               an op's `on` is a drive name or 'union'
//     {op: 'dump', dir, drives, query}          answer the query through the union
//
// The union is multi-hyperdrive over the script's drives in order (the first is the primary
// and, being writable, the writer). The clock is pinned per operation, as drives.js does.

const fs = require('fs')
const path = require('path')

// Pinned before corestore, hyperdrive and multi-hyperdrive load, so Stat and tombstone times
// read it.
const { clock } = require('./lib/pinned-clock')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')
const multiHyperdrive = require('multi-hyperdrive')
const { call, hex, sha256, fileBytes, attempt } = require('./lib/tool-util')

const current = { job: null, step: null }

// Every drive is its namespace's default drive.
async function withUnion (dir, names, fn) {
  fs.mkdirSync(dir, { recursive: true })
  const store = new Corestore((name) => require('random-access-file')(path.join(dir, name)))
  await call((cb) => store.ready(cb))
  const drives = {}
  for (const name of names) {
    const drive = hyperdrive(store, null, { namespace: name })
    await call((cb) => drive.ready(cb))
    await call((cb) => drive.getContent(cb))
    drives[name] = drive
  }
  const union = multiHyperdrive(drives[names[0]])
  for (const name of names.slice(1)) await new Promise((resolve) => union.addDrive(drives[name], resolve))
  // The constructor adds the primary without waiting; it is in once the others are.
  if (union.drives.length !== names.length) throw new Error('union is missing a drive')
  try {
    return await fn(drives, union)
  } finally {
    for (const d of Object.values(drives)) await call((cb) => d.close(cb))
    await call((cb) => store.close(cb)).catch(() => {})
  }
}

function writeOpts (op) {
  const opts = {}
  for (const k of ['mtime', 'ctime']) if (op[k] !== undefined) opts[k] = op[k]
  return opts
}

async function apply (drives, union, op) {
  const d = op.on === 'union' ? union : drives[op.on]
  if (!d) throw new Error(`unknown target ${op.on}`)
  switch (op.op) {
    case 'write':
      return call((cb) => d.writeFile(op.path, fileBytes(op.size, op.seed), writeOpts(op), cb))
    // multi-hyperdrive's mkdir(name, cb) throws: options must be passed.
    case 'mkdir': return call((cb) => d.mkdir(op.path, writeOpts(op), cb))
    case 'unlink': return call((cb) => d.unlink(op.path, cb))
    default: throw new Error(`unknown op ${JSON.stringify(op.op)}`)
  }
}

async function run (dir, script) {
  return withUnion(dir, script.drives, async (drives, union) => {
    const results = []
    for (const [i, op] of script.ops.entries()) {
      current.step = `op ${i} ${JSON.stringify(op)}`
      clock.now = op.now
      results.push((await attempt(async () => { await apply(drives, union, op); return null })) || { ok: true })
    }
    const keys = {}
    for (const [name, d] of Object.entries(drives)) keys[name] = hex(d.key)
    return { results, keys }
  })
}

function nameOf (drives, drive) {
  for (const [name, d] of Object.entries(drives)) if (d === drive) return name
  return null
}

// What the union answers about q.paths and q.dirs, and every drive's raw tombstone record
// for q.tombstones.
async function dump (dir, names, q) {
  clock.now = q.now
  return withUnion(dir, names, async (drives, union) => {
    const paths = []
    for (const p of q.paths) {
      current.step = `path ${p}`
      const st = await attempt(() => call((cb) => union.stat(p, cb)))
      const out = { path: p }
      if (st.error) {
        out.error = st.error
      } else {
        out.drive = nameOf(drives, st.drive)
        out.size = st.size
        out.ctime = st.ctime.getTime()
        out.isDirectory = st.isDirectory()
        if (st.isFile()) out.sha256 = sha256(await call((cb) => union.readFile(p, cb)))
      }
      paths.push(out)
    }
    const dirs = []
    for (const d of q.dirs) {
      current.step = `readdir ${d}`
      const names = await attempt(() => call((cb) => union.readdir(d, {}, cb)))
      // The winner per name, for files (a child directory's Stat in a listing is a fresh one
      // in hyperdrive, not what a stat of it gives).
      const entries = await attempt(() => call((cb) => union.readdir(d, { includeStats: true }, cb)))
      const files = Array.isArray(entries)
        ? entries.filter((e) => e.stat.isFile())
          .map((e) => ({ name: e.name, drive: nameOf(drives, e.stat.drive), size: e.stat.size, ctime: e.stat.ctime.getTime() }))
          .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
        : entries
      dirs.push({ dir: d, names: Array.isArray(names) ? [...names].sort() : names, files })
    }
    const tombstones = []
    for (const p of q.tombstones) {
      const records = {}
      for (const [name, d] of Object.entries(drives)) {
        current.step = `tombstone ${p} in ${name}`
        const node = await call((cb) => d.db.get(path.posix.join('.tombstones', p), { hidden: true }, cb))
        records[name] = node && node.value ? hex(node.value) : null
      }
      tombstones.push({ path: p, records })
    }
    return { paths, dirs, tombstones }
  })
}

require('./lib/job-runner')({
  name: 'multi-tool',
  timeoutMs: 120000,
  hint: 'a block missing from a feed?',
  context: () => ` in ${current.job} at ${current.step}`,
  onJob: (label) => { current.job = label },
  ops: {
    run: (j) => run(j.dir, j.script),
    dump: (j) => dump(j.dir, j.drives, j.query)
  }
})
