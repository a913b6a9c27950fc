// Drives a ddrive daemon with the real hyperdrive-daemon-client@1.16.0 and prints one JSON
// object of what each step saw (errors as {code, details}), for tests/tests/interop_daemon.rs.
//
//   node daemon-client-tool.js <storage>
//
// The client finds the daemon through <storage>/config.json, as it does with Node's daemon.
'use strict'

const crypto = require('crypto')
const { HyperdriveClient } = require('hyperdrive-daemon-client')

const sha = (buf) => crypto.createHash('sha256').update(buf).digest('hex')

function pattern (length, seed) {
  const buf = Buffer.alloc(length)
  for (let i = 0; i < length; i++) buf[i] = (i * 31 + seed) % 251
  return buf
}

async function caught (fn) {
  try {
    const value = await fn()
    return { ok: true, value }
  } catch (err) {
    return { ok: false, code: err.code, details: err.details || err.message }
  }
}

function collect (stream) {
  return new Promise((resolve, reject) => {
    const chunks = []
    stream.on('data', (c) => chunks.push(c))
    stream.on('error', reject)
    stream.on('end', () => resolve(Buffer.concat(chunks)))
  })
}

function writeStream (stream, chunks) {
  return new Promise((resolve, reject) => {
    stream.on('error', reject)
    stream.on('finish', resolve)
    for (const c of chunks) stream.write(c)
    stream.end()
  })
}

async function main () {
  const storage = process.argv[2]
  const out = {}
  const client = new HyperdriveClient({ storage, connectionTimeout: 5000 })
  await client.ready()

  const status = await client.status()
  out.status = { apiVersion: status.apiVersion, daemonVersion: status.daemonVersion, fuseAvailable: status.fuseAvailable }

  const drive = await client.drive.get()
  out.drive = { key: drive.key.toString('hex'), writable: drive.writable, idNonZero: drive.id > 0 }
  out.versionNew = await drive.version()

  await drive.writeFile('/hello.txt', 'hello world')
  out.hello = (await drive.readFile('/hello.txt')).toString()

  const big = pattern(5000000, 7)
  await drive.writeFile('/big.bin', big)
  const bigBack = await drive.readFile('/big.bin')
  out.big = { length: bigBack.length, same: sha(bigBack) === sha(big) }

  const st = await drive.stat('/hello.txt')
  out.stat = { size: st.size, isFile: st.isFile(), isDirectory: st.isDirectory() }

  await drive.mkdir('/dir')
  await drive.writeFile('/dir/a.txt', 'a')
  out.readdirRoot = (await drive.readdir('/')).sort()
  const withStats = await drive.readdir('/', { includeStats: true })
  out.readdirStats = withStats
    .map((e) => ({ name: e.name, size: e.stat.size, isDirectory: e.stat.isDirectory() }))
    .sort((a, b) => a.name < b.name ? -1 : 1)
  await drive.unlink('/dir/a.txt')
  out.readdirAfterUnlink = await drive.readdir('/dir')

  const parts = [pattern(1000, 1), pattern(70000, 2), pattern(3, 3)]
  await writeStream(drive.createWriteStream('/stream.bin'), parts)
  const whole = Buffer.concat(parts)
  const streamed = await collect(drive.createReadStream('/stream.bin'))
  out.stream = { length: streamed.length, same: streamed.equals(whole) }
  const ranged = await collect(drive.createReadStream('/stream.bin', { start: 10, end: 19 }))
  out.ranged = ranged.equals(whole.slice(10, 20))

  const before = await drive.version()
  await drive.writeFile('/v.txt', 'one')
  const after = await drive.version()
  out.versions = { before, after }
  await drive.writeFile('/v.txt', 'two')
  const old = await drive.checkout(after)
  out.checkout = {
    writable: old.writable,
    content: (await old.readFile('/v.txt')).toString(),
    write: await caught(() => old.writeFile('/v.txt', 'three'))
  }
  out.live = (await drive.readFile('/v.txt')).toString()
  await old.close()

  const other = await client.drive.get()
  await other.writeFile('/m.txt', 'mounted')
  await drive.mount('/mnt', { key: other.key })
  out.mounted = (await drive.readFile('/mnt/m.txt')).toString()
  out.mounts = (await drive.mounts()).map((m) => ({ path: m.path, key: m.opts.key.toString('hex') }))
  out.otherKey = other.key.toString('hex')

  // Bad requests: each fails, and the daemon goes on.
  const bogus = Object.assign(Object.create(Object.getPrototypeOf(drive)), drive, { id: 999 })
  out.badSession = await caught(() => bogus.readFile('/hello.txt'))
  out.badKey = await caught(() => client.drive.get({ key: Buffer.alloc(5) }))
  out.nulPath = await caught(() => drive.readFile('/a\u0000b'))
  out.missing = await caught(() => drive.readFile('/missing.txt'))
  out.missingStat = await caught(() => drive.stat('/missing.txt'))

  const badClient = new HyperdriveClient(JSON.parse(require('fs').readFileSync(require('path').join(storage, 'config.json'))).endpoint, 'not-the-token')
  out.badToken = await caught(() => badClient.ready())
  badClient.close()

  await other.close()
  out.closed = await caught(() => other.version())
  out.stillServing = (await drive.readFile('/hello.txt')).toString()
  await drive.close()

  client.close()
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().catch((err) => {
  process.stderr.write((err && err.stack) || String(err))
  process.stderr.write('\n')
  process.exit(1)
})
