// Checkpointed (Remus, COLO) v2 streams from the shared native examples, cut
// anywhere and mutated (FORMAT.md section 7). A replication capture ends
// wherever the channel was cut, so the cuts are the property that matters:
// cut at or after the end of checkpoint N (and before the end of N+1), the
// stream is valid with N complete checkpoints, as the receiver that fails
// over from checkpoint N would have it (libxl_stream_read.c's checkpoint
// loop); cut before the first checkpoint ends, it is not valid. Mutations:
// verify always returns a well-formed report, and a file and a pipe agree
// (harness.ts's checkVerify, shared with the v2 fuzz family).
import fc from 'fast-check'
import {beforeAll, describe, expect, it} from 'vitest'
import {nativeBytes, nativeCases} from '../helpers/fixtures.js'
import {checkVerify, describeMutations, type ImageLayout, mutate, mutations, params, reportCases, TEST_TIMEOUT, v2Layout, verify} from './harness.js'

reportCases('checkpointed')

interface Base {
  name: string
  bytes: Buffer
  layout: ImageLayout
  /** Where each complete checkpoint of the whole stream ends. */
  ends: number[]
  /** Where a cut leaves no part of a record behind: each checkpoint's start and end (COLO's CHECKPOINT_STATE lies between them), and the stream's end when it is not cut. */
  between: Set<number>
}
const bases: Base[] = []

beforeAll(async () => {
  for (const c of nativeCases().filter((c) => c.checkpoints !== null && c.kind !== 'legacy')) {
    const bytes = nativeBytes(c.input)
    const rep = await verify(bytes)
    const list = rep.summary.checkpoints?.list ?? []
    // A stream itself cut inside its last checkpoint does not end between two.
    const between = new Set([...list.map((x) => x.start), ...list.map((x) => x.end), ...(rep.summary.checkpoints?.cut ? [] : [bytes.length])])
    bases.push({name: c.name, bytes, layout: await v2Layout(bytes), ends: list.map((x) => x.end), between})
  }
})

describe('checkpointed v2 streams, cut and mutated', {timeout: TEST_TIMEOUT}, () => {
  it('the bases: Remus and COLO, each with more than one complete checkpoint', () => {
    expect(bases.length).toBeGreaterThanOrEqual(4)
    for (const b of bases) expect(b.ends.length, b.name).toBeGreaterThan(1)
  })

  it('cut at every checkpoint boundary: valid, with exactly the checkpoints before the cut', async () => {
    for (const b of bases) {
      for (const [i, end] of b.ends.entries()) {
        // checkVerify also reads it as a pipe, which must find the same.
        const r = await checkVerify(b.bytes.subarray(0, end), `${b.name} cut at the end of checkpoint ${i + 1}`)
        expect(r.errors, `${b.name} cut at ${end}`).toEqual([])
        expect(r.summary.checkpoints?.complete, `${b.name} cut at ${end}`).toBe(i + 1)
        expect(r.summary.checkpoints?.lastEnd).toBe(end)
      }
    }
  })

  it('cut anywhere: valid with N checkpoints when the cut is at or past the end of checkpoint N, not valid before the first ends', async () => {
    const arb = fc.nat({max: bases.length - 1}).chain((i) => fc.tuple(fc.constant(i), fc.nat({max: bases[i].bytes.length})))
    await fc.assert(
      fc.asyncProperty(arb, async ([i, cut]) => {
        const b = bases[i]
        const label = `${b.name} cut at ${cut}`
        const file = await checkVerify(b.bytes.subarray(0, cut), label)
        const before = b.ends.filter((e) => e <= cut).length
        if (before === 0) {
          expect(file.valid, label).toBe(false)
        } else {
          expect(file.errors, label).toEqual([])
          expect(file.summary.checkpoints?.complete, label).toBe(before)
          // A cut inside the next checkpoint (or inside COLO's CHECKPOINT_STATE before it) is said with a warning.
          expect(
            file.warnings.some((w) => w.code === 'checkpoint-cut'),
            label,
          ).toBe(!b.between.has(cut))
        }
      }),
      params('checkpointed-cuts', 60, 0.5),
    )
  })

  it('byte flips, insertions, deletions, length edits and cuts: a report, never an exception; file and pipe agree', async () => {
    const arb = fc.nat({max: bases.length - 1}).chain((i) => fc.tuple(fc.constant(i), mutations(bases[i].layout)))
    await fc.assert(
      fc.asyncProperty(arb, async ([i, ms]) => {
        const b = bases[i]
        await checkVerify(mutate(b.bytes, ms), `${b.name} + ${describeMutations(ms)}`)
      }),
      params('checkpointed-mutations', 60, 0.5),
    )
  })
})
