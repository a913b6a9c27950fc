#!/usr/bin/env node
'use strict'
// Node side of ddrive's hypertrie interop tests. Prints one JSON document on stdout; exits 1
// with a message on stderr on any error.
//
//   trie-tool.js run <jobs.json>   run [{op, ...args}] in order; prints the results, where
//     {op: 'write', dir, script: {keySeed, ops}}   create a trie and replay the writes
//     {op: 'dump', dir, key, queries}              answer the queries on the trie in dir

const tries = require('./lib/tries')

require('./lib/job-runner')({
  name: 'trie-tool',
  timeoutMs: 300000,
  hint: 'a block missing from the feed?',
  context: () => (tries.current.query ? ` in query ${JSON.stringify(tries.current.query)}` : ''),
  ops: {
    write: (j) => tries.write(j.dir, j.script),
    dump: (j) => tries.dump(j.dir, j.key, j.queries)
  }
})
