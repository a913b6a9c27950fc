'use strict'
// A fresh sparse clone of the seeded drive over TCP on 127.0.0.1; prints one JSON line.
//   node repl/clone.js MODE PORT KEY DST_DIR SETUP_JSON      (TTFB_SEED picks the ranges)
//   full  download every metadata and content block (feed.download over the whole range)
//   walk  hyperdrive's own drive.download('/')
//   ttfb  read one random 1 KiB range of /big.bin (time to first byte), five more warm, and
//         one small file
const fs = require('fs')
const net = require('net')
const { pipeline } = require('stream')
const { execFileSync } = require('child_process')
const hyperdrive = require('hyperdrive')
const { now, call, r2, mbps, rng } = require('../lib')
const { bigFileExpect } = require('../drive-content')

async function main () {
  const [mode, port, keyHex, dst, setupJson] = process.argv.slice(2)
  const setup = JSON.parse(setupJson)
  const chunk = setup.params.chunk
  fs.rmSync(dst, { recursive: true, force: true })
  fs.mkdirSync(dst, { recursive: true })
  // Work that is not replication happens before any clock starts.
  const expect = mode === 'ttfb' ? bigFileExpect(chunk) : null
  const out = { mode }
  const cpu0 = process.cpuUsage()

  const t0 = now()
  const drive = hyperdrive(`${dst}/store`, Buffer.from(keyHex, 'hex'))
  await call((cb) => drive.ready(cb))
  out.ready_ms = r2(now() - t0)
  let socket
  const connect = () => {
    const start = now()
    socket = net.connect(+port, '127.0.0.1')
    socket.setNoDelay(true)
    socket.on('connect', () => { out.tcp_connect_ms = r2(now() - start) })
    const stream = drive.replicate(true, { live: true })
    stream.on('handshake', () => { out.handshake_ms = r2(now() - start) })
    pipeline(socket, stream, socket, () => {})
    return start
  }

  if (mode === 'full') {
    const start = connect()
    const metadataDone = call((cb) => drive.metadata.download({ start: 0, end: setup.metadata_length }, cb))
      .then(() => { out.metadata_done_ms = r2(now() - start) })
    const content = await call((cb) => drive.getContent(cb))
    out.content_key_known_ms = r2(now() - start)
    // The big file is the content feed's last big_blocks blocks: it was written last.
    const bigStart = setup.content_length - setup.big_blocks
    let bigFirst = null
    let bigLast = null
    let bigBytes = 0
    content.on('download', (index, data) => {
      if (index < bigStart) return
      bigLast = now()
      if (bigFirst === null) bigFirst = bigLast
      bigBytes += data.length
    })
    await call((cb) => content.download({ start: 0, end: setup.content_length }, cb))
    out.big_file_span_ms = r2(bigLast - bigFirst)
    out.big_file_MBps = mbps(bigBytes, bigLast - bigFirst)
    out.content_done_ms = r2(now() - start)
    await metadataDone
    const ms = now() - start
    const bytes = setup.metadata_byte_length + setup.content_byte_length
    Object.assign(out, { full_download_ms: r2(ms), bytes, full_download_MBps: mbps(bytes, ms) })
    out.metadata_blocks_have = drive.metadata.downloaded(0, setup.metadata_length)
    out.content_blocks_have = content.downloaded(0, setup.content_length)
    out.complete = out.metadata_blocks_have === setup.metadata_length && out.content_blocks_have === setup.content_length
  } else if (mode === 'walk') {
    const start = connect()
    await call((cb) => drive.download('/', cb))
    const ms = now() - start
    const content = await call((cb) => drive.getContent(cb))
    out.walk_download_ms = r2(ms)
    out.content_bytes = content.byteLength
    out.walk_download_MBps = mbps(setup.metadata_byte_length + setup.content_byte_length, ms)
    out.metadata_blocks_have = drive.metadata.downloaded(0, drive.metadata.length)
    out.metadata_length = drive.metadata.length
    out.content_blocks_have = content.downloaded(0, setup.content_length)
    out.complete = out.content_blocks_have === setup.content_length
  } else if (mode === 'ttfb') {
    const r = rng(Number(process.env.TTFB_SEED || Date.now() % 100000))
    const chunks = (setup.params.big_mib * 1048576) / chunk
    // A random 1 KiB inside a random chunk: one content block holds it whole.
    const pick = () => Math.floor(r() * chunks) * chunk + Math.floor(r() * (chunk - 1024))
    const readRange = (offset) => new Promise((resolve, reject) => {
      const started = now()
      let first = null
      const parts = []
      const rs = drive.createReadStream('/big.bin', { start: offset, length: 1024 })
      rs.on('data', (b) => {
        if (first === null) first = now() - started
        parts.push(b)
      })
      rs.on('error', reject)
      rs.on('end', () => resolve({ first, total: now() - started, buf: Buffer.concat(parts) }))
    })
    connect()
    const offset = pick()
    const a = await readRange(offset)
    out.offset = offset
    out.ttfb_from_connect_ms = r2(a.first)
    out.ttfb_from_drive_open_ms = r2(now() - t0 - (a.total - a.first))
    out.first_read_ok = a.buf.equals(expect(offset))
    const warm = []
    for (let k = 0; k < 5; k++) {
      const o = pick()
      const b = await readRange(o)
      if (!b.buf.equals(expect(o))) out.warm_read_bad = true
      warm.push(b.first)
    }
    warm.sort((x, y) => x - y)
    out.warm_random_read_median_ms = r2(warm[2])
    const tf = now()
    const small = await call((cb) => drive.readFile('/dir42/file4242', cb))
    out.warm_small_readfile_ms = r2(now() - tf)
    out.small_ok = small.length === setup.params.file_size
    const content = await call((cb) => drive.getContent(cb))
    out.content_blocks_downloaded = content.downloaded()
    out.metadata_blocks_downloaded = drive.metadata.downloaded()
    out.content_bytes_downloaded_approx = content.downloaded() * chunk
    out.disk_alloc_bytes_clone = Number(execFileSync('du', ['-s', '--block-size=1', dst]).toString().split(/\s+/)[0])
  } else {
    throw new Error(`unknown mode ${mode}`)
  }

  const cpu = process.cpuUsage(cpu0)
  out.clone_cpu_user_ms = Math.round(cpu.user / 1000)
  out.clone_cpu_sys_ms = Math.round(cpu.system / 1000)
  out.clone_peak_rss_mib = +(process.resourceUsage().maxRSS / 1024).toFixed(1)
  process.stdout.write(JSON.stringify(out) + '\n')
  socket.destroy()
  process.exit(0)
}

main().catch((err) => { console.error(err); process.exit(1) })
