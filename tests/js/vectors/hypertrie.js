'use strict'
// hypertrie.json: a trie written by hypertrie@5.1.3 through puts, hidden and flagged puts,
// conditional puts, deletes and a batch, with every block, every file and the answers of
// gets, lists, diffs, a checkout and a history; and a small trie whose only key is deleted
// (the "reset" node with an empty key).

const crypto = require('hypercore-crypto')
const hypertrie = require('hypertrie')
const { call, hex, snapshot, freshDir } = require('./util')

function nodeJson (node) {
  if (!node) return null
  const value = node.value === null ? null : Buffer.isBuffer(node.value) ? hex(node.value) : node.value
  return { key: node.key, seq: node.seq, value, flags: node.flags }
}

async function blocksOf (trie) {
  const out = []
  for (let seq = 0; seq < trie.feed.length; seq++) {
    out.push({ seq, hex: hex(await call((cb) => trie.feed.get(seq, { valueEncoding: 'binary' }, cb))) })
  }
  return out
}

/** Every entry of an iterator with a callback `next`. */
async function drain (iterator, map) {
  const out = []
  for (;;) {
    const entry = await call((cb) => iterator.next(cb))
    if (!entry) return out
    out.push(map(entry))
  }
}

const INITIAL_KEYS = [
  'a', 'b', 'c', 'a/b', 'a/c', 'a/b/c', 'a/b/d', 'b/x', 'b/y', 'b/z',
  'hello', 'hello/world', 'hello/world/deep/key/path', '/leading-slash', 'trailing/',
  'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'x10',
  'dir/f1', 'dir/f2', 'dir/f3', 'dir/sub/f4', 'dir/sub/f5',
  'unicode/é', 'unicode/日本', 'spaces in key', 'k-31', 'k-32', 'k-33',
  'z/z/z/z', 'm', 'n', 'o'
]

async function main (scratch) {
  const seed = Buffer.alloc(32, 5)
  const pair = crypto.keyPair(seed)
  const dir = freshDir(scratch, 'trie')
  const trie = hypertrie(dir, pair.publicKey, { secretKey: pair.secretKey, valueEncoding: 'utf-8' })
  await call((cb) => trie.ready(cb))

  const ops = []
  const versions = {}
  const put = async (key, value, opts = {}) => {
    const node = await call((cb) => trie.put(key, value, opts, cb))
    const { condition, ...plain } = opts
    ops.push({
      op: 'put',
      key,
      value,
      opts: Object.keys(plain).length ? plain : undefined,
      conditional: !!condition,
      wroteSeq: node ? node.seq : null,
      versionAfter: trie.version
    })
  }
  const del = async (key, opts) => {
    const node = await call((cb) => trie.del(key, opts || {}, cb))
    ops.push({ op: 'del', key, opts, wroteSeq: node ? node.seq : null, writtenNodeKey: node ? node.key : null, versionAfter: trie.version })
  }

  for (let i = 0; i < INITIAL_KEYS.length; i++) await put(INITIAL_KEYS[i], `v${i}:${INITIAL_KEYS[i]}`)
  versions.afterInitialPuts = trie.version
  await put('a', 'a-overwritten')
  await put('hidden-key', 'secret', { hidden: true })
  await put('hidden/other', 'secret2', { hidden: true })
  await put('flagged', 'with user flags', { flags: 5 })
  // Refused: nothing is written. The Rust replay knows which condition each key had.
  await put('a', 'never', { condition: (oldNode, newNode, cb) => cb(null, false) })
  await put('cond', 'yes', { condition: (oldNode, newNode, cb) => cb(null, oldNode === null) })
  versions.beforeDeletes = trie.version
  for (const key of ['b/y', 'x5', 'a/b/c', 'dir/sub/f5', 'dir/sub/f4', 'does-not-exist']) await del(key)
  await del('hidden-key', { hidden: true })
  await del('z/z/z/z')
  versions.afterDeletes = trie.version
  const batch = await call((cb) => trie.batch([
    { type: 'put', key: 'batch/1', value: 'b1' },
    { type: 'put', key: 'batch/2', value: 'b2' },
    { type: 'del', key: 'x6' },
    { type: 'put', key: 'batch/3', value: 'b3', hidden: true }
  ], cb))
  ops.push({ op: 'batch', ops: ['put batch/1=b1', 'put batch/2=b2', 'del x6', 'put batch/3=b3 (hidden)'], wroteSeqs: batch.map((n) => n.seq), versionAfter: trie.version })
  versions.final = trie.version

  const getAll = async (keys, opts) => {
    const out = {}
    for (const key of keys) out[key] = nodeJson(await call((cb) => trie.get(key, opts, cb)))
    return out
  }
  const list = async (prefix, opts) => (await call((cb) => trie.list(prefix, opts, cb))).map((n) => n.key)

  const queries = {
    get: await getAll([...new Set([...INITIAL_KEYS, 'cond', 'flagged', 'hidden-key', 'batch/1', 'batch/2', 'does-not-exist', 'a/b', 'unicode'])], {}),
    getHidden: await getAll(['hidden-key', 'hidden/other', 'batch/3', 'a'], { hidden: true }),
    getClosest: await getAll(['a/b/c', 'dir/sub', 'hello/world/deep', 'nope'], { closest: true }),
    getPrefix: await getAll(['dir', 'hello/world', 'unicode'], { prefix: true }),
    listAllRecursive: await list('', {}),
    listDirRecursive: await list('dir', {}),
    listRootNonRecursive: await list('', { recursive: false }),
    listDirNonRecursive: await list('dir', { recursive: false }),
    listAllReverse: await list('', { reverse: true }),
    listHidden: await list('', { hidden: true }),
    listHelloGt: await list('hello', { gt: true }),
    diffs: []
  }
  for (const from of [versions.afterInitialPuts, versions.beforeDeletes]) {
    const entries = await drain(trie.diff(from), (e) => ({ key: e.key, left: nodeJson(e.left), right: nodeJson(e.right) }))
    queries.diffs.push({ from, note: `trie.diff(${from}): left is the head (version ${trie.version}), right the checkout at ${from}`, entries })
  }
  const checkout = trie.checkout(versions.beforeDeletes)
  const checkoutGets = {}
  for (const key of ['b/y', 'x5', 'a/b/c', 'a', 'batch/1']) checkoutGets[key] = nodeJson(await call((cb) => checkout.get(key, cb)))
  queries.checkoutBeforeDeletes = { version: versions.beforeDeletes, get: checkoutGets }
  queries.history_gte1_lte6 = await drain(trie.history({ gte: 1, lte: 6 }), nodeJson)

  const blocks = await blocksOf(trie)
  await call((cb) => trie.feed.close(cb))
  return { seed: hex(seed), key: hex(pair.publicKey), valueEncoding: 'utf-8', versions, ops, blocks, queries, files: snapshot(dir, -1) }
}

async function resetNode (scratch) {
  const seed = Buffer.alloc(32, 6)
  const pair = crypto.keyPair(seed)
  const trie = hypertrie(freshDir(scratch, 'trie-reset'), pair.publicKey, {
    secretKey: pair.secretKey,
    metadata: Buffer.from('some header metadata'),
    subtype: 'example-subtype'
  })
  await call((cb) => trie.ready(cb))
  await call((cb) => trie.put('only', Buffer.from('x'), cb))
  await call((cb) => trie.del('only', cb))
  await call((cb) => trie.put('again', Buffer.from('y'), cb))
  const result = {
    seed: hex(seed),
    key: hex(pair.publicKey),
    steps: ['ready: header with metadata and subtype', "put 'only' = 'x'", "del 'only': no sibling is left, so a node with key '' is written", "put 'again' = 'y'"],
    blocks: await blocksOf(trie),
    getOnly: nodeJson(await call((cb) => trie.get('only', cb))),
    list: (await call((cb) => trie.list('', cb))).map((n) => n.key)
  }
  await call((cb) => trie.feed.close(cb))
  return result
}

module.exports = async function hypertrieVectors (scratch) {
  return { main: await main(scratch), resetNode: await resetNode(scratch) }
}
