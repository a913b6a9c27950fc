#!/usr/bin/env node
'use strict'
// A Node hyperdrive@10 peer for ddrive's drive replication interop tests
// (tests/tests/interop_replication.rs). Logs events as JSON lines on stdout.
//
//   --dir D                              the corestore folder
//   --role responder|initiator [--port P] listen on 127.0.0.1 (prints the port) or connect
//   --mode writer --files N --big BYTES   write the drive (see `content` below), then serve it
//   --mode clone --key HEX --files N --big BYTES
//                                        open the drive by key, read every file through the
//                                        stream (the mount too), report digests, exit
//
// Content is a pure function of the index, written the same way by the Rust side
// (tests/src/replication.rs): file i is /files/f<i>.txt, the big file /big.bin, and a second
// drive mounted at /mnt holds /hello.txt.
const fs = require('fs')
const net = require('net')
const path = require('path')
const crypto = require('crypto')
const Corestore = require('corestore')
const hyperdrive = require('hyperdrive')
const raf = require('random-access-file')

const args = {}
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1]
const FILES = Number(args.files)
const BIG = Number(args.big)
const MOUNT_TEXT = 'hello from the mounted drive'

function log (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

setTimeout(() => { log({ event: 'timeout' }); process.exit(3) }, Number(process.env.PEER_TIMEOUT_MS || 240000)).unref()

function call (fn) {
  return new Promise((resolve, reject) => fn((err, val) => err ? reject(err) : resolve(val)))
}

function fileContent (i) {
  const len = (i * 7919) % 1500 + 1
  const buf = Buffer.alloc(len)
  for (let j = 0; j < len; j++) buf[j] = (i * 131 + j * 17 + (j >> 8)) & 0xff
  return buf
}

function bigContent () {
  const buf = Buffer.alloc(BIG)
  for (let j = 0; j < BIG; j++) buf[j] = (j * 31 + (j >> 11) * 7) & 0xff
  return buf
}

function filePath (i) {
  return `/files/f${i}.txt`
}

async function write (drive, sub) {
  for (let i = 0; i < FILES; i++) await call((cb) => drive.writeFile(filePath(i), fileContent(i), cb))
  await call((cb) => drive.writeFile('/big.bin', bigContent(), cb))
  await call((cb) => sub.writeFile('/hello.txt', Buffer.from(MOUNT_TEXT), cb))
  await call((cb) => drive.mount('/mnt', sub.key, cb))
}

async function readAll (drive) {
  const names = await call((cb) => drive.readdir('/files', cb))
  const digest = crypto.createHash('sha256')
  for (let i = 0; i < FILES; i++) {
    const data = await call((cb) => drive.readFile(filePath(i), cb))
    digest.update(filePath(i) + '\n')
    digest.update(data)
  }
  const big = await call((cb) => drive.readFile('/big.bin', cb))
  const mount = await call((cb) => drive.readFile('/mnt/hello.txt', cb))
  return {
    event: 'read',
    listed: names.length,
    files: digest.digest('hex'),
    big: crypto.createHash('sha256').update(big).digest('hex'),
    bigLength: big.length,
    mount: mount.toString()
  }
}

function connect (drive, onStream) {
  const run = (socket, initiator) => {
    const stream = drive.replicate(initiator, { live: true })
    socket.pipe(stream).pipe(socket)
    socket.on('error', (err) => log({ event: 'socket-error', message: err.message }))
    socket.on('close', () => { log({ event: 'socket-close' }); process.exit(0) })
    stream.on('error', (err) => log({ event: 'stream-error', message: err.message }))
    onStream()
  }
  if (args.role === 'responder') {
    const server = net.createServer((socket) => { server.close(); run(socket, false) })
    server.listen(0, '127.0.0.1', () => log({ event: 'listening', port: server.address().port }))
  } else {
    run(net.connect(Number(args.port), '127.0.0.1'), true)
  }
}

async function main () {
  fs.mkdirSync(args.dir, { recursive: true })
  const store = new Corestore((name) => raf(path.join(args.dir, name)))
  await call((cb) => store.ready(cb))
  if (args.mode === 'writer') {
    const drive = hyperdrive(store)
    const sub = hyperdrive(store, null, { namespace: 'sub' })
    await call((cb) => drive.ready(cb))
    await call((cb) => sub.ready(cb))
    await write(drive, sub)
    log({ event: 'ready', key: drive.key.toString('hex'), version: drive.version })
    connect(drive, () => {})
  } else {
    const drive = hyperdrive(store, Buffer.from(args.key, 'hex'))
    await call((cb) => drive.ready(cb))
    connect(drive, () => {
      readAll(drive).then(log, (err) => log({ event: 'error', message: err.message })).then(() => process.exit(0))
    })
  }
}

main().catch((err) => { log({ event: 'error', message: err.stack }); process.exit(1) })
