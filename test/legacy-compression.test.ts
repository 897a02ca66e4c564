// The Remus page delta decoding (src/legacy/compression.ts), tested from the
// algorithm: pages are encoded here the way the 4.5 saver encodes them
// (runs of 4-byte words, copy or skip, at most 127 words a run) and decoded
// over the receiver's copy; every malformed form the restorer refuses is
// refused, at the byte where it is.
import {randomBytes} from 'node:crypto'
import {describe, expect, it} from 'vitest'
import {CompressedPageError, decodeCompressedPage} from '../src/legacy/compression.js'

const PAGE = 4096

/** A page encoded against `old`: unchanged, whole, or runs, as the saver chooses by size. */
function encode(old: Buffer, cur: Buffer): Buffer {
  if (old.equals(cur)) return Buffer.from([0])
  const out: number[] = []
  let i = 0
  while (i < PAGE / 4) {
    const copying = !old.subarray(4 * i, 4 * i + 4).equals(cur.subarray(4 * i, 4 * i + 4))
    let n = 0
    while (i + n < PAGE / 4 && n < 127 && !old.subarray(4 * (i + n), 4 * (i + n) + 4).equals(cur.subarray(4 * (i + n), 4 * (i + n) + 4)) === copying) n++
    out.push(copying ? n : 0x80 | n)
    if (copying) out.push(...cur.subarray(4 * i, 4 * (i + n)))
    i += n
  }
  return out.length >= PAGE + 1 ? Buffer.concat([Buffer.from([0x80]), cur]) : Buffer.from(out)
}

function failsAt(buf: Buffer, at: number, message: RegExp, pos = 0): void {
  try {
    decodeCompressedPage(buf, pos, Buffer.alloc(PAGE))
  } catch (err) {
    expect(err).toBeInstanceOf(CompressedPageError)
    expect((err as CompressedPageError).at).toBe(at)
    expect((err as Error).message).toMatch(message)
    return
  }
  expect.fail('decoded a malformed page')
}

describe("decoding a compressed page over the receiver's copy", () => {
  it('an unchanged page is one byte 0 and leaves the page as it was', () => {
    const page = randomBytes(PAGE)
    const copy = Buffer.from(page)
    expect(decodeCompressedPage(Buffer.from([0, 0xff]), 0, page)).toBe(1)
    expect(page.equals(copy)).toBe(true)
  })

  it('a page sent whole is 0x80 and its 4096 bytes', () => {
    const cur = randomBytes(PAGE)
    const page = Buffer.alloc(PAGE, 7)
    expect(decodeCompressedPage(Buffer.concat([Buffer.from([0x80]), cur]), 0, page)).toBe(PAGE + 1)
    expect(page.equals(cur)).toBe(true)
  })

  it('runs copy the changed words and keep the others, page after page in one buffer', () => {
    const olds = [randomBytes(PAGE), randomBytes(PAGE), randomBytes(PAGE)]
    const curs = olds.map((o, k) => {
      const c = Buffer.from(o)
      // A few scattered words, a long changed stretch (over 127 words), the last word.
      for (const w of [0, 5, 6, 700, PAGE / 4 - 1]) c.writeUInt32LE((c.readUInt32LE(4 * w) + 1 + k) >>> 0, 4 * w)
      if (k === 1) randomBytes(4 * 300).copy(c, 4 * 100)
      return c
    })
    const buf = Buffer.concat(curs.map((c, k) => encode(olds[k], c)))
    let pos = 0
    for (let k = 0; k < 3; k++) {
      const page = Buffer.from(olds[k])
      pos = decodeCompressedPage(buf, pos, page)
      expect(page.equals(curs[k]), `page ${k}`).toBe(true)
    }
    expect(pos).toBe(buf.length)
  })

  it('the runs of an encoded page are never of length 0 and cover it exactly', () => {
    const old = randomBytes(PAGE)
    const cur = Buffer.from(old)
    cur.writeUInt32LE(1, 8)
    const enc = encode(old, cur)
    // Walk the runs as the saver laid them out.
    const lengths: number[] = []
    for (let pos = 0; pos < enc.length; ) {
      const n = enc[pos] & 0x7f
      lengths.push(n)
      pos += 1 + (enc[pos] & 0x80 ? 0 : 4 * n)
    }
    expect(lengths.every((n) => n > 0)).toBe(true)
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(PAGE / 4)
    const page = Buffer.from(old)
    expect(decodeCompressedPage(enc, 0, page)).toBe(enc.length)
    expect(page.equals(cur)).toBe(true)
  })
})

describe('what the restorer refuses (xc_compression_uncompress_page)', () => {
  it('no byte left for the page', () => failsAt(Buffer.from([0]), 1, /ends \(1 bytes\) before this page's encoding/, 1))
  it('a page sent whole with fewer than 4096 bytes after its marker', () => failsAt(Buffer.concat([Buffer.from([0x80]), Buffer.alloc(100)]), 0, /needs 4096 bytes after its marker/))
  it('a run of length 0 after the first byte (copy or skip)', () => {
    failsAt(Buffer.from([0x81, 0x00]), 1, /run of length 0 \(byte 0x00\) at page byte 4/)
    failsAt(Buffer.from([0x81, 0x80]), 1, /run of length 0 \(byte 0x80\) at page byte 4/)
  })
  it('a copy run past the end of the buffer', () => failsAt(Buffer.from([0x02, 1, 2, 3, 4]), 0, /copies 8 bytes, but the compressed data holds 4/))
  it('a run past the end of the page', () => {
    // 1023 words skipped, then a copy of 2 words: past byte 4096.
    failsAt(Buffer.concat([Buffer.from(Array(8).fill(0xff)), Buffer.from([0x80 | 0x07, 0x02]), Buffer.alloc(8)]), 9, /copies 8 bytes at page byte 4092, past the end of the page/)
    failsAt(Buffer.concat([Buffer.from(Array(8).fill(0xff)), Buffer.from([0x80 | 0x09])]), 8, /skips 36 bytes at page byte 4064, past the end/)
  })
  it('a buffer that ends before the runs cover the page', () => failsAt(Buffer.from([0x81, 0x81]), 2, /cover 8 bytes of the page, not 4096/))
})
