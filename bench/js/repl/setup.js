'use strict'
// Builds the drive the replication benchmark serves, once; a later run with the same
// parameters reuses it (SETUP_DONE.json records them and the drive's shape, which the clone
// gets as SETUP_JSON).
//   node repl/setup.js SRC_DIR [files=10000] [fileSize=1024] [bigMiB=256] [chunkKiB=64]
const fs = require('fs')
const hyperdrive = require('hyperdrive')
const { now, r2, call } = require('../lib')
const { smallFiles, writeBig } = require('../drive-content')

async function main () {
  const src = process.argv[2]
  const [files, fileSize, bigMiB, chunkKiB] = [10000, 1024, 256, 64].map((d, i) => +(process.argv[3 + i] || d))
  const chunk = chunkKiB * 1024
  const marker = `${src}/SETUP_DONE.json`
  const params = { files, file_size: fileSize, big_mib: bigMiB, chunk, v: 2 }
  if (fs.existsSync(marker)) {
    const done = JSON.parse(fs.readFileSync(marker))
    if (JSON.stringify(done.params) === JSON.stringify(params)) return console.log(JSON.stringify(done))
  }
  fs.rmSync(src, { recursive: true, force: true })
  fs.mkdirSync(src, { recursive: true })
  const t0 = now()
  const drive = hyperdrive(`${src}/store`)
  const d = drive.promises
  await d.ready()
  const small = smallFiles(fileSize, 100)
  for (let i = 0; i < files; i++) await d.writeFile(small.name(i), small.content(i))
  await writeBig(drive, '/big.bin', bigMiB * 1048576, chunk)
  const content = await call((cb) => drive.getContent(cb))
  const big = await d.stat('/big.bin')
  const info = {
    params,
    key: drive.key.toString('hex'),
    metadata_length: drive.metadata.length,
    metadata_byte_length: drive.metadata.byteLength,
    content_length: content.length,
    content_byte_length: content.byteLength,
    big_blocks: big.blocks,
    big_offset: big.offset,
    setup_ms: r2(now() - t0)
  }
  await d.close()
  fs.writeFileSync(marker, JSON.stringify(info))
  console.log(JSON.stringify(info))
}

main().catch((err) => { console.error(err); process.exit(1) })
