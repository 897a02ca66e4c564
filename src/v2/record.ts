// What libxc and libxl records have in common: the 8-byte record header,
// the optional-type bit, the padding to 8 bytes, and how a record is shown to
// the verifier (Xen's docs/specs/libxc-migration-stream.pandoc, "Records";
// libxl-migration-stream.pandoc, "Record Overview"). Also the codec of the
// pfn words in PAGE_DATA, which convert, verify and the tests share.
import {layout, u32le} from '../format/layout.js'
import {hex} from '../text.js'

export type Layer = 'libxc' | 'libxl'

/** Record header shared by libxc and libxl streams: type, then body length without padding. */
export const RecordHeader = layout('record header', {type: u32le, length: u32le})
/** Bit 31 of a record type: a reader that does not know the record may skip it. */
export const REC_OPTIONAL = 0x80000000

/** Zero bytes after a body of `length` bytes, up to the next multiple of 8. */
export function paddingOf(length: number): number {
  // Arithmetic, not bit operations: a u32 length may not fit an int32.
  return (8 - (length % 8)) % 8
}

/** Length rounded up to a multiple of 8. */
export function paddedLength(length: number): number {
  return length + paddingOf(length)
}

/** What the verifier is shown of each record. */
export interface RecordInfo {
  layer: Layer
  /** Index of the record within its layer, from 0. */
  index: number
  /** Absolute offset of the record header. */
  offset: number
  type: number
  /** Body length, without padding. */
  length: number
  /**
   * The body bytes the checks need: the whole body, except PAGE_DATA (only
   * its 8-byte header and pfn array) and EMULATOR_CONTEXT (only its 8-byte
   * header); page contents and emulator blobs are never included.
   */
  head: Buffer
  /** Padding bytes as found in the stream (absent when we wrote them). */
  padding?: Buffer
}

/**
 * How much of a record's body a reader hands the checks (RecordInfo.head):
 * a prefix of so many bytes, PAGE_DATA's header and pfn array, or a prefix
 * that depends on the body length.
 */
export type BodyPrefix = number | 'page-data' | ((length: number) => number)

/** The codes a body shorter than its fixed header is reported with. */
export type ShortBodyCode = 'record-size' | 'page-data-short'

/**
 * One row of a layer's record table: the facts of a record type. How it is
 * checked is the verifier's (verify/checks.ts), not the table's.
 */
export interface RecordKind {
  readonly type: number
  /** The spec's name, e.g. "PAGE_DATA". */
  readonly name: string
  readonly prefix: BodyPrefix
  /** The guests whose streams may hold it. */
  readonly guest: 'pv' | 'hvm' | 'both'
  /** Defined only for version 3 libxc streams. */
  readonly v3Only: boolean
  /** The body must be empty. */
  readonly empty: boolean
  /**
   * The body starts with a fixed header of `bytes`; a shorter body is
   * reported with `code` as "shorter than its N-byte <what>".
   */
  readonly minSize?: {readonly bytes: number; readonly what: string; readonly code: ShortBodyCode}
}

/** A layer's record types, looked up by type number. */
export class RecordTable {
  private readonly byType: ReadonlyMap<number, RecordKind>

  constructor(readonly rows: ReadonlyArray<RecordKind>) {
    this.byType = new Map(rows.map((r) => [r.type, r]))
  }

  /** The row for `type`; none for an optional or unknown type. */
  kind(type: number): RecordKind | undefined {
    return this.byType.get(type)
  }

  /** The type's name, or "optional record 0x…" / "unknown record 0x…". */
  name(type: number): string {
    const t = hex(type >>> 0, 8)
    if (type & REC_OPTIONAL) return `optional record ${t}`
    return this.kind(type)?.name ?? `unknown record ${t}`
  }

  /** How much of a body of `length` bytes the checks read (at most the body). */
  prefix(type: number, length: number): number | 'page-data' {
    const p = this.kind(type)?.prefix ?? 0
    if (p === 'page-data') return p
    return Math.min(typeof p === 'function' ? p(length) : p, length)
  }

  /** Type number -> name, for every row. */
  names(): Record<number, string> {
    return Object.fromEntries(this.rows.map((r) => [r.type, r.name]))
  }

  /** The types of the rows `pred` accepts. */
  types(pred: (kind: RecordKind) => boolean): Set<number> {
    return new Set(this.rows.filter(pred).map((r) => r.type))
  }
}

const TWO_32 = 2 ** 32

/**
 * A PAGE_DATA pfn word, a little-endian u64: the page type in bits 63-60
 * (the legacy pfn_type values), bits 59-52 reserved (zero), the pfn in bits
 * 51-0. It is read and written as two u32 halves, so no BigInt is made per
 * page: the low half is the low 32 bits of the pfn; the high half holds the
 * type in its bits 31-28, the reserved bits in 27-20 and the pfn's top 20
 * bits in 19-0.
 */
export const PfnWord = {
  size: 8,
  /** The largest pfn a word holds. */
  MAX_PFN: 2 ** 52 - 1,

  /** Page type, 0-15. */
  type(buf: Buffer, off: number): number {
    return buf.readUInt32LE(off + 4) >>> 28
  },
  /** Bits 59-52 as a number, 0-255; a well-formed word has 0. */
  reserved(buf: Buffer, off: number): number {
    return (buf.readUInt32LE(off + 4) >>> 20) & 0xff
  },
  pfn(buf: Buffer, off: number): number {
    return (buf.readUInt32LE(off + 4) & 0xfffff) * TWO_32 + buf.readUInt32LE(off)
  },

  /** Write a word; `pfn` is at most MAX_PFN, `type` 0-15, `reserved` 0-255. */
  put(buf: Buffer, off: number, pfn: number, type: number, reserved = 0): void {
    buf.writeUInt32LE(pfn >>> 0, off)
    buf.writeUInt32LE(((type << 28) | ((reserved & 0xff) << 20) | (Math.floor(pfn / TWO_32) & 0xfffff)) >>> 0, off + 4)
  },
}
