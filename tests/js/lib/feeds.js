'use strict'
// The feed operations of feed-tool.js, as promises over hypercore@9's callback API.

const fs = require('fs')
const path = require('path')
const nodeCrypto = require('crypto')
const hypercore = require('hypercore')
const crypto = require('hypercore-crypto')
const { batchBlocks } = require('./content')

function call (fn) {
  return new Promise((resolve, reject) => fn((err, val) => (err ? reject(err) : resolve(val))))
}

function open (feed) {
  return call((cb) => feed.ready(cb)).then(() => feed)
}

function hex (buf) {
  return Buffer.from(buf).toString('hex')
}

function sha256 (buf) {
  return nodeCrypto.createHash('sha256').update(buf).digest('hex')
}

// What both sides compare after a write: key, lengths, the roots and the last signature.
async function summary (feed) {
  const out = { key: hex(feed.key), length: feed.length, byteLength: feed.byteLength, roots: [], signature: null }
  if (feed.length > 0) {
    const roots = await call((cb) => feed.rootHashes(feed.length - 1, cb))
    out.roots = roots.map((n) => ({ index: n.index, hash: hex(n.hash), size: n.size }))
    // A truncate can leave the length unsigned (the signatures file ends before it); that
    // shows as `signature: null`, which the Rust side compares like any other value.
    const sig = await call((cb) => feed.signature(feed.length - 1, cb)).catch(() => null)
    if (sig) {
      out.signatureIndex = sig.index
      out.signature = hex(sig.signature)
    }
  }
  return out
}

async function appendBatches (feed, batches) {
  for (const batch of batches) {
    const blocks = batchBlocks(batch)
    // One append call per batch: one signature per batch, as the Rust side does.
    await call((cb) => feed.append(blocks, cb))
  }
}

// Creates a feed in `dir` from spec `{keySeed, batches}`.
async function write (dir, spec) {
  if (fs.existsSync(path.join(dir, 'key'))) throw new Error(`${dir} already holds a feed`)
  const kp = crypto.keyPair(Buffer.from(spec.keySeed, 'hex'))
  const feed = await open(hypercore(dir, kp.publicKey, { secretKey: kp.secretKey }))
  try {
    await appendBatches(feed, spec.batches)
    return await summary(feed)
  } finally {
    await call((cb) => feed.close(cb))
  }
}

// Appends the spec's batches to the writable feed stored in `dir`.
function append (dir, spec) {
  return edit(dir, (feed) => appendBatches(feed, spec.batches))
}

// Opens the writable feed in `dir`, runs `fn` on it, closes it; answers the summary.
async function edit (dir, fn) {
  const feed = await open(hypercore(dir, { createIfMissing: false }))
  try {
    if (!feed.writable) throw new Error(`${dir}: feed is not writable`)
    await fn(feed)
    return await summary(feed)
  } finally {
    await call((cb) => feed.close(cb))
  }
}

// Marks blocks [start, end) as not stored (freeing their bytes when they end the data file).
function clear (dir, start, end) {
  return edit(dir, (feed) => call((cb) => feed.clear(start, end, cb)))
}

// Shortens the feed to `length` blocks.
function truncate (dir, length) {
  return edit(dir, (feed) => call((cb) => feed.truncate(length, cb)))
}

// Opens the feed of `key` in `dir`, audits it and reads every stored block.
async function read (dir, key, opts = {}) {
  const feed = await open(hypercore(dir, Buffer.from(key, 'hex'), { createIfMissing: false, sparse: true }))
  try {
    if (opts.writable && !feed.writable) throw new Error(`${dir}: expected a writable feed`)
    const audit = await call((cb) => feed.audit(cb))
    const blocks = []
    for (let i = 0; i < feed.length; i++) {
      if (!feed.has(i)) {
        blocks.push(null)
        continue
      }
      const block = await call((cb) => feed.get(i, { wait: false }, cb))
      blocks.push(sha256(block))
    }
    const out = await summary(feed)
    out.writable = feed.writable
    out.audit = { valid: audit.valid, invalid: audit.invalid }
    out.blocks = blocks
    out.verified = false
    if (out.signature) {
      const sig = Buffer.from(out.signature, 'hex')
      out.verified = await call((cb) => feed.verify(out.signatureIndex, sig, cb))
    }
    return out
  } finally {
    await call((cb) => feed.close(cb))
  }
}

function replicateOnce (a, b) {
  const sa = a.replicate(true, { live: true })
  const sb = b.replicate(false, { live: true })
  sa.pipe(sb).pipe(sa)
  return () => {
    sa.destroy()
    sb.destroy()
  }
}

// Clones the feed in `src` into `dst` over an in-process replication stream, fetching only
// `indices` (in that order, one at a time).
async function sparse (src, dst, indices) {
  const source = await open(hypercore(src, { createIfMissing: false }))
  const clone = await open(hypercore(dst, source.key, { sparse: true }))
  const stop = replicateOnce(source, clone)
  try {
    for (const i of indices) await call((cb) => clone.get(i, cb))
    return { length: clone.length, byteLength: clone.byteLength, has: indices.filter((i) => clone.has(i)) }
  } finally {
    stop()
    await call((cb) => clone.close(cb))
    await call((cb) => source.close(cb))
  }
}

// Clones like `sparse`, but with explicit proofs: for each index the clone's digest goes to
// `proof()` and the result to `put()`, which the Rust side can repeat step for step.
async function sparsePut (src, dst, indices) {
  const source = await open(hypercore(src, { createIfMissing: false }))
  const clone = await open(hypercore(dst, source.key, { sparse: true }))
  try {
    for (const i of indices) {
      const proof = await call((cb) => source.proof(i, { digest: clone.digest(i) }, cb))
      const data = await call((cb) => source.get(i, cb))
      await call((cb) => clone.put(i, data, proof, cb))
    }
    return { length: clone.length, byteLength: clone.byteLength, has: indices.filter((i) => clone.has(i)) }
  } finally {
    await call((cb) => clone.close(cb))
    await call((cb) => source.close(cb))
  }
}

module.exports = { write, append, clear, truncate, read, sparse, sparsePut }
