'use strict'
// hypertrie@5 on disk: awaited puts one by one, random gets, list one directory, iterate
// everything; then the same keys through batch() on a second trie.
//   node bench-hypertrie.js [keys=100000] [valueSize=64] [batchSize=1000]
// Key i is `dir<i mod 100>/file<i>`; its value is valueSize pseudo-random bytes (pool seed 3,
// offset (61 i) mod (4096 valueSize)).
const hypertrie = require('hypertrie')
const { freshDir, now, call, pseudoRandom, rng, rate, r2, emit, duBytes } = require('./lib')

async function main () {
  const [count, valueSize, batchSize] = [100000, 64, 1000].map((d, i) => +(process.argv[2 + i] || d))
  const dir = freshDir('hypertrie')
  const key = (i) => `dir${i % 100}/file${i}`
  const span = valueSize * 4096
  const pool = pseudoRandom(span + valueSize, 3)
  const value = (i) => pool.subarray((i * 61) % span, ((i * 61) % span) + valueSize)

  const trie = hypertrie(`${dir}/seq`, { valueEncoding: 'binary' })
  await call((cb) => trie.ready(cb))
  let t0 = now()
  for (let i = 0; i < count; i++) await call((cb) => trie.put(key(i), value(i), cb))
  const putMs = now() - t0

  const r = rng(11)
  const order = Array.from({ length: count }, () => Math.floor(r() * count))
  let misses = 0
  t0 = now()
  for (const i of order) {
    const node = await call((cb) => trie.get(key(i), cb))
    if (!node || node.value.length !== valueSize) misses++
  }
  const getMs = now() - t0

  t0 = now()
  const listed = await call((cb) => trie.list('dir7', { recursive: true }, cb))
  const listMs = now() - t0

  const iterator = trie.iterator({ recursive: true })
  let iterated = 0
  t0 = now()
  while (await call((cb) => iterator.next(cb))) iterated++
  const iterMs = now() - t0
  const disk = duBytes(`${dir}/seq`)
  const feedLength = trie.feed.length
  await call((cb) => trie.feed.close(cb))

  const batched = hypertrie(`${dir}/batch`, { valueEncoding: 'binary' })
  await call((cb) => batched.ready(cb))
  t0 = now()
  for (let start = 0; start < count; start += batchSize) {
    const ops = []
    for (let i = start; i < Math.min(count, start + batchSize); i++) ops.push({ type: 'put', key: key(i), value: value(i) })
    await call((cb) => batched.batch(ops, cb))
  }
  const batchMs = now() - t0
  await call((cb) => batched.feed.close(cb))

  emit({
    bench: 'hypertrie',
    keys: count,
    value_size: valueSize,
    put_seq_ms: r2(putMs),
    put_seq_per_s: rate(count, putMs),
    get_random_ms: r2(getMs),
    get_random_per_s: rate(count, getMs),
    get_misses: misses,
    list_dir_keys: listed.length,
    list_dir_ms: r2(listMs),
    iterate_keys: iterated,
    iterate_ms: r2(iterMs),
    iterate_per_s: rate(iterated, iterMs),
    put_batch_size: batchSize,
    put_batch_per_s: rate(count, batchMs),
    feed_length: feedLength,
    disk_bytes_seq: disk
  })
}

main().catch((err) => { console.error(err); process.exit(1) })
