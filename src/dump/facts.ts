// What a dump takes from a v2 stream's records, whichever way they come (a
// v2 image read with a body hook, or a legacy image's record plan): the
// pfns that get data (a bitmap: every pfn with at least one copy of its
// contents is in the dump, holding its last copy), the vcpu contexts, the
// shared-info page, the HVM context's CPU records and a PV guest's p2m
// frames (X86_PV_P2M_FRAMES; a legacy image's frame list, as its record
// plan writes it).
//
// A record is only taken when its body is what the format says it is; a
// malformed one is left to the verifier, whose verdict decides whether the
// dump is kept at all.
import {MAX_HVM_CONTEXT} from '../legacy/layout.js'
import {EXT_VCPU_64, MAX_VCPU_ID, PAGE_SIZE, pageTypeHasData, PAGE_TYPE_NAMES} from '../format/x86.js'
import {MAX_PAGE_DATA_PFNS, PageDataHeader, Rec, SHARED_INFO_SIZE, VcpuHeader, X86PvP2mFramesHeader} from '../v2/libxc/layout.js'
import {PfnWord} from '../v2/record.js'
import {checkDumpablePfn, PfnBitmap} from './pfns.js'
import {type P2mFramesRecord, p2mFramesRecord} from './p2m.js'
import {hvmVcpus, type HvmVcpus} from './vcpu.js'

/**
 * The pfns of the entries with data in a PAGE_DATA record of a v2 stream
 * read from the input, in stream order, when its header, pfn words and
 * length agree (count 1..2^20, every
 * type defined, body = 8 + 8·count + 4096·pages with data); otherwise
 * undefined. `head` is the header and pfn words.
 */
export function pageDataPfns(head: Buffer, length: number): Float64Array | undefined {
  if (head.length < PageDataHeader.size) return undefined
  const {count} = PageDataHeader.get(head)
  if (count === 0 || count > MAX_PAGE_DATA_PFNS) return undefined
  const words = PageDataHeader.size + PfnWord.size * count
  if (head.length < words || length < words) return undefined
  const out = new Float64Array(count)
  let n = 0
  for (let at = PageDataHeader.size; at < words; at += PfnWord.size) {
    const type = PfnWord.type(head, at)
    if (PAGE_TYPE_NAMES[type] === undefined) return undefined
    if (pageTypeHasData(type)) out[n++] = PfnWord.pfn(head, at)
  }
  if (length - words !== n * PAGE_SIZE) return undefined
  return out.subarray(0, n)
}

/** Whether a record of this type and length has a body the dump reads whole. */
export function wantsBody(type: number, length: number): boolean {
  switch (type) {
    case Rec.X86_PV_VCPU_BASIC:
      return length >= VcpuHeader.size && length <= VcpuHeader.size + EXT_VCPU_64
    case Rec.SHARED_INFO:
      return length === SHARED_INFO_SIZE
    case Rec.HVM_CONTEXT:
      return length > 0 && length <= MAX_HVM_CONTEXT
    case Rec.X86_PV_P2M_FRAMES:
      // At most 2^23 + 1 frames (end_pfn is 32 bits): 64 MiB for a guest of 16 TiB.
      return length >= X86PvP2mFramesHeader.size && (length - X86PvP2mFramesHeader.size) % 8 === 0
    default:
      return false
  }
}

export class GuestFacts {
  /** Pfns that got data. */
  readonly pages = new PfnBitmap()
  /** Page copies read, re-sent ones included. */
  copies = 0
  /** PV: vcpu id -> basic context as saved. */
  readonly pvContexts = new Map<number, Buffer>()
  sharedInfo: Buffer | undefined
  /** HVM: from the last HVM_CONTEXT record. */
  hvm: HvmVcpus | undefined
  /** PV: the X86_PV_P2M_FRAMES records, in stream order. */
  readonly p2mFrames: P2mFramesRecord[] = []

  /** The data pfns of a PAGE_DATA record at stream byte `offset`. */
  addPages(pfns: Float64Array, offset: number): void {
    for (let i = 0; i < pfns.length; i++) {
      checkDumpablePfn(pfns[i], {offset, context: 'PAGE_DATA'})
      this.pages.add(pfns[i])
    }
    this.copies += pfns.length
  }

  /** A whole record body of a type wantsBody() accepts. */
  body(type: number, body: Buffer): void {
    if (!wantsBody(type, body.length)) return
    switch (type) {
      case Rec.X86_PV_VCPU_BASIC: {
        const {vcpuId} = VcpuHeader.get(body)
        // An empty context (Xen 4.6-4.8) is an offline vcpu.
        if (body.length === VcpuHeader.size || vcpuId > MAX_VCPU_ID) return
        this.pvContexts.set(vcpuId, Buffer.from(body.subarray(VcpuHeader.size)))
        break
      }
      case Rec.SHARED_INFO:
        this.sharedInfo = Buffer.from(body)
        break
      case Rec.HVM_CONTEXT:
        this.hvm = hvmVcpus(body)
        break
      case Rec.X86_PV_P2M_FRAMES: {
        const r = p2mFramesRecord(body)
        if (r) this.p2mFrames.push(r)
        break
      }
    }
  }
}
