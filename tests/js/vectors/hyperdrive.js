'use strict'
// hyperdrive.json: a drive written by hyperdrive@10.21.0 in a corestore@5.8.2 folder with a
// fixed master key: files, a directory, a two-block file, symlinks, metadata, tags, a drive
// mounted through a corestore namespace, a plain hypercore mounted as a file, unlink,
// overwrite, truncate. It records the version and feed lengths after every operation, every
// metadata block, the answers of readdir, stat, lstat, readFile, tags and a checkout, and
// every file of the store's folder.
//
// Stat times without an explicit value come from the clock gen.js pins (FIXED_TIME).

const fs = require('fs')
const path = require('path')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')
const crypto = require('hypercore-crypto')
const raf = require('random-access-file')
const { call, hex, sha256, snapshot, freshDir } = require('./util')

const EXPLICIT_TIME = 1500000000000 // mtime and ctime given to some writes

async function feedBlocks (feed) {
  const out = []
  for (let seq = 0; seq < feed.length; seq++) {
    const block = await call((cb) => feed.get(seq, { valueEncoding: 'binary' }, cb))
    out.push({ seq, size: block.length, hex: hex(block) })
  }
  return out
}

function statJson (st) {
  const bufs = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, hex(v)]))
  return {
    mode: st.mode,
    isFile: st.isFile(),
    isDirectory: st.isDirectory(),
    isSymbolicLink: st.isSymbolicLink(),
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    blocks: st.blocks,
    offset: st.offset,
    byteOffset: st.byteOffset,
    mtime: st.mtime && st.mtime.getTime(),
    ctime: st.ctime && st.ctime.getTime(),
    linkname: st.linkname,
    mount: st.mount ? { key: hex(st.mount.key), version: st.mount.version, hypercore: st.mount.hypercore } : null,
    metadata: st.metadata ? bufs(st.metadata) : null
  }
}

/** Byte i is (7i + 3) & 0xff: 600 KiB, so two content blocks of at most 512 KiB. */
function bigFile () {
  const big = Buffer.alloc(600 * 1024)
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + 3) & 0xff
  return big
}

module.exports = async function hyperdriveVectors (scratch, fixedTime) {
  const dir = freshDir(scratch, 'store')
  const masterKey = Buffer.alloc(32, 0x11)
  fs.writeFileSync(path.join(dir, 'master_key'), masterKey)
  const store = new Corestore((name) => raf(path.join(dir, name)), { sparse: true, valueEncoding: 'binary' })
  await call((cb) => store.ready(cb))

  const drive = hyperdrive(store)
  await call((cb) => drive.ready(cb))
  const content = await call((cb) => drive.getContent(cb))
  const ops = []
  const step = async (op, fn) => {
    if (fn) await call(fn)
    ops.push({ op, version: drive.version, metadataLength: drive.metadata.length, contentLength: content.length })
  }
  const times = { mtime: EXPLICIT_TIME, ctime: EXPLICIT_TIME }

  await step('ready (create the drive)')
  await step("writeFile /hello.txt 'Hello, World!' at EXPLICIT_TIME", (cb) => drive.writeFile('/hello.txt', 'Hello, World!', times, cb))
  await step('mkdir /dir at EXPLICIT_TIME', (cb) => drive.mkdir('/dir', times, cb))
  await step("writeFile /dir/a.txt 'file a'", (cb) => drive.writeFile('/dir/a.txt', 'file a', cb))
  const big = bigFile()
  await step('writeFile /dir/sub/big.bin: 614400 bytes, byte i = (7i + 3) & 0xff', (cb) => drive.writeFile('/dir/sub/big.bin', big, cb))
  await step("writeFile /empty.txt ''", (cb) => drive.writeFile('/empty.txt', '', cb))
  await step('symlink /hello.txt at /link-to-hello', (cb) => drive.symlink('/hello.txt', '/link-to-hello', cb))
  await step('symlink dir/a.txt (relative) at /rel-link', (cb) => drive.symlink('dir/a.txt', '/rel-link', cb))
  await step("setMetadata /hello.txt author = 'alice'", (cb) => drive.setMetadata('/hello.txt', 'author', Buffer.from('alice'), cb))
  await step("createTag 'v1'", (cb) => drive.createTag('v1', cb))
  const versionAtTag = drive.version

  // A second drive in the store's 'mounted-drive' namespace, then mounted at /mnt.
  const inner = hyperdrive(store, null, { namespace: 'mounted-drive' })
  await call((cb) => inner.ready(cb))
  await call((cb) => inner.writeFile('/in-mount.txt', 'inside the mounted drive', times, cb))
  const innerContent = await call((cb) => inner.getContent(cb))
  await step('mount /mnt: the mounted-drive namespace drive', (cb) => drive.mount('/mnt', inner.key, cb))
  await step("writeFile /mnt/written-through-mount.txt 'via parent' (lands in the mounted drive)", (cb) => drive.writeFile('/mnt/written-through-mount.txt', 'via parent', cb))

  const plain = store.get({ name: 'plain-core' })
  await call((cb) => plain.ready(cb))
  await call((cb) => plain.append([Buffer.from('core block 0'), Buffer.from('core block 1')], cb))
  await step('mount /core-mount: the plain-core hypercore (hypercore: true)', (cb) => drive.mount('/core-mount', plain.key, { hypercore: true }, cb))
  await step('unlink /dir/a.txt', (cb) => drive.unlink('/dir/a.txt', cb))
  await step("writeFile /hello.txt 'Hello again, World!' at EXPLICIT_TIME", (cb) => drive.writeFile('/hello.txt', 'Hello again, World!', times, cb))
  await step('truncate /hello.txt to 5', (cb) => drive.truncate('/hello.txt', 5, cb))
  await step("createTag 'v2'", (cb) => drive.createTag('v2', cb))
  await step("deleteTag 'v2'", (cb) => drive.deleteTag('v2', cb))
  await step("removeMetadata /hello.txt 'author'", (cb) => drive.removeMetadata('/hello.txt', 'author', cb))

  const queries = {
    readdirRoot: await call((cb) => drive.readdir('/', cb)),
    readdirRootRecursive: await call((cb) => drive.readdir('/', { recursive: true }, cb)),
    readdirDir: await call((cb) => drive.readdir('/dir', cb)),
    stat: {},
    lstat: {},
    readFile: {}
  }
  for (const p of ['/hello.txt', '/dir', '/dir/sub', '/dir/sub/big.bin', '/empty.txt', '/mnt', '/mnt/in-mount.txt', '/mnt/written-through-mount.txt', '/core-mount', '/']) {
    queries.stat[p] = statJson(await call((cb) => drive.stat(p, cb)))
  }
  for (const p of ['/link-to-hello', '/rel-link']) queries.lstat[p] = statJson(await call((cb) => drive.lstat(p, cb)))
  for (const p of ['/hello.txt', '/link-to-hello', '/mnt/in-mount.txt', '/mnt/written-through-mount.txt', '/empty.txt', '/core-mount']) {
    queries.readFile[p] = await call((cb) => drive.readFile(p, 'utf8', cb))
  }
  queries.bigFileSha256 = sha256(await call((cb) => drive.readFile('/dir/sub/big.bin', cb)))
  queries.tags = Object.fromEntries(await call((cb) => drive.getAllTags(cb)))
  queries.taggedVersion_v1 = await call((cb) => drive.getTaggedVersion('v1', cb))
  const old = drive.checkout(versionAtTag)
  await call((cb) => old.ready(cb))
  queries.checkoutAtTagV1 = {
    version: versionAtTag,
    readdirRoot: await call((cb) => old.readdir('/', cb)),
    helloTxt: await call((cb) => old.readFile('/hello.txt', 'utf8', cb))
  }

  const contentBlocks = (await feedBlocks(content)).map((b) => (b.size > 4096 ? { seq: b.seq, size: b.size, sha256: sha256(Buffer.from(b.hex, 'hex')) } : b))
  const result = {
    FIXED_TIME: fixedTime,
    explicitTime: EXPLICIT_TIME,
    corestoreMasterKey: hex(masterKey),
    metadata: { key: hex(drive.key), discoveryKey: hex(drive.discoveryKey), corestoreName: 'default', blocks: await feedBlocks(drive.metadata) },
    content: { key: hex(content.key), discoveryKey: hex(content.discoveryKey), corestoreName: `${hex(drive.key)}-content`, blocks: contentBlocks },
    mountedDrive: {
      namespace: 'mounted-drive',
      key: hex(inner.key),
      metadataBlocks: await feedBlocks(inner.metadata),
      contentKey: hex(innerContent.key),
      contentBlocks: await feedBlocks(innerContent)
    },
    plainCore: { corestoreName: 'plain-core', key: hex(plain.key), blocks: await feedBlocks(plain) },
    ops,
    queries
  }

  await call((cb) => old.close(cb))
  await call((cb) => inner.close(cb))
  await call((cb) => drive.close(cb))
  await call((cb) => store.close(cb)).catch(() => {})

  // Read after closing, when everything is flushed.
  const coreDir = (what, key) => {
    const dk = hex(crypto.discoveryKey(Buffer.from(key, 'hex')))
    return { what, discoveryKey: dk, dir: `${dk.slice(0, 2)}/${dk.slice(2, 4)}/${dk}` }
  }
  result.storage = {
    files: snapshot(dir, 8192),
    coreDirs: [
      coreDir('metadata (default)', result.metadata.key),
      coreDir('content', result.content.key),
      coreDir('mounted drive metadata', result.mountedDrive.key),
      coreDir('mounted drive content', result.mountedDrive.contentKey),
      coreDir('plain-core', result.plainCore.key)
    ]
  }
  return result
}
