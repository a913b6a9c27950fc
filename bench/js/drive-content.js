'use strict'
// The drive both the hyperdrive and replication benchmarks build: `files` small files
// `/dir<i mod dirs>/file<i>` (fileSize bytes from pool seed 5 at offset (131 i) mod
// (1024 fileSize)), and a big file written through a write stream in chunks (chunk c cut from
// a 4 MiB pool of seed 9 at offset (65537 c) mod 4 MiB).

const { once } = require('events')
const { pseudoRandom, BIG_POOL, bigChunkOffset } = require('./lib')

function smallFiles (fileSize, dirs) {
  const span = fileSize * 1024
  const pool = pseudoRandom(span + fileSize, 5)
  return {
    name: (i) => `/dir${i % dirs}/file${i}`,
    content: (i) => pool.subarray((i * 131) % span, ((i * 131) % span) + fileSize)
  }
}

/** Writes `bytes` to `path` through hyperdrive's write stream, `chunk` bytes per write. */
async function writeBig (drive, path, bytes, chunk) {
  const pool = pseudoRandom(BIG_POOL + chunk, 9)
  const ws = drive.createWriteStream(path)
  for (let written = 0, c = 0; written < bytes; c++) {
    const at = bigChunkOffset(c)
    // A copy: the stream may hold on to what it is given.
    const piece = Buffer.from(pool.subarray(at, at + Math.min(chunk, bytes - written)))
    written += piece.length
    if (!ws.write(piece)) await once(ws, 'drain')
  }
  ws.end()
  await once(ws, 'finish')
}

/** The 1 KiB of the big file at byte `offset`, as writeBig wrote it. */
function bigFileExpect (chunk) {
  const pool = pseudoRandom(BIG_POOL + chunk, 9)
  return (offset) => {
    const at = bigChunkOffset(Math.floor(offset / chunk)) + (offset % chunk)
    return pool.subarray(at, at + 1024)
  }
}

module.exports = { smallFiles, writeBig, bigFileExpect }
