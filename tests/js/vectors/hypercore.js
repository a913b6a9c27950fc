'use strict'
// hypercore.json: five feeds written by hypercore@9.12.0 on disk from fixed seeds, with
// their roots, signatures, tree nodes, signature slots and every file.

const fs = require('fs')
const path = require('path')
const hypercore = require('hypercore')
const crypto = require('hypercore-crypto')
const { call, hex, snapshot, freshDir } = require('./util')

const HEADER = 32 // every hypercore 9 file but data starts with a 32-byte header
const TREE_ENTRY = 40 // 32-byte hash, then the subtree's byte size as u64 big-endian
const SIGNATURE_ENTRY = 64

/** A key pair from a seed of 32 equal bytes. */
function keyPairOf (byte) {
  const seed = Buffer.alloc(32, byte)
  return { seed, ...crypto.keyPair(seed) }
}

function writer (dir, pair) {
  return hypercore(dir, pair.publicKey, { secretKey: pair.secretKey })
}

const nodeJson = (n) => ({ index: n.index, hash: hex(n.hash), size: n.size })

/** Length, keys, roots and the signed tree hash of the feed's current length. */
async function summary (feed) {
  const length = feed.length
  const roots = await call((cb) => feed.rootHashes(length - 1, cb))
  const { signature } = await call((cb) => feed.signature(length - 1, cb))
  return {
    key: hex(feed.key),
    discoveryKey: hex(feed.discoveryKey),
    length,
    byteLength: feed.byteLength,
    roots: roots.map(nodeJson),
    treeHash: hex(crypto.tree(roots)),
    signable: hex(crypto.signable(roots, length)),
    signature: hex(signature)
  }
}

async function blocksOf (feed) {
  const out = []
  for (let index = 0; index < feed.length; index++) {
    const block = await call((cb) => feed.get(index, { valueEncoding: 'binary' }, cb))
    out.push({ index, hex: hex(block), leafHash: hex(crypto.data(block)) })
  }
  return out
}

/** The tree file's entries; an all-zero entry is a node the feed does not have. */
function treeNodes (buf) {
  const out = []
  for (let at = HEADER, index = 0; at + TREE_ENTRY <= buf.length; at += TREE_ENTRY, index++) {
    const hash = buf.subarray(at, at + 32)
    const size = Number(buf.readBigUInt64BE(at + 32))
    const blank = size === 0 && hash.every((b) => b === 0)
    out.push(blank ? { index, blank: true } : { index, hash: hex(hash), size })
  }
  return out
}

/** The signatures file's slots; slot i signs length i + 1, all-zero when unsigned. */
function signatureSlots (buf) {
  const out = []
  for (let at = HEADER, index = 0; at + SIGNATURE_ENTRY <= buf.length; at += SIGNATURE_ENTRY, index++) {
    const sig = buf.subarray(at, at + SIGNATURE_ENTRY)
    out.push(sig.every((b) => b === 0) ? { index, blank: true } : { index, signature: hex(sig) })
  }
  return out
}

/** The bytes of the bitfield's first page that are set, per section (trailing zeros cut). */
function bitfieldPage0 (buf) {
  const trimmed = (from, to) => hex(buf.subarray(from, to)).replace(/(00)+$/, '')
  return {
    dataBytes: trimmed(HEADER, HEADER + 1024),
    treeBytes: trimmed(HEADER + 1024, HEADER + 3072),
    indexBytes: trimmed(HEADER + 3072, HEADER + 3584)
  }
}

const read = (dir, name) => fs.readFileSync(path.join(dir, name))

async function small (scratch) {
  const dir = freshDir(scratch, 'small')
  const pair = keyPairOf(1)
  const feed = writer(dir, pair)
  const appendBatches = []
  for (const appended of [['a'], ['bb', 'ccc'], ['dddd', 'eeeee', 'ffffff'], ['hello world']]) {
    await call((cb) => feed.append(appended.map((s) => Buffer.from(s)), cb))
    const { roots, treeHash, signable, signature } = await summary(feed)
    appendBatches.push({ appended, lengthAfter: feed.length, roots, treeHash, signable, signature })
  }
  const result = { seed: hex(pair.seed), secretKey: hex(pair.secretKey), ...(await summary(feed)), blocks: await blocksOf(feed), appendBatches }
  await call((cb) => feed.close(cb))

  result.files = {}
  for (const name of ['bitfield', 'data', 'key', 'secret_key', 'signatures', 'tree']) result.files[name] = hex(read(dir, name))
  result.headers = {}
  for (const name of ['bitfield', 'signatures', 'tree']) result.headers[name] = { hex: hex(read(dir, name).subarray(0, HEADER)) }
  result.treeNodes = treeNodes(read(dir, 'tree'))
  result.signatureSlots = signatureSlots(read(dir, 'signatures'))
  result.bitfieldPage0 = bitfieldPage0(read(dir, 'bitfield'))

  // What a reopen recovers from the files alone.
  const again = hypercore(dir)
  await call((cb) => again.ready(cb))
  result.reopened = { length: again.length, byteLength: again.byteLength, writable: again.writable, key: hex(again.key) }
  await call((cb) => again.close(cb))
  return result
}

async function medium (scratch) {
  const dir = freshDir(scratch, 'medium')
  const pair = keyPairOf(2)
  const feed = writer(dir, pair)
  const appendBatchSizes = [1, 1, 3, 7, 20, 32, 64, 100, 72]
  let next = 0
  for (const size of appendBatchSizes) {
    const batch = []
    for (let i = 0; i < size; i++) batch.push(Buffer.from(`block-${next++}`))
    await call((cb) => feed.append(batch, cb))
  }
  const result = { seed: hex(pair.seed), blockContent: 'block i is utf8("block-" + i), i = 0..299', appendBatchSizes, ...(await summary(feed)) }
  await call((cb) => feed.close(cb))
  result.treeNodes = treeNodes(read(dir, 'tree'))
  result.signatureSlots = signatureSlots(read(dir, 'signatures')).filter((s) => !s.blank)
  result.bitfieldPage0 = bitfieldPage0(read(dir, 'bitfield'))
  result.files = snapshot(dir, 1 << 20)
  return result
}

async function large (scratch) {
  const dir = freshDir(scratch, 'large')
  const pair = keyPairOf(3)
  const feed = writer(dir, pair)
  for (let b = 0; b < 20; b++) {
    const batch = []
    for (let i = b * 1000; i < (b + 1) * 1000; i++) batch.push(Buffer.from([i & 0xff]))
    await call((cb) => feed.append(batch, cb))
  }
  const result = { seed: hex(pair.seed), blockContent: 'block i is the byte (i & 0xff), i = 0..19999, in 20 appends of 1000', ...(await summary(feed)) }
  await call((cb) => feed.close(cb))
  // The bitfield spans several pages: it is the file worth keeping whole.
  result.files = snapshot(dir, -1).map((f) => (f.path === 'bitfield' ? { ...f, hex: hex(read(dir, 'bitfield')) } : f))
  return result
}

async function truncate (scratch) {
  const dir = freshDir(scratch, 'truncate')
  const pair = keyPairOf(4)
  const feed = writer(dir, pair)
  const blocks = (...words) => words.map((w) => Buffer.from(w))
  await call((cb) => feed.append(blocks('one', 'two', 'three', 'four', 'five'), cb))
  await call((cb) => feed.append(blocks('six'), cb))
  const filesBefore = snapshot(dir)
  await call((cb) => feed.truncate(3, cb))
  const filesAfterTruncate = snapshot(dir)
  await call((cb) => feed.append(blocks('THREE+'), cb))
  const final = { ...(await summary(feed)), blocks: await blocksOf(feed) }
  await call((cb) => feed.close(cb))
  final.files = snapshot(dir)
  return {
    seed: hex(pair.seed),
    steps: ['append [one, two, three, four, five]', 'append [six]', 'truncate(3)', 'append [THREE+]'],
    filesBefore,
    filesAfterTruncate,
    final
  }
}

/** A sparse reader that replicated blocks 3, 10 and 17 of a 20-block feed, then closed. */
async function sparseClone (scratch) {
  const pair = keyPairOf(7)
  const source = writer(freshDir(scratch, 'sparse-source'), pair)
  const blocks = []
  for (let i = 0; i < 20; i++) blocks.push(Buffer.from(`blk${i}`))
  await call((cb) => source.append(blocks, cb))

  const dir = freshDir(scratch, 'sparse-clone')
  const clone = hypercore(dir, pair.publicKey, { sparse: true })
  await call((cb) => clone.ready(cb))
  const up = source.replicate(true, { live: true })
  const down = clone.replicate(false, { live: true })
  up.pipe(down).pipe(up)
  const fetchedBlocks = {}
  for (const i of [3, 10, 17]) fetchedBlocks[i] = hex(await call((cb) => clone.get(i, cb)))
  // Let the last acknowledgements settle before the streams go, as a real reader would.
  await new Promise((resolve) => setTimeout(resolve, 100))
  up.destroy()
  down.destroy()
  await call((cb) => clone.close(cb))
  await call((cb) => source.close(cb))

  const again = hypercore(dir, pair.publicKey, { sparse: true })
  await call((cb) => again.ready(cb))
  const has = {}
  for (const i of [0, 3, 4, 10, 17, 19]) has[i] = again.has(i)
  const reopened = { length: again.length, byteLength: again.byteLength, writable: again.writable, has }
  await call((cb) => again.close(cb))

  return {
    seed: hex(pair.seed),
    key: hex(pair.publicKey),
    writerBlocks: 'block i is utf8("blk" + i), i = 0..19, in one append',
    fetchedBlocks,
    reopened,
    treeNodes: treeNodes(read(dir, 'tree')).filter((n) => !n.blank),
    signatureSlots: signatureSlots(read(dir, 'signatures')).filter((s) => !s.blank),
    files: snapshot(dir)
  }
}

module.exports = async function hypercoreVectors (scratch) {
  return {
    small: await small(scratch),
    medium: await medium(scratch),
    large: await large(scratch),
    truncate: await truncate(scratch),
    sparseClone: await sparseClone(scratch)
  }
}
