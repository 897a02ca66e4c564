// The v2 stream verifier. It is shown headers and records — by the stream
// driver in reader.ts, or by V2Writer while a conversion is being written —
// and collects every problem it can find, each with where it is, instead of
// stopping at the first. Content and ordering problems never stop it; a
// framing problem (truncation, a length that cannot be followed) is the
// driver's to find, and is handed over with fatal().
import type {FormatError} from '../../errors.js'
import {TruncatedError} from '../../errors.js'
import {
  CPUID_POLICY_ENTRY_SIZE,
  DOMAIN_TYPE_NAMES,
  DomainHeader,
  DomainType,
  HvmParamEntry,
  HvmParamsHeader,
  IHDR_IDENT,
  IHDR_MARKER,
  IHDR_OPT_BIG_ENDIAN,
  IHDR_OPT_RESERVED,
  ImageHeader,
  MSR_POLICY_ENTRY_SIZE,
  PageDataHeader,
  Rec,
  REC_LENGTH_MAX,
  recName,
  SHARED_INFO_SIZE,
  VCPU_MSR_ENTRY_SIZE,
  VcpuHeader,
  X86PvInfo,
  X86PvP2mFramesHeader,
  X86TscInfo,
} from '../libxc/layout.js'
import {
  EMULATOR_NAMES,
  EmulatorHeader,
  LIBXL_IDENT,
  LIBXL_OPT_BIG_ENDIAN,
  LIBXL_OPT_LEGACY,
  LIBXL_OPT_RESERVED,
  LIBXL_REC_NAMES,
  LIBXL_VERSION,
  LibxlHeader,
  LibxlRec,
} from '../libxl/layout.js'
import {
  EXT_VCPU_32,
  EXT_VCPU_64,
  EXTENDED_VCPU_CONTEXT_SIZE,
  MAX_VCPU_ID,
  PAGE_SIZE,
  PAGE_TYPE_NAMES,
  pageTypeHasData,
  QEMU_SIG_DM_0002,
  QEMU_SIG_LEN,
  QEMU_SIG_REMUS,
  QEMU_SIG_REST,
} from '../../format/legacy.js'
import {XL_MANDATORY_STREAM_V2, XlHeader} from '../../format/xl.js'
import type {XlHeaderInfo} from '../../xl/header.js'
import {type Layer, PfnWord, REC_OPTIONAL, type RecordInfo} from '../record.js'
import type {StreamObserver} from '../writer.js'
import {hex, plural} from '../../text.js'

/** Most pfns xst checks in one PAGE_DATA record (Xen writes at most 1024). */
export const MAX_PAGE_DATA_PFNS = 1 << 20
/** Largest EMULATOR_XENSTORE_DATA body xst reads to check its strings. */
export const MAX_XENSTORE_DATA = 16 << 20

export interface Problem {
  severity: 'error' | 'warning'
  /** Stable identifier, e.g. "page-data-size". */
  code: string
  message: string
  /** Absolute byte offset of the offending field or record. */
  offset: number
  /** Which part of the stream: a header's layer, or the record's; null for bytes outside both. */
  layer: Layer | 'xl' | null
  /** Record index within its layer, from 0; null for headers. */
  index: number | null
  /** Record type name, or the header's name. */
  record: string | null
}

/** Where a problem is; what is not known is left out. */
export interface Location {
  offset: number
  layer?: Layer | 'xl'
  index?: number
  record?: string
}

export type StopReason = 'max-errors' | 'fatal' | 'big-endian'

export interface VerifySummary {
  /** Outermost v2 layer. */
  format: Layer | null
  xlHeader: {flags: string[]; optionalDataLength: number; domainName: string | null} | null
  version: {libxl: number | null; libxc: number | null}
  /** libxl options bit 1; null when there is no libxl header. */
  legacyConverted: boolean | null
  guestType: string | null
  guestWidth: number | null
  ptLevels: number | null
  /** From the domain header; major 0 is a legacy converter (minor = its version). */
  xenVersion: {major: number; minor: number} | null
  records: {libxl: Record<string, number>; libxc: Record<string, number>}
  pages: {pfns: number; withData: number; byType: Record<string, number>}
  /** vcpus with an X86_PV_VCPU_BASIC record. */
  vcpus: number[]
  p2mEndPfn: number | null
  emulator: {contexts: number; contextBytes: number; xenstoreKeys: number}
  /** Bytes after a bare libxc stream (a device-model record). */
  tail: {kind: string; bytes: number} | null
  /** Offset where checking ended. */
  bytes: number
}

export interface VerifyReport {
  valid: boolean
  errors: Problem[]
  warnings: Problem[]
  /** Why checking ended before the end of the stream, if it did. */
  stopped: StopReason | null
  summary: VerifySummary
}

/** One header or record, for a per-record listing (--verbose). */
export interface RecordNote {
  offset: number
  layer: Layer | 'xl'
  index?: number
  name: string
  length?: number
  detail: string
  /** PAGE_DATA only, so a listing can add records up. */
  pages?: {pfns: number; withData: number}
}

export interface VerifierOptions {
  /** Stop after this many errors. */
  maxErrors?: number
  onProblem?: (p: Problem) => void
  onRecord?: (n: RecordNote) => void
}

/** What the verifier expects to be shown next. */
export type Expecting = 'start' | 'libxc-headers' | 'libxc-record' | 'libxl-record' | 'tail' | 'done'


export function recordName(layer: Layer, type: number): string {
  if (layer === 'libxc') return recName(type)
  const hx = hex(type >>> 0, 8)
  if (type & REC_OPTIONAL) return `optional record ${hx}`
  return LIBXL_REC_NAMES[type] ?? `unknown record ${hx}`
}

/**
 * How much of a record's body the checks look at: a prefix of it, or
 * 'page-data' (the PAGE_DATA header and pfn array). A reader need not read
 * more; bulk contents (pages, contexts, blobs) are never looked at.
 */
export function bodyPrefix(layer: Layer, type: number, length: number): number | 'page-data' {
  let n = 0
  if (layer === 'libxc') {
    switch (type) {
      case Rec.PAGE_DATA:
        return 'page-data'
      case Rec.X86_PV_INFO:
      case Rec.X86_PV_P2M_FRAMES:
      case Rec.HVM_PARAMS:
      case Rec.X86_PV_VCPU_BASIC:
      case Rec.X86_PV_VCPU_EXTENDED:
      case Rec.X86_PV_VCPU_XSAVE:
      case Rec.X86_PV_VCPU_MSRS:
        n = 8
        break
      case Rec.X86_TSC_INFO:
        n = X86TscInfo.size
        break
    }
  } else {
    switch (type) {
      case LibxlRec.EMULATOR_XENSTORE_DATA:
        n = length <= MAX_XENSTORE_DATA ? length : EmulatorHeader.size
        break
      case LibxlRec.EMULATOR_CONTEXT:
      case LibxlRec.CHECKPOINT_STATE:
        n = EmulatorHeader.size
        break
    }
  }
  return Math.min(n, length)
}

const PV_ONLY = new Set<number>([
  Rec.X86_PV_INFO,
  Rec.X86_PV_P2M_FRAMES,
  Rec.X86_PV_VCPU_BASIC,
  Rec.X86_PV_VCPU_EXTENDED,
  Rec.X86_PV_VCPU_XSAVE,
  Rec.X86_PV_VCPU_MSRS,
  Rec.SHARED_INFO,
])
const HVM_ONLY = new Set<number>([Rec.HVM_CONTEXT, Rec.HVM_PARAMS])
const V3_ONLY = new Set<number>([Rec.STATIC_DATA_END, Rec.X86_CPUID_POLICY, Rec.X86_MSR_POLICY])
const EMPTY_LIBXC = new Set<number>([Rec.END, Rec.VERIFY, Rec.CHECKPOINT, Rec.STATIC_DATA_END])
const EMPTY_LIBXL = new Set<number>([LibxlRec.END, LibxlRec.LIBXC_CONTEXT, LibxlRec.CHECKPOINT_END])

/** Facts about the libxc stream gathered so far. */
class LibxcState {
  /** As the header says; rules that differ between versions 2 and 3 apply only when it is one of them. */
  version = 3
  guest: 'pv' | 'hvm' | undefined
  domainType: number | undefined
  xen: {major: number; minor: number} | undefined
  width: 4 | 8 | undefined
  levels: number | undefined
  /** Index of the first record of each type, for "(record N)" in messages. */
  firstIndex = new Map<number, number>()
  counts = new Map<string, number>()
  p2mEndPfn: number | undefined
  staticDataEnd = 0
  /** HVM_CONTEXT seen since the last CHECKPOINT. */
  hvmContextIndex: number | undefined
  vcpusWithBasic = new Set<number>()
  /** vcpu records for a vcpu that had no BASIC yet: checked again at END. */
  vcpuOrphans: Array<{vcpu: number; at: Location; name: string}> = []
  pages = {pfns: 0, withData: 0, byType: new Map<number, number>()}

  seen(type: number): boolean {
    return this.firstIndex.has(type)
  }
}

class LibxlState {
  version: number | undefined
  options = 0
  libxcContext = false
  inCheckpoint = false
  counts = new Map<string, number>()
  emulator = {contexts: 0, contextBytes: 0, xenstoreKeys: 0}
}

/**
 * Checks one v2 stream pushed at it. Implements StreamObserver so that
 * `new V2Writer(sink, verifier)` checks a stream as it is written; the driver
 * in reader.ts feeds it from a ByteReader the same way.
 */
export class V2Verifier implements StreamObserver {
  private next: Expecting = 'start'
  private stopReason: StopReason | null = null
  private readonly errors: Problem[] = []
  private readonly warnings: Problem[] = []
  /** Rule keys already reported, so a rule broken by many records is reported once. */
  private readonly reported = new Set<string>()
  private top: Layer | undefined
  private xl: XlHeaderInfo | undefined
  private xlOffset = 0
  private lx = new LibxcState()
  private ll = new LibxlState()
  private tailInfo: {kind: string; bytes: number} | undefined
  /** Pages of the PAGE_DATA record being checked, for its listing line. */
  private pageNote: RecordNote['pages']
  private lastOffset = 0

  constructor(private readonly opts: VerifierOptions = {}) {}

  /** What the stream should hold next; 'done' once checking has ended. */
  get expecting(): Expecting {
    return this.stopReason ? 'done' : this.next
  }

  get done(): boolean {
    return this.expecting === 'done'
  }

  /** Whether an xl header in front said that a libxl stream follows. */
  get xlSaysLibxl(): boolean | undefined {
    return this.xl ? this.xl.streamV2 : undefined
  }

  // ---- headers -------------------------------------------------------------

  /** An xl header (already read and checked by readXlHeader) in front of the stream. */
  xlHeader(info: XlHeaderInfo): void {
    this.xl = info
    this.xlOffset = info.offset
    this.note({offset: info.offset, layer: 'xl', name: 'xl header', length: info.raw.length, detail: `flags ${info.flags.join(', ') || 'none'}${info.config?.name ? `, domain "${info.config.name}"` : ''}`})
  }

  libxlHeader(buf: Buffer, offset: number): void {
    if (this.done) return
    const at: Location = {offset, layer: 'libxl', record: 'libxl header'}
    if (this.next !== 'start') {
      this.error('header-out-of-place', 'a libxl header in the middle of the stream', at)
      return
    }
    this.top = 'libxl'
    this.checkXlAgreement('libxl')
    const h = LibxlHeader.get(buf)
    if (h.ident !== LIBXL_IDENT) {
      this.error('bad-ident', `libxl header ident is ${hex(h.ident, 16)} ("${latin1(buf, 0, 8)}"); a libxl stream starts with "LibxlFmt"`, at)
    }
    if (h.version !== LIBXL_VERSION) {
      this.error('unknown-version', `libxl stream version ${h.version} is unknown (expected ${LIBXL_VERSION}); the records are checked as version ${LIBXL_VERSION}`, {...at, offset: offset + LibxlHeader.offsets.version})
    }
    if (h.options & LIBXL_OPT_RESERVED) {
      this.error('reserved-bits', `libxl header options set reserved bits ${hex(h.options & LIBXL_OPT_RESERVED)}`, {...at, offset: offset + LibxlHeader.offsets.options})
    }
    this.ll.version = h.version
    this.ll.options = h.options
    this.note({offset, layer: 'libxl', name: 'libxl header', length: buf.length, detail: `version ${h.version}${h.options & LIBXL_OPT_LEGACY ? ', converted from a legacy image' : ''}`})
    if (h.options & LIBXL_OPT_BIG_ENDIAN) return this.bigEndian({...at, offset: offset + LibxlHeader.offsets.options})
    this.next = 'libxl-record'
  }

  libxcHeaders(imageHeader: Buffer, domainHeader: Buffer, offset: number): void {
    if (this.done) return
    const at: Location = {offset, layer: 'libxc', record: 'image header'}
    if (this.next === 'start') {
      this.top = 'libxc'
      this.checkXlAgreement('libxc')
    } else if (this.next !== 'libxc-headers') {
      const why = this.next === 'libxl-record' ? 'without a LIBXC_CONTEXT record before it' : 'after the libxc stream was already under way'
      this.error('header-out-of-place', `a libxc image header ${why}`, at)
      return
    }
    const ih = ImageHeader.get(imageHeader)
    const field = (name: keyof typeof ImageHeader.offsets): Location => ({...at, offset: offset + ImageHeader.offsets[name]})
    if (ih.marker !== IHDR_MARKER) {
      this.error('bad-marker', `image header marker is ${hex(ih.marker, 16)}; a v2 stream starts with 0xffffffffffffffff`, at)
    }
    if (ih.id !== IHDR_IDENT) {
      this.error('bad-ident', `image header id is ${hex(ih.id, 8)} ("${latin1(imageHeader, 8, 12)}"); expected 0x58454e46 ("XENF")`, field('id'))
    }
    this.lx.version = ih.version
    if (ih.version !== 2 && ih.version !== 3) {
      this.error('unknown-version', `libxc stream version ${ih.version} is unknown (xst knows 2 and 3); no version-specific rule was applied to the records`, field('version'))
    }
    if (ih.options & IHDR_OPT_RESERVED) {
      this.error('reserved-bits', `image header options set reserved bits ${hex(ih.options & IHDR_OPT_RESERVED)}`, field('options'))
    }
    if (ih.reserved1 !== 0 || ih.reserved2 !== 0) {
      this.error('reserved-field', `image header reserved fields are not zero (${hex(ih.reserved1)}, ${hex(ih.reserved2)})`, field('reserved1'))
    }
    this.note({offset, layer: 'libxc', name: 'image header', length: imageHeader.length, detail: `version ${ih.version}`})
    if (ih.options & IHDR_OPT_BIG_ENDIAN) return this.bigEndian(field('options'))
    this.domainHeader(domainHeader, offset + imageHeader.length)
    this.next = 'libxc-record'
  }

  private domainHeader(buf: Buffer, offset: number): void {
    const at: Location = {offset, layer: 'libxc', record: 'domain header'}
    const dh = DomainHeader.get(buf)
    const field = (name: keyof typeof DomainHeader.offsets): Location => ({...at, offset: offset + DomainHeader.offsets[name]})
    this.lx.domainType = dh.type
    this.lx.xen = {major: dh.xenMajor, minor: dh.xenMinor}
    if (dh.type === DomainType.X86_PV) this.lx.guest = 'pv'
    else if (dh.type === DomainType.X86_HVM) this.lx.guest = 'hvm'
    else if (DOMAIN_TYPE_NAMES[dh.type]) {
      this.error('domain-type', `domain type ${dh.type} (${DOMAIN_TYPE_NAMES[dh.type]}) is not restorable: xst checks x86 PV (1) and HVM (2) streams, so no guest-specific rule was applied`, at)
    } else {
      this.error('domain-type', `domain type ${dh.type} is not defined (1 x86 PV, 2 x86 HVM); no guest-specific rule was applied`, at)
    }
    if (dh.pageShift !== 12) {
      this.error('page-shift', `page shift is ${dh.pageShift}; x86 pages are 4096 bytes (shift 12)`, field('pageShift'))
    }
    if (dh.reserved !== 0) {
      this.error('reserved-field', `domain header reserved field is ${hex(dh.reserved)}, not zero`, field('reserved'))
    }
    const from = dh.xenMajor === 0 ? `a legacy converter (version ${dh.xenMinor})` : `Xen ${dh.xenMajor}.${dh.xenMinor}`
    this.note({offset, layer: 'libxc', name: 'domain header', length: buf.length, detail: `${DOMAIN_TYPE_NAMES[dh.type] ?? `type ${dh.type}`}, from ${from}`})
  }

  /** An xl header's STREAMv2 flag says whether a libxl stream follows it. */
  private checkXlAgreement(found: Layer): void {
    if (!this.xl) return
    const at: Location = {offset: this.xlOffset + XlHeader.offsets.mandatoryFlags, layer: 'xl', record: 'xl header'}
    if (found === 'libxl' && !this.xl.streamV2) {
      this.error('xl-stream-v2-flag', 'the xl header does not set STREAMv2 (mandatory flag bit 1), but a libxl stream follows; xl would take it for a legacy image', at)
    } else if (found === 'libxc' && this.xl.streamV2) {
      this.error('xl-stream-v2-flag', 'the xl header sets STREAMv2 (mandatory flag bit 1), but a bare libxc stream follows; xl expects a libxl stream there', at)
    }
  }

  private bigEndian(at: Location): void {
    this.error('big-endian', 'the stream is big-endian (options bit 0); xst checks little-endian (x86) streams only, so nothing after this header was checked', at)
    this.stop('big-endian')
  }

  // ---- records -------------------------------------------------------------

  record(rec: RecordInfo): void {
    if (this.done) return
    this.lastOffset = rec.offset + 8 + rec.length
    const expected = this.next === 'libxc-record' ? 'libxc' : this.next === 'libxl-record' ? 'libxl' : undefined
    if (rec.layer !== expected) {
      this.error('record-out-of-place', `a ${rec.layer} record where ${this.describeNext()}`, this.at(rec))
      if (this.next === 'start' || this.next === 'libxc-headers' || this.next === 'tail') return
    }
    if (rec.layer === 'libxc') this.libxcRecord(rec)
    else this.libxlRecord(rec)
    this.checkPadding(rec)
  }

  private describeNext(): string {
    switch (this.next) {
      case 'start':
        return 'a stream header belongs'
      case 'libxc-headers':
        return 'the libxc image header belongs (after LIBXC_CONTEXT)'
      case 'libxc-record':
        return 'a libxc record belongs'
      case 'libxl-record':
        return 'a libxl record belongs'
      default:
        return 'the stream has already ended'
    }
  }

  private checkPadding(rec: RecordInfo): void {
    const pad = rec.padding
    if (!pad || pad.every((b) => b === 0)) return
    this.error('nonzero-padding', `padding after the ${rec.length}-byte body is not zero (${[...pad].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`, this.at(rec, 8 + rec.length))
  }

  private libxcRecord(rec: RecordInfo): void {
    const lx = this.lx
    const name = recordName('libxc', rec.type)
    bump(lx.counts, name)
    if (rec.type & REC_OPTIONAL) {
      this.warn('optional-record', `${name} (${plural(rec.length, 'byte')}) is not known to xst; skipped, as the spec allows for optional records`, this.at(rec))
      this.note(this.noteFor(rec, 'skipped'))
      return
    }
    const check = this.libxcChecks[rec.type]
    if (!check) {
      this.error('unknown-record', `${name} is mandatory (bit 31 clear) but not defined; a restorer must refuse the stream`, this.at(rec))
      this.note(this.noteFor(rec, 'unknown'))
      return
    }
    if (rec.length > REC_LENGTH_MAX) {
      this.error('record-too-long', `${name} body is ${rec.length} bytes; the restorer refuses libxc records over ${REC_LENGTH_MAX} bytes`, this.at(rec))
    }
    if (EMPTY_LIBXC.has(rec.type) && rec.length !== 0) {
      this.error('not-empty', `${name} has a ${plural(rec.length, 'byte')} body; it must be empty`, this.at(rec))
    }
    this.checkGuestKind(rec, name)
    if (V3_ONLY.has(rec.type) && lx.version === 2) {
      this.error('v3-only-record', `${name} exists only in version 3 streams; this one is version ${lx.version}`, this.at(rec))
    }
    const detail = check(rec) ?? ''
    if (!lx.firstIndex.has(rec.type)) lx.firstIndex.set(rec.type, rec.index)
    this.note({...this.noteFor(rec, detail), pages: this.pageNote})
    this.pageNote = undefined
  }

  /** PV-only records in an HVM stream and the reverse. */
  private checkGuestKind(rec: RecordInfo, name: string): void {
    const g = this.lx.guest
    if (g === 'hvm' && PV_ONLY.has(rec.type)) this.error('wrong-guest-record', `${name} is a PV-only record, but this is an x86 HVM stream`, this.at(rec))
    if (g === 'pv' && HVM_ONLY.has(rec.type)) this.error('wrong-guest-record', `${name} is an HVM-only record, but this is an x86 PV stream`, this.at(rec))
  }

  /** Per-type checks; each returns a short description for the listing. */
  private readonly libxcChecks: Record<number, (rec: RecordInfo) => string | void> = {
    [Rec.END]: (r) => this.libxcEnd(r),
    [Rec.PAGE_DATA]: (r) => this.pageData(r),
    [Rec.X86_PV_INFO]: (r) => this.pvInfo(r),
    [Rec.X86_PV_P2M_FRAMES]: (r) => this.p2mFrames(r),
    [Rec.X86_PV_VCPU_BASIC]: (r) => this.vcpu(r),
    [Rec.X86_PV_VCPU_EXTENDED]: (r) => this.vcpu(r),
    [Rec.X86_PV_VCPU_XSAVE]: (r) => this.vcpu(r),
    [Rec.X86_PV_VCPU_MSRS]: (r) => this.vcpu(r),
    [Rec.SHARED_INFO]: (r) => this.sharedInfo(r),
    [Rec.X86_TSC_INFO]: (r) => this.tscInfo(r),
    [Rec.HVM_CONTEXT]: (r) => this.hvmContext(r),
    [Rec.HVM_PARAMS]: (r) => this.hvmParams(r),
    [Rec.TOOLSTACK]: (r) => void this.error('toolstack-record', 'TOOLSTACK records are deprecated and must not appear in a stream', this.at(r)),
    [Rec.VERIFY]: () => 'more PAGE_DATA follows for checking',
    [Rec.CHECKPOINT]: () => this.checkpoint(),
    [Rec.CHECKPOINT_DIRTY_PFN_LIST]: (r) =>
      void this.error('back-channel-record', 'CHECKPOINT_DIRTY_PFN_LIST belongs to the COLO back channel, never to a saved stream', this.at(r)),
    [Rec.STATIC_DATA_END]: (r) => this.staticDataEnd(r),
    [Rec.X86_CPUID_POLICY]: (r) => this.policy(r, CPUID_POLICY_ENTRY_SIZE, 'leaf', 'leaves'),
    [Rec.X86_MSR_POLICY]: (r) => this.policy(r, MSR_POLICY_ENTRY_SIZE, 'MSR'),
  }

  private pageData(rec: RecordInfo): string | void {
    const lx = this.lx
    this.requirePv(rec, Rec.X86_PV_INFO, 'the restorer needs the guest width first')
    this.requirePv(rec, Rec.X86_PV_P2M_FRAMES, 'the restorer needs the p2m first')
    this.requireStaticDataEnd(rec)
    if (rec.length < PageDataHeader.size) {
      this.error('page-data-short', `PAGE_DATA body is ${rec.length} bytes, shorter than its ${PageDataHeader.size}-byte header`, this.at(rec))
      return
    }
    const {count, reserved} = PageDataHeader.get(rec.head)
    if (reserved !== 0) this.error('reserved-field', `PAGE_DATA reserved field is ${hex(reserved)}, not zero`, this.at(rec, 8 + PageDataHeader.offsets.reserved))
    if (count === 0) {
      this.error('page-data-empty', 'PAGE_DATA count is 0; a record carries at least one pfn', this.at(rec, 8))
      return
    }
    if (count > MAX_PAGE_DATA_PFNS) {
      this.error('page-data-count', `PAGE_DATA count ${count} is more than xst checks in one record (${MAX_PAGE_DATA_PFNS}; Xen writes at most 1024)`, this.at(rec, 8))
      return
    }
    const pfnBytes = PageDataHeader.size + 8 * count
    if (pfnBytes > rec.length) {
      this.error('page-data-size', `PAGE_DATA count ${count} needs ${pfnBytes} bytes of header and pfns, but the body is only ${rec.length} bytes`, this.at(rec))
      return
    }
    if (rec.head.length < pfnBytes) throw new Error(`internal: PAGE_DATA record ${rec.index} was shown without its pfns`)

    let withData = 0
    let undefinedTypes = 0
    const bad = {reserved: [] as number[], type: [] as number[], range: [] as number[]}
    const end = lx.guest === 'pv' ? lx.p2mEndPfn : undefined
    const wordAt = (i: number) => PageDataHeader.size + PfnWord.size * i
    for (let i = 0; i < count; i++) {
      const o = wordAt(i)
      const type = PfnWord.type(rec.head, o)
      if (PfnWord.reserved(rec.head, o)) bad.reserved.push(i)
      if (PAGE_TYPE_NAMES[type] === undefined) {
        bad.type.push(i)
        undefinedTypes++
      } else if (pageTypeHasData(type)) withData++
      if (end !== undefined && PfnWord.pfn(rec.head, o) > end) bad.range.push(i)
      lx.pages.byType.set(type, (lx.pages.byType.get(type) ?? 0) + 1)
    }
    lx.pages.pfns += count
    lx.pages.withData += withData

    const word = (i: number) => hex(rec.head.readBigUInt64LE(wordAt(i)), 16)
    const pfnAt = (i: number) => this.at(rec, 8 + wordAt(i))
    const more = (list: number[]) => (list.length > 1 ? ` (and ${plural(list.length - 1, 'more pfn')} in this record)` : '')
    if (bad.reserved.length) {
      const i = bad.reserved[0]
      this.error('pfn-reserved-bits', `pfn[${i}] ${word(i)} sets reserved bits 59-52${more(bad.reserved)}`, pfnAt(i))
    }
    if (bad.type.length) {
      const i = bad.type[0]
      this.error('pfn-type-invalid', `pfn[${i}] ${word(i)} has page type ${PfnWord.type(rec.head, wordAt(i))}; types 5-8 are not defined${more(bad.type)}`, pfnAt(i))
    }
    if (bad.range.length) {
      const i = bad.range[0]
      this.error('pfn-out-of-range', `pfn[${i}] is ${hex(PfnWord.pfn(rec.head, wordAt(i)))}, beyond the last pfn of the p2m (${hex(end!)}, from X86_PV_P2M_FRAMES)${more(bad.range)}`, pfnAt(i))
    }
    // Pages of an undefined type may or may not have been given data: accept either.
    const dataBytes = rec.length - pfnBytes
    const pages = dataBytes / PAGE_SIZE
    if (!Number.isInteger(pages) || pages < withData || pages > withData + undefinedTypes) {
      const expected = pfnBytes + PAGE_SIZE * withData
      this.error(
        'page-data-size',
        `PAGE_DATA body is ${rec.length} bytes, but ${plural(count, 'pfn')} with ${withData} data pages make 8 + 8·${count} + 4096·${withData} = ${expected}`,
        this.at(rec),
      )
    }
    this.pageNote = {pfns: count, withData}
    return `${plural(count, 'pfn')}, ${withData} with data`
  }

  private pvInfo(rec: RecordInfo): string | void {
    const lx = this.lx
    const first = lx.firstIndex.get(Rec.X86_PV_INFO)
    if (first !== undefined) {
      this.error('duplicate-pv-info', `a second X86_PV_INFO (the first is record ${first}); the restorer refuses it`, this.at(rec))
      return
    }
    if (rec.length !== X86PvInfo.size) {
      this.error('record-size', `X86_PV_INFO body is ${rec.length} bytes; it must be ${X86PvInfo.size}`, this.at(rec))
      if (rec.length < X86PvInfo.size) return
    }
    const info = X86PvInfo.get(rec.head)
    const widthOk = info.guestWidth === 4 || info.guestWidth === 8
    const levelsOk = info.ptLevels === 3 || info.ptLevels === 4
    if (!widthOk) this.error('pv-info-width', `guest width ${info.guestWidth} is not 4 or 8`, this.at(rec, 8))
    if (!levelsOk) this.error('pv-info-levels', `${info.ptLevels} pagetable levels; a PV guest has 3 or 4`, this.at(rec, 9))
    if (widthOk && levelsOk && (info.guestWidth === 8) !== (info.ptLevels === 4)) {
      this.error('pv-info-levels', `guest width ${info.guestWidth} with ${info.ptLevels} pagetable levels: a 64-bit guest has 4 levels, a 32-bit (PAE) guest 3`, this.at(rec, 9))
    }
    if (info.reserved1 !== 0 || info.reserved2 !== 0) this.error('reserved-field', 'X86_PV_INFO reserved fields are not zero', this.at(rec, 10))
    if (widthOk) lx.width = info.guestWidth as 4 | 8
    if (levelsOk) lx.levels = info.ptLevels
    return `${info.guestWidth * 8}-bit guest, ${info.ptLevels} pagetable levels`
  }

  private p2mFrames(rec: RecordInfo): string | void {
    const lx = this.lx
    this.requirePv(rec, Rec.X86_PV_INFO, 'the restorer needs the guest width to read it')
    this.requireStaticDataEnd(rec)
    if (rec.length < X86PvP2mFramesHeader.size) {
      this.error('record-size', `X86_PV_P2M_FRAMES body is ${rec.length} bytes, shorter than its ${X86PvP2mFramesHeader.size}-byte header`, this.at(rec))
      return
    }
    const {startPfn, endPfn} = X86PvP2mFramesHeader.get(rec.head)
    if (startPfn > endPfn) {
      this.error('p2m-frames-range', `start_pfn ${hex(startPfn)} is after end_pfn ${hex(endPfn)}`, this.at(rec, 8))
      return
    }
    if (lx.width) {
      const perFrame = PAGE_SIZE / lx.width
      const frames = Math.floor(endPfn / perFrame) + 1 - Math.floor(startPfn / perFrame)
      const expected = X86PvP2mFramesHeader.size + 8 * frames
      if (rec.length !== expected) {
        this.error(
          'p2m-frames-size',
          `X86_PV_P2M_FRAMES body is ${rec.length} bytes; pfns ${hex(startPfn)}-${hex(endPfn)} of a ${lx.width * 8}-bit guest (${perFrame} per frame) need ${plural(frames, 'frame')}: 8 + 8·${frames} = ${expected}`,
          this.at(rec),
        )
      }
    } else if (rec.length % 8 !== 0) {
      this.error('p2m-frames-size', `X86_PV_P2M_FRAMES body is ${rec.length} bytes, not a whole number of 8-byte frames`, this.at(rec))
    }
    lx.p2mEndPfn = Math.max(lx.p2mEndPfn ?? 0, endPfn)
    return `pfns ${hex(startPfn)}-${hex(endPfn)}, ${plural((rec.length - 8) >> 3, 'frame')}`
  }

  private vcpu(rec: RecordInfo): string | void {
    const lx = this.lx
    const name = recordName('libxc', rec.type)
    this.requirePv(rec, Rec.X86_PV_INFO, 'vcpu state belongs after the guest layout')
    this.requirePv(rec, Rec.X86_PV_P2M_FRAMES, 'vcpu state belongs after the p2m')
    this.requirePv(rec, Rec.PAGE_DATA, 'vcpu state belongs after guest memory')
    if (rec.length < VcpuHeader.size) {
      this.error('record-size', `${name} body is ${rec.length} bytes, shorter than its ${VcpuHeader.size}-byte header`, this.at(rec))
      return
    }
    const {vcpuId, reserved} = VcpuHeader.get(rec.head)
    if (reserved !== 0) this.error('reserved-field', `${name} reserved field is ${hex(reserved)}, not zero`, this.at(rec, 12))
    const size = rec.length - VcpuHeader.size
    if (size === 0) {
      // Xen 4.6-4.8 wrote these; the restorer skips them.
      this.warn('vcpu-record-empty', `${name} for vcpu ${vcpuId} has no context (written by Xen 4.6-4.8; tolerated, see the spec's errata)`, this.at(rec))
      return `vcpu ${vcpuId}, empty`
    }
    if (vcpuId > MAX_VCPU_ID) {
      this.error('vcpu-id-range', `vcpu id ${vcpuId} is beyond the ${MAX_VCPU_ID + 1} vcpus a Xen guest can have`, this.at(rec, 8))
      return
    }
    if (rec.type === Rec.X86_PV_VCPU_BASIC) {
      const expected = lx.width === 8 ? EXT_VCPU_64 : lx.width === 4 ? EXT_VCPU_32 : undefined
      if (expected !== undefined && size !== expected) {
        this.error('vcpu-context-size', `${name} context for vcpu ${vcpuId} is ${size} bytes; a ${lx.width! * 8}-bit guest's is ${expected}`, this.at(rec))
      }
      lx.vcpusWithBasic.add(vcpuId)
    } else {
      if (rec.type === Rec.X86_PV_VCPU_EXTENDED && size > EXTENDED_VCPU_CONTEXT_SIZE) {
        this.error('vcpu-context-size', `${name} context for vcpu ${vcpuId} is ${size} bytes; it is at most ${EXTENDED_VCPU_CONTEXT_SIZE}`, this.at(rec))
      }
      if (rec.type === Rec.X86_PV_VCPU_MSRS && size % VCPU_MSR_ENTRY_SIZE !== 0) {
        this.error('vcpu-context-size', `${name} for vcpu ${vcpuId} holds ${size} bytes, not a whole number of ${VCPU_MSR_ENTRY_SIZE}-byte MSR entries`, this.at(rec))
      }
      if (!lx.vcpusWithBasic.has(vcpuId)) lx.vcpuOrphans.push({vcpu: vcpuId, at: this.at(rec), name})
    }
    return `vcpu ${vcpuId}`
  }

  private sharedInfo(rec: RecordInfo): void {
    this.requirePv(rec, Rec.X86_PV_INFO, 'the restorer needs the guest width to read it')
    if (rec.length !== SHARED_INFO_SIZE) {
      this.error('record-size', `SHARED_INFO body is ${rec.length} bytes; it must be one ${SHARED_INFO_SIZE}-byte page`, this.at(rec))
    }
  }

  private tscInfo(rec: RecordInfo): string | void {
    if (rec.length !== X86TscInfo.size) {
      this.error('record-size', `X86_TSC_INFO body is ${rec.length} bytes; it must be ${X86TscInfo.size}`, this.at(rec))
      return
    }
    const tsc = X86TscInfo.get(rec.head)
    if (tsc.reserved !== 0) this.error('reserved-field', `X86_TSC_INFO reserved field is ${hex(tsc.reserved)}, not zero`, this.at(rec, 8 + X86TscInfo.offsets.reserved))
    return `mode ${tsc.mode}, ${tsc.khz} kHz`
  }

  private hvmContext(rec: RecordInfo): void {
    if (rec.length === 0) this.error('hvm-context-empty', 'HVM_CONTEXT is empty; it must hold the HVM context blob', this.at(rec))
    if (this.lx.hvmContextIndex === undefined) this.lx.hvmContextIndex = rec.index
  }

  private hvmParams(rec: RecordInfo): string | void {
    const lx = this.lx
    if (lx.guest === 'hvm' && lx.hvmContextIndex !== undefined) {
      this.error('order-hvm-params', `HVM_PARAMS after HVM_CONTEXT (record ${lx.hvmContextIndex}); parameters must come first, they affect how the context is loaded`, this.at(rec))
    }
    if (rec.length < HvmParamsHeader.size) {
      this.error('record-size', `HVM_PARAMS body is ${rec.length} bytes, shorter than its ${HvmParamsHeader.size}-byte header`, this.at(rec))
      return
    }
    const {count, reserved} = HvmParamsHeader.get(rec.head)
    if (reserved !== 0) this.error('reserved-field', `HVM_PARAMS reserved field is ${hex(reserved)}, not zero`, this.at(rec, 12))
    const expected = HvmParamsHeader.size + HvmParamEntry.size * count
    if (rec.length !== expected) {
      const held = (rec.length - HvmParamsHeader.size) / HvmParamEntry.size
      this.error('hvm-params-size', `HVM_PARAMS count ${count} needs 8 + 16·${count} = ${expected} bytes, but the body is ${rec.length} (room for ${Number.isInteger(held) ? held : held.toFixed(1)} parameters)`, this.at(rec, 8))
    } else if (count === 0) {
      this.warn('hvm-params-empty', 'HVM_PARAMS holds no parameters (written by Xen 4.6-4.8; tolerated, see the spec\'s errata)', this.at(rec))
    }
    return plural(count, 'parameter')
  }

  private checkpoint(): string {
    const lx = this.lx
    // Each checkpoint sends memory and context again.
    lx.hvmContextIndex = undefined
    if (this.top === 'libxl') {
      this.ll.inCheckpoint = true
      this.next = 'libxl-record'
      return 'libxl records follow until CHECKPOINT_END'
    }
    return 'end of a checkpoint'
  }

  private staticDataEnd(rec: RecordInfo): void {
    const lx = this.lx
    const first = lx.firstIndex.get(Rec.STATIC_DATA_END)
    if (first !== undefined) this.error('duplicate-static-data-end', `a second STATIC_DATA_END (the first is record ${first}); a stream has exactly one`, this.at(rec))
    lx.staticDataEnd++
  }

  private policy(rec: RecordInfo, entry: number, one: string, many?: string): string | void {
    const name = recordName('libxc', rec.type)
    const sde = this.lx.firstIndex.get(Rec.STATIC_DATA_END)
    if (sde !== undefined) this.error('order-static-data-end', `${name} after STATIC_DATA_END (record ${sde}); the CPU policy is static data and belongs before it`, this.at(rec))
    if (rec.length === 0 || rec.length % entry !== 0) {
      this.error('record-size', `${name} body is ${rec.length} bytes; it must be a non-zero multiple of ${entry} (one ${one})`, this.at(rec))
      return
    }
    return plural(rec.length / entry, one, many)
  }

  /** PV ordering: `rec` needs a record of type `need` before it. */
  private requirePv(rec: RecordInfo, need: number, why: string): void {
    if (this.lx.guest !== 'pv' || this.lx.seen(need)) return
    const needName = recordName('libxc', need)
    this.once(`needs:${need}`, 'order-' + needName.toLowerCase().replace(/_/g, '-'), `${recordName('libxc', rec.type)} before any ${needName}: ${why}`, this.at(rec))
  }

  /** v3: memory and the p2m come after STATIC_DATA_END. */
  private requireStaticDataEnd(rec: RecordInfo): void {
    if (this.lx.version !== 3 || this.lx.staticDataEnd > 0) return
    this.once(`needs:${Rec.STATIC_DATA_END}`, 'order-static-data-end', `${recordName('libxc', rec.type)} before STATIC_DATA_END: a version 3 stream ends its static data before any memory or p2m`, this.at(rec))
  }

  /** The libxc END: what the restorer needs must all have been sent. */
  private libxcEnd(rec: RecordInfo): void {
    const lx = this.lx
    const endAt = this.at(rec)
    const missing = (type: number, why: string) => {
      if (lx.seen(type) || this.reported.has(`needs:${type}`)) return
      const name = recordName('libxc', type)
      this.error('missing-' + name.toLowerCase().replace(/_/g, '-'), `the stream has no ${name} record: ${why}`, endAt)
    }
    if (lx.version === 3) missing(Rec.STATIC_DATA_END, 'a version 3 stream has exactly one')
    if (lx.guest === 'pv') {
      missing(Rec.X86_PV_INFO, 'a PV stream starts with it')
      missing(Rec.X86_PV_P2M_FRAMES, 'the restorer cannot rebuild the p2m without it')
      missing(Rec.SHARED_INFO, 'a PV guest needs its shared info page')
      if (!lx.vcpusWithBasic.has(0)) this.error('missing-vcpu0', 'the stream has no X86_PV_VCPU_BASIC for vcpu 0; the restorer refuses such a stream', endAt)
      // One error per vcpu: its first record, and how many more there are.
      const orphans = new Map<number, {first: (typeof lx.vcpuOrphans)[0]; more: number}>()
      for (const o of lx.vcpuOrphans) {
        if (o.vcpu === 0 || lx.vcpusWithBasic.has(o.vcpu)) continue
        const seen = orphans.get(o.vcpu)
        if (seen) seen.more++
        else orphans.set(o.vcpu, {first: o, more: 0})
      }
      for (const [id, {first, more}] of orphans) {
        const others = more ? ` (and ${plural(more, 'more record')})` : ''
        this.error('vcpu-without-basic', `${first.name} for vcpu ${id}${others}, but the stream has no X86_PV_VCPU_BASIC for vcpu ${id}`, first.at)
      }
    } else if (lx.guest === 'hvm') {
      missing(Rec.HVM_CONTEXT, 'an HVM guest cannot be restored without its context')
      if (!lx.seen(Rec.HVM_PARAMS)) this.warn('missing-hvm-params', 'the stream has no HVM_PARAMS record (no ioreq or xenstore pfns)', endAt)
    }
    this.next = this.top === 'libxl' ? 'libxl-record' : 'tail'
  }

  // ---- libxl records -------------------------------------------------------

  private libxlRecord(rec: RecordInfo): void {
    const ll = this.ll
    const name = recordName('libxl', rec.type)
    bump(ll.counts, name)
    if (rec.type & REC_OPTIONAL) {
      this.warn('optional-record', `libxl ${name} (${plural(rec.length, 'byte')}) is not known to xst; skipped, as the spec allows for optional records`, this.at(rec))
      this.note(this.noteFor(rec, 'skipped'))
      return
    }
    if (LIBXL_REC_NAMES[rec.type] === undefined) {
      this.error('unknown-record', `libxl ${name} is mandatory (bit 31 clear) but not defined; a restorer must refuse the stream`, this.at(rec))
      this.note(this.noteFor(rec, 'unknown'))
      return
    }
    if (EMPTY_LIBXL.has(rec.type) && rec.length !== 0) {
      this.error('not-empty', `libxl ${name} has a ${plural(rec.length, 'byte')} body; it must be empty`, this.at(rec))
    }
    let detail = ''
    switch (rec.type) {
      case LibxlRec.END:
        if (!ll.libxcContext) this.error('missing-libxc-context', 'the libxl stream ends without a LIBXC_CONTEXT record; it holds no domain', this.at(rec))
        // Only inside a checkpoint can libxl records come before the libxc END.
        else if (!this.lx.seen(Rec.END)) this.error('missing-libxc-end', 'the libxl stream ends inside a checkpoint (after a libxc CHECKPOINT, with no CHECKPOINT_END): the libxc stream never reaches its END', this.at(rec))
        this.next = 'tail'
        break
      case LibxlRec.LIBXC_CONTEXT:
        if (ll.libxcContext) {
          this.error('duplicate-libxc-context', 'a second LIBXC_CONTEXT; the libxc stream comes once (checkpoints continue it after CHECKPOINT_END)', this.at(rec))
        } else {
          ll.libxcContext = true
          this.next = 'libxc-headers'
          detail = 'the libxc stream follows'
        }
        break
      case LibxlRec.EMULATOR_XENSTORE_DATA:
        detail = this.xenstoreData(rec)
        break
      case LibxlRec.EMULATOR_CONTEXT:
        detail = this.emulatorContext(rec)
        break
      case LibxlRec.CHECKPOINT_END:
        if (!ll.inCheckpoint) {
          this.error('checkpoint-end-out-of-place', 'CHECKPOINT_END without a libxc CHECKPOINT before it', this.at(rec))
        } else {
          ll.inCheckpoint = false
          this.next = 'libxc-record'
          detail = 'the libxc stream continues'
        }
        break
      case LibxlRec.CHECKPOINT_STATE:
        if (rec.length === 0) this.error('checkpoint-state-empty', 'CHECKPOINT_STATE is empty; it carries the COLO control id', this.at(rec))
        break
    }
    this.note(this.noteFor(rec, detail))
  }

  /** The emulator sub-header of EMULATOR_* records; undefined when too short. */
  private emulatorHeader(rec: RecordInfo, name: string): {emulatorId: number; index: number} | undefined {
    if (rec.length < EmulatorHeader.size) {
      this.error('record-size', `${name} body is ${rec.length} bytes, shorter than its ${EmulatorHeader.size}-byte emulator header`, this.at(rec))
      return undefined
    }
    const h = EmulatorHeader.get(rec.head)
    if (EMULATOR_NAMES[h.emulatorId] === undefined) {
      this.error('emulator-id', `emulator id ${h.emulatorId} is not defined (0 unknown, 1 qemu-traditional, 2 qemu-upstream)`, this.at(rec, 8))
    }
    return h
  }

  private xenstoreData(rec: RecordInfo): string {
    const h = this.emulatorHeader(rec, 'EMULATOR_XENSTORE_DATA')
    if (!h) return ''
    const emu = `${EMULATOR_NAMES[h.emulatorId] ?? `emulator ${h.emulatorId}`} ${h.index}`
    if (rec.head.length < rec.length) {
      this.error('xenstore-data-size', `EMULATOR_XENSTORE_DATA body is ${rec.length} bytes; xst checks at most ${MAX_XENSTORE_DATA}`, this.at(rec))
      return emu
    }
    const data = rec.head.subarray(EmulatorHeader.size, rec.length)
    if (data.length === 0) return `${emu}, no keys`
    if (data[data.length - 1] !== 0) {
      this.error('xenstore-not-terminated', 'xenstore data does not end with a NUL byte', this.at(rec, 8 + rec.length - 1))
      return emu
    }
    const strings = data.subarray(0, -1).toString('latin1').split('\0')
    if (strings.length % 2 !== 0) {
      this.error('xenstore-odd-strings', `xenstore data holds ${strings.length} strings; keys and values come in pairs, so the count must be even`, this.at(rec, 8 + EmulatorHeader.size))
    }
    const keys = strings.length >> 1
    this.ll.emulator.xenstoreKeys += keys
    return `${emu}, ${plural(keys, 'key')}`
  }

  private emulatorContext(rec: RecordInfo): string {
    const h = this.emulatorHeader(rec, 'EMULATOR_CONTEXT')
    if (!h) return ''
    const size = rec.length - EmulatorHeader.size
    this.ll.emulator.contexts++
    this.ll.emulator.contextBytes += size
    return `${EMULATOR_NAMES[h.emulatorId] ?? `emulator ${h.emulatorId}`} ${h.index}, ${plural(size, 'byte')}`
  }

  // ---- after the stream ----------------------------------------------------

  /**
   * Bytes after the end of the stream. After a bare libxc stream they may be
   * the device-model record; `head` (its first bytes, when the caller has
   * them) lets that be checked. Several calls for one tail add up.
   */
  tail(offset: number, length: number, head?: Buffer): void {
    if (this.done || length === 0) return
    if (this.tailInfo) {
      this.tailInfo.bytes += length
      return
    }
    let kind: string | undefined
    if (this.next !== 'tail') {
      this.error('unexpected-tail', `${plural(length, 'byte')} outside any record before the stream's END`, {offset})
    } else if (this.top === 'libxl') {
      this.error('trailing-bytes', `${plural(length, 'byte')} after the libxl END record`, {offset})
    } else {
      kind = this.deviceModelRecord(offset, length, head)
    }
    this.tailInfo = {kind: kind ?? 'unrecognised', bytes: length}
    this.note({offset, layer: this.top ?? 'libxc', name: kind ? 'device-model record' : 'trailing bytes', length, detail: kind ?? ''})
  }

  /** A qemu record after a bare libxc stream, as the legacy converter leaves it. */
  private deviceModelRecord(offset: number, length: number, head?: Buffer): string | undefined {
    if (!head) return 'device-model record'
    const sig = head.length >= QEMU_SIG_LEN ? latin1(head, 0, QEMU_SIG_LEN) : ''
    if (sig === QEMU_SIG_REST) return sig
    if (sig === QEMU_SIG_DM_0002 || sig === QEMU_SIG_REMUS) {
      const have = length - QEMU_SIG_LEN - 4
      if (head.length < QEMU_SIG_LEN + 4 || have < 0) {
        this.error('qemu-record-size', `the ${sig} record after END is cut short: it has no length field`, {offset})
      } else {
        const said = head.readUInt32LE(QEMU_SIG_LEN)
        if (said !== have) this.error('qemu-record-size', `the ${sig} record after END says ${plural(said, 'byte')} of qemu state, but ${have} follow`, {offset: offset + QEMU_SIG_LEN})
      }
      return sig
    }
    const shown = latin1(head, 0, Math.min(head.length, 8)).replace(/[^\x20-\x7e]/g, '.')
    this.error('trailing-bytes', `${plural(length, 'byte')} after END are not a device-model record (they start "${shown}")`, {offset})
    return undefined
  }

  /** A problem that stops the walk (truncation, a length that cannot be followed, not a v2 stream). */
  fatal(err: FormatError, where: Omit<Location, 'offset'> = {}): void {
    const offset = err instanceof TruncatedError ? err.endOffset : (err.where.offset ?? this.lastOffset)
    this.push({severity: 'error', code: err.code, message: err.detail, offset, ...where})
    this.stop('fatal')
  }

  /** End of checking: the report. `endOffset` is where the stream ended, if known. */
  finish(endOffset?: number): VerifyReport {
    const end = endOffset ?? this.lastOffset
    if (!this.stopReason && this.next !== 'tail' && this.next !== 'done') {
      this.push({severity: 'error', code: 'missing-end', message: `the stream ends at byte ${end} before its END record`, offset: end})
    }
    const lx = this.lx
    const byType: Record<string, number> = {}
    for (const [t, n] of [...lx.pages.byType].sort((a, b) => a[0] - b[0])) byType[PAGE_TYPE_NAMES[t] ?? `type ${t}`] = n
    const haveLibxc = lx.domainType !== undefined
    return {
      valid: this.errors.length === 0,
      errors: this.errors,
      warnings: this.warnings,
      stopped: this.stopReason,
      summary: {
        format: this.top ?? null,
        xlHeader: this.xl
          ? {flags: this.xl.flags, optionalDataLength: this.xl.optionalDataLength, domainName: this.xl.config?.name ?? null}
          : null,
        version: {libxl: this.ll.version ?? null, libxc: haveLibxc ? lx.version : null},
        legacyConverted: this.ll.version !== undefined ? (this.ll.options & LIBXL_OPT_LEGACY) !== 0 : null,
        guestType: haveLibxc ? (DOMAIN_TYPE_NAMES[lx.domainType!] ?? `type ${lx.domainType}`) : null,
        guestWidth: lx.width ?? null,
        ptLevels: lx.levels ?? null,
        xenVersion: lx.xen ?? null,
        records: {libxl: Object.fromEntries(this.ll.counts), libxc: Object.fromEntries(lx.counts)},
        pages: {pfns: lx.pages.pfns, withData: lx.pages.withData, byType},
        vcpus: [...lx.vcpusWithBasic].sort((a, b) => a - b),
        p2mEndPfn: lx.p2mEndPfn ?? null,
        emulator: {...this.ll.emulator},
        tail: this.tailInfo ?? null,
        bytes: end,
      },
    }
  }

  // ---- helpers -------------------------------------------------------------

  private at(rec: RecordInfo, within = 0): Location {
    return {offset: rec.offset + within, layer: rec.layer, index: rec.index, record: recordName(rec.layer, rec.type)}
  }

  private noteFor(rec: RecordInfo, detail: string): RecordNote {
    return {offset: rec.offset, layer: rec.layer, index: rec.index, name: recordName(rec.layer, rec.type), length: rec.length, detail}
  }

  private note(n: RecordNote): void {
    this.opts.onRecord?.(n)
  }

  private error(code: string, message: string, at: Location): void {
    this.push({severity: 'error', code, message, ...at})
  }

  private warn(code: string, message: string, at: Location): void {
    this.push({severity: 'warning', code, message, ...at})
  }

  /** Report a rule once, however many records break it. */
  private once(key: string, code: string, message: string, at: Location): void {
    if (this.reported.has(key)) return
    this.reported.add(key)
    this.error(code, message, at)
  }

  private push(found: Omit<Problem, 'layer' | 'index' | 'record'> & Location): void {
    if (this.stopReason === 'max-errors' || this.stopReason === 'fatal') return
    const p: Problem = {...found, layer: found.layer ?? null, index: found.index ?? null, record: found.record ?? null}
    ;(p.severity === 'error' ? this.errors : this.warnings).push(p)
    this.opts.onProblem?.(p)
    const max = this.opts.maxErrors
    if (p.severity === 'error' && max !== undefined && this.errors.length >= max) this.stop('max-errors')
  }

  private stop(reason: StopReason): void {
    this.stopReason ??= reason
  }
}

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1)
}

function latin1(buf: Buffer, start: number, end: number): string {
  return buf.toString('latin1', start, Math.min(end, buf.length)).replace(/[^\x20-\x7e]/g, '.')
}
