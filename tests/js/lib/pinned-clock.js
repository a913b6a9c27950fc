'use strict'
// A clock the tools set per operation, so Stat and tombstone times are reproducible: the
// global Date's argument-less constructor and Date.now() return `clock.now`. Require this
// before corestore, hyperdrive or multi-hyperdrive, which capture Date when they load.

const clock = { now: 1600000000000 }
const RealDate = Date
class PinnedDate extends RealDate {
  constructor (...args) {
    if (args.length === 0) super(clock.now)
    else super(...args)
  }

  static now () { return clock.now }
}
global.Date = PinnedDate

module.exports = { clock }
