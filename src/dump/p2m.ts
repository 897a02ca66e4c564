// A PV guest keeps its own pfn -> mfn array (its p2m) in ordinary pages of
// its memory, the leaf pages X86_PV_P2M_FRAMES names (a legacy image's p2m
// frame list; the saver normalises the list to pfns, but not the pages,
// which still hold the source host's machine frames). A restorer fills
// them in for its new host before the guest runs: libxc's
// update_guest_p2m() (xg_sr_restore_x86_pv.c; in Xen 4.5 the end of
// xc_domain_restore(), "Copy the P2M we've constructed to the 'live' P2M")
// writes entries 0..max_pfn, each the new mfn of a populated pfn or
// INVALID_MFN (all ones at the guest's width: 4 bytes a 32-bit guest's,
// 8 a 64-bit one's), and leaves the rest of the last leaf page as saved.
//
// A dump declares gmfn = pfn, so the host it "restores" to is the
// identity: entry[pfn] = pfn for every pfn whose page the dump holds
// (exactly the pfns its .xen_p2m lists), all ones for every other pfn up
// to the p2m's last, the rest of the page untouched. Readers that
// translate through the guest's p2m then agree with the dump's own.
import * as fs from 'node:fs'
import {outputSystemError} from '../errors.js'
import {PAGE_SIZE} from '../format/x86.js'
import {X86PvP2mFramesHeader} from '../v2/libxc/layout.js'
import type {FilePlacer} from './pages.js'
import type {PfnBitmap} from './pfns.js'
import type {ScanResult} from './scan.js'

/** The guest's p2m as the saver described it: pfns start..end, in leaf pages frames[] (u64 LE pfns, from frame start / per-page). */
export interface P2mFramesRecord {
  start: number
  end: number
  frames: Buffer
}

/** The body of an X86_PV_P2M_FRAMES record, when it is whole (a header and 8-byte frames); undefined otherwise. */
export function p2mFramesRecord(body: Buffer): P2mFramesRecord | undefined {
  if (body.length < X86PvP2mFramesHeader.size || (body.length - X86PvP2mFramesHeader.size) % 8 !== 0) return undefined
  const {startPfn, endPfn} = X86PvP2mFramesHeader.get(body)
  if (startPfn > endPfn) return undefined
  return {start: startPfn, end: endPfn, frames: Buffer.from(body.subarray(X86PvP2mFramesHeader.size))}
}

/**
 * Rewrite one p2m leaf page in place to the identity, as update_guest_p2m()
 * would on a host where mfn = pfn: the page holds the entries of pfns
 * index × (4096 / width) onwards; each one up to `maxPfn` becomes its pfn
 * where `has(pfn)`, all ones where not; entries past `maxPfn` keep what
 * was saved.
 */
export function identityLeaf(page: Buffer, index: number, width: 4 | 8, maxPfn: number, has: (pfn: number) => boolean): void {
  const perPage = PAGE_SIZE / width
  const first = index * perPage
  const n = Math.min(perPage, maxPfn - first + 1)
  for (let e = 0; e < n; e++) {
    const pfn = first + e
    const at = e * width
    if (width === 4) page.writeUInt32LE(has(pfn) ? pfn : 0xffffffff, at)
    else if (has(pfn)) {
      page.writeUInt32LE(pfn % 2 ** 32, at)
      page.writeUInt32LE(Math.floor(pfn / 2 ** 32), at + 4)
    } else page.fill(0xff, at, at + 8)
  }
}

/** The p2m leaf pages a dump holds and how to rewrite them. */
export class P2mRewrite {
  /** Leaf pfns, ascending, and for each the index of its leaf page (the last one naming it: the restorer's later write wins). */
  private constructor(
    private readonly pfns: Float64Array,
    private readonly indexes: Float64Array,
    private readonly width: 4 | 8,
    private readonly maxPfn: number,
    private readonly pages: PfnBitmap,
  ) {}

  /**
   * The leaf pages of the p2m the records describe (merged as the restorer
   * merges them: frame start/per-page onwards from each record, max_pfn the
   * highest end) that the dump holds. A frame beyond max_pfn (which the
   * restorer refuses) or not in the dump is left alone.
   */
  static of(records: readonly P2mFramesRecord[], width: 4 | 8, pages: PfnBitmap): P2mRewrite {
    const perPage = PAGE_SIZE / width
    const maxPfn = records.reduce((m, r) => Math.max(m, r.end), -1)
    const span = (r: P2mFramesRecord) => {
      const from = Math.floor(r.start / perPage)
      return {from, n: Math.min(r.frames.length / 8, Math.floor(r.end / perPage) + 1 - from)}
    }
    // The restorer's frame list: index -> pfn, -1 where none is usable.
    const list = new Float64Array(records.reduce((m, r) => Math.max(m, span(r).from + span(r).n), 0)).fill(-1)
    for (const r of records) {
      const {from, n} = span(r)
      for (let x = 0; x < n; x++) {
        const pfn = r.frames.readUInt32LE(x * 8)
        const usable = r.frames.readUInt32LE(x * 8 + 4) === 0 && pfn <= maxPfn && pages.has(pfn)
        list[from + x] = usable ? pfn : -1
      }
    }
    // Ascending pfns; a pfn named by two indexes is written as the later one (its copy lands last).
    const order = Uint32Array.from({length: list.length}, (_, i) => i)
      .filter((i) => list[i] >= 0)
      .sort((a, b) => list[a] - list[b] || a - b)
    const keep = order.filter((i, k) => k + 1 === order.length || list[order[k + 1]] !== list[i])
    return new P2mRewrite(
      Float64Array.from(keep, (i) => list[i]),
      Float64Array.from(keep),
      width,
      maxPfn,
      pages,
    )
  }

  /** The leaf pages rewritten. */
  get count(): number {
    return this.pfns.length
  }

  /** Leaf pfns, ascending. */
  leafPfns(): Float64Array {
    return this.pfns
  }

  /** The position in `pfns` of the first leaf pfn at or above `pfn`. */
  private lowerBound(pfn: number): number {
    let lo = 0
    let hi = this.pfns.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.pfns[mid] < pfn) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Rewrite the leaf pages among `buf`'s pages, those of pfns first, first + 1, ... */
  rewrite(first: number, buf: Buffer): void {
    const end = first + Math.floor(buf.length / PAGE_SIZE)
    const has = (p: number) => this.pages.has(p)
    for (let k = this.lowerBound(first); k < this.pfns.length && this.pfns[k] < end; k++) {
      const at = (this.pfns[k] - first) * PAGE_SIZE
      identityLeaf(buf.subarray(at, at + PAGE_SIZE), this.indexes[k], this.width, this.maxPfn, has)
    }
  }

  /** Rewrite the leaf pages of a file in the raw layout (a raw dump written in place, page N at byte N × 4096) where they lie. */
  rewriteFile(file: FilePlacer): void {
    const page = Buffer.alloc(PAGE_SIZE)
    const readAt = (off: number, position: number) => {
      try {
        return fs.readSync(file.fd, page, off, PAGE_SIZE - off, position)
      } catch (err) {
        throw outputSystemError(err, file.name)
      }
    }
    for (const pfn of this.pfns) {
      for (let got = 0; got < PAGE_SIZE; ) {
        const k = readAt(got, pfn * PAGE_SIZE + got)
        if (k === 0) throw new Error(`internal: page ${pfn} is past the end of ${file.name}`)
        got += k
      }
      this.rewrite(pfn, page)
      file.pwrite(page, 0, PAGE_SIZE, pfn * PAGE_SIZE)
    }
  }
}

/** A PV guest's p2m leaf pages in the dump (none when the image names no p2m frames); undefined for HVM, or a guest of unknown width. */
export function guestP2m(scan: ScanResult): P2mRewrite | undefined {
  if (scan.input.guest !== 'pv' || scan.input.guestWidth === null) return undefined
  return P2mRewrite.of(scan.facts.p2mFrames, scan.input.guestWidth === 32 ? 4 : 8, scan.facts.pages)
}
