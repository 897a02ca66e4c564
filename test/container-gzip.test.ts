// GzipSource: a gzip file read as the image it holds, through the
// ByteReader (peek, read, skip), in constant memory, with corrupt and
// truncated gzip data typed (exit 1) and placed by compressed byte.
import {gunzipSync, gzipSync} from 'node:zlib'
import {describe, expect, test} from 'vitest'
import {FormatError, InputError, TruncatedError} from '../src/errors.js'
import {GzipSource, isGzip, ReaderSource} from '../src/io/gzip-source.js'
import {ByteReader} from '../src/io/reader.js'
import {BufferSource, type ByteSource, ChunkedSource} from '../src/io/source.js'
import {walkLegacy} from '../src/legacy/walker.js'
import {containerBytes, rejection, SOURCE_KINDS, type SourceKind} from './helpers/containers.js'
import {CountingSource} from './helpers/sources.js'

/** Deterministic bytes that do not compress. */
function noise(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = x & 0xff
  }
  return b
}

/** The source under the gzip one, counting what is read from it. */
function inner(data: Buffer, kind: SourceKind): CountingSource {
  return new CountingSource(kind === 'file' ? new BufferSource(data) : new ChunkedSource(data, 1000), 'counted')
}

function gzReader(data: Buffer, kind: SourceKind = 'file'): {reader: ByteReader; gz: GzipSource; src: CountingSource} {
  const src = inner(data, kind)
  const gz = new GzipSource(src)
  return {reader: new ByteReader(gz), gz, src}
}

async function readAll(reader: ByteReader): Promise<Buffer> {
  const parts: Buffer[] = []
  await reader.pipeToEnd((p) => void parts.push(Buffer.from(p)))
  return Buffer.concat(parts)
}

/** The gzip file inside the gzip-xl-pv64 vector (which is stored gzipped once more). */
const GZ_FILE = containerBytes('gzip-xl-pv64.img.gz')
const PLAIN = gunzipSync(GZ_FILE)

describe.each(SOURCE_KINDS)('over a %s', (kind) => {
  test('the vector reads back as the xl image it holds', async () => {
    expect(isGzip(GZ_FILE)).toBe(true)
    const {reader, gz} = gzReader(GZ_FILE, kind)
    expect(gz.seekable).toBe(false)
    expect(gz.size).toBeUndefined()
    expect(reader.remaining).toBeUndefined()
    const out = await readAll(reader)
    expect(out.equals(PLAIN)).toBe(true)
    expect(gz.compressedOffset).toBe(GZ_FILE.length)
    expect(out.toString('latin1', 0, 27)).toBe('Xen saved domain, xl format')
  })

  test('the legacy walker runs on it: xl header, PV image, to the end', async () => {
    const {reader} = gzReader(GZ_FILE, kind)
    const kinds: string[] = []
    for await (const ev of walkLegacy(reader)) {
      kinds.push(ev.kind)
      if (ev.kind === 'xl-header') expect(ev.header.config?.name).toBe('gz400')
      if (ev.kind === 'image') expect(ev).toMatchObject({guest: 'pv', toolstackWidth: 64})
    }
    expect(kinds[0]).toBe('xl-header')
    expect(kinds.at(-1)).toBe('done')
    expect(reader.offset).toBe(PLAIN.length)
  })

  test('peek, read and skip land where they do on the plain bytes', async () => {
    const plain = noise(3 << 20, 7)
    const {reader} = gzReader(gzipSync(plain), kind)
    expect((await reader.peek(10)).equals(plain.subarray(0, 10))).toBe(true)
    expect((await reader.read(48, 'a')).equals(plain.subarray(0, 48))).toBe(true)
    await reader.skip(1000, 'a')
    expect((await reader.read(5, 'b')).equals(plain.subarray(1048, 1053))).toBe(true)
    await reader.skip(2 << 20, 'a large skip, read and discarded')
    const at = 1053 + (2 << 20)
    expect(reader.offset).toBe(at)
    expect((await reader.read(100_000, 'c')).equals(plain.subarray(at, at + 100_000))).toBe(true)
    const rest = plain.length - reader.offset
    expect(await reader.skipToEnd()).toBe(rest)
    expect(await reader.atEnd()).toBe(true)
  })

  test('a read past the end of the plain data is a truncation at the decompressed offset', async () => {
    const {reader} = gzReader(gzipSync(Buffer.from('short')), kind)
    const err = await rejection(reader.read(10, 'header'))
    expect(err).toBeInstanceOf(TruncatedError)
    expect((err as TruncatedError).offset).toBe(5)
  })

  test('on a reader that has already peeked the first bytes (sniffing a pipe)', async () => {
    const outer = new ByteReader(inner(GZ_FILE, kind))
    expect(isGzip(Buffer.from(await outer.peek(32)))).toBe(true)
    const src = new ReaderSource(outer)
    expect(src.seekable).toBe(false)
    const reader = new ByteReader(new GzipSource(src))
    expect((await readAll(reader)).equals(PLAIN)).toBe(true)
    expect(outer.offset).toBe(GZ_FILE.length)
  })

  test('concatenated members read as one stream', async () => {
    const {reader} = gzReader(Buffer.concat([gzipSync(Buffer.from('one,')), gzipSync(Buffer.from('two'))]), kind)
    expect((await readAll(reader)).toString()).toBe('one,two')
  })

  test('streams: compressed input is read as the plain bytes are used, not all at once', async () => {
    const plain = noise(8 << 20, 3)
    const {reader, src} = gzReader(gzipSync(plain, {level: 1}), kind)
    expect((await reader.read(1 << 20, 'first MiB')).equals(plain.subarray(0, 1 << 20))).toBe(true)
    // The reader's 1 MiB window, zlib's output chunk and one input piece at most.
    expect(src.bytesRead).toBeLessThan(3 << 20)
  })

  test('an inflate bomb is not inflated ahead of the reader', async () => {
    // 8 members of 16 MiB of zeros: 128 MiB from about 128 KiB.
    const member = gzipSync(Buffer.alloc(16 << 20))
    const bomb = Buffer.concat(Array.from({length: 8}, () => member))
    const {reader, gz} = gzReader(bomb, kind)
    expect((await reader.read(100, 'a little')).every((b) => b === 0)).toBe(true)
    expect(gz.compressedOffset).toBeLessThanOrEqual(64 << 10)
    expect(await reader.skipToEnd()).toBe((128 << 20) - 100)
  })

  describe('corrupt data', () => {
    const corrupt = async (data: Buffer): Promise<FormatError> => {
      const {reader} = gzReader(data, kind)
      const err = await rejection(readAll(reader))
      expect(err).toBeInstanceOf(FormatError)
      expect(err).not.toBeInstanceOf(TruncatedError)
      const fe = err as FormatError
      expect(fe.code).toBe('gzip-corrupt')
      expect(fe.exitCode).toBe(1)
      expect(fe.message).toMatch(new RegExp(`^byte ${fe.offset}, gzip: gzip data is corrupt at compressed byte ${fe.offset} \\(.+\\)$`))
      return fe
    }

    test('in the deflate data: found at or after the damage', async () => {
      const bad = Buffer.from(GZ_FILE)
      bad[100] ^= 0x55
      const err = await corrupt(bad)
      expect(err.offset).toBeLessThanOrEqual(bad.length)
      // Damage in the deflate data shows before the end of the member.
      const big = gzipSync(noise(1 << 20, 9), {level: 6})
      const bad2 = Buffer.from(big)
      bad2[big.length >> 1] ^= 0xff
      const err2 = await corrupt(bad2)
      expect(err2.offset!).toBeLessThanOrEqual(big.length)
      expect(err2.offset!).toBeGreaterThanOrEqual((big.length >> 1) - (64 << 10))
    })

    test('in the member header: at its start', async () => {
      const bad = Buffer.from(GZ_FILE)
      bad[2] = 7 // compression method
      expect((await corrupt(bad)).message).toMatch(/unknown compression method/)
    })

    test('in the CRC of the trailer: found at the end', async () => {
      const bad = Buffer.from(GZ_FILE)
      bad[bad.length - 6] ^= 1
      const err = await corrupt(bad)
      expect(err.message).toMatch(/incorrect data check/)
    })

    test('garbage after a member', async () => {
      await corrupt(Buffer.concat([GZ_FILE, Buffer.from('not gzip at all')]))
    })
  })

  describe('truncated data', () => {
    test.each([0, 1, 10, 100, 3000, GZ_FILE.length - 8, GZ_FILE.length - 1])('cut at compressed byte %i', async (cut) => {
      const {reader} = gzReader(GZ_FILE.subarray(0, cut), kind)
      const err = await rejection(readAll(reader))
      expect(err).toBeInstanceOf(FormatError)
      expect(err).not.toBeInstanceOf(TruncatedError)
      expect((err as FormatError).code).toBe('gzip-truncated')
      expect((err as FormatError).exitCode).toBe(1)
      expect((err as FormatError).message).toBe(`byte ${cut}, gzip: gzip stream ends at compressed byte ${cut} before its end`)
    })
  })
})

test('an error reading the source under it passes through as it is', async () => {
  const failing: ByteSource = {
    name: 'broken',
    seekable: false,
    size: undefined,
    read: async () => {
      throw new InputError('broken: cannot read: EIO', 'read-failed')
    },
    close: async () => {},
  }
  const err = await rejection(new ByteReader(new GzipSource(failing)).read(1, 'x'))
  expect(err).toBeInstanceOf(InputError)
})

test('close closes the source under it', async () => {
  const src = inner(GZ_FILE, 'file')
  const gz = new GzipSource(src)
  await new ByteReader(gz).read(10, 'x')
  await gz.close()
  expect(src.closed).toBe(true)
})

test('isGzip wants the method byte and no reserved flags', () => {
  expect(isGzip(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe(true)
  expect(isGzip(Buffer.from([0x1f, 0x8b, 8, 0x20]))).toBe(false)
  expect(isGzip(Buffer.from([0x1f, 0x8b, 7, 0]))).toBe(false)
  expect(isGzip(Buffer.from([0x1f, 0x8b, 8]))).toBe(false)
})
