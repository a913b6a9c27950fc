'use strict'
// One fresh process: require hyperdrive, open a drive, stat a file, read it; prints the
// phases' times as one JSON line.
//   node open/child.js STORE_DIR PATH
const bootMs = performance.now() // since the process started
const ms = () => Number(process.hrtime.bigint()) / 1e6
const t0 = ms()
const hyperdrive = require('hyperdrive')
const tRequired = ms()
const [store, file] = process.argv.slice(2)
const drive = hyperdrive(store)
const fail = (err) => { console.error(err); process.exit(1) }
drive.ready((err) => {
  if (err) return fail(err)
  const tReady = ms()
  drive.stat(file, (err, st) => {
    if (err) return fail(err)
    const tStat = ms()
    drive.readFile(file, (err, buf) => {
      if (err) return fail(err)
      const tRead = ms()
      const f = (x) => +x.toFixed(2)
      process.stdout.write(JSON.stringify({
        node_boot_to_script_ms: f(bootMs),
        require_ms: f(tRequired - t0),
        ready_ms: f(tReady - tRequired),
        stat_ms: f(tStat - tReady),
        readfile_ms: f(tRead - tStat),
        open_plus_stat_ms: f(tStat - tRequired),
        size: st.size,
        read_len: buf.length,
        metadata_length: drive.metadata.length,
        peak_rss_mib: +(process.resourceUsage().maxRSS / 1024).toFixed(1)
      }) + '\n')
      process.exit(0)
    })
  })
})
