// Drives a daemon (ddrive's, or Node's hyperdrive-daemon@1.14.5) with the real
// hyperdrive-daemon-client@1.16.0 through every RPC the Node daemon implemented, and prints one
// JSON object of what each step saw (errors as {ok: false, code, details}), for
// tests/tests/interop_daemon.rs, which runs it against both daemons and compares.
//
//   node daemon-client-tool.js <storage>
//
// The client finds the daemon through <storage>/config.json, as it does with Node's daemon.
// FUSE mounting is left out: it would mount a real folder.
'use strict'

const crypto = require('crypto')
const { HyperdriveClient } = require('hyperdrive-daemon-client')
const { peers: { messages: peersMessages } } = require('hyperdrive-daemon-client/lib/rpc')
const { toRPCMetadata: toMetadata } = require('hyperdrive-daemon-client/lib/common')

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


const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref())

function metaObject (meta) {
  const o = {}
  for (const [k, v] of Object.entries(meta || {})) o[k] = Buffer.from(v).toString()
  return o
}

// A Map (or object) of plain values, keys sorted.
function plain (m) {
  const entries = m instanceof Map ? [...m.entries()] : Object.entries(m)
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : 1)))
}

function collectObjects (stream) {
  return new Promise((resolve, reject) => {
    const items = []
    stream.on('data', (d) => items.push(d))
    stream.on('error', reject)
    stream.on('end', () => resolve(items))
  })
}

// What a server stream that this client only opens does: fail at once (its code), or stay
// open (null) until cancelled after a bounded wait.
function streamOutcome (call) {
  return new Promise((resolve) => {
    let done = false
    const finish = (v) => { if (!done) { done = true; resolve(v) } }
    call.on('error', (err) => finish(err.code === 1 ? null : { code: err.code }))
    call.on('data', () => {})
    delay(1000).then(() => { call.cancel(); finish(null) })
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
  out.drive = { key: drive.key.toString('hex'), discoveryKey: drive.discoveryKey.toString('hex'), writable: drive.writable, idNonZero: drive.id > 0 }
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

  // Metadata, symlinks, directories.
  await drive.updateMetadata('/hello.txt', { a: Buffer.from('1'), b: Buffer.from('2') })
  await drive.deleteMetadata('/hello.txt', ['b'])
  out.metadata = metaObject((await drive.stat('/hello.txt')).metadata)
  await drive.symlink('/hello.txt', '/link')
  const link = await drive.lstat('/link')
  out.symlink = { isSymbolicLink: link.isSymbolicLink(), linkname: link.linkname, followed: await caught(async () => (await drive.readFile('/link')).toString()) }
  await drive.mkdir('/empty')
  out.rmdir = await caught(() => drive.rmdir('/empty'))
  out.rmdirMissing = await caught(() => drive.rmdir('/empty'))
  await drive.mkdir('/full')
  await drive.writeFile('/full/x', 'x')
  out.rmdirFull = await caught(() => drive.rmdir('/full'))
  out.readdirRecursive = (await drive.readdir('/', { recursive: true })).sort()
  out.readdirNoMounts = (await drive.readdir('/', { noMounts: true })).sort()
  out.readdirMissing = await caught(() => drive.readdir('/nowhere'))
  out.unlinkMissing = await caught(() => drive.unlink('/nowhere'))
  out.modes = {
    file: (await drive.stat('/hello.txt')).mode,
    dir: (await drive.stat('/full')).mode,
    mount: (await drive.stat('/mnt')).mode
  }
  out.fileStats = {
    big: Object.values(plain(await drive.fileStats('/big.bin'))),
    stream: Object.values(plain(await drive.fileStats('/stream.bin')))
  }

  // Versions: a diff against an earlier version, every change since it.
  const diffFrom = await drive.version()
  await drive.writeFile('/diff/new.txt', 'new')
  await drive.unlink('/full/x')
  const diff = await collectObjects(await drive.createDiffStream(diffFrom))
  out.diff = diff.map((d) => ({ type: d.type, name: d.name })).sort((a, b) => (a.name + a.type < b.name + b.type ? -1 : 1))
  out.diffPrefixed = (await collectObjects(await drive.createDiffStream(diffFrom, '/diff'))).map((d) => `${d.type} ${d.name}`)

  // Mounts: listing, recursive, unmounting.
  out.mountsMemory = await caught(async () => (await drive.mounts({ memory: true })).map((m) => m.path).sort())
  out.mountsRecursive = (await drive.mounts({ recursive: true })).map((m) => m.path).sort()
  out.unmount = await caught(() => drive.unmount('/mnt'))
  out.mountsAfterUnmount = (await drive.mounts()).map((m) => m.path).sort()
  out.unmountMissing = await caught(() => drive.unmount('/mnt'))

  // Downloads, networking, stats.
  const download = await caught(() => drive.download('/big.bin'))
  out.download = { ok: download.ok, code: download.code }
  if (download.ok) out.undownload = await caught(() => download.value.destroy())
  out.configureNetwork = await caught(() => drive.configureNetwork({ lookup: true, announce: true, remember: true }))
  const stats = await drive.stats()
  out.stats = {
    network: { lookup: stats.network.lookup, announce: stats.network.announce, remember: stats.network.remember },
    mounts: stats.stats.map((s) => ({ path: s.path, metadataLength: s.metadata.totalBlocks, contentLength: s.content.totalBlocks, contentBytes: s.content.totalBytes, peers: s.metadata.peers }))
  }
  const configs = await client.drive.allNetworkConfigurations()
  out.networkConfigurations = [...configs.entries()].map(([k, c]) => ({ key: k, lookup: c.lookup, announce: c.announce, remember: c.remember }))
  const all = await client.drive.allStats()
  out.allStats = all.map((mounts) => mounts.map((s) => ({ path: s.path, key: s.metadata.key && s.metadata.key.toString('hex') }))).sort((a, b) => (a[0].key < b[0].key ? -1 : 1))
  out.peerCounts = await client.drive.peerCounts([drive.key])
  const mirror = await caught(() => drive.mirror())
  out.mirror = { ok: mirror.ok, code: mirror.code }
  if (mirror.ok) out.unmirror = await caught(async () => { await mirror.value() })

  // A watch fires on a change below its path; closing it ends it. (Last
  // of the drive's writes: the number of writes it takes varies.)
  let onFire
  const firedOnce = new Promise((resolve) => { onFire = resolve })
  const unwatch = drive.watch('/', () => onFire(true))
  // No message says when a watch is in place, so writes repeat (at most 100) until it fires.
  out.watch = false
  for (let i = 0; i < 100 && !out.watch; i++) {
    await drive.writeFile('/watched.txt', String(i))
    out.watch = await Promise.race([firedOnce, delay(100).then(() => false)])
  }
  await unwatch()

  // FUSE (not set up in either daemon here), peers, peersockets.
  out.refreshFuse = await caught(() => client.refreshFuse())
  out.fuseInfo = await caught(() => client.fuse.info('/'))
  out.listPeers = await caught(() => client.peers.listPeers(drive.discoveryKey))
  const alias = await caught(() => client.peers.getAlias(drive.key))
  out.getAlias = { ok: alias.ok, code: alias.code }
  out.getKeyUnknown = await caught(() => client.peers.getKey(4242))
  const watchPeers = new peersMessages.WatchPeersRequest()
  watchPeers.setDiscoverykey(drive.discoveryKey)
  out.watchPeers = await streamOutcome(client.peers._client.watchPeers(watchPeers, toMetadata({ token: client.token })))
  out.peersocketsJoin = await streamOutcome(client.peersockets._client.join(toMetadata({ token: client.token })))

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
  // Watch and peer streams the client never ends would keep the process alive.
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0))
}

main().catch((err) => {
  process.stderr.write((err && err.stack) || String(err))
  process.stderr.write('\n')
  process.exit(1)
})
