// ByteReader over a seekable source (BufferSource) and a pipe-like one
// (ChunkedSource: no size, no seeking, short reads).
import {describe, expect, test} from 'vitest'
import {FormatError, TruncatedError} from '../src/errors.js'
import {bytes, layout, u16le, u32le, ulong} from '../src/format/layout.js'
import {ByteReader} from '../src/io/reader.js'
import {BufferSource, type ByteSource, ChunkedSource} from '../src/io/source.js'
import {fillBytes} from './builders/legacy.js'
import {CountingSource} from './helpers/sources.js'

const DATA = fillBytes(7, 5 << 20) // 5 MiB: larger than the 1 MiB window and the 4 MiB discard chunk

type Kind = 'file' | 'pipe' | 'pipe-1'
const kinds: Kind[] = ['file', 'pipe', 'pipe-1']
function source(kind: Kind, data: Buffer = DATA): CountingSource {
  if (kind === 'file') return new CountingSource(new BufferSource(data))
  return new CountingSource(new ChunkedSource(data, kind === 'pipe' ? 4093 : 1))
}

async function truncation(p: Promise<unknown>): Promise<TruncatedError> {
  const err = await p.then(
    () => undefined,
    (e) => e,
  )
  expect(err).toBeInstanceOf(TruncatedError)
  return err as TruncatedError
}

describe.each(kinds)('ByteReader over %s', (kind) => {
  const small = DATA.subarray(0, 300)
  const src = (data?: Buffer) => source(kind, data)
  // Tests over megabytes skip the one-byte pipe (a source read per byte):
  // the small tests cover it.
  const largeTest = test.skipIf(kind === 'pipe-1')

  test('reads exact byte counts and tracks the offset', async () => {
    const r = new ByteReader(src(small))
    expect(r.offset).toBe(0)
    expect((await r.read(4, 'a')).equals(small.subarray(0, 4))).toBe(true)
    expect(r.offset).toBe(4)
    expect((await r.read(0, 'nothing')).length).toBe(0)
    expect((await r.read(96, 'b')).equals(small.subarray(4, 100))).toBe(true)
    expect(r.offset).toBe(100)
    expect((await r.read(200, 'c')).equals(small.subarray(100))).toBe(true)
    expect(r.offset).toBe(300)
    expect(await r.atEnd()).toBe(true)
  })

  test('a read returns a buffer the caller owns', async () => {
    const r = new ByteReader(src(small))
    const a = await r.read(8, 'a')
    const copy = Buffer.from(a)
    await r.read(8, 'b')
    await r.peek(100)
    expect(a.equals(copy)).toBe(true)
  })

  test('peek does not consume, and gives fewer bytes only at the end', async () => {
    const r = new ByteReader(src(small))
    expect((await r.peek(10)).equals(small.subarray(0, 10))).toBe(true)
    expect(r.offset).toBe(0)
    expect((await r.read(10, 'x')).equals(small.subarray(0, 10))).toBe(true)
    await r.skip(280, 'y')
    const tail = await r.peek(32)
    expect(tail.equals(small.subarray(290))).toBe(true)
    expect(r.offset).toBe(290)
    expect(await r.atEnd()).toBe(false)
  })

  test('readLayout decodes a layout or a token and moves on; peekLayout decodes without consuming', async () => {
    const Pair = layout('pair', {a: u32le, b: u16le, tag: bytes(2)})
    const r = new ByteReader(src(small))
    expect(await r.peekLayout(Pair)).toEqual(Pair.get(small, 0))
    expect(r.offset).toBe(0)
    const first = await r.readLayout(Pair, 'pair')
    expect(first).toEqual(Pair.get(small, 0))
    expect(await r.readLayout(ulong(4), 'word')).toBe(BigInt(small.readUInt32LE(Pair.size)))
    expect(r.offset).toBe(Pair.size + 4)
    await r.peek(100) // the window moves on: what readLayout returned is no view of it
    expect(first.tag.equals(small.subarray(6, 8))).toBe(true)
    await r.skip(300 - r.offset - 4, 'x')
    expect(await r.peekLayout(Pair)).toBeUndefined()
    expect(r.offset).toBe(296)
    const err = await truncation(r.readLayout(Pair, 'pair header'))
    expect(err.offset).toBe(300)
    expect(err.message).toBe('stream ends at byte 300 inside pair header (4 more bytes needed)')
  })

  test('the remaining byte count is known only for a sized source', async () => {
    const r = new ByteReader(src(small))
    await r.read(100, 'x')
    expect(r.remaining).toBe(kind === 'file' ? 200 : undefined)
    expect(r.seekable).toBe(kind === 'file')
  })

  largeTest('many small reads across window refills give the stream in order', async () => {
    const r = new ByteReader(src())
    const sizes = [1, 3, 7, 4096, 13, 65535, 2]
    let at = 0
    for (let i = 0; at < 3 << 20; i++) {
      const n = sizes[i % sizes.length]
      const b = await r.read(n, 'piece')
      if (!b.equals(DATA.subarray(at, at + n))) throw new Error(`mismatch at ${at}`)
      at += n
      expect(r.offset).toBe(at)
    }
  })

  largeTest('large reads (beyond the window) are exact, also after a partly used window', async () => {
    const r = new ByteReader(src())
    await r.peek(10) // fill the window
    await r.read(5, 'head')
    const big = await r.read(3 << 20, 'big')
    expect(big.equals(DATA.subarray(5, 5 + (3 << 20)))).toBe(true)
    expect(r.offset).toBe(5 + (3 << 20))
    const next = await r.read(100, 'after')
    expect(next.equals(DATA.subarray(5 + (3 << 20), 5 + (3 << 20) + 100))).toBe(true)
  })

  largeTest('skip moves on by seeking on a file and by reading on a pipe', async () => {
    const s = src()
    const r = new ByteReader(s)
    await r.read(16, 'head')
    await r.skip(4 << 20, 'middle')
    expect(r.offset).toBe(16 + (4 << 20))
    expect((await r.read(8, 'after')).equals(DATA.subarray(16 + (4 << 20), 24 + (4 << 20)))).toBe(true)
    if (kind === 'file') expect(s.bytesRead).toBeLessThan(3 << 20)
    else expect(s.bytesRead).toBeGreaterThanOrEqual(4 << 20)
  })

  test('skip within the buffered bytes', async () => {
    const r = new ByteReader(src(small))
    await r.peek(100)
    await r.skip(50, 'x')
    expect(r.offset).toBe(50)
    expect((await r.read(1, 'y'))[0]).toBe(small[50])
  })

  largeTest('pipe hands over the next n bytes in bounded pieces', async () => {
    const r = new ByteReader(src())
    await r.read(3, 'head')
    const pieces: Buffer[] = []
    await r.pipe(2 << 20, 'piped', (p) => void pieces.push(Buffer.from(p)), 1 << 16)
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThanOrEqual(1 << 16)
    expect(Buffer.concat(pieces).equals(DATA.subarray(3, 3 + (2 << 20)))).toBe(true)
    expect(r.offset).toBe(3 + (2 << 20))
  })

  largeTest('pipeToEnd hands over the rest of the stream and counts it', async () => {
    const r = new ByteReader(src())
    await r.read(1000, 'head')
    await r.peek(10)
    const pieces: Buffer[] = []
    const n = await r.pipeToEnd(async (p) => void pieces.push(Buffer.from(p)), 1 << 20)
    expect(n).toBe(DATA.length - 1000)
    expect(Buffer.concat(pieces).equals(DATA.subarray(1000))).toBe(true)
    expect(r.offset).toBe(DATA.length)
    expect(await r.atEnd()).toBe(true)
    expect(await r.pipeToEnd(() => {})).toBe(0)
  })

  test('skipToEnd counts the bytes left', async () => {
    const r = new ByteReader(src(small))
    await r.read(120, 'x')
    expect(await r.skipToEnd()).toBe(180)
    expect(r.offset).toBe(300)
    expect(await r.skipToEnd()).toBe(0)
  })

  test('a short read is a TruncatedError naming the part and the byte where the stream ended', async () => {
    const r = new ByteReader(src(small))
    await r.read(290, 'x')
    const err = await truncation(r.read(16, 'shared info page'))
    expect(err.offset).toBe(300)
    expect(err.code).toBe('truncated')
    expect(err.message).toContain('stream ends at byte 300 inside shared info page')
    expect(err.message).toContain('6 more bytes needed')
    expect(err.toJSON()).toMatchObject({code: 'truncated', offset: 300})
  })

  largeTest('a short large read reports the end too', async () => {
    const r = new ByteReader(src())
    await r.read(10, 'x')
    const err = await truncation(r.read(6 << 20, 'page data'))
    expect(err.offset).toBe(DATA.length)
    expect(err.message).toContain(`stream ends at byte ${DATA.length} inside page data`)
    expect(err.message).toContain(`${(6 << 20) + 10 - DATA.length} more bytes needed`)
  })

  test('skipping past the end is a TruncatedError at the end', async () => {
    const r = new ByteReader(src(small))
    await r.read(10, 'x')
    const err = await truncation(r.skip(1000, 'HVM context'))
    expect(err.offset).toBe(300)
    expect(err.message).toContain('inside HVM context')
  })

  test('an empty stream', async () => {
    const r = new ByteReader(src(Buffer.alloc(0)))
    expect(await r.atEnd()).toBe(true)
    expect((await r.peek(8)).length).toBe(0)
    const err = await truncation(r.read(4, 'p2m_size'))
    expect(err.offset).toBe(0)
  })

  test('checkLength refuses unusable and oversized lengths before anything is read', async () => {
    const s = src(small)
    const r = new ByteReader(s)
    await r.read(20, 'x')
    const where = {offset: 16, index: 3, indexKind: 'chunk'}
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 60]) {
      let e: any
      try {
        r.checkLength(bad, 'toolstack chunk', 1 << 24, 'MAX_TOOLSTACK', where)
      } catch (err) {
        e = err
      }
      expect(e).toBeInstanceOf(FormatError)
      expect(e.code).toBe('bad-length')
    }
    let e: any
    try {
      r.checkLength(0xffffffff, 'toolstack chunk', 1 << 24, 'MAX_TOOLSTACK', where)
    } catch (err) {
      e = err
    }
    expect(e).toBeInstanceOf(FormatError)
    expect(e.code).toBe('length-too-large')
    expect(e.where).toMatchObject({offset: 16, index: 3, indexKind: 'chunk', context: 'toolstack chunk'})
    expect(e.message).toContain('MAX_TOOLSTACK')
    expect(e.message).toMatch(/^byte 16, chunk 3, toolstack chunk: /)
    // Within the maximum: fine when the bytes are there.
    expect(() => r.checkLength(280, 'x', 1000, 'MAX', where)).not.toThrow()
    expect(() => r.checkLength(0, 'x', 1000, 'MAX', where)).not.toThrow()
    // More than is left: a truncation on a sized source; a pipe finds out when it reads.
    if (kind === 'file') {
      let t: any
      try {
        r.checkLength(281, 'HVM context', 1000, 'MAX', where)
      } catch (err) {
        t = err
      }
      expect(t).toBeInstanceOf(TruncatedError)
      expect(t.offset).toBe(300)
    } else {
      expect(() => r.checkLength(281, 'HVM context', 1000, 'MAX', where)).not.toThrow()
    }
    expect(r.offset).toBe(20)
  })
})

test('sources: BufferSource reads at any position; ChunkedSource gives short sequential reads', async () => {
  const data = Buffer.from('0123456789')
  const f = new BufferSource(data)
  const b = Buffer.alloc(4)
  expect(await f.read(b, 0, 4, 6)).toBe(4)
  expect(b.toString()).toBe('6789')
  expect(await f.read(b, 0, 4, 8)).toBe(2)
  expect(await f.read(b, 0, 4, 10)).toBe(0)
  expect(f.size).toBe(10)
  const p: ByteSource = new ChunkedSource(data, 3) // position is ignored: sequential
  expect(p.size).toBeUndefined()
  expect(await p.read(b, 0, 4, 999)).toBe(3)
  expect(b.subarray(0, 3).toString()).toBe('012')
  expect(await p.read(b, 1, 2, 0)).toBe(2)
  expect(b.subarray(1, 3).toString()).toBe('34')
})
