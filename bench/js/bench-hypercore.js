'use strict'
// hypercore@9 on disk: batched appends, random gets one at a time and 64 at a time, then
// one-block appends on a second feed.
//   node bench-hypercore.js [blocks=100000] [blockSize=1024] [batch=1000] [gets=10000] [singleAppends=10000]
// Block i is blockSize bytes cut from a pseudo-random pool at offset (977 i) mod (1024 blockSize).
const hypercore = require('hypercore')
const { freshDir, now, call, pseudoRandom, rng, mbps, rate, r2, emit, duBytes } = require('./lib')

async function main () {
  const [blocks, blockSize, batch, gets, singles] = [100000, 1024, 1000, 10000, 10000].map((d, i) => +(process.argv[2 + i] || d))
  const dir = freshDir('hypercore')
  const span = blockSize * 1024
  const pool = pseudoRandom(span + blockSize)
  const block = (i) => pool.subarray((i * 977) % span, ((i * 977) % span) + blockSize)

  const feed = hypercore(`${dir}/feed`, { valueEncoding: 'binary' })
  await call((cb) => feed.ready(cb))
  let t0 = now()
  for (let start = 0; start < blocks; start += batch) {
    const list = []
    for (let i = start; i < Math.min(blocks, start + batch); i++) list.push(block(i))
    await call((cb) => feed.append(list, cb))
  }
  const appendMs = now() - t0

  const pick = (seed) => {
    const r = rng(seed)
    return Array.from({ length: gets }, () => Math.floor(r() * blocks))
  }
  const sequential = pick(7)
  t0 = now()
  for (const i of sequential) await call((cb) => feed.get(i, cb))
  const getSeqMs = now() - t0

  const parallel = pick(9)
  let next = 0
  const worker = async () => {
    while (next < parallel.length) {
      const i = parallel[next++]
      await call((cb) => feed.get(i, cb))
    }
  }
  t0 = now()
  await Promise.all(Array.from({ length: 64 }, worker))
  const getParMs = now() - t0
  const disk = duBytes(dir)
  await call((cb) => feed.close(cb))

  const feed2 = hypercore(`${dir}/feed2`, { valueEncoding: 'binary' })
  await call((cb) => feed2.ready(cb))
  t0 = now()
  for (let i = 0; i < singles; i++) await call((cb) => feed2.append(block(i), cb))
  const singleMs = now() - t0
  await call((cb) => feed2.close(cb))

  const bytes = blocks * blockSize
  emit({
    bench: 'hypercore',
    blocks,
    block_size: blockSize,
    batch,
    append_ms: r2(appendMs),
    append_MBps: mbps(bytes, appendMs),
    append_blocks_per_s: rate(blocks, appendMs),
    gets,
    get_seq_ms: r2(getSeqMs),
    get_seq_per_s: rate(gets, getSeqMs),
    get_seq_us_per_op: r2((getSeqMs * 1000) / gets),
    get_par64_per_s: rate(gets, getParMs),
    single_appends: singles,
    single_append_per_s: rate(singles, singleMs),
    disk_bytes_feed: disk,
    disk_overhead_ratio: r2(disk / bytes)
  })
}

main().catch((err) => { console.error(err); process.exit(1) })
