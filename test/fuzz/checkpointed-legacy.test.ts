// Legacy Remus streams from the shared native examples (FORMAT.md section
// 7; compressed and not), cut anywhere and mutated. As with the v2 family
// (checkpointed.test.ts), the cuts are the property that matters: a capture
// cut at or after the end of checkpoint N (N > 1) and before the end of N+1
// holds N complete checkpoints, and convert writes checkpoint N's state (the
// 4.5 receiver fails over from it: xc_domain_restore.c's "goto finish" on a
// checkpoint it could not read whole); cut inside the first checkpoint, the
// image itself is truncated. Mutations: inspect-legacy and convert end in a
// result or one clean error, never anything else, and a file and a pipe
// agree.
import fc from 'fast-check'
import {beforeAll, describe, expect, it} from 'vitest'
import {XstError} from '../../src/errors.js'
import {nativeBytes, nativeCases} from '../helpers/fixtures.js'
import {CASE_TIMEOUT_MS, convert, describeMutations, type ImageLayout, inspect, legacyLayout, mutate, mutations, params, reportCases, TEST_TIMEOUT, withTimeout} from './harness.js'

reportCases('checkpointed-legacy')

interface Base {
  name: string
  bytes: Buffer
  layout: ImageLayout
  /** Where each complete checkpoint ends. */
  ends: number[]
}
const bases: Base[] = []

beforeAll(async () => {
  for (const c of nativeCases().filter((c) => c.checkpoints !== null && c.kind === 'legacy')) {
    const bytes = nativeBytes(c.input)
    const rep = await inspect(bytes)
    const list = rep.checkpoints?.list
    if (!list) throw new Error(`${c.name}: not read as checkpointed`)
    const ends: number[] = []
    for (const x of list) if (x.end !== null) ends.push(x.end)
    bases.push({name: c.name, bytes, layout: await legacyLayout(bytes), ends})
  }
})

type Verdict = {ok: true; complete: number | null; cut: boolean; written: number | null} | {ok: false; code: string}

/**
 * inspect-legacy and convert on `input` (file, then pipe): what each found,
 * and a check that it ended in a result or one clean error. From a pipe, a
 * delta over a page of the first checkpoint is a usage error (the page is
 * gone); that is the one exit-2 ending allowed.
 */
async function run(input: Buffer, label: string, kind: 'file' | 'pipe'): Promise<{inspect: Verdict; convert: Verdict}> {
  const clean = async <T>(what: string, fn: () => Promise<T>): Promise<{ok: true; value: T} | {ok: false; code: string}> => {
    try {
      return {ok: true, value: await withTimeout(fn(), CASE_TIMEOUT_MS, what)}
    } catch (err) {
      const gone = kind === 'pipe' && err instanceof XstError && err.code === 'usage' && /give the file, not a pipe or gzip/.test(err.message)
      if (err instanceof XstError && (err.exitCode === 1 || gone) && !err.message.includes('\n')) return {ok: false, code: err.code}
      const e = err as Error
      throw new Error(`${what}: ended in ${e?.name}: ${e?.message}\n${e?.stack ?? ''}`)
    }
  }
  const i = await clean(`${label}: inspect-legacy (${kind})`, () => inspect(input, kind))
  const c = await clean(`${label}: convert (${kind})`, () => convert(input, 'libxl', kind))
  return {
    inspect: i.ok ? {ok: true, complete: i.value.checkpoints?.complete ?? null, cut: Boolean(i.value.checkpoints?.cut), written: null} : i,
    convert: c.ok ? {ok: true, complete: c.value.summary.checkpoint?.complete ?? null, cut: false, written: c.value.summary.checkpoint?.written ?? null} : c,
  }
}

describe('legacy Remus streams, cut and mutated', {timeout: TEST_TIMEOUT}, () => {
  it('the bases: compressed and not, PV and HVM, each with more than one complete checkpoint', () => {
    expect(bases.length).toBe(5)
    for (const b of bases) expect(b.ends.length, b.name).toBeGreaterThan(1)
  })

  it('cut anywhere: N complete checkpoints at or past the end of checkpoint N, the last of them converted; file and pipe agree', async () => {
    const arb = fc.nat({max: bases.length - 1}).chain((i) => fc.tuple(fc.constant(i), fc.nat({max: bases[i].bytes.length})))
    await fc.assert(
      fc.asyncProperty(arb, async ([i, cut]) => {
        const b = bases[i]
        const label = `${b.name} cut at ${cut}`
        const input = b.bytes.subarray(0, cut)
        const file = await run(input, label, 'file')
        const before = b.ends.filter((e) => e <= cut).length
        if (before === 0) {
          // Inside the image: truncated, for both.
          expect(file.inspect, label).toMatchObject({ok: false, code: 'truncated'})
          expect(file.convert, label).toMatchObject({ok: false})
        } else {
          const atEnd = b.ends.includes(cut)
          // One checkpoint ended exactly: a plain image as far as anyone can tell.
          const complete = before === 1 && atEnd ? null : before
          expect(file.inspect, label).toEqual({ok: true, complete, cut: !atEnd, written: null})
          expect(file.convert, label).toEqual({ok: true, complete, cut: false, written: complete})
        }
        expect(await run(input, label, 'pipe'), `${label} (pipe)`).toEqual(file)
      }),
      params('checkpointed-legacy-cuts', 40, 0.5),
    )
  })

  it('byte flips, insertions, deletions, length edits and cuts: a result or one clean error; file and pipe agree', async () => {
    const arb = fc.nat({max: bases.length - 1}).chain((i) => fc.tuple(fc.constant(i), mutations(bases[i].layout)))
    await fc.assert(
      fc.asyncProperty(arb, async ([i, ms]) => {
        const b = bases[i]
        const label = `${b.name} + ${describeMutations(ms)}`
        const input = mutate(b.bytes, ms)
        const file = await run(input, label, 'file')
        const pipe = await run(input, label, 'pipe')
        // A file knows its size: a length past its end is a truncation at once, where a pipe reads on to find it.
        if (file.inspect.ok || file.inspect.code !== 'truncated')
          expect(pipe.inspect.ok, `${label}: inspect file ${JSON.stringify(file.inspect)} / pipe ${JSON.stringify(pipe.inspect)}`).toBe(file.inspect.ok)
      }),
      params('checkpointed-legacy-mutations', 40, 0.5),
    )
  })
})
