'use strict'
// Builds the many-file drive of bench-open.js once; a later run with the same parameters
// reuses it (SETUP_DONE.json records them).
//   node open/setup.js DIR [files=100000] [fileSize=1024] [dirs=100]
const fs = require('fs')
const hyperdrive = require('hyperdrive')
const { now, r2, duBytes } = require('../lib')
const { smallFiles } = require('../drive-content')

async function main () {
  const dir = process.argv[2]
  const [files, fileSize, dirs] = [100000, 1024, 100].map((d, i) => +(process.argv[3 + i] || d))
  const marker = `${dir}/SETUP_DONE.json`
  const params = { files, file_size: fileSize, dirs }
  if (fs.existsSync(marker)) {
    const done = JSON.parse(fs.readFileSync(marker))
    if (JSON.stringify(done.params) === JSON.stringify(params)) return console.log(JSON.stringify(done))
  }
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const drive = hyperdrive(`${dir}/store`)
  const d = drive.promises
  await d.ready()
  const small = smallFiles(fileSize, dirs)
  const t0 = now()
  const progress = {}
  for (let i = 0; i < files; i++) {
    await d.writeFile(small.name(i), small.content(i))
    if ((i + 1) % 25000 === 0) progress[`writefile_per_s_at_${i + 1}`] = +((i + 1) / ((now() - t0) / 1000)).toFixed(1)
  }
  const ms = now() - t0
  const info = { params, key: drive.key.toString('hex'), metadata_length: drive.metadata.length, setup_ms: r2(ms), writefile_per_s: +(files / (ms / 1000)).toFixed(1), ...progress }
  await d.close()
  info.disk_bytes = duBytes(`${dir}/store`)
  fs.writeFileSync(marker, JSON.stringify(info))
  console.log(JSON.stringify(info))
}

main().catch((err) => { console.error(err); process.exit(1) })
