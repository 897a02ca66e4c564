// Layout declarations. A token knows its size and how to get and put one
// value; a layout is an ordered list of named tokens with offsets. The same
// declaration reads an image and writes one, so the converter writes exactly
// what the verifier reads.

export interface Token<T> {
  readonly size: number
  get(buf: Buffer, off: number): T
  put(buf: Buffer, off: number, value: T): void
}

export const u8: Token<number> = {
  size: 1,
  get: (b, o) => b.readUInt8(o),
  put: (b, o, v) => void b.writeUInt8(v, o),
}
export const u16le: Token<number> = {
  size: 2,
  get: (b, o) => b.readUInt16LE(o),
  put: (b, o, v) => void b.writeUInt16LE(v, o),
}
export const u32le: Token<number> = {
  size: 4,
  get: (b, o) => b.readUInt32LE(o),
  put: (b, o, v) => void b.writeUInt32LE(v >>> 0, o),
}
export const i32le: Token<number> = {
  size: 4,
  get: (b, o) => b.readInt32LE(o),
  put: (b, o, v) => void b.writeInt32LE(v, o),
}
export const u64le: Token<bigint> = {
  size: 8,
  get: (b, o) => b.readBigUInt64LE(o),
  put: (b, o, v) => void b.writeBigUInt64LE(v, o),
}
export const u16be: Token<number> = {
  size: 2,
  get: (b, o) => b.readUInt16BE(o),
  put: (b, o, v) => void b.writeUInt16BE(v, o),
}
export const u32be: Token<number> = {
  size: 4,
  get: (b, o) => b.readUInt32BE(o),
  put: (b, o, v) => void b.writeUInt32BE(v >>> 0, o),
}
export const u64be: Token<bigint> = {
  size: 8,
  get: (b, o) => b.readBigUInt64BE(o),
  put: (b, o, v) => void b.writeBigUInt64BE(v, o),
}

/** Fixed-size raw bytes (copied out on get). */
export function bytes(size: number): Token<Buffer> {
  return {
    size,
    get: (b, o) => Buffer.from(b.subarray(o, o + size)),
    put: (b, o, v) => {
      if (v.length !== size) throw new Error(`internal: ${size}-byte field given ${v.length} bytes`)
      b.set(v, o)
    },
  }
}

/** Fixed-size text (latin1, so every byte value round-trips). */
export function chars(size: number): Token<string> {
  return {
    size,
    get: (b, o) => b.toString('latin1', o, o + size),
    put: (b, o, v) => {
      if (v.length !== size) throw new Error(`internal: ${size}-char field given ${v.length} chars`)
      b.write(v, o, 'latin1')
    },
  }
}

/**
 * The saving toolstack's `unsigned long`, widened to a bigint so that both
 * widths read into the same type.
 */
export function ulong(width: 4 | 8): Token<bigint> {
  if (width === 8) return u64le
  return {
    size: 4,
    get: (b, o) => BigInt(b.readUInt32LE(o)),
    put: (b, o, v) => void b.writeUInt32LE(Number(v), o),
  }
}

/** The names of an enum-like object by value, each key reworded by `show`. */
export function namesOf(values: Record<string, number>, show: (key: string) => string = (k) => k): Record<number, string> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [value, show(key)]))
}

// biome-ignore lint/suspicious/noExplicitAny: a layout's fields are tokens of any value type; Decoded recovers each one's
type Fields = Record<string, Token<any>>
export type Decoded<F extends Fields> = {[K in keyof F]: F[K] extends Token<infer T> ? T : never}

export interface Layout<F extends Fields> {
  readonly name: string
  readonly size: number
  readonly fields: F
  /** Byte offset of each field within the layout. */
  readonly offsets: {readonly [K in keyof F]: number}
  get(buf: Buffer, off?: number): Decoded<F>
  put(buf: Buffer, off: number, value: Decoded<F>): void
  /** A fresh buffer holding `value`. */
  encode(value: Decoded<F>): Buffer
}

/** Declare a packed layout: fields in order, no implicit padding. */
export function layout<F extends Fields>(name: string, fields: F): Layout<F> {
  const offsets: Record<string, number> = {}
  let size = 0
  for (const [key, tok] of Object.entries(fields)) {
    offsets[key] = size
    size += tok.size
  }
  const entries = Object.entries(fields)
  return {
    name,
    size,
    fields,
    offsets: offsets as Layout<F>['offsets'],
    get(buf, off = 0) {
      const out: Record<string, unknown> = {}
      for (const [key, tok] of entries) out[key] = tok.get(buf, off + offsets[key])
      return out as Decoded<F>
    },
    put(buf, off, value) {
      for (const [key, tok] of entries) tok.put(buf, off + offsets[key], (value as Record<string, unknown>)[key])
    },
    encode(value) {
      const buf = Buffer.alloc(size)
      this.put(buf, 0, value)
      return buf
    },
  }
}
