// A smaller sample of mutated images through the built CLI, as a user runs
// it: every command exits 0 or 1 (never 2: the paths are fine, so a 2 would
// be a bug) with no stack trace; a failure is one line (verify: its problem
// lines and a verdict), and --json a parseable document; convert leaves the
// output only when it succeeded, and never a temporary file.
import fc from 'fast-check'
import {existsSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'
import {vectorBytes} from '../helpers/fixtures.js'
import {buildLegacy, smallSpec} from '../builders/legacy.js'
import {describeMutations, FUZZ_RUNS, type ImageLayout, LONG, legacyLayout, mutate, mutations, params, reportCases, TEST_TIMEOUT, v2Layout} from './harness.js'
import {runXst, tempDir} from '../helpers/cli.js'
import {expectCleanRun} from './procs.js'

reportCases('cli')
interface Base {
  name: string
  bytes: Buffer
  layout: ImageLayout
}
const bases: Base[] = []

beforeAll(async () => {
  for (const f of ['pv64-basic.legacy.gz', 'pv64-xl.legacy.gz', 'hvm64-noqemu.legacy.gz']) {
    const bytes = vectorBytes('legacy', f)
    bases.push({name: f, bytes, layout: await legacyLayout(bytes)})
  }
  const hvm = buildLegacy(smallSpec('hvm', 32, {xl: {config: 'name = "c"\n'}}))
  bases.push({name: 'builder hvm32', bytes: hvm, layout: await legacyLayout(hvm)})
  for (const f of ['pv64-basic.libxl.v2.gz', 'pv64-xl.libxc.v2.gz']) {
    const bytes = vectorBytes('legacy', f)
    bases.push({name: f, bytes, layout: await v2Layout(bytes)})
  }
})

/** CLI cases: a few in npm test, one in 500 of XST_FUZZ_RUNS in the fuzz run. */
const RUNS = LONG ? Math.max(6, Math.round(FUZZ_RUNS / 500)) : 6

describe('mutated images through the CLI', {timeout: LONG ? TEST_TIMEOUT : 120_000}, () => {
  it('inspect-legacy, convert and verify: exit 0 or 1, one line, nothing left behind', async () => {
    const arb = fc.tuple(fc.nat({max: bases.length - 1}), fc.boolean()).chain(([i, json]) => fc.tuple(fc.constant(i), mutations(bases[i].layout, 3), fc.constant(json)))
    await fc.assert(
      fc.asyncProperty(arb, async ([i, ms, json]) => {
        const b = bases[i]
        const input = mutate(b.bytes, ms)
        const label = `${b.name} + ${describeMutations(ms)}`
        const dir = tempDir('xst-clifuzz-')
        const file = join(dir, 'in.img')
        writeFileSync(file, input)
        const out = join(dir, 'out.v2')
        const j = json ? ['--json'] : []
        // The three commands at once; convert reads stdin, the others the file.
        const [inspect, verify, convert] = await Promise.all([
          runXst(['inspect-legacy', ...j, file], {timeoutMs: 30_000}),
          runXst(['verify', ...j, file], {timeoutMs: 30_000}),
          runXst(['convert', ...j, '-', out], {timeoutMs: 30_000, input}),
        ])
        for (const [cmd, r] of [
          ['inspect-legacy', inspect],
          ['verify', verify],
          ['convert', convert],
        ] as const)
          expectCleanRun(cmd, r, json, label)
        // convert: the target exists exactly when it succeeded; no temporary file either way.
        expect(existsSync(out), `${label}: convert exit ${convert.code}`).toBe(convert.code === 0)
        expect(readdirSync(dir).filter((f) => f.endsWith('.xst-partial'))).toEqual([])
      }),
      params('cli', RUNS, 0),
    )
  })
})
