'use strict';
// A frozen clock for the SDK: while frozen, `new Date()` and `Date.now()`
// return the given instant (as the vector generator does).

const RealDate = Date;

function freeze(iso) {
  const fixed = RealDate.parse(iso);
  if (Number.isNaN(fixed)) throw new Error(`bad instant ${iso}`);
  class FrozenDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(fixed);
      else super(...args);
    }
    static now() {
      return fixed;
    }
  }
  global.Date = FrozenDate;
  return () => {
    global.Date = RealDate;
  };
}

// withFrozenClock runs fn with the clock frozen at iso.
async function withFrozenClock(iso, fn) {
  const unfreeze = freeze(iso);
  try {
    return await fn();
  } finally {
    unfreeze();
  }
}

module.exports = { freeze, withFrozenClock, RealDate };
