'use strict'
// Time to open a drive of many files in a fresh Node process, stat one file and read it.
//   node bench-open.js [files=100000] [reps=5]      (OPEN_SEED picks the files)
// The drive is BENCH_DIR/open-100k (open/setup.js builds it once). Per rep: `node -e 0` as a
// baseline, then the page cache dropped (where we may) and a fresh process, then a fresh
// process with a warm cache. Each figure is the median of its reps; wall time is measured here
// from spawn to exit.
const path = require('path')
const { execFileSync, spawnSync } = require('child_process')
const { BENCH_ROOT, emit, now, r2, rng, dropCaches } = require('./lib')

const DIR = path.join(BENCH_ROOT, 'open-100k')
const [files, reps] = [100000, 5].map((d, i) => +(process.argv[2 + i] || d))

/** Each numeric field's median over the runs (the upper one for an even count). */
function medians (runs) {
  const out = {}
  for (const key of Object.keys(runs[0])) {
    const values = runs.map((r) => r[key])
    if (typeof values[0] !== 'number') {
      out[key] = values[0]
      continue
    }
    values.sort((a, b) => a - b)
    out[key] = values[values.length >> 1]
  }
  return out
}

function timedNode (args) {
  const t0 = now()
  const run = spawnSync(process.execPath, args, { cwd: __dirname, maxBuffer: 1 << 24 })
  const wall = now() - t0
  if (run.status !== 0) throw new Error(run.stderr.toString())
  const text = run.stdout.toString().trim()
  return { wall_ms: r2(wall), ...(text ? JSON.parse(text.split('\n').pop()) : {}) }
}

function main () {
  const setupOut = execFileSync(process.execPath, [path.join(__dirname, 'open/setup.js'), DIR, String(files)], { cwd: __dirname, maxBuffer: 1 << 24 })
  const setup = JSON.parse(setupOut.toString().trim().split('\n').pop())
  const r = rng(Number(process.env.OPEN_SEED || Date.now() % 100000))
  const child = path.join(__dirname, 'open/child.js')
  const baseline = []
  const cold = []
  const warm = []
  let dropped = true
  for (let k = 0; k < reps; k++) {
    const i = Math.floor(r() * files)
    const file = `/dir${i % 100}/file${i}`
    baseline.push(timedNode(['-e', '0']))
    dropped = dropCaches() && dropped
    cold.push(timedNode([child, `${DIR}/store`, file]))
    warm.push(timedNode([child, `${DIR}/store`, file]))
  }
  emit({ bench: 'open', files, reps, setup, node_e0_wall_ms: medians(baseline).wall_ms, page_cache_dropped: dropped, cold_cache: medians(cold), warm_cache: medians(warm) })
}

main()
