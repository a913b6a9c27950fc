'use strict'
// Reading back what went over a hypercore-protocol 8 connection: the Noise handshake
// messages at the start of each direction, then XSalsa20-encrypted frames. Used by
// hypercore-replication.js to turn two captured byte streams into plaintext frames.

const XSalsa20 = require('xsalsa20-universal')
const varint = require('varint')

const TYPE_NAMES = ['Open', 'Options', 'Status', 'Have', 'Unhave', 'Want', 'Unwant', 'Request', 'Cancel', 'Data', 'Close']
const EXTENSION = 15

function typeName (type) {
  if (type === EXTENSION) return 'Extension'
  return TYPE_NAMES[type] || `type ${type}`
}

/** The byte length of the first `count` varint-length-prefixed handshake messages. */
function handshakeLength (wire, count) {
  let at = 0
  const messages = []
  for (let i = 0; i < count; i++) {
    const len = varint.decode(wire, at)
    at += varint.decode.bytes
    messages.push(wire.subarray(at, at + len))
    at += len
  }
  return { length: at, messages }
}

/** XSalsa20 of the whole transport part of one direction (key and nonce of its sender). */
function decrypt (cipher, key, nonce) {
  const plain = Buffer.alloc(cipher.length)
  const x = new XSalsa20(nonce, key)
  x.update(plain, cipher) // (out, in)
  x.final()
  return plain
}

/**
 * Splits a plaintext stream into frames: varint(length) then `length` bytes, which are empty
 * for a keep-alive and otherwise varint(channel << 4 | type) then the message body.
 */
function frames (plain) {
  const out = []
  let at = 0
  while (at < plain.length) {
    const len = varint.decode(plain, at)
    const start = at
    at += varint.decode.bytes
    if (at + len > plain.length) throw new Error(`frame at ${start} runs past the stream`)
    const payload = plain.subarray(at, at + len)
    at += len
    const raw = plain.subarray(start, at)
    if (len === 0) {
      out.push({ offset: start, raw, typeName: 'KeepAlive' })
      continue
    }
    const header = varint.decode(payload, 0)
    const body = payload.subarray(varint.decode.bytes)
    out.push({ offset: start, raw, channel: Math.floor(header / 16), type: header & 15, typeName: typeName(header & 15), body })
  }
  return out
}

module.exports = { handshakeLength, decrypt, frames }
