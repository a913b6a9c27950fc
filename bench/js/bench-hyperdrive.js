'use strict'
// hyperdrive@10 on corestore@5, on disk.
//   node bench-hyperdrive.js [files=10000] [fileSize=1024] [dirs=100] [bigMiB=1024] [chunkKiB=64]
// Small files: writeFile each, readdir every dir, stat each, readFile each in a shuffled order.
// Big file: written through a write stream in chunkKiB chunks (each chunk one content block,
// up to hyperdrive's 512 KiB), then read back through a read stream.
const hyperdrive = require('hyperdrive')
const { freshDir, now, rng, mbps, rate, r2, emit, duBytes, peakRssMiB, rssMiB } = require('./lib')
const { smallFiles, writeBig } = require('./drive-content')

async function main () {
  const [files, fileSize, dirs, bigMiB, chunkKiB] = [10000, 1024, 100, 1024, 64].map((d, i) => +(process.argv[2 + i] || d))
  const chunk = chunkKiB * 1024
  const dir = freshDir('hyperdrive')
  const drive = hyperdrive(dir)
  const d = drive.promises
  await d.ready()
  const small = smallFiles(fileSize, dirs)

  let t0 = now()
  for (let i = 0; i < files; i++) await d.writeFile(small.name(i), small.content(i))
  const writeMs = now() - t0

  t0 = now()
  let entries = 0
  for (let k = 0; k < dirs; k++) entries += (await d.readdir(`/dir${k}`)).length
  const readdirMs = now() - t0

  t0 = now()
  let statBytes = 0
  for (let i = 0; i < files; i++) statBytes += (await d.stat(small.name(i))).size
  const statMs = now() - t0

  // Fisher-Yates with the seeded generator, so both sides read in the same order.
  const r = rng(13)
  const order = Array.from({ length: files }, (_, i) => i)
  for (let i = files - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  t0 = now()
  let readBytes = 0
  let mismatches = 0
  for (const i of order) {
    const buf = await d.readFile(small.name(i))
    readBytes += buf.length
    if (!buf.equals(small.content(i))) mismatches++
  }
  const readMs = now() - t0
  const peakAfterSmall = peakRssMiB()
  const diskSmall = duBytes(dir)

  const bigBytes = bigMiB * 1048576
  t0 = now()
  await writeBig(drive, '/big.bin', bigBytes, chunk)
  const bigWriteMs = now() - t0
  const rssAfterBigWrite = rssMiB()
  const peakAfterBigWrite = peakRssMiB()

  t0 = now()
  let bigRead = 0
  let firstChunkMs = null
  for await (const piece of drive.createReadStream('/big.bin')) {
    if (firstChunkMs === null) firstChunkMs = now() - t0
    bigRead += piece.length
  }
  const bigReadMs = now() - t0
  const big = await d.stat('/big.bin')
  const diskTotal = duBytes(dir)
  await d.close()

  emit({
    bench: 'hyperdrive',
    files,
    file_size: fileSize,
    dirs,
    writefile_per_s: rate(files, writeMs),
    writefile_ms: r2(writeMs),
    readdir_entries: entries,
    readdir_ms_per_dir: r2(readdirMs / dirs),
    stat_per_s: rate(files, statMs),
    stat_bytes: statBytes,
    readfile_per_s: rate(files, readMs),
    readfile_bytes: readBytes,
    readfile_mismatch: mismatches,
    peak_rss_mib_after_small: peakAfterSmall,
    disk_bytes_small: diskSmall,
    big_bytes: bigBytes,
    big_chunk: chunk,
    big_blocks: big.blocks,
    big_write_ms: r2(bigWriteMs),
    big_write_MBps: mbps(bigBytes, bigWriteMs),
    rss_mib_after_big_write: rssAfterBigWrite,
    peak_rss_mib_after_big_write: peakAfterBigWrite,
    big_read_bytes: bigRead,
    big_read_ms: r2(bigReadMs),
    big_read_MBps: mbps(bigRead, bigReadMs),
    big_read_first_chunk_ms: r2(firstChunkMs),
    disk_bytes_total: diskTotal
  })
}

main().catch((err) => { console.error(err); process.exit(1) })
