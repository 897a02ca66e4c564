// dump-core reads a file's headers twice (a first pass, then a pass per
// window of pfns): a file changed between the two reads is refused as
// input-changed (exit 1), never as an internal error, and never dumped
// half old, half new.
import {describe, expect, it} from 'vitest'
import {InputError} from '../src/errors.js'
import {emitPages} from '../src/dump/pages.js'
import {PfnBitmap} from '../src/dump/pfns.js'
import {MemorySink} from '../src/io/sink.js'

describe("a file that changed between dump-core's passes", () => {
  it('a page of the first pass that the window pass does not find is input-changed', async () => {
    const pages = new PfnBitmap()
    for (const pfn of [0, 1, 2]) pages.add(pfn)
    const err = await emitPages({
      sink: new MemorySink(),
      pages,
      windows: [[0, 3]],
      // The window pass found pfns 0 and 2, but no copy of pfn 1.
      locate: (pfn) => (pfn === 1 ? -1 : pfn * 4096),
      read: (_buf, _off, len) => len,
      zeroGaps: false,
    }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(InputError)
    expect((err as InputError).code).toBe('input-changed')
    expect((err as Error).message).toMatch(/page 1 was in the image when it was first read but not when it was read again/)
  })
})
