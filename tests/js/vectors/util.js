'use strict'
// Small helpers the vector modules share: callback-to-promise, hex, folder snapshots.

const fs = require('fs')
const path = require('path')
const { createHash } = require('crypto')

/** Runs `fn(cb)` and resolves with the callback's value. */
function call (fn) {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))))
}

/** Lowercase hex of a buffer, or null. */
function hex (buf) {
  return buf ? Buffer.from(buf).toString('hex') : null
}

function sha256 (buf) {
  return createHash('sha256').update(buf).digest('hex')
}

/**
 * Every file under `root`, sorted by its `/`-separated relative path, as
 * { path, size, sha256, hex }; `hex` only for files of at most `hexUpTo` bytes
 * (all of them when it is Infinity, none when it is -1).
 */
function snapshot (root, hexUpTo = Infinity) {
  const files = []
  const visit = (dir) => {
    for (const name of fs.readdirSync(dir)) {
      const full = path.join(dir, name)
      if (fs.statSync(full).isDirectory()) {
        visit(full)
        continue
      }
      const bytes = fs.readFileSync(full)
      const entry = { path: path.relative(root, full).split(path.sep).join('/'), size: bytes.length, sha256: sha256(bytes) }
      if (bytes.length <= hexUpTo) entry.hex = hex(bytes)
      files.push(entry)
    }
  }
  visit(root)
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

/** A fresh empty folder `name` under `scratch`. */
function freshDir (scratch, name) {
  const dir = path.join(scratch, name)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

module.exports = { call, hex, sha256, snapshot, freshDir }
