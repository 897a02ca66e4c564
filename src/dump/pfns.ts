// Which pfns a dump holds, in typed arrays (never an object per page):
//
// - PfnBitmap: one bit per pfn, in 4 KiB chunks of 32768 pfns allocated
//   when a pfn in them first gets data, so memory follows the address space
//   the guest uses (32 KiB per GiB; 32 MiB for a 1 TiB guest), not the
//   largest pfn a stream names. It also counts the pfns and knows the
//   lowest and highest.
// - OffsetWindow: for the pfns of one window, the input offset of each
//   pfn's last copy (a Float64Array; offsets are below 2^53). A guest larger
//   than one window is written window by window, one header pass each.
import {FormatError} from '../errors.js'
import {hex} from '../text.js'

/** Highest pfn xst dumps: 16 TiB of guest-physical address space (a raw dump's size; ext4's largest file). */
export const MAX_DUMP_PFN = 2 ** 32 - 1

const CHUNK_SHIFT = 15
const CHUNK_PFNS = 1 << CHUNK_SHIFT
const CHUNK_BYTES = CHUNK_PFNS / 8

/** Default pfns per window: 4 Mi pfns (16 GiB of guest memory) in a 32 MiB Float64Array. */
export const DEFAULT_WINDOW_PFNS = 1 << 22

/** Pfns per window: XST_DUMP_WINDOW_PFNS (tests use small windows to exercise several), else the default. */
export function windowPfns(): number {
  const env = Number(process.env.XST_DUMP_WINDOW_PFNS)
  return Number.isSafeInteger(env) && env >= 1 && env <= DEFAULT_WINDOW_PFNS * 4 ? env : DEFAULT_WINDOW_PFNS
}

/** A page of data for a pfn xst does not dump: refused before anything is allocated for it. */
export function checkDumpablePfn(pfn: number, where: {offset: number; context?: string}): void {
  if (pfn > MAX_DUMP_PFN) {
    throw new FormatError('pfn-too-large', `a page of data for pfn ${hex(pfn)}, beyond the 16 TiB of guest memory xst dumps`, where, `a pfn up to ${hex(MAX_DUMP_PFN)}`, hex(pfn))
  }
}

export class PfnBitmap {
  private readonly chunks: Array<Uint8Array | undefined> = []
  private n = 0
  private lo = Infinity
  private hi = -1

  /** Pfns set. */
  get count(): number {
    return this.n
  }

  /** Lowest and highest pfn set; undefined when none is. */
  get first(): number | undefined {
    return this.n ? this.lo : undefined
  }

  get last(): number | undefined {
    return this.n ? this.hi : undefined
  }

  /** Set `pfn` (at most MAX_DUMP_PFN); true when it was not set before. */
  add(pfn: number): boolean {
    const c = Math.floor(pfn / CHUNK_PFNS)
    const chunk = (this.chunks[c] ??= new Uint8Array(CHUNK_BYTES))
    const bit = pfn - c * CHUNK_PFNS
    const mask = 1 << (bit & 7)
    if (chunk[bit >> 3] & mask) return false
    chunk[bit >> 3] |= mask
    this.n++
    if (pfn < this.lo) this.lo = pfn
    if (pfn > this.hi) this.hi = pfn
    return true
  }

  has(pfn: number): boolean {
    const c = Math.floor(pfn / CHUNK_PFNS)
    const chunk = this.chunks[c]
    if (!chunk) return false
    const bit = pfn - c * CHUNK_PFNS
    return (chunk[bit >> 3] & (1 << (bit & 7))) !== 0
  }

  /** Bytes the bitmap holds. */
  get memoryBytes(): number {
    let k = 0
    for (const c of this.chunks) if (c) k++
    return k * CHUNK_BYTES
  }

  /** The lowest set pfn at or above `pfn`, if any. */
  nextAt(pfn: number): number | undefined {
    for (const [s] of this.runs(pfn, Infinity)) return s
    return undefined
  }

  /**
   * The runs of consecutive set pfns in [lo, hi), ascending, as [start, end)
   * pairs. Missing chunks and whole zero or all-ones bytes are stepped over
   * at once.
   */
  *runs(lo: number, hi: number): Generator<[number, number]> {
    let start = -1
    let p = Math.max(lo, 0)
    const end = Math.min(hi, this.hi + 1)
    while (p < end) {
      const c = Math.floor(p / CHUNK_PFNS)
      const chunk = this.chunks[c]
      if (!chunk) {
        if (start >= 0) yield [start, p]
        start = -1
        p = (c + 1) * CHUNK_PFNS
        continue
      }
      const bit = p - c * CHUNK_PFNS
      const byte = chunk[bit >> 3]
      if ((bit & 7) === 0 && p + 8 <= end && (byte === 0 || byte === 0xff)) {
        if (byte === 0xff) {
          if (start < 0) start = p
        } else if (start >= 0) {
          yield [start, p]
          start = -1
        }
        p += 8
        continue
      }
      if (byte & (1 << (bit & 7))) {
        if (start < 0) start = p
      } else if (start >= 0) {
        yield [start, p]
        start = -1
      }
      p++
    }
    if (start >= 0) yield [start, end]
  }
}

/** Input offsets of the last copy of each pfn in [lo, lo + size): offset + 1, 0 for none. */
export class OffsetWindow {
  readonly offsets: Float64Array
  lo = 0

  constructor(readonly size: number) {
    this.offsets = new Float64Array(size)
  }

  /** Start a window at `lo`; the offsets of the last one are forgotten. */
  reset(lo: number): void {
    this.lo = lo
    this.offsets.fill(0)
  }

  get hi(): number {
    return this.lo + this.size
  }

  /** A copy of `pfn` at input offset `at` (a later copy replaces an earlier one). */
  set(pfn: number, at: number): void {
    const i = pfn - this.lo
    if (i >= 0 && i < this.size) this.offsets[i] = at + 1
  }

  /** Input offset of the last copy of `pfn`, or -1. */
  get(pfn: number): number {
    return this.offsets[pfn - this.lo] - 1
  }
}
