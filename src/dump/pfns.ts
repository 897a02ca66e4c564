// Which pfns a dump holds, in typed arrays (never an object per page):
//
// - PfnBitmap: one bit per pfn, in 4 KiB chunks of 32768 pfns allocated
//   when a pfn in them first gets data, so memory follows the address space
//   the guest uses, not the largest pfn a stream names; a chunk whose every
//   pfn is set is dropped for one shared full chunk, so a guest whose
//   memory is whole 128 MiB runs (as guests' memory is) costs next to
//   nothing, and a strewn one at most 32 KiB per GiB of address space it
//   touches. It also counts the pfns and knows the lowest and highest.
// - PageWindow: for the pages of one window (the next so many pfns with
//   data), the input offset of each one's last copy, in 6 bytes a page (a
//   Uint32Array and a Uint16Array: offsets below 2^48 - 2^32, ~256 TiB).
//   A guest larger than one window is written window by window, one header
//   pass each.
import {FormatError} from '../errors.js'
import {hex} from '../text.js'

/** Highest pfn xst dumps: 16 TiB of guest-physical address space (a raw dump's size; ext4's largest file). */
export const MAX_DUMP_PFN = 2 ** 32 - 1

const CHUNK_SHIFT = 15
const CHUNK_PFNS = 1 << CHUNK_SHIFT
const CHUNK_BYTES = CHUNK_PFNS / 8

/**
 * Default pages per window: 1 Mi (4 GiB of guest memory), in 6 MiB of
 * offsets and, for a window with gaps, 4 MiB of pfns. Twice that made a
 * 64 GiB guest's dump no faster (the header passes are quick: page data is
 * seeked over) and peak 4 MB higher.
 */
export const DEFAULT_WINDOW_PFNS = 1 << 20

/** Pfns per window: XST_DUMP_WINDOW_PFNS (tests use small windows to exercise several), else the default. */
export function windowPfns(): number {
  const env = Number(process.env.XST_DUMP_WINDOW_PFNS)
  return Number.isSafeInteger(env) && env >= 1 && env <= DEFAULT_WINDOW_PFNS * 4 ? env : DEFAULT_WINDOW_PFNS
}

/** A page of data for a pfn xst does not dump: refused before anything is allocated for it. */
export function checkDumpablePfn(pfn: number, where: {offset: number; context?: string}): void {
  if (pfn > MAX_DUMP_PFN) {
    // A limit of dump-core, not a defect: the stream may well restore (verify says whether), but xst does not dump it.
    throw new FormatError(
      'pfn-too-large',
      `a page of data for pfn ${hex(pfn)}, beyond the 16 TiB of guest memory dump-core writes (a limit of dump-core, not a defect of the image: \`xst verify\` judges the stream)`,
      {
        ...where,
        expected: `a pfn up to ${hex(MAX_DUMP_PFN)}`,
        got: hex(pfn),
      },
    )
  }
}

/** The chunk of every full chunk: all ones, never written (add() writes only a bit not yet set). */
const FULL = new Uint8Array(CHUNK_BYTES).fill(0xff)

export class PfnBitmap {
  private readonly chunks: Array<Uint8Array | undefined> = []
  /** Pfns set in each chunk. */
  private readonly filled: number[] = []
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
    if ((this.filled[c] = (this.filled[c] ?? 0) + 1) === CHUNK_PFNS) this.chunks[c] = FULL
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
    for (const c of this.chunks) if (c && c !== FULL) k++
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
      if (chunk === FULL) {
        if (start < 0) start = p
        p = Math.min((c + 1) * CHUNK_PFNS, end)
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

/** Input offsets a PageWindow holds are below this: 2^48 - 2^32 (hi + 1 must fit 16 bits). */
const MAX_OFFSET = (2 ** 16 - 1) * 2 ** 32

/**
 * The input offsets of the last copies of a window's pages: the next (up
 * to) `capacity` pfns with data, whatever their spread, so the number of
 * windows, and of header passes, follows the number of pages, never the
 * address space. A window of consecutive pfns is indexed by pfn; one with
 * gaps also keeps its pfns, sorted, and finds a pfn's slot by binary search.
 */
export class PageWindow {
  // An offset is hi × 2^32 + lo; hi is stored plus one, so 0 means no copy.
  private readonly lo: Uint32Array
  private readonly hi: Uint16Array
  private pfns: Uint32Array | undefined
  private n = 0
  private dense = true
  first = 0
  last = -1

  constructor(readonly capacity: number) {
    this.lo = new Uint32Array(capacity)
    this.hi = new Uint16Array(capacity)
  }

  /** Take the next pfns of `pages` at or above `from`; false when there are none. */
  load(pages: PfnBitmap, from: number): boolean {
    this.hi.fill(0, 0, this.n)
    this.n = 0
    this.dense = true
    // Empty until a run is found: a window that finds none holds no pfn.
    this.first = 0
    this.last = -1
    for (const [s, e] of pages.runs(from, Infinity)) {
      if (this.n === 0) this.first = s
      else if (this.dense) {
        // A gap: keep the pfns from here on (the ones so far run from `first`).
        this.dense = false
        this.pfns ??= new Uint32Array(this.capacity)
        for (let i = 0; i < this.n; i++) this.pfns[i] = this.first + i
      }
      const take = Math.min(e - s, this.capacity - this.n)
      if (!this.dense) for (let i = 0; i < take; i++) this.pfns![this.n + i] = s + i
      this.n += take
      this.last = s + take - 1
      if (this.n === this.capacity) break
    }
    return this.n > 0
  }

  /** The pfns the window holds lie in [first, end). */
  get end(): number {
    return this.last + 1
  }

  private slot(pfn: number): number {
    if (pfn < this.first || pfn > this.last) return -1
    if (this.dense) return pfn - this.first
    const list = this.pfns!
    let lo = 0
    let hi = this.n - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const v = list[mid]
      if (v === pfn) return mid
      if (v < pfn) lo = mid + 1
      else hi = mid - 1
    }
    return -1
  }

  /** A copy of `pfn` at input offset `at` (a later copy replaces an earlier one); pfns outside the window are ignored. */
  set(pfn: number, at: number): void {
    const i = this.slot(pfn)
    if (i < 0) return
    if (at >= MAX_OFFSET) throw new Error(`internal: input offset ${at} beyond what a page window holds`)
    const hi = Math.floor(at / 2 ** 32)
    this.lo[i] = at - hi * 2 ** 32
    this.hi[i] = hi + 1
  }

  /** Input offset of the last copy of `pfn`, or -1. */
  get(pfn: number): number {
    const i = this.slot(pfn)
    return i < 0 || this.hi[i] === 0 ? -1 : (this.hi[i] - 1) * 2 ** 32 + this.lo[i]
  }
}
