'use strict'
// Serves the source drive over TCP on 127.0.0.1 (hypercore-protocol 8, encrypted). Prints
// {"port", "key"} once listening; when stdin closes, prints its CPU time and peak memory and
// exits.
//   node repl/seed.js SRC_DIR
const net = require('net')
const { pipeline } = require('stream')
const hyperdrive = require('hyperdrive')

const drive = hyperdrive(`${process.argv[2]}/store`)
const cpu0 = process.cpuUsage()
const fail = (err) => { console.error(err); process.exit(1) }
drive.ready((err) => {
  if (err) return fail(err)
  drive.getContent((err) => {
    if (err) return fail(err)
    const server = net.createServer((socket) => {
      socket.setNoDelay(true)
      pipeline(socket, drive.replicate(false, { live: true }), socket, () => {})
    })
    server.listen(0, '127.0.0.1', () => {
      process.stdout.write(JSON.stringify({ port: server.address().port, key: drive.key.toString('hex') }) + '\n')
    })
    process.stdin.resume()
    process.stdin.on('end', () => {
      const cpu = process.cpuUsage(cpu0)
      process.stdout.write(JSON.stringify({
        seeder_cpu_user_ms: Math.round(cpu.user / 1000),
        seeder_cpu_sys_ms: Math.round(cpu.system / 1000),
        seeder_peak_rss_mib: +(process.resourceUsage().maxRSS / 1024).toFixed(1)
      }) + '\n')
      process.exit(0)
    })
  })
})
