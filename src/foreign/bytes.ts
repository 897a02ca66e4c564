// Reading fields of a format that is not trusted and may be cut short:
// every read is of a bounded buffer (the first bytes of the input) and
// gives undefined past its end instead of throwing.

export type ByteOrder = 'little' | 'big'

export class Fields {
  constructor(
    readonly b: Buffer,
    readonly order: ByteOrder = 'little',
  ) {}

  has(at: number, n: number): boolean {
    return Number.isSafeInteger(at) && at >= 0 && n >= 0 && at + n <= this.b.length
  }

  u16(at: number): number | undefined {
    if (!this.has(at, 2)) return undefined
    return this.order === 'little' ? this.b.readUInt16LE(at) : this.b.readUInt16BE(at)
  }

  u32(at: number): number | undefined {
    if (!this.has(at, 4)) return undefined
    return this.order === 'little' ? this.b.readUInt32LE(at) : this.b.readUInt32BE(at)
  }

  /** A u64 as a number; Infinity when it is past 2^53 (no offset or count of a bounded read is). */
  u64(at: number): number | undefined {
    if (!this.has(at, 8)) return undefined
    const v = this.order === 'little' ? this.b.readBigUInt64LE(at) : this.b.readBigUInt64BE(at)
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v)
  }

  /** Bytes [at, at + n), or fewer (none) where the buffer ends first. */
  slice(at: number, n: number): Buffer {
    if (!Number.isSafeInteger(at) || at < 0 || at >= this.b.length || !(n > 0)) return Buffer.alloc(0)
    return this.b.subarray(at, Math.min(this.b.length, at + Math.min(n, this.b.length)))
  }
}

/** Text of a NUL-terminated (or not) name, odd bytes escaped, at most `max` characters. */
export function cName(b: Buffer, max = 64): string {
  const nul = b.indexOf(0)
  const raw = b.subarray(0, nul < 0 ? b.length : nul).toString('latin1')
  const s = raw.replace(/[^\x20-\x7e]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'))
  return s.length > max ? s.slice(0, max) + '...' : s
}
