'use strict'
// The hyperdrive operations of drive-tool.js: replay a script of drive operations into a
// corestore folder, and dump what a drive answers. Every answer is plain JSON in the shapes
// tests/src/drive_script.rs builds on the Rust side, so the two can be compared as values.
//
// The clock (lib/pinned-clock.js) is set per operation from the script, so Stat times differ
// between operations yet stay reproducible.

const fs = require('fs')
const path = require('path')

// Pinned before corestore and hyperdrive load.
const { clock } = require('./pinned-clock')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')
const { call, hex, sha256, fileBytes, attempt } = require('./tool-util')

// What the tool is doing, for the message when Node stops early.
const current = { step: null }

function statJson (st) {
  const metadata = {}
  for (const [k, v] of Object.entries(st.metadata || {})) metadata[k] = hex(v)
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    blocks: st.blocks,
    offset: st.offset,
    byteOffset: st.byteOffset,
    mtime: st.mtime.getTime(),
    ctime: st.ctime.getTime(),
    linkname: st.linkname || null,
    mount: st.mount
      ? { key: hex(st.mount.key), version: st.mount.version || 0, hypercore: !!st.mount.hypercore }
      : null,
    metadata,
    isFile: st.isFile(),
    isDirectory: st.isDirectory(),
    isSymbolicLink: st.isSymbolicLink()
  }
}

// The drives of a store folder: `main` is the store's default drive, any other name the
// default drive of the namespace of that name.
async function openDrives (store, names) {
  const drives = {}
  for (const name of names) {
    const drive = name === 'main' ? hyperdrive(store) : hyperdrive(store, null, { namespace: name })
    await call((cb) => drive.ready(cb))
    await call((cb) => drive.getContent(cb))
    drives[name] = drive
  }
  return drives
}

async function withStore (dir, names, fn) {
  fs.mkdirSync(dir, { recursive: true })
  const store = new Corestore((name) => require('random-access-file')(path.join(dir, name)))
  await call((cb) => store.ready(cb))
  const drives = await openDrives(store, names)
  try {
    return await fn(drives)
  } finally {
    for (const d of Object.values(drives)) await call((cb) => d.close(cb))
    await call((cb) => store.close(cb)).catch(() => {})
  }
}

function writeOpts (op) {
  const opts = {}
  for (const k of ['mtime', 'ctime', 'mode', 'uid', 'gid']) if (op[k] !== undefined) opts[k] = op[k]
  return opts
}

async function apply (drives, marks, op) {
  const d = drives[op.drive]
  if (!d) throw new Error(`unknown drive ${op.drive}`)
  switch (op.op) {
    case 'write':
      return call((cb) => d.writeFile(op.path, fileBytes(op.size, op.seed), writeOpts(op), cb))
    case 'mkdir': return call((cb) => d.mkdir(op.path, writeOpts(op), cb))
    case 'symlink': return call((cb) => d.symlink(op.target, op.path, cb))
    case 'unlink': return call((cb) => d.unlink(op.path, cb))
    case 'rmdir': return call((cb) => d.rmdir(op.path, cb))
    case 'truncate': return call((cb) => d.truncate(op.path, op.size, cb))
    case 'setMetadata':
      return call((cb) => d.setMetadata(op.path, op.key, Buffer.from(op.value, 'hex'), cb))
    case 'removeMetadata': return call((cb) => d.removeMetadata(op.path, op.key, cb))
    case 'createTag':
      if (op.version === null || op.version === undefined) return call((cb) => d.createTag(op.name, cb))
      return call((cb) => d.createTag(op.name, op.version, cb))
    case 'deleteTag': return call((cb) => d.deleteTag(op.name, cb))
    case 'mount': {
      const target = drives[op.target]
      const opts = op.pinned ? { version: target.version } : {}
      return call((cb) => d.mount(op.path, target.key, opts, cb))
    }
    case 'unmount': return call((cb) => d.unmount(op.path, cb))
    case 'mark':
      marks[op.name] = d.version
      return null
    default: throw new Error(`unknown drive op ${JSON.stringify(op.op)}`)
  }
}

// Replays `script.ops` ({drives, ops}) into the store in `dir` (its master_key already
// written). One result per op: the drive's version afterwards, or the error code.
async function run (dir, script) {
  return withStore(dir, script.drives, async (drives) => {
    const marks = {}
    const results = []
    for (const [i, op] of script.ops.entries()) {
      current.step = `op ${i} ${JSON.stringify(op)}`
      clock.now = op.now
      const r = await attempt(async () => {
        await apply(drives, marks, op)
        return null
      })
      results.push(r || { version: drives[op.drive].version })
    }
    return { results, marks, keys: keysOf(drives) }
  })
}

function keysOf (drives) {
  const out = {}
  for (const [name, d] of Object.entries(drives)) out[name] = hex(d.key)
  return out
}

async function fileReport (d, p) {
  return attempt(async () => {
    const buf = await call((cb) => d.readFile(p, cb))
    return { size: buf.length, sha256: sha256(buf) }
  })
}

async function pathReport (d, p) {
  current.step = `path ${p}`
  const stat = await attempt(async () => statJson(await call((cb) => d.stat(p, cb))))
  const lstat = await attempt(async () => statJson(await call((cb) => d.lstat(p, cb))))
  const out = { path: p, stat, lstat }
  out.exists = await call((cb) => d.exists(p, (e) => cb(null, e)))
  if (!stat.error && stat.isFile && !stat.isDirectory && !(stat.mount && stat.mount.hypercore)) {
    out.content = await fileReport(d, p)
  }
  if (!lstat.error && lstat.isSymbolicLink) {
    out.readlink = await attempt(() => call((cb) => d.readlink(p, cb)))
  }
  return out
}

async function readdirReport (d, dir) {
  current.step = `readdir ${dir}`
  const list = (opts) => attempt(() => call((cb) => d.readdir(dir, opts, cb)))
  const withStats = await attempt(async () => {
    const entries = await call((cb) => d.readdir(dir, { includeStats: true }, cb))
    return entries.map((e) => ({ name: e.name, path: e.path, stat: statJson(e.stat) }))
  })
  return {
    dir,
    names: await list({}),
    recursive: await list({ recursive: true }),
    noMounts: await list({ recursive: true, noMounts: true }),
    withStats
  }
}

function diffJson (e) {
  const value = e.value && (e.type === 'put' ? statJson(e.value) : mountInfoJson(e.value))
  return {
    type: e.type,
    name: e.name,
    seq: e.seq === undefined ? null : e.seq,
    previous: e.previous === undefined ? null : (e.previous.seq === undefined ? null : e.previous.seq),
    value: value || null
  }
}

function mountInfoJson (info) {
  return { key: hex(info.key), localPath: info.localPath, version: info.version || 0 }
}

function collect (stream) {
  return new Promise((resolve, reject) => {
    const out = []
    stream.on('data', (d) => out.push(d))
    stream.on('error', reject)
    stream.on('end', () => resolve(out))
  })
}

// What a drive (or a checkout of it) answers about `q.paths` and `q.dirs`.
async function view (d, q) {
  const paths = []
  for (const p of q.paths) paths.push(await pathReport(d, p))
  const dirs = []
  for (const dir of q.dirs) dirs.push(await readdirReport(d, dir))
  return { version: d.version, paths, dirs }
}

// Dumps drive `q.drive` of the store in `dir`: the view of `q.paths` / `q.dirs`, tags, mounts,
// the requested diffs ({from: version|null, to: version, prefix}) and checkouts ({version,
// paths, dirs}). The clock is `q.now` throughout (implicit directory Stats read it).
async function dump (dir, names, q) {
  clock.now = q.now
  return withStore(dir, names, async (drives) => {
    const d = drives[q.drive]
    const out = await view(d, q)
    out.key = hex(d.key)
    out.writable = d.writable
    out.contentKey = hex((await call((cb) => d.getContent(cb))).key)
    const tags = await call((cb) => d.getAllTags(cb))
    out.tags = [...tags].map(([name, version]) => ({ name, version }))
    out.taggedVersions = []
    for (const t of q.tags) out.taggedVersions.push(await call((cb) => d.getTaggedVersion(t, cb)))
    out.mounts = {}
    current.step = 'mounts'
    for (const recursive of [false, true]) {
      const mounts = await call((cb) => d.getAllMounts({ recursive }, cb))
      out.mounts[recursive ? 'recursive' : 'top'] = [...mounts].map(([p, m]) => ({ path: p, key: hex(m.metadata.key) }))
    }
    out.diffs = []
    for (const diff of q.diffs) {
      current.step = `diff ${JSON.stringify(diff)}`
      const from = diff.from === null ? d : d.checkout(diff.from)
      const entries = await attempt(async () => (await collect(from.createDiffStream(diff.to, diff.prefix))).map(diffJson))
      out.diffs.push({ from: diff.from, to: diff.to, prefix: diff.prefix, entries })
    }
    out.checkouts = []
    for (const co of q.checkouts) {
      current.step = `checkout ${co.version}`
      const c = d.checkout(co.version)
      await call((cb) => c.ready(cb))
      out.checkouts.push(await view(c, co))
    }
    return out
  })
}

module.exports = { run, dump, current }
