'use strict'
// What the drive and union tools share: callbacks as promises, hex, digests, file bytes, and
// operations whose errors become answers.

const nodeCrypto = require('crypto')
const { batchBlocks } = require('./content')

function call (fn) {
  return new Promise((resolve, reject) => fn((err, val) => (err ? reject(err) : resolve(val))))
}

function hex (buf) {
  return buf === null || buf === undefined ? null : Buffer.from(buf).toString('hex')
}

function sha256 (buf) {
  return nodeCrypto.createHash('sha256').update(buf).digest('hex')
}

// A file's bytes: one block of exactly `size` bytes from the stream of `seed` (content.js).
function fileBytes (size, seed) {
  return batchBlocks({ count: 1, min: size, max: size, seed })[0]
}

// Errors as POSIX codes; anything without one is reported by message so a test shows it.
function errorJson (err) {
  return { error: err.code || `no code: ${err.message}` }
}

async function attempt (fn) {
  try {
    return await fn()
  } catch (err) {
    return errorJson(err)
  }
}

module.exports = { call, hex, sha256, fileBytes, errorJson, attempt }
