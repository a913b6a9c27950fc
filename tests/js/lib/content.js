'use strict'
// Deterministic block content shared with the Rust harness (tests/src/content.rs).
// Both sides must produce the same bytes from the same spec, so every rule here is mirrored there.

// mulberry32: a tiny 32-bit PRNG, chosen because it needs only 32-bit integer maths in JS.
function prng (seed) {
  let a = seed >>> 0
  return function next () {
    a = (a + 0x6D2B79F5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return (t ^ (t >>> 14)) >>> 0
  }
}

// One batch: `{count, min, max, seed}` (sizes drawn in [min, max], bytes from the same stream)
// or `{hex: [...]}` (the blocks themselves).
function batchBlocks (batch) {
  if (Array.isArray(batch.hex)) return batch.hex.map((h) => Buffer.from(h, 'hex'))
  const next = prng(batch.seed)
  const span = batch.max - batch.min + 1
  const blocks = []
  for (let i = 0; i < batch.count; i++) {
    const size = span > 1 ? batch.min + (next() % span) : batch.min
    const block = Buffer.alloc(size)
    for (let off = 0; off < size; off += 4) {
      const word = next() // bytes taken little-endian; the last word may be cut short
      for (let k = 0; k < 4 && off + k < size; k++) block[off + k] = (word >>> (8 * k)) & 0xff
    }
    blocks.push(block)
  }
  return blocks
}

module.exports = { prng, batchBlocks }
