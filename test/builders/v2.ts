// v2 stream builder for unit tests: a stream is a list of parts (headers and
// records) written with V2Writer and the v2 layouts. The defaults
// give a well-formed PV or HVM stream; tests break one rule by replacing,
// moving or removing parts, and ask the built stream where each part landed.
//
// Imports only the project's sources, so plain `tsc` can compile it.
import {
  CPUID_POLICY_ENTRY_SIZE,
  DomainHeader,
  DomainType,
  HvmParamEntry,
  HvmParamsHeader,
  IHDR_IDENT,
  IHDR_MARKER,
  ImageHeader,
  MSR_POLICY_ENTRY_SIZE,
  PageDataHeader,
  Rec,
  SHARED_INFO_SIZE,
  VcpuHeader,
  X86PvInfo,
  X86PvP2mFramesHeader,
  X86TscInfo,
} from '../../src/v2/libxc/layout.js'
import {EmulatorHeader, LIBXL_IDENT, LIBXL_OPT_LEGACY, LIBXL_VERSION, LibxlHeader, LibxlRec} from '../../src/v2/libxl/layout.js'
import {EXT_VCPU_32, EXT_VCPU_64, PAGE_SIZE, pageTypeHasData} from '../../src/format/x86.js'
import {XL_BYTEORDER, XL_MAGIC, XlHeader} from '../../src/xl/layout.js'
import {ByteReader} from '../../src/io/reader.js'
import {MemorySink} from '../../src/io/sink.js'
import {BufferSource, ChunkedSource} from '../../src/io/source.js'
import {verifyStream} from '../../src/v2/reader.js'
import {V2Verifier, type VerifierOptions, type VerifyReport} from '../../src/v2/verify/verifier.js'
import {type Layer, paddingOf, PfnWord, RecordHeader} from '../../src/v2/record.js'
import {type StreamObserver, V2Writer} from '../../src/v2/writer.js'

export type Part =
  | {kind: 'xl'; mandatoryFlags: number; config?: string}
  | {kind: 'libxl-header'; options?: number; raw?: Buffer}
  | {kind: 'libxc-headers'; domainType: number; version?: number; raw?: Buffer}
  | {
      kind: 'record'
      layer: Layer
      type: number
      head: Buffer
      bulk?: Buffer
      /** Bad-value overrides: the length field, and the padding bytes as written. */
      length?: number
      padding?: Buffer
    }
  /** Bytes written as they are (a qemu record, junk). */
  | {kind: 'raw'; bytes: Buffer}

type RecordPart = Extract<Part, {kind: 'record'}>

export interface Placed {
  part: Part
  offset: number
  /** Record index within its layer (records only). */
  index?: number
}

export interface Built {
  bytes: Buffer
  placed: Placed[]
}

// ---- record bodies -----------------------------------------------------------

export const rec = (type: number, head: Buffer = Buffer.alloc(0), bulk?: Buffer, layer: Layer = 'libxc'): RecordPart => ({
  kind: 'record',
  layer,
  type,
  head,
  bulk,
})
export const libxlRec = (type: number, head: Buffer = Buffer.alloc(0), bulk?: Buffer): RecordPart => rec(type, head, bulk, 'libxl')

export const pvInfo = (guestWidth = 8, ptLevels = 4) => rec(Rec.X86_PV_INFO, X86PvInfo.encode({guestWidth, ptLevels, reserved1: 0, reserved2: 0}))

export function p2mFrames(startPfn: number, endPfn: number, guestWidth = 8): RecordPart {
  const perFrame = PAGE_SIZE / guestWidth
  const frames = Math.floor(endPfn / perFrame) + 1 - Math.floor(startPfn / perFrame)
  const head = Buffer.alloc(X86PvP2mFramesHeader.size + 8 * frames)
  X86PvP2mFramesHeader.put(head, 0, {startPfn, endPfn})
  for (let i = 0; i < frames; i++) head.writeBigUInt64LE(BigInt(0x1000 + i), X86PvP2mFramesHeader.size + 8 * i)
  return rec(Rec.X86_PV_P2M_FRAMES, head)
}

/** A pfn word as a u64 (page type in bits 63-60, pfn below), so tests can write it anywhere or OR bits into it. */
export function pfnWord(pfn: number, type = 0): bigint {
  const b = Buffer.alloc(PfnWord.size)
  PfnWord.put(b, 0, pfn, type)
  return b.readBigUInt64LE(0)
}

/** PAGE_DATA for these pfn words, with a page of data for each type that has data. */
export function pageData(words: bigint[], dataPages?: number): RecordPart {
  const head = Buffer.alloc(PageDataHeader.size + PfnWord.size * words.length)
  PageDataHeader.put(head, 0, {count: words.length, reserved: 0})
  const at = (i: number) => PageDataHeader.size + PfnWord.size * i
  words.forEach((w, i) => head.writeBigUInt64LE(w, at(i)))
  const n = dataPages ?? words.filter((_, i) => pageTypeHasData(PfnWord.type(head, at(i)))).length
  return rec(Rec.PAGE_DATA, head, n ? Buffer.alloc(n * PAGE_SIZE, 0xa5) : undefined)
}

/** Normal pages `first`..`first+count-1`. */
export const pages = (first: number, count: number) => pageData(Array.from({length: count}, (_, i) => pfnWord(first + i)))

export function vcpu(type: number, vcpuId: number, contextSize: number): RecordPart {
  return rec(type, Buffer.concat([VcpuHeader.encode({vcpuId, reserved: 0}), Buffer.alloc(contextSize, 0x11)]))
}

/** The vcpu records Xen writes for one vcpu of a guest of this width. */
export function vcpuSet(vcpuId: number, guestWidth = 8): RecordPart[] {
  return [
    vcpu(Rec.X86_PV_VCPU_BASIC, vcpuId, guestWidth === 8 ? EXT_VCPU_64 : EXT_VCPU_32),
    vcpu(Rec.X86_PV_VCPU_EXTENDED, vcpuId, 128),
    vcpu(Rec.X86_PV_VCPU_XSAVE, vcpuId, 848),
    vcpu(Rec.X86_PV_VCPU_MSRS, vcpuId, 16),
  ]
}

export const sharedInfo = (size = SHARED_INFO_SIZE) => rec(Rec.SHARED_INFO, Buffer.alloc(size))
export const tscInfo = () => rec(Rec.X86_TSC_INFO, X86TscInfo.encode({mode: 0, khz: 2_400_000, nsec: 10n ** 9n, incarnation: 1, reserved: 0}))

export function hvmParams(params: Array<[number, bigint]>, count = params.length): RecordPart {
  const head = Buffer.alloc(HvmParamsHeader.size + HvmParamEntry.size * params.length)
  HvmParamsHeader.put(head, 0, {count, reserved: 0})
  params.forEach(([index, value], i) => HvmParamEntry.put(head, HvmParamsHeader.size + HvmParamEntry.size * i, {index: BigInt(index), value}))
  return rec(Rec.HVM_PARAMS, head)
}

export const hvmContext = (size = 1024) => rec(Rec.HVM_CONTEXT, Buffer.alloc(size, 0x22))
export const cpuidPolicy = (leaves = 4) => rec(Rec.X86_CPUID_POLICY, Buffer.alloc(leaves * CPUID_POLICY_ENTRY_SIZE, 1))
export const msrPolicy = (msrs = 2) => rec(Rec.X86_MSR_POLICY, Buffer.alloc(msrs * MSR_POLICY_ENTRY_SIZE, 2))
export const empty = (type: number, layer: Layer = 'libxc') => rec(type, Buffer.alloc(0), undefined, layer)
export const end = (layer: Layer = 'libxc') => empty(0, layer)

/** EMULATOR_XENSTORE_DATA: NUL-terminated strings after the emulator header. */
export function xenstoreData(strings: string[], emulatorId = 2): RecordPart {
  const data = Buffer.from(strings.map((s) => s + '\0').join(''), 'latin1')
  return libxlRec(LibxlRec.EMULATOR_XENSTORE_DATA, Buffer.concat([EmulatorHeader.encode({emulatorId, index: 0}), data]))
}

export const emulatorContext = (size = 512, emulatorId = 2) => libxlRec(LibxlRec.EMULATOR_CONTEXT, EmulatorHeader.encode({emulatorId, index: 0}), Buffer.alloc(size, 0x33))

// ---- whole streams -----------------------------------------------------------

export const libxcHeaders = (domainType: number, version = 3): Part => ({kind: 'libxc-headers', domainType, version})

export interface PvOptions {
  version?: 2 | 3
  guestWidth?: 4 | 8
  vcpus?: number[]
}

/** A well-formed PV stream: 300 pfns over two PAGE_DATA records. */
export function pvStream(o: PvOptions = {}): Stream {
  const version = o.version ?? 3
  const width = o.guestWidth ?? 8
  return new Stream([
    libxcHeaders(DomainType.X86_PV, version),
    pvInfo(width, width === 8 ? 4 : 3),
    ...(version === 3 ? [cpuidPolicy(), msrPolicy(), empty(Rec.STATIC_DATA_END)] : []),
    p2mFrames(0, 299, width),
    pageData([pfnWord(0, 0xf), pfnWord(1, 1), pfnWord(2, 0xe), ...Array.from({length: 125}, (_, i) => pfnWord(3 + i))]),
    pages(128, 172),
    tscInfo(),
    sharedInfo(),
    ...(o.vcpus ?? [0, 1]).flatMap((v) => vcpuSet(v, width)),
    end(),
  ])
}

/** A well-formed HVM stream. */
export function hvmStream(o: {version?: 2 | 3} = {}): Stream {
  const version = o.version ?? 3
  return new Stream([
    libxcHeaders(DomainType.X86_HVM, version),
    ...(version === 3 ? [cpuidPolicy(), msrPolicy(), empty(Rec.STATIC_DATA_END)] : []),
    pages(0, 64),
    pages(64, 64),
    tscInfo(),
    hvmParams([
      [5, 0xfeff0n],
      [6, 0xfeff1n],
      [1, 0xfeff2n],
    ]),
    hvmContext(),
    end(),
  ])
}

/** `inner` (a libxc stream) inside a libxl stream, with emulator records for HVM. */
export function libxlStream(inner: Stream, o: {options?: number; emulator?: boolean} = {}): Stream {
  return new Stream([
    {kind: 'libxl-header', options: o.options ?? LIBXL_OPT_LEGACY},
    empty(LibxlRec.LIBXC_CONTEXT, 'libxl'),
    ...inner.parts,
    ...((o.emulator ?? true) ? [xenstoreData(['physmap/f0000000/size', '800000']), emulatorContext()] : []),
    end('libxl'),
  ])
}

/** An xl header in front of `inner`. */
export function withXlHeader(inner: Stream, mandatoryFlags: number, config = 'name = "t"\n'): Stream {
  return new Stream([{kind: 'xl', mandatoryFlags, config}, ...inner.parts])
}

type Match = number | ((p: Part) => boolean)

/** A stream as a list of parts, with edits that return the stream for chaining. */
export class Stream {
  constructor(public parts: Part[]) {}

  /** Position of the `nth` record of this type (a number matches libxc records, or a predicate). */
  find(match: Match, nth = 0): number {
    const pred = typeof match === 'number' ? (p: Part) => p.kind === 'record' && p.layer === 'libxc' && p.type === match : match
    let seen = 0
    for (let i = 0; i < this.parts.length; i++) if (pred(this.parts[i]) && seen++ === nth) return i
    throw new Error(`builder: no part matches (${String(match)}, ${nth})`)
  }

  replace(match: Match, part: Part, nth = 0): this {
    this.parts[this.find(match, nth)] = part
    return this
  }

  /** Change the matched record in place. */
  edit(match: Match, change: (r: RecordPart) => void, nth = 0): this {
    const p = this.parts[this.find(match, nth)]
    if (p.kind !== 'record') throw new Error('builder: edit() applies to records')
    change(p)
    return this
  }

  remove(match: Match, nth = 0): this {
    this.parts.splice(this.find(match, nth), 1)
    return this
  }

  insertBefore(match: Match, ...parts: Part[]): this {
    this.parts.splice(this.find(match), 0, ...parts)
    return this
  }

  /** Move the matched part to just before `before`. */
  move(match: Match, before: Match): this {
    const [p] = this.parts.splice(this.find(match), 1)
    this.parts.splice(this.find(before), 0, p)
    return this
  }

  append(...parts: Part[]): this {
    this.parts.push(...parts)
    return this
  }

  clone(): Stream {
    return new Stream(this.parts.map((p) => ({...p})))
  }

  /** Write the stream; `observer` (a verifier) is shown what V2Writer writes. */
  async build(observer?: StreamObserver): Promise<Built> {
    const sink = new MemorySink()
    const w = new V2Writer(sink, observer)
    const next: Record<Layer, number> = {libxc: 0, libxl: 0}
    const placed: Placed[] = []
    for (const part of this.parts) {
      const at: Placed = {part, offset: w.offset}
      placed.push(at)
      switch (part.kind) {
        case 'xl':
          await w.raw(xlHeader(part.mandatoryFlags, part.config ?? ''))
          break
        case 'libxl-header':
          if (part.raw) await w.raw(part.raw)
          else await w.libxlHeader(part.options ?? 0)
          break
        case 'libxc-headers':
          if (part.raw) await w.raw(part.raw)
          else await w.libxcHeaders(part.domainType, part.version ?? 3)
          break
        case 'record':
          at.index = next[part.layer]++
          if (part.length === undefined && part.padding === undefined) await w.record(part.layer, part.type, part.head, part.bulk)
          else await w.raw(rawRecord(part))
          break
        case 'raw':
          await w.raw(part.bytes)
          break
      }
    }
    return {bytes: sink.data, placed}
  }
}

/** A record written byte by byte, so its length field and padding can be wrong. */
function rawRecord(p: RecordPart): Buffer {
  const body = p.bulk ? Buffer.concat([p.head, p.bulk]) : p.head
  const length = p.length ?? body.length
  const padding = p.padding ?? Buffer.alloc(paddingOf(body.length))
  return Buffer.concat([RecordHeader.encode({type: p.type, length}), body, padding])
}

export function xlHeader(mandatoryFlags: number, config: string): Buffer {
  const text = Buffer.from(config + '\0', 'utf8')
  const optional = Buffer.concat([Buffer.alloc(4), text])
  optional.writeUInt32LE(text.length, 0)
  const fixed = XlHeader.encode({magic: XL_MAGIC, byteorder: XL_BYTEORDER, mandatoryFlags, optionalFlags: 0, optionalDataLen: optional.length})
  return Buffer.concat([fixed, optional])
}

/** libxc image + domain headers with any field set (bad-value tests). */
export function rawLibxcHeaders(
  f: Partial<{marker: bigint; id: number; version: number; options: number; reserved1: number; reserved2: number; type: number; pageShift: number; reserved: number}>,
): Buffer {
  return Buffer.concat([
    ImageHeader.encode({marker: f.marker ?? IHDR_MARKER, id: f.id ?? IHDR_IDENT, version: f.version ?? 3, options: f.options ?? 0, reserved1: f.reserved1 ?? 0, reserved2: f.reserved2 ?? 0}),
    DomainHeader.encode({type: f.type ?? DomainType.X86_PV, pageShift: f.pageShift ?? 12, reserved: f.reserved ?? 0, xenMajor: 4, xenMinor: 19}),
  ])
}

export function rawLibxlHeader(f: Partial<{ident: bigint; version: number; options: number}>): Buffer {
  return LibxlHeader.encode({ident: f.ident ?? LIBXL_IDENT, version: f.version ?? LIBXL_VERSION, options: f.options ?? 0})
}

// ---- checking ------------------------------------------------------------------

export interface CheckOptions extends VerifierOptions {
  /** Read as from a pipe: no size, no seeking, short reads. */
  pipe?: boolean
  format?: Layer
}

/** Run the verifier over `bytes` through the stream driver, as `xst verify` does. */
export async function verifyBytes(bytes: Buffer, o: CheckOptions = {}): Promise<VerifyReport> {
  const reader = new ByteReader(o.pipe ? new ChunkedSource(bytes) : new BufferSource(bytes))
  return verifyStream(reader, new V2Verifier(o), {format: o.format})
}
