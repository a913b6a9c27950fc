#!/usr/bin/env node
'use strict'
// Writes ddrive's test vectors, tests/vectors/*.json, with the pinned npm packages of
// tests/js (`npm ci` there first):
//
//   node tests/js/vectors/gen.js [OUT_DIR]     (default: tests/vectors)
//
// `cargo xtask vectors` runs this; `cargo xtask vectors --check` runs it into a temporary
// folder and fails if the committed files differ. So every run must write the same bytes:
// keys come from fixed seeds (Ed25519 signing is deterministic), the store's master key is
// fixed, the clock is pinned (hyperdrive stamps Stat times with `new Date()`), scratch files
// go to a fresh temporary folder, and nothing machine-specific (paths, Node's version, the
// time) is written.

const fs = require('fs')
const os = require('os')
const path = require('path')

// hyperdrive-schemas' Stat reads the clock when no time is given, at call time: replacing the
// global Date before anything runs is enough.
const FIXED_TIME = 1600000000000 // 2020-09-13T12:26:40Z
const RealDate = Date
global.Date = class PinnedDate extends RealDate {
  constructor (...args) {
    if (args.length === 0) super(FIXED_TIME)
    else super(...args)
  }

  static now () { return FIXED_TIME }
}

const primitives = require('./primitives')
const hypercoreVectors = require('./hypercore')
const hypertrieVectors = require('./hypertrie')
const hyperdriveVectors = require('./hyperdrive')

const PACKAGES = ['hypercore', 'hypertrie', 'hyperdrive', 'corestore', 'hypercore-crypto', 'flat-tree', 'derive-key', 'random-access-file']

function packages () {
  const out = {}
  for (const name of PACKAGES) out[name] = require(`${name}/package.json`).version
  return out
}

function write (dir, name, body) {
  const file = path.join(dir, name)
  const meta = { generator: 'tests/js/vectors/gen.js', packages: packages() }
  fs.writeFileSync(file, JSON.stringify({ meta, ...body }, null, 1) + '\n')
  console.log('wrote', file)
}

async function main () {
  const out = path.resolve(process.argv[2] || path.join(__dirname, '../../vectors'))
  fs.mkdirSync(out, { recursive: true })
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ddrive-vectors-'))
  try {
    write(out, 'primitives.json', primitives())
    write(out, 'hypercore.json', await hypercoreVectors(scratch))
    write(out, 'hypertrie.json', await hypertrieVectors(scratch))
    write(out, 'hyperdrive.json', await hyperdriveVectors(scratch, FIXED_TIME))
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
