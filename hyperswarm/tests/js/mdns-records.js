#!/usr/bin/env node
'use strict'
// Prints the exact multicast DNS packets @hyperswarm/discovery 2 +
// multicast-dns 7 produce for a topic and port, as hex JSON on one line.
// multicast-dns runs for real, over a fake in-process socket (nothing is
// multicast; the DHT has no bootstrap nodes).
//   node mdns-records.js TOPIC_HEX PORT
//   -> {"id": hex of the announcing topic's TXT id,
//       "unsolicited": response sent on join (SRV + TXT),
//       "query": query sent by a lookup topic,
//       "answer": response to a query received from 127.0.0.2 (SRV + TXT + A)}
// Run with NODE_PATH=<workspace>/tests/js/node_modules.
const { EventEmitter } = require('events')
const multicast = require('multicast-dns')
const discovery = require('@hyperswarm/discovery')

setTimeout(() => process.exit(3), 20000).unref()

const [topicHex, portText] = process.argv.slice(2)
const topic = Buffer.from(topicHex, 'hex')
const port = Number(portText)

function fakeMdns (sent) {
  const socket = new EventEmitter()
  socket.send = (buf, off, len, p, host, cb) => {
    sent.push(Buffer.from(buf.slice(off, off + len)))
    if (cb) process.nextTick(cb)
  }
  socket.close = (cb) => cb && process.nextTick(cb)
  socket.address = () => ({ port: 5353 })
  return { socket, mdns: multicast({ socket, bind: false, multicast: false }) }
}

const sentA = []
const sentB = []
const a = fakeMdns(sentA)
const b = fakeMdns(sentB)
const announcer = discovery({ bootstrap: [], multicast: a.mdns })
const looker = discovery({ bootstrap: [], multicast: b.mdns })

const ann = announcer.announce(topic, { port })
looker.lookup(topic)

setTimeout(() => {
  // the lookup's query, received by the announcer from 127.0.0.2
  a.socket.emit('message', sentB[0], { address: '127.0.0.2', port: 5353 })
  setTimeout(() => {
    process.stdout.write(JSON.stringify({
      id: ann.id.toString('hex'),
      unsolicited: sentA[0].toString('hex'),
      query: sentB[0].toString('hex'),
      answer: sentA[1].toString('hex')
    }) + '\n')
    process.exit(0)
  }, 50)
}, 50)
