'use strict'
// Keeps a Node hyperswarm 2 on 127.0.0.1 for the interop tests and the
// benchmarks: TCP listeners and the uTP/DHT socket bind 127.0.0.1 instead of
// all interfaces, and multicast-dns is a silent stub (nothing is multicast).
// Require it before hyperswarm.
const net = require('net')
const { EventEmitter } = require('events')

const tcpListen = net.Server.prototype.listen
net.Server.prototype.listen = function (port, ...rest) {
  if (typeof port === 'number' && (rest.length === 0 || typeof rest[0] === 'function')) {
    return tcpListen.call(this, port, '127.0.0.1', ...rest)
  }
  return tcpListen.call(this, port, ...rest)
}
const UTP = require('utp-native')
const utpBind = UTP.prototype.bind
UTP.prototype.bind = function (port, ip, cb) {
  if (typeof port === 'function') return utpBind.call(this, 0, '127.0.0.1', port)
  if (typeof ip === 'function') return utpBind.call(this, port, '127.0.0.1', ip)
  return utpBind.call(this, port, ip || '127.0.0.1', cb)
}
require.cache[require.resolve('multicast-dns')] = {
  id: 'multicast-dns',
  loaded: true,
  exports: () => Object.assign(new EventEmitter(), {
    query () {}, response () {}, respond () {}, destroy (cb) { if (cb) process.nextTick(cb) }
  })
}
