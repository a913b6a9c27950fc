'use strict'
// The trie operations of trie-tool.js: replay a script of writes, answer a list of queries.
// Every answer is plain JSON in the shapes tests/src/trie_script.rs builds on the Rust side,
// so the two can be compared as values.

const fs = require('fs')
const path = require('path')
const hypertrie = require('hypertrie')
const crypto = require('hypercore-crypto')

function call (fn) {
  return new Promise((resolve, reject) => fn((err, val) => (err ? reject(err) : resolve(val))))
}

function hex (buf) {
  return Buffer.from(buf).toString('hex')
}

function bytes (h) {
  return h === null || h === undefined ? null : Buffer.from(h, 'hex')
}

// A node as both sides print it: user flags (stored flags >> 8) and the hidden bit apart.
function nodeJson (node) {
  if (!node) return null
  node.final()
  return {
    seq: node.seq,
    key: node.key,
    value: node.value === null ? null : hex(node.value),
    flags: node.flags,
    hidden: node.hidden
  }
}

// The conditions a script can ask for; the Rust side implements the same four.
function condition (spec) {
  return function (old, next, cb) {
    switch (spec.kind) {
      case 'absent': return cb(null, !old)
      case 'present': return cb(null, !!old)
      case 'never': return cb(null, false)
      case 'sameKey': return cb(null, !!old && old.key === next.key)
      default: return cb(new Error(`unknown condition ${spec.kind}`))
    }
  }
}

function batchOp (op) {
  if (op.op === 'del') return { type: 'del', key: op.key, hidden: !!op.hidden }
  return { type: 'put', key: op.key, value: bytes(op.value), hidden: !!op.hidden, flags: op.flags || 0 }
}

async function apply (db, op) {
  switch (op.op) {
    case 'put': {
      const before = db.feed.length
      const opts = { hidden: !!op.hidden, flags: op.flags || 0 }
      if (op.cond) {
        opts.condition = condition(op.cond)
        opts.closest = !!op.cond.closest
      }
      const node = await call((cb) => db.put(op.key, bytes(op.value), opts, cb))
      // A refused put still calls back with the node it did not write.
      return db.feed.length > before ? nodeJson(node) : null
    }
    case 'del': {
      const node = await call((cb) => db.del(op.key, { hidden: !!op.hidden }, cb))
      return nodeJson(node)
    }
    case 'batch': {
      const nodes = await call((cb) => db.batch(op.ops.map(batchOp), cb))
      return (nodes || []).map(nodeJson)
    }
    default: throw new Error(`unknown write ${JSON.stringify(op.op)}`)
  }
}

function open (db) {
  return call((cb) => db.ready(cb)).then(() => db)
}

function close (db) {
  return call((cb) => db.feed.close(cb))
}

// Creates a trie in `dir` from `{keySeed, ops}`; answers the key, the length and what each
// write returned.
async function write (dir, script) {
  if (fs.existsSync(path.join(dir, 'key'))) throw new Error(`${dir} already holds a feed`)
  const kp = crypto.keyPair(Buffer.from(script.keySeed, 'hex'))
  const db = await open(hypertrie(dir, kp.publicKey, { secretKey: kp.secretKey }))
  try {
    const results = []
    for (const op of script.ops) results.push(await apply(db, op))
    return { key: hex(db.key), length: db.feed.length, results }
  } finally {
    await close(db)
  }
}

async function collect (ite) {
  const out = []
  for (;;) {
    const item = await call((cb) => ite.next(cb))
    if (!item) return out
    out.push(item)
  }
}

function iterOpts (q) {
  return { recursive: q.recursive !== false, reverse: !!q.reverse, gt: !!q.gt, hidden: !!q.hidden }
}

async function query (db, q) {
  const view = typeof q.at === 'number' ? db.checkout(q.at) : db
  switch (q.q) {
    case 'get': {
      const opts = { hidden: !!q.hidden, prefix: !!q.prefix, closest: !!q.closest }
      return nodeJson(await call((cb) => view.get(q.key, opts, cb)))
    }
    case 'list':
      return (await call((cb) => view.list(q.prefix, iterOpts(q), cb))).map(nodeJson)
    case 'iter':
      return (await collect(view.iterator(q.prefix, iterOpts(q)))).map(nodeJson)
    case 'diff': {
      const opts = { hidden: !!q.hidden, skipLeftNull: !!q.skipLeftNull, skipRightNull: !!q.skipRightNull }
      const entries = await collect(view.diff(q.other, q.prefix, opts))
      return entries.map((e) => ({ key: e.key, left: nodeJson(e.left), right: nodeJson(e.right) }))
    }
    case 'history': {
      const opts = { reverse: !!q.reverse }
      if (typeof q.gte === 'number') opts.gte = q.gte
      if (typeof q.lte === 'number') opts.lte = q.lte
      return (await collect(view.history(opts))).map(nodeJson)
    }
    case 'seq':
      return nodeJson(await call((cb) => view.getBySeq(q.seq, cb)))
    case 'head':
      return nodeJson(await call((cb) => view.head(cb)))
    case 'version':
      return view.version
    default: throw new Error(`unknown query ${JSON.stringify(q.q)}`)
  }
}

// Opens the trie of `key` in `dir` read-only-minded (it never writes) and answers `queries`.
async function dump (dir, key, queries) {
  const db = await open(hypertrie(dir, Buffer.from(key, 'hex'), { createIfMissing: false }))
  try {
    const out = []
    for (const [k, q] of queries.entries()) {
      current.query = { dir, index: k, query: q }
      out.push(await query(db, q))
    }
    current.query = null
    return out
  } finally {
    await close(db)
  }
}

// The query under way, for a crash report: hypertrie throws some errors from inside its
// callbacks, where no promise can catch them.
const current = { query: null }

module.exports = { write, dump, current }
