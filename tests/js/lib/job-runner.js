'use strict'
// The shell every interop tool shares: `<tool> run <jobs.json>` runs [{op, ...args}] in order
// and prints the results as one JSON document on stdout. Any failure exits non-zero with a
// message on stderr, and so does Node running out of things to wait on (a read of a block that
// never comes), which it would otherwise report as a quiet exit 0.

const fs = require('fs')

// name: the tool's name in messages and in its timeout variable (NAME_TIMEOUT_MS);
// ops: op -> async (job) => result; timeoutMs: the watchdog's default;
// hint: what a quiet exit most likely means; context(): where the tool was, for messages;
// onJob(label): told which job starts.
module.exports = function runJobs ({ name, ops, timeoutMs, hint, context = () => '', onJob = () => {} }) {
  const variable = `${name.toUpperCase().replace(/-/g, '_')}_TIMEOUT_MS`
  const watchdogMs = Number(process.env[variable] || timeoutMs)
  setTimeout(() => {
    process.stderr.write(`${name}: gave up after ${watchdogMs} ms${context()}\n`)
    process.exit(2)
  }, watchdogMs).unref()

  let finished = false
  process.on('exit', (code) => {
    if (!finished && code === 0) {
      process.stderr.write(`${name}: stopped before finishing (${hint})${context()}\n`)
      process.exitCode = 3
    }
  })
  process.on('uncaughtException', (err) => {
    finished = true
    process.stderr.write(`${name}: uncaught${context()}: ${err && err.stack ? err.stack : err}\n`)
    process.exit(1)
  })

  async function main ([cmd, file]) {
    if (cmd !== 'run' || !file) throw new Error(`usage: ${name}.js run <jobs.json>`)
    const results = []
    for (const [n, j] of JSON.parse(fs.readFileSync(file, 'utf8')).entries()) {
      const label = `job ${n} (${j.op} ${j.dir})`
      try {
        const op = ops[j.op]
        if (!op) throw new Error(`unknown op ${JSON.stringify(j.op)}`)
        onJob(label)
        results.push(await op(j))
      } catch (err) {
        err.message = `${label}: ${err.message}`
        throw err
      }
    }
    return results
  }

  main(process.argv.slice(2)).then(
    (out) => {
      finished = true
      process.stdout.write(JSON.stringify(out) + '\n')
    },
    (err) => {
      finished = true
      process.stderr.write(`${name}: ${err && err.stack ? err.stack : err}\n`)
      process.exit(1)
    }
  )
}
