#!/usr/bin/env node
'use strict'
// Node side of ddrive's corestore interop tests. Prints one JSON document on stdout; exits 1
// with a message on stderr on any error.
//
//   store-tool.js run <jobs.json>   run [{op, ...args}] in order; prints the results, where
//     {op: 'visit', dir, entries: [{via, batches}]}   get each core, append, report it

const stores = require('./lib/stores')

require('./lib/job-runner')({
  name: 'store-tool',
  timeoutMs: 120000,
  hint: 'a core that never opened?',
  ops: {
    visit: (j) => stores.visit(j.dir, j.entries)
  }
})
