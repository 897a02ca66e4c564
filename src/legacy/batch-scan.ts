// The fast paths of the walker's page-batch loop: the pfn lists savers
// write (one run of consecutive pfns, or ascending pfns) checked and copied
// out in one tight pass each, and the slab their arrays are carved from.
// They are here, not in walker.ts, so the walker reads as the format does;
// they are plain functions so that V8 optimizes each loop on its own (see
// scanAscending). Any batch they do not take, and every defect, goes
// through the walker's own loop, which says what is wrong.
import {isValidPageType, pageTypeHasData} from '../format/x86.js'
import {PFINFO_PFN_MASK, PFINFO_TYPE_SHIFT, PFINFO_UNMAPPED} from './layout.js'

/** Per page type (0-15), for the page batch loop: defined (VALID), followed by a page of contents (HAS_DATA). */
const VALID = 1
export const HAS_DATA = 2
export const PAGE_TYPE_FLAGS = Uint8Array.from({length: 16}, (_, t) => (isValidPageType(t) ? VALID | (pageTypeHasData(t) ? HAS_DATA : 0) : 0))

/**
 * The arrays of pfns and types each page-batch event carries, carved out of
 * 1 MiB blocks: a consumer may keep them, so they are not reused (unless it
 * says it does not keep them: WalkOptions.transientBatches), but one
 * allocation serves ~200 batches instead of two per batch (each a zeroed
 * backing store and external memory for the GC to account: ~40 ms and much
 * of the GC time of inspecting a 64 GiB image's 16384 batches).
 */
export class Slab {
  private block = new ArrayBuffer(0)
  private used = 0
  /** `blockBytes`: the size of each block (a consumer that resets after every batch needs one batch's worth). */
  constructor(private readonly blockBytes = 1 << 20) {}
  private take(bytes: number): number {
    if (this.used + bytes > this.block.byteLength) {
      this.block = new ArrayBuffer(Math.max(this.blockBytes, bytes))
      this.used = 0
    }
    const at = this.used
    this.used += (bytes + 7) & ~7
    return at
  }
  /** Start over in the current block: the caller is done with every array handed out so far. */
  reset(): void {
    this.used = 0
  }
  u32(n: number): Uint32Array {
    const at = this.take(n * 4)
    return new Uint32Array(this.block, at, n)
  }
  u8(n: number): Uint8Array {
    const at = this.take(n)
    return new Uint8Array(this.block, at, n)
  }
}

const scanned = {kept: 0, dataPages: 0}

/** The pfns arrays of batches scanRun found to be one run (see isRunBatch). */
const RUNS = new WeakSet<Uint32Array>()

/**
 * True when a page-batch event's pfns are one run, as the walker found
 * them: pfns[i] = pfns[0] + i, all of type types[0] (most batches). A
 * consumer may then take the batch whole instead of pfn by pfn. False says
 * nothing (the batch may still be one).
 */
export function isRunBatch(pfns: Uint32Array): boolean {
  return RUNS.has(pfns)
}

/**
 * The batch most savers write: no unmapped marker, consecutive pfns of one
 * defined type, all below p2m_size. Then each entry word is the first plus
 * its index (type in the top bits, pfn below), so one comparison a word
 * checks all of it. Fills `pfns` and `types`; undefined when the batch is
 * anything else.
 */
export function scanRun(words: Uint32Array, step: number, count: number, p2mSize: number, pfns: Uint32Array, types: Uint8Array): typeof scanned | undefined {
  const e0 = words[0]
  const pfn0 = e0 & PFINFO_PFN_MASK
  const type = e0 >>> PFINFO_TYPE_SHIFT
  const flags = PAGE_TYPE_FLAGS[type]
  // The marker itself, an undefined type, a pfn past p2m_size, or a run that would carry into the type bits.
  if (count === 0 || e0 === PFINFO_UNMAPPED || flags === 0 || pfn0 + count > p2mSize || pfn0 + count - 1 > PFINFO_PFN_MASK) return undefined
  // Checked and filled in one pass (a batch that is not a run leaves pfns to the next scan).
  if (step === 2) {
    for (let i = 0; i < count; i++) {
      if (words[2 * i] !== e0 + i || words[2 * i + 1] !== 0) return undefined
      pfns[i] = pfn0 + i
    }
  } else {
    for (let i = 0; i < count; i++) {
      if (words[i] !== e0 + i) return undefined
      pfns[i] = pfn0 + i
    }
  }
  types.fill(type, 0, count)
  RUNS.add(pfns)
  scanned.kept = count
  scanned.dataPages = flags & HAS_DATA ? count : 0
  return scanned
}

/**
 * A page batch's pfn list as savers write it: every entry an unmapped marker
 * or a defined type with a pfn below p2m_size, no bits above 31, the pfns
 * ascending (so none repeats). Fills `pfns` and `types` with the mapped
 * entries and returns their count and data pages; undefined as soon as
 * an entry is anything else. A plain function with one small loop, so it is
 * optimized on its own (in the walker's generator the same loop ran at
 * ~18 ns an entry).
 */
export function scanAscending(words: Uint32Array, step: number, count: number, p2mSize: number, pfns: Uint32Array, types: Uint8Array): typeof scanned | undefined {
  let last = -1
  let kept = 0
  let dataPages = 0
  for (let i = 0; i < count; i++) {
    if (step === 2 && words[i * 2 + 1] !== 0) return undefined
    const entry = words[i * step]
    if (entry === PFINFO_UNMAPPED) continue
    const type = entry >>> PFINFO_TYPE_SHIFT
    const pfn = entry & PFINFO_PFN_MASK
    const flags = PAGE_TYPE_FLAGS[type]
    if (flags === 0 || pfn >= p2mSize || pfn <= last) return undefined
    last = pfn
    pfns[kept] = pfn
    types[kept] = type
    kept++
    if (flags & HAS_DATA) dataPages++
  }
  scanned.kept = kept
  scanned.dataPages = dataPages
  return scanned
}
