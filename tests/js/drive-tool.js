#!/usr/bin/env node
'use strict'
// Node side of ddrive's hyperdrive interop tests. Prints one JSON document on stdout; exits 1
// with a message on stderr on any error.
//
//   drive-tool.js run <jobs.json>   run [{op, ...args}] in order; prints the results, where
//     {op: 'run', dir, script: {drives, ops}}          replay drive operations into a store
//     {op: 'dump', dir, drives, query}                  answer the queries on one drive

const drives = require('./lib/drives')

require('./lib/job-runner')({
  name: 'drive-tool',
  timeoutMs: 300000,
  hint: 'a block missing from a feed?',
  context: () => ` in ${drives.current.job} at ${drives.current.step}`,
  onJob: (label) => { drives.current.job = label },
  ops: {
    run: (j) => drives.run(j.dir, j.script),
    dump: (j) => drives.dump(j.dir, j.drives, j.query)
  }
})
