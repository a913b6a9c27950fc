#!/usr/bin/env node
'use strict'
// The client side of `cargo xtask bench daemon`: the real hyperdrive-daemon-client@1.16.0
// drives whichever daemon's config.json is in <storage> (ddrive's or Node's
// hyperdrive-daemon@1.14.5), and prints one JSON line of figures.
//
//   node daemon-bench.js <storage> <daemon pid> [files=10000] [bigBytes=1073741824]
//
// In order, one request at a time: the daemon's RSS idle (read from /proc/<pid>/status once
// the client is connected), its RSS with 100 drives open (100 new drives, one small file
// written to each, sessions kept open; then closed), then in one new drive: writeFile of
// `files` files of 1 KiB into /files, readFile of each, readdir('/files'), a `bigBytes` file
// through createWriteStream in 1 MiB writes, and createReadStream of it.

const fs = require('fs')
const { HyperdriveClient } = require('hyperdrive-daemon-client')
const { now, pseudoRandom, bigChunkOffset, BIG_POOL, rate, mbps, r2 } = require('./lib')

const MiB = 1048576

function rssMiB (pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)[1])
  return +(kib / 1024).toFixed(1)
}

function finished (stream) {
  return new Promise((resolve, reject) => {
    stream.on('error', reject)
    stream.on('finish', resolve)
  })
}

async function main () {
  const [storage, pidArg, filesArg, bigArg] = process.argv.slice(2)
  const pid = Number(pidArg)
  const files = Number(filesArg || 10000)
  const bigBytes = Number(bigArg || 1024 * MiB)
  const out = { files, big_bytes: bigBytes }

  const client = new HyperdriveClient({ storage })
  await client.ready()
  out.idle_rss_mib = rssMiB(pid)

  const drives = []
  for (let i = 0; i < 100; i++) {
    const d = await client.drive.get()
    await d.writeFile('/hello.txt', `drive ${i}`)
    drives.push(d)
  }
  out.drives100_rss_mib = rssMiB(pid)
  for (const d of drives) await d.close()

  const drive = await client.drive.get()
  const pool = pseudoRandom(1024 + files, 1)
  let t = now()
  for (let i = 0; i < files; i++) await drive.writeFile(`/files/f${i}`, pool.subarray(i, i + 1024))
  out.write_files_per_s = rate(files, now() - t)

  t = now()
  for (let i = 0; i < files; i++) {
    const got = await drive.readFile(`/files/f${i}`)
    if (got.length !== 1024) throw new Error(`/files/f${i} read back ${got.length} bytes`)
  }
  out.read_files_per_s = rate(files, now() - t)

  t = now()
  const names = await drive.readdir('/files')
  const readdirMs = now() - t
  if (names.length !== files) throw new Error(`readdir listed ${names.length} of ${files}`)
  out.readdir_ms = r2(readdirMs)
  out.readdir_entries_per_s = rate(files, readdirMs)

  const big = pseudoRandom(BIG_POOL + MiB, 2)
  const chunks = Math.ceil(bigBytes / MiB)
  t = now()
  const ws = drive.createWriteStream('/big.bin')
  const done = finished(ws)
  for (let c = 0; c < chunks; c++) {
    const len = Math.min(MiB, bigBytes - c * MiB)
    const off = bigChunkOffset(c)
    if (!ws.write(big.subarray(off, off + len))) await new Promise((resolve) => ws.once('drain', resolve))
  }
  ws.end()
  await done
  out.stream_write_MBps = mbps(bigBytes, now() - t)

  t = now()
  let read = 0
  await new Promise((resolve, reject) => {
    const rs = drive.createReadStream('/big.bin')
    rs.on('data', (c) => { read += c.length })
    rs.on('error', reject)
    rs.on('end', resolve)
  })
  if (read !== bigBytes) throw new Error(`createReadStream gave ${read} of ${bigBytes} bytes`)
  out.stream_read_MBps = mbps(bigBytes, now() - t)
  out.after_rss_mib = rssMiB(pid)

  await drive.close()
  client.close()
  out.node = process.version
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0))
}

main().catch((err) => {
  process.stderr.write((err && err.stack) || String(err))
  process.stderr.write('\n')
  process.exit(1)
})
