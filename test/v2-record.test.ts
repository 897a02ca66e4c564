// What libxc and libxl records share: padding, and the PAGE_DATA pfn-word
// codec that convert, verify and the test builder all use.
import {describe, expect, it} from 'vitest'
import fc from 'fast-check'
import {paddedLength, paddingOf, PfnWord} from '../src/v2/record.js'
import {pfnWord} from './builders/v2.js'

/** The word as a u64, computed the slow way, to check the codec against. */
const asU64 = (pfn: number, type: number, reserved = 0) => (BigInt(type) << 60n) | (BigInt(reserved) << 52n) | BigInt(pfn)

function encode(pfn: number, type: number, reserved?: number): Buffer {
  const b = Buffer.alloc(PfnWord.size + 3, 0xee)
  PfnWord.put(b, 3, pfn, type, reserved)
  return b
}

describe('PfnWord', () => {
  it('round-trips pfn, type and reserved bits, and writes exactly the u64 the spec describes', () => {
    fc.assert(
      fc.property(fc.integer({min: 0, max: PfnWord.MAX_PFN}), fc.integer({min: 0, max: 15}), fc.integer({min: 0, max: 255}), (pfn, type, reserved) => {
        const b = encode(pfn, type, reserved)
        expect([PfnWord.pfn(b, 3), PfnWord.type(b, 3), PfnWord.reserved(b, 3)]).toEqual([pfn, type, reserved])
        expect(b.readBigUInt64LE(3)).toBe(asU64(pfn, type, reserved))
        // Only its own 8 bytes are written.
        expect([...b.subarray(0, 3)]).toEqual([0xee, 0xee, 0xee])
      }),
      {numRuns: 2000, seed: 10},
    )
  })

  it('the type is bits 63-60', () => {
    for (let t = 0; t < 16; t++) {
      const b = encode(0, t)
      expect(b.readBigUInt64LE(3)).toBe(BigInt(t) << 60n)
      expect(PfnWord.type(b, 3)).toBe(t)
      expect(PfnWord.pfn(b, 3)).toBe(0)
      expect(PfnWord.reserved(b, 3)).toBe(0)
    }
  })

  it('the reserved bits are 59-52, each one seen alone', () => {
    for (let bit = 52; bit < 60; bit++) {
      const b = Buffer.alloc(8)
      b.writeBigUInt64LE(1n << BigInt(bit))
      expect(PfnWord.reserved(b, 0)).toBe(1 << (bit - 52))
      expect(PfnWord.type(b, 0)).toBe(0)
      expect(PfnWord.pfn(b, 0)).toBe(0)
    }
  })

  it('pfns up to 2^52-1, across the 32-bit halves', () => {
    expect(PfnWord.MAX_PFN).toBe(2 ** 52 - 1)
    for (const pfn of [0, 1, 2 ** 28 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 12345, 2 ** 52 - 2, 2 ** 52 - 1]) {
      const b = encode(pfn, 0xf)
      expect(PfnWord.pfn(b, 3)).toBe(pfn)
      expect(PfnWord.type(b, 3)).toBe(0xf)
      expect(PfnWord.reserved(b, 3)).toBe(0)
      expect(b.readBigUInt64LE(3)).toBe(asU64(pfn, 0xf))
    }
    // All 52 pfn bits set and nothing else.
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE((1n << 52n) - 1n)
    expect([PfnWord.pfn(b, 0), PfnWord.type(b, 0), PfnWord.reserved(b, 0)]).toEqual([2 ** 52 - 1, 0, 0])
  })

  it("the test builder's pfnWord is the codec's word", () => {
    expect(pfnWord(0x1234, 9)).toBe(asU64(0x1234, 9))
    expect(pfnWord(2 ** 52 - 1, 0xf)).toBe(asU64(2 ** 52 - 1, 0xf))
  })
})

describe('padding', () => {
  it('pads each body to a multiple of 8, also past 2^31', () => {
    expect([0, 1, 7, 8, 9, 15, 16].map(paddingOf)).toEqual([0, 7, 1, 0, 7, 1, 0])
    expect(paddedLength(2 ** 32 - 1)).toBe(2 ** 32)
    expect(paddedLength(2 ** 31 + 1)).toBe(2 ** 31 + 8)
  })
})
