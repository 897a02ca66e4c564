// Loaded into every node process the benchmark starts (NODE_OPTIONS=--require):
// when the process exits, append its peak resident set size and CPU time to
// the file named by XST_BENCH_RSS. Works wherever node runs; no /usr/bin/time needed.
//
// CommonJS and --require, not an ES module and --import: an --import sets
// up Node's ESM loader in every process measured (10-14 ms of CPU), which
// xst's own start no longer does, and would make `node -e 0` look as slow.
'use strict'
const {appendFileSync} = require('node:fs')

const file = process.env.XST_BENCH_RSS
if (file) {
  process.on('exit', () => {
    try {
      // maxRSS is in KiB, CPU times in microseconds.
      const u = process.resourceUsage()
      appendFileSync(file, `${process.pid} ${u.maxRSS * 1024} ${u.userCPUTime + u.systemCPUTime}\n`)
    } catch {}
  })
}
