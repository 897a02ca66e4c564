// How many passes over memory inspect-legacy reports. A live save sends
// memory, then sends again the pages that changed meanwhile: a pfn sent a
// second time starts the next pass (and everything sent from then on is in
// it), and every page of that batch already sent in the current pass counts
// as re-sent.
import {describe, expect, test} from 'vitest'
import {ByteReader} from '../src/io/reader.js'
import {BufferSource} from '../src/io/source.js'
import {inspectLegacy} from '../src/inspect/report.js'
import {walkLegacy} from '../src/legacy/walker.js'
import {buildLegacy, type ChunkSpec, type EntrySpec} from './builders/legacy.js'
import {vectorBytes} from './helpers/fixtures.js'

const pfns = (start: number, count: number): EntrySpec[] => Array.from({length: count}, (_, i) => start + i)
const batch = (...entries: EntrySpec[][]): ChunkSpec => ({kind: 'pages', entries: entries.flat()})

async function passes(bytes: Buffer): Promise<{passes: number; pagesResent: number}> {
  const rep = await inspectLegacy(new ByteReader(new BufferSource(bytes)), 'image')
  return {passes: rep.body.passes, pagesResent: rep.body.pagesResent}
}

const image = (...batches: ChunkSpec[]) => buildLegacy({width: 64, guest: 'pv', p2mSize: 64, ext: {guestWidth: 64}, chunks: [{kind: 'vcpu_info', online: [0]}, ...batches]})

describe('inspect-legacy counts the passes over memory', () => {
  test('no page batch: no pass', async () => {
    expect(await passes(image())).toEqual({passes: 0, pagesResent: 0})
  })

  test('every pfn once, over several batches: one pass', async () => {
    expect(await passes(image(batch(pfns(0, 8)), batch(pfns(8, 8)), batch(pfns(16, 1))))).toEqual({passes: 1, pagesResent: 0})
  })

  test('all of memory sent twice: two passes, every page of the second re-sent', async () => {
    expect(await passes(image(batch(pfns(0, 16)), batch(pfns(0, 16))))).toEqual({passes: 2, pagesResent: 16})
  })

  test('a pass is only the pages that changed: a pfn sent again within the second pass starts a third', async () => {
    // Pass 1: 0-15. Pass 2: 0-3 (re-sent), then 4-5 (not yet sent in pass 2).
    // Pass 3: pfn 2, already sent in pass 2.
    const bytes = image(batch(pfns(0, 8)), batch(pfns(8, 8)), batch(pfns(0, 4)), batch(pfns(4, 2)), batch([2]))
    expect(await passes(bytes)).toEqual({passes: 3, pagesResent: 5})
  })

  test('a batch that starts a pass brings its new pages into it', async () => {
    // Pass 2 starts in the second batch (6 and 7 again) and holds 8 and 9, so
    // 8 in the third batch starts pass 3.
    expect(await passes(image(batch(pfns(0, 8)), batch(pfns(6, 4)), batch([8])))).toEqual({passes: 3, pagesResent: 3})
  })

  test('a pfn sent twice in one batch with another type is not another pass', async () => {
    expect(await passes(image(batch(pfns(0, 4), [{pfn: 2, type: 1}]), batch(pfns(4, 4))))).toEqual({passes: 1, pagesResent: 0})
  })

  test('the multipass conformance image: what a plain count of re-sent pfns gives', async () => {
    const bytes = vectorBytes('legacy', 'pv64-multipass.legacy.gz')
    // The definition, counted the plain way: a set of the pfns of the current pass.
    let expected = 0
    let resent = 0
    let pass = new Set<number>()
    for await (const ev of walkLegacy(new ByteReader(new BufferSource(bytes)))) {
      if (ev.kind !== 'page-batch') continue
      const again = [...ev.pfns].filter((p) => pass.has(p)).length
      if (again > 0 || expected === 0) {
        expected++
        if (again > 0) pass = new Set()
      }
      resent += again
      for (const p of ev.pfns) pass.add(p)
    }
    expect(expected).toBeGreaterThan(1)
    expect(await passes(bytes)).toEqual({passes: expected, pagesResent: resent})
  })
})
