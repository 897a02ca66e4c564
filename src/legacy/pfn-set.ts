// A sparse bitmap of pfns, shared by the legacy walker, inspect-legacy and
// the record plan.

/**
 * A set of pfns, a bit each, in 8 KiB segments made as pfns reach them (a
 * 64 GiB guest: 2 MiB): inspect-legacy's pfns of the current pass, the
 * walker's pfns sent with contents (what a compressed Remus page may be
 * encoded against), the pages a checkpoint's store holds.
 */
export class PfnSet {
  private segs = new Map<number, Uint8Array>()
  /** The segment last looked up (pfns come in runs): no map lookup per pfn within it. */
  private lastKey = -1
  private last: Uint8Array | undefined
  private seg(key: number, create: boolean): Uint8Array | undefined {
    if (key === this.lastKey) return this.last
    let s = this.segs.get(key)
    if (!s && create) this.segs.set(key, (s = new Uint8Array(8192)))
    if (s) {
      this.lastKey = key
      this.last = s
    }
    return s
  }
  has(pfn: number): boolean {
    const s = this.seg(pfn >>> 16, false)
    return s !== undefined && (s[(pfn & 0xffff) >>> 3] & (1 << (pfn & 7))) !== 0
  }
  add(pfn: number): void {
    const s = this.seg(pfn >>> 16, true)!
    s[(pfn & 0xffff) >>> 3] |= 1 << (pfn & 7)
  }
  /**
   * Add pfns first .. first + n - 1, returning how many were there already:
   * whole bytes of the bitmap at a time (a batch is usually one run).
   */
  testAndAddRun(first: number, n: number): number {
    let had = 0
    let pfn = first
    const end = first + n
    while (pfn < end) {
      // Single bits up to a byte boundary (and at the end), whole bytes between.
      if ((pfn & 7) !== 0 || end - pfn < 8) {
        if (this.testAndAdd(pfn)) had++
        pfn++
        continue
      }
      const s = this.seg(pfn >>> 16, true)!
      const segEnd = Math.min(end, ((pfn >>> 16) + 1) * 65536)
      let at = (pfn & 0xffff) >>> 3
      const stop = at + ((segEnd - pfn) >>> 3)
      for (; at < stop; at++) {
        had += POPCOUNT[s[at]]
        s[at] = 0xff
      }
      pfn += (stop - ((pfn & 0xffff) >>> 3)) * 8
    }
    return had
  }
  /** add(), returning whether the pfn was there already. */
  testAndAdd(pfn: number): boolean {
    const s = this.seg(pfn >>> 16, true)!
    const at = (pfn & 0xffff) >>> 3
    const bit = 1 << (pfn & 7)
    const had = s[at] & bit
    s[at] |= bit
    return had !== 0
  }
  /** Start over, keeping the segments (zeroed): an image whose every batch starts a new pass must not cost a new 8 KiB segment per batch. */
  clear(): void {
    for (const s of this.segs.values()) s.fill(0)
  }
}

/** Bits set in each byte value. */
const POPCOUNT = Uint8Array.from({length: 256}, (_, b) => {
  let n = 0
  for (let v = b; v; v >>= 1) n += v & 1
  return n
})
