// A legacy Remus stream whose later checkpoints are delta-compressed
// (FORMAT.md §7; xc_domain_restore.c reads each compressed checkpoint's
// pfn lists, then its compressed_data chunks as one buffer, and
// apply_batch() decodes page after page with xc_compression_uncompress_page()
// over the receiver's copy). Built here: an image without last_checkpoint
// that enables compression, then a second checkpoint made by hand (a batch
// listing pfns only, compressed_data, the end chunk, the image's tail
// again). What a good encoding gives is checked in the converted stream's
// dump; every malformed form the restorer refuses is refused, by
// inspect-legacy and convert alike, with its code and where it is.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {buildLegacyWithMap, pageBytes, smallSpec} from './builders/legacy.js'
import {tempDir} from './helpers/cli.js'
import {runXstInProcess as runXst} from './helpers/in-process.js'

const PAGE = 4096
/** Pfns 0-7 are sent by the image; 8-15 are in the guest (p2m_size 16) but never sent. */
const SENT = [0, 1, 2, 3, 4, 5, 6, 7]

/** The image: a PV guest, compression enabled, no last_checkpoint (so a checkpoint may follow). */
function image(): {bytes: Buffer; tail: Buffer} {
  const base = smallSpec('pv', 64)
  const chunks = base.chunks!.filter((c) => c.kind !== 'last_checkpoint')
  const {bytes, map} = buildLegacyWithMap({...base, chunks: [...chunks, {kind: 'enable_compression'}]})
  // The tail (after the end chunk) is sent again, whole, by every checkpoint.
  return {bytes, tail: bytes.subarray(map.end! + 4)}
}

const i32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32LE(n)
  return b
}
const u64 = (n: number) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt(n))
  return b
}

/** A compressed checkpoint: one batch listing `pfns` (normal pages), then each of `chunks` as compressed_data, the end chunk, the tail. */
function checkpoint(pfns: number[], chunks: Buffer[], tail: Buffer): Buffer {
  return Buffer.concat([i32(pfns.length), ...pfns.map(u64), ...chunks.flatMap((c) => [i32(-12), u64(c.length), c]), i32(0), tail])
}

/** A page's runs: copy `bytes` at page byte 0, then skip the rest (127-word skips and one shorter). */
function copyFirst(bytes: Buffer): Buffer {
  const out = [bytes.length / 4, ...bytes]
  let left = PAGE - bytes.length
  while (left > 0) {
    const words = Math.min(127, left / 4)
    out.push(0x80 | words)
    left -= words * 4
  }
  return Buffer.from(out)
}

const UNCHANGED = Buffer.from([0x00])
const whole = (page: Buffer) => Buffer.concat([Buffer.from([0x80]), page])

async function inspectJson(file: string) {
  const r = await runXst(['inspect-legacy', '--json', file])
  return {code: r.code, doc: JSON.parse(r.stdout), stderr: r.stderr}
}

function write(bytes: Buffer): {dir: string; file: string} {
  const dir = tempDir('xst-remusc-')
  const file = join(dir, 'remus.img')
  writeFileSync(file, bytes)
  return {dir, file}
}

describe('compressed checkpoints decoded as the restorer decodes them', () => {
  it('runs over the old copy, unchanged, and whole (a page never sent before), split across two chunks: the dump of the conversion holds them', async () => {
    const {bytes, tail} = image()
    const newPage = Buffer.alloc(PAGE, 0x5a)
    // pfn 3: its first 8 bytes changed; pfn 4: unchanged; pfn 9: sent whole for the first time. Split inside pfn 9's page.
    const data = Buffer.concat([copyFirst(Buffer.from('CHANGED!')), UNCHANGED, whole(newPage)])
    const {dir, file} = write(Buffer.concat([bytes, checkpoint([3, 4, 9], [data.subarray(0, 2000), data.subarray(2000)], tail)]))
    const {code, doc, stderr} = await inspectJson(file)
    expect(code, stderr).toBe(0)
    expect(doc.checkpoints).toMatchObject({kind: 'remus', complete: 2, compressed: true, cut: null})
    expect(doc.checkpoints.list[1]).toMatchObject({index: 2, pages: 3, withData: 3, compressedPages: {unchanged: 1, whole: 1, runs: 1, bytes: data.length}})
    const out = join(dir, 'plain.save')
    const c = await runXst(['convert', file, out])
    expect(c.code, c.stderr).toBe(0)
    const raw = join(dir, 'core.raw')
    expect((await runXst(['dump-core', '--format', 'raw', out, raw])).code).toBe(0)
    const dump = readFileSync(raw)
    const page = (pfn: number) => dump.subarray(pfn * PAGE, (pfn + 1) * PAGE)
    const three = pageBytes(3)
    Buffer.from('CHANGED!').copy(three)
    expect(page(3).subarray(0, 32).toString('hex')).toBe(three.subarray(0, 32).toString('hex'))
    expect(page(3).equals(three)).toBe(true)
    expect(page(4).equals(pageBytes(4))).toBe(true)
    expect(page(9).equals(newPage)).toBe(true)
    for (const pfn of SENT.filter((p) => p !== 3 && p !== 4)) expect(page(pfn).equals(pageBytes(pfn)), `pfn ${pfn}`).toBe(true)
    // dump-core of the stream itself gives the same memory.
    const direct = join(dir, 'direct.raw')
    expect((await runXst(['dump-core', '--format', 'raw', file, direct])).code).toBe(0)
    expect(readFileSync(direct).equals(dump)).toBe(true)
    // Those deltas are over the image's own copies, which a pipe cannot give back: refused, saying why.
    const piped = await runXst(['convert', '-', join(dir, 'piped.save')], {input: readFileSync(file)})
    expect([piped.code, piped.stderr]).toEqual([2, expect.stringMatching(/against its copy in the first checkpoint .*give the file, not a pipe or gzip/)])
    // --checkpoint 1: the image's memory, before the deltas.
    const first = join(dir, 'first.raw')
    expect((await runXst(['dump-core', '--format', 'raw', '--checkpoint', '1', file, first])).code).toBe(0)
    expect(
      readFileSync(first)
        .subarray(3 * PAGE, 4 * PAGE)
        .equals(pageBytes(3)),
    ).toBe(true)
  })

  it('compressed bytes after the last page: a warning (the restorer never reads them)', async () => {
    const {bytes, tail} = image()
    const {file} = write(Buffer.concat([bytes, checkpoint([4], [Buffer.concat([UNCHANGED, Buffer.from([1, 2, 3])])], tail)]))
    const {code, doc} = await inspectJson(file)
    expect(code).toBe(0)
    expect(doc.warnings).toEqual([expect.stringMatching(/checkpoint 2's compressed data holds 3 bytes after its last page's encoding; the restorer never reads them/)])
  })

  it('a stream cut inside its second checkpoint: one complete checkpoint, the image', async () => {
    const {bytes, tail} = image()
    const second = checkpoint([3], [copyFirst(Buffer.from('CHANGED!'))], tail)
    const {dir, file} = write(Buffer.concat([bytes, second.subarray(0, second.length - 100)]))
    const {code, doc} = await inspectJson(file)
    expect(code).toBe(0)
    expect(doc.checkpoints).toMatchObject({complete: 1, cut: {checkpoint: 2, start: bytes.length}})
    const raw = join(dir, 'core.raw')
    const d = await runXst(['dump-core', '--format', 'raw', file, raw])
    expect(d.code, d.stderr).toBe(0)
    expect(
      readFileSync(raw)
        .subarray(3 * PAGE, 4 * PAGE)
        .equals(pageBytes(3)),
    ).toBe(true)
  })
})

describe('malformed compressed data: refused as the restorer refuses it', () => {
  const {bytes, tail} = image()
  /** Where checkpoint 2's compressed data starts: after its batch (4 + 8 per pfn) and the chunk's type and length. */
  const dataAt = (pfns: number) => bytes.length + 4 + 8 * pfns + 12
  const cases: Array<[string, number[], Buffer[], string, RegExp, number | null]> = [
    // A run byte whose length is 0 (0x80 after the first run: a skip of no words).
    ['a zero-length run', [3], [Buffer.from([0x01, 1, 2, 3, 4, 0x80])], 'bad-compressed-data', /pfn 0x3 .*a run of length 0/, dataAt(1) + 5],
    // Nine skips of 508 bytes: the ninth goes past the page.
    ['a run past the page', [3], [Buffer.alloc(9, 0xff)], 'bad-compressed-data', /a run skips 508 bytes at page byte 4064, past the end of the page/, dataAt(1) + 8],
    // One skip, then the data ends: the page is not covered.
    ['a page not covered', [3], [Buffer.from([0xff])], 'bad-compressed-data', /pfn 0x3 .*ends inside its encoding/, dataAt(1)],
    // Two pages listed, one encoding sent.
    ['a listed page with no encoding', [3, 4], [UNCHANGED], 'bad-compressed-data', /pfn 0x4 .*ends before its encoding starts/, null],
    // pfn 10 was never sent: "unchanged" has nothing to be unchanged from.
    ['a page never sent, as unchanged', [10], [UNCHANGED], 'compressed-page-unsent', /pfn 0xa .*no earlier checkpoint sent it/, dataAt(1)],
    ['a page never sent, as runs', [10], [copyFirst(Buffer.from('abcd'))], 'compressed-page-unsent', /pfn 0xa .*as runs over its old contents/, dataAt(1)],
  ]
  it.for(cases)('%s', async ([, pfns, chunks, code, message, offset], {expect}) => {
    const {dir, file} = write(Buffer.concat([bytes, checkpoint(pfns, chunks, tail)]))
    const inspect = await runXst(['inspect-legacy', '--json', file])
    expect(inspect.code).toBe(1)
    const err = JSON.parse(inspect.stdout).error
    expect(err.code).toBe(code)
    expect(err.message).toMatch(message)
    if (offset !== null) expect(err.offset).toBe(offset)
    // convert refuses it the same way, and writes nothing.
    const out = join(dir, 'out.save')
    const conv = await runXst(['convert', '--json', file, out])
    expect(conv.code).toBe(1)
    expect(JSON.parse(conv.stdout).error).toMatchObject({code, offset: err.offset})
  })
})

describe('compressed data that runs ahead of its pages is bounded', () => {
  it('more than MAX_CARRIED_COMPRESSED bytes with no page listed: refused (length-too-large), not held', async () => {
    const {MAX_CARRIED_COMPRESSED, CompressedPages} = await import('../src/legacy/compressed-checkpoint.js')
    const {PfnSet} = await import('../src/legacy/pfn-set.js')
    const pages = new CompressedPages(new PfnSet())
    const chunk = Buffer.alloc(16 << 20, 0x01)
    let err: unknown
    try {
      for (let i = 0; i * chunk.length <= MAX_CARRIED_COMPRESSED; i++) pages.take(chunk, 1000 + i * chunk.length, 990 + i * chunk.length, 2)
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({code: 'length-too-large'})
  })
})
