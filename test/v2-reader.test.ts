// The v2 stream driver: format detection, truncation anywhere (the same
// offset from a file and from a pipe), and skipping page data by seeking.
import {describe, expect, it} from 'vitest'
import {Rec} from '../src/v2/libxc/layout.js'
import {ByteReader} from '../src/io/reader.js'
import {BufferSource} from '../src/io/source.js'
import {detectV2} from '../src/v2/detect.js'
import {LIBXL_IDENT, LIBXL_MAGIC} from '../src/v2/libxl/layout.js'
import {verifyStream} from '../src/v2/reader.js'
import {V2Verifier} from '../src/v2/verify/verifier.js'
import {hvmStream, libxlStream, pages, pvStream, rawLibxcHeaders, Stream, verifyBytes, withXlHeader, xlHeader} from './builders/v2.js'
import {CountingSource} from './helpers/sources.js'

describe('detectV2', () => {
  const b = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))))
  const ones = Array(8).fill(0xff)
  it('knows both formats by their magic', () => {
    expect(detectV2(b('LibxlFmt', [0, 0, 0, 2, 0, 0, 0, 0]))).toBe('libxl')
    expect(detectV2(b(ones, 'XENF', [0, 0, 0, 3]))).toBe('libxc')
  })
  it('one libxl magic: the header ident is "LibxlFmt" read as a big-endian u64', () => {
    expect(LIBXL_MAGIC).toBe('LibxlFmt')
    expect(LIBXL_IDENT).toBe(0x4c6962786c466d74n)
  })
  it('still knows a header damaged in one field', () => {
    expect(detectV2(b([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe], 'XENF'))).toBe('libxc')
    expect(detectV2(b(ones, 'XENG'))).toBe('libxc')
    expect(detectV2(b('LibxlFmX'))).toBe('libxl')
  })
  it('takes anything else for a legacy image, unless an xl header promised libxl', () => {
    const legacy64 = b([0x00, 0x01, 0, 0, 0, 0, 0, 0], ones, [0x10, 0, 0, 0], 'vcpu')
    expect(detectV2(legacy64)).toBe('legacy')
    expect(detectV2(legacy64, true)).toBe('libxl')
    expect(detectV2(Buffer.alloc(0))).toBe('legacy')
  })
  it('a short prefix of a magic counts (the read that follows reports the truncation)', () => {
    expect(detectV2(b('Libx'))).toBe('libxl')
    expect(detectV2(b([0xff, 0xff]))).toBe('libxc')
  })
})

describe('not a v2 stream', () => {
  it('a legacy image is sent to xst convert', async () => {
    const legacy = Buffer.alloc(64)
    legacy.writeUInt32LE(0x100, 0)
    const r = await verifyBytes(legacy)
    expect(r.errors).toMatchObject([{code: 'legacy-image', offset: 0, message: 'this is a legacy image; convert it with `xst convert`'}])
    const behindXl = await verifyBytes(Buffer.concat([xlHeader(0, 'name="x"'), legacy]))
    expect(behindXl.errors).toMatchObject([{code: 'legacy-image'}])
    expect(behindXl.errors[0].offset).toBeGreaterThan(48)
  })
  it('an empty input', async () => {
    expect((await verifyBytes(Buffer.alloc(0))).errors).toMatchObject([{code: 'empty-input', offset: 0}])
  })
  it('--format forces a format', async () => {
    const bytes = (await libxlStream(hvmStream()).build()).bytes
    const r = await verifyBytes(bytes, {format: 'libxc'})
    expect(r.errors[0]).toMatchObject({code: 'bad-marker', offset: 0})
  })
})

describe('truncation anywhere is reported where the stream ends, from a file and from a pipe', () => {
  const cases: Array<[string, Stream]> = [
    ['libxc PV', pvStream()],
    ['libxl HVM behind an xl header', withXlHeader(libxlStream(hvmStream()), 2)],
  ]
  for (const [name, s] of cases) {
    it(name, async () => {
      const built = await s.build()
      const full = built.bytes
      // Cut at, and just around, every boundary, and in the middle of every part.
      const cuts = new Set<number>()
      built.placed.forEach((p, i) => {
        const next = built.placed[i + 1]?.offset ?? full.length
        for (const k of [p.offset - 1, p.offset, p.offset + 1, p.offset + 7, p.offset + 8, p.offset + 12, (p.offset + next) >> 1, next - 1]) {
          if (k > 0 && k < full.length) cuts.add(k)
        }
      })
      for (const k of cuts) {
        for (const pipe of [false, true]) {
          const r = await verifyBytes(full.subarray(0, k), {pipe})
          const how = `${pipe ? 'pipe' : 'file'} cut at ${k}: ${JSON.stringify(r.errors)}`
          expect(r.errors, how).toHaveLength(1)
          expect(r.errors[0], how).toMatchObject({code: 'truncated', offset: k})
          expect(r.errors[0].message, how).toMatch(new RegExp(`^stream ends at byte ${k} inside `))
          expect(r.stopped).toBe('fatal')
        }
      }
    })
  }
  it('the message names the record it ends in', async () => {
    const s = pvStream()
    const built = await s.build()
    const pd = built.placed[s.find(Rec.PAGE_DATA, 1)]
    const r = await verifyBytes(built.bytes.subarray(0, pd.offset + 5000))
    expect(r.errors[0]).toMatchObject({layer: 'libxc', index: pd.index, record: 'PAGE_DATA'})
    expect(r.errors[0].message).toMatch(`stream ends at byte ${pd.offset + 5000} inside libxc record ${pd.index} (PAGE_DATA)`)
  })
})

describe('page data is skipped, not read', () => {
  it('on a seekable source most of the stream is never read', async () => {
    const s = new Stream([{kind: 'libxc-headers', domainType: 2, raw: rawLibxcHeaders({type: 2})}])
    s.append({kind: 'record', layer: 'libxc', type: Rec.STATIC_DATA_END, head: Buffer.alloc(0)})
    for (let i = 0; i < 8; i++) s.append(pages(i * 1024, 1024))
    s.append(...hvmStream().parts.slice(hvmStream().find(Rec.X86_TSC_INFO)))
    const bytes = (await s.build()).bytes
    const src = new CountingSource(new BufferSource(bytes))
    const report = await verifyStream(new ByteReader(src), new V2Verifier())
    expect(report.valid, JSON.stringify(report.errors)).toBe(true)
    expect(report.summary.pages.count).toBe(8192)
    expect(src.bytesRead).toBeLessThan(bytes.length * 0.4)
  })
})
