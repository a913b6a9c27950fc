'use strict'
// The corestore operations of store-tool.js: open a store folder, get cores the ways a caller
// can (default feed, name, namespaces, key pair, key, discovery key), append, and report what
// each core holds in the shapes tests/src/store_script.rs builds on the Rust side.

const nodeCrypto = require('crypto')
const Corestore = require('corestore')
const crypto = require('hypercore-crypto')
const { batchBlocks } = require('./content')

function call (fn) {
  return new Promise((resolve, reject) => fn((err, val) => (err ? reject(err) : resolve(val))))
}

function hex (buf) {
  return Buffer.from(buf).toString('hex')
}

function sha256 (buf) {
  return nodeCrypto.createHash('sha256').update(buf).digest('hex')
}

// The view a core is asked through: the root store, or nested namespaces of it.
function view (store, ns) {
  let v = store
  for (const n of ns || []) v = v.namespace(n)
  return v
}

// `via`: {default: true} | {name} | {keyPair: seedhex} | {key: hex} | {discoveryKey: hex},
// each with an optional `ns` list.
function getCore (store, via) {
  const v = view(store, via.ns)
  if (via.default) return v.default()
  if (via.name !== undefined) return v.get({ name: via.name })
  if (via.keyPair) return v.get({ keyPair: crypto.keyPair(Buffer.from(via.keyPair, 'hex')) })
  if (via.key) return v.get({ key: Buffer.from(via.key, 'hex') })
  if (via.discoveryKey) return v.get({ discoveryKey: Buffer.from(via.discoveryKey, 'hex') })
  throw new Error(`cannot get a core from ${JSON.stringify(via)}`)
}

async function report (core) {
  const audit = await call((cb) => core.audit(cb))
  const blocks = []
  for (let i = 0; i < core.length; i++) {
    blocks.push(core.has(i) ? sha256(await call((cb) => core.get(i, { wait: false }, cb))) : null)
  }
  return {
    key: hex(core.key),
    discoveryKey: hex(core.discoveryKey),
    writable: core.writable,
    length: core.length,
    byteLength: core.byteLength,
    audit: { valid: audit.valid, invalid: audit.invalid },
    blocks
  }
}

// Opens the store in `dir` and for each entry `{via, batches}` gets the core, appends the
// batches (one append call each) and reports the core.
async function visit (dir, entries) {
  const store = new Corestore(dir)
  await store.ready()
  try {
    const out = []
    for (const e of entries) {
      const core = getCore(store, e.via)
      await call((cb) => core.ready(cb))
      for (const batch of e.batches || []) await call((cb) => core.append(batchBlocks(batch), cb))
      out.push(await report(core))
    }
    return out
  } finally {
    await call((cb) => store.close(cb))
  }
}

module.exports = { visit }
