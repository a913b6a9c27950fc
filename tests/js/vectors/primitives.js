'use strict'
// primitives.json: flat-tree arithmetic, full roots, BLAKE2b leaf and discovery hashes, and
// corestore's derive-key seeds, each computed by the pinned npm package itself.

const flat = require('flat-tree')
const crypto = require('hypercore-crypto')
const deriveKey = require('derive-key')
const { hex } = require('./util')

/** The store master key of the derive-key cases: 32 bytes of 0x42. */
const MASTER_KEY = Buffer.alloc(32, 0x42)

function flatTree () {
  const rows = []
  for (let i = 0; i <= 40; i++) {
    rows.push({
      index: i,
      depth: flat.depth(i),
      offset: flat.offset(i),
      parent: flat.parent(i),
      sibling: flat.sibling(i),
      // -1 where a leaf has no child (flat-tree's own answer)
      leftChild: flat.leftChild(i),
      rightChild: flat.rightChild(i),
      leftSpan: flat.leftSpan(i),
      rightSpan: flat.rightSpan(i)
    })
  }
  return rows
}

function fullRoots () {
  const rows = []
  for (let length = 0; length <= 40; length++) rows.push({ length, roots: flat.fullRoots(2 * length) })
  return rows
}

function derivedKeys () {
  return ['default', 'foo', 'foo:bar'].map((name) => {
    const seed = deriveKey('corestore', MASTER_KEY, Buffer.from(name))
    const pair = crypto.keyPair(seed)
    return {
      namespace: 'corestore',
      masterKey: hex(MASTER_KEY),
      name,
      seed: hex(seed),
      publicKey: hex(pair.publicKey),
      secretKey: hex(pair.secretKey),
      discoveryKey: hex(crypto.discoveryKey(pair.publicKey))
    }
  })
}

module.exports = function primitives () {
  return {
    flatTree: flatTree(),
    fullRoots: fullRoots(),
    blake2b: {
      leafOfEmpty: hex(crypto.data(Buffer.alloc(0))),
      leafOfHello: hex(crypto.data(Buffer.from('hello'))),
      discoveryKeyOfZeroKey: hex(crypto.discoveryKey(Buffer.alloc(32)))
    },
    deriveKey: derivedKeys()
  }
}
