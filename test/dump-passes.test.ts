// The passes of dump-core, seen from the input's side: on a file, the first
// pass and the window passes read the headers only (page data is seeked
// over), and the converted stream's page contents reach the placer whole
// however the input is split.
import {describe, expect, it} from 'vitest'
import {PageWindow} from '../src/dump/pfns.js'
import {openImageForDump, reopen} from '../src/dump/input.js'
import {locatePages, scanImage} from '../src/dump/scan.js'
import type {PagePlacer} from '../src/dump/pages.js'
import {convertLegacy} from '../src/convert/convert.js'
import {ByteReader} from '../src/io/reader.js'
import {MemorySink} from '../src/io/sink.js'
import {BufferSource, ChunkedSource, type ByteSource} from '../src/io/source.js'
import {buildLegacy, largeImageSpec, pageBytes} from './builders/legacy.js'
import {PAGE, v2Pages} from './helpers/dump.js'

/** A file-like source that counts the bytes it is asked to read. */
class CountingSource implements ByteSource {
  readonly seekable = true
  readonly size: number
  read_ = 0
  private inner: BufferSource
  constructor(
    data: Buffer,
    readonly name = 'counted',
  ) {
    this.inner = new BufferSource(data)
    this.size = data.length
  }
  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const n = await this.inner.read(buf, offset, length, position)
    this.read_ += n
    return n
  }
  async close(): Promise<void> {}
}

const legacy = buildLegacy(largeImageSpec({guest: 'pv', bytes: 24 << 20}))
const pages = Math.floor((24 << 20) / (PAGE + 8))

async function converted(): Promise<Buffer> {
  const sink = new MemorySink()
  await convertLegacy(new ByteReader(new BufferSource(legacy)), sink, {format: 'libxl'})
  return sink.data
}

describe('on a file, the passes read headers only', () => {
  it.each(['legacy', 'v2'] as const)('%s: the first pass and a window pass each read under a fiftieth of the image', async (kind) => {
    const bytes = kind === 'legacy' ? legacy : await converted()
    const src = new CountingSource(bytes)
    const image = await openImageForDump(new ByteReader(src))
    expect(image.kind).toBe(kind)
    const scan = await scanImage(image)
    expect(scan.facts.pages.count).toBe(pages)
    expect(src.read_, `first pass read ${src.read_} of ${bytes.length} bytes`).toBeLessThan(bytes.length / 50)
    const before = src.read_
    const w = new PageWindow(pages)
    expect(w.load(scan.facts.pages, 0)).toBe(true)
    await locatePages(image, w, await reopen(image))
    expect(src.read_ - before).toBeLessThan(bytes.length / 50)
    // The offsets found point at each pfn's page.
    for (const pfn of [0, 1, 1023, 1024, pages - 1]) expect(bytes.subarray(w.get(pfn), w.get(pfn) + PAGE).equals(pageBytes(pfn)), `pfn ${pfn}`).toBe(true)
  })

  it.each(['legacy', 'v2'] as const)('%s: window passes share one reader, each starting over at the image', async (kind) => {
    const bytes = kind === 'legacy' ? legacy : await converted()
    const image = await openImageForDump(new ByteReader(new CountingSource(bytes)))
    const scan = await scanImage(image)
    const reader = await reopen(image)
    const w = new PageWindow(Math.ceil(pages / 3))
    const seen = new Set<number>()
    for (let from = 0; w.load(scan.facts.pages, from); from = w.end) {
      await locatePages(image, w, reader)
      for (const pfn of [w.first, Math.floor((w.first + w.last) / 2), w.last]) {
        expect(bytes.subarray(w.get(pfn), w.get(pfn) + PAGE).equals(pageBytes(pfn)), `pfn ${pfn}`).toBe(true)
        seen.add(pfn)
      }
      expect(w.get(w.last + 1)).toBe(-1)
    }
    expect(seen.has(0) && seen.has(pages - 1)).toBe(true)
  })

  it('from a pipe, the first pass reads it all, placing every page', async () => {
    const placed = new Map<number, Buffer>()
    const placer: PagePlacer = {
      place(pfns, from, count, buf, at) {
        for (let i = 0; i < count; i++) placed.set(pfns[from + i], Buffer.from(buf.subarray(at + i * PAGE, at + (i + 1) * PAGE)))
      },
    }
    const image = await openImageForDump(new ByteReader(new ChunkedSource(legacy, 65536)))
    expect(image.seekable).toBe(false)
    await scanImage(image, {placer})
    expect(placed.size).toBe(pages)
    for (const pfn of [0, 4097, pages - 1]) expect(placed.get(pfn)!.equals(pageBytes(pfn))).toBe(true)
  })
})

describe('the pages placed', () => {
  it("are the converted stream's, each whole, however the pipe splits the input", async () => {
    const ref = v2Pages(await converted())
    const placed = new Map<number, Buffer>()
    const image = await openImageForDump(new ByteReader(new ChunkedSource(legacy, 4093)))
    await scanImage(image, {
      placer: {
        place(pfns, from, count, buf, at) {
          expect(at + count * PAGE).toBeLessThanOrEqual(buf.length)
          for (let i = 0; i < count; i++) placed.set(pfns[from + i], Buffer.from(buf.subarray(at + i * PAGE, at + (i + 1) * PAGE)))
        },
      },
    })
    expect(placed.size).toBe(ref.size)
    for (const [pfn, page] of ref) expect(placed.get(pfn)!.equals(page), `pfn ${pfn}`).toBe(true)
  })
})
