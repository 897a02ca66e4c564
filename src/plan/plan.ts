// The record plan: what a legacy image becomes in a v2 stream, decided once
// for every consumer. It walks the image (src/legacy/walker.ts) and turns
// each event into descriptors of what the stream holds, in order: the
// headers, each record (layer, type and body; for PAGE_DATA the batch's
// pfns and types and where its page contents lie in the input, for
// EMULATOR_CONTEXT where the qemu state lies), the device-model record
// when it stays outside the stream, and the warnings. The refusals are
// here too: what a v2 restorer cannot take (Xen's
// docs/specs/libxc-migration-stream.pandoc, "Layout", for each guest type;
// libxl-migration-stream.pandoc) stops the plan with a FormatError.
//
// `convert` writes the descriptors (src/convert/convert.ts); `dump-core`
// reads them for the pages and vcpu state a dump takes (src/dump/scan.ts).
// Bulk bytes (page contents, qemu state) are never read here: each is a
// Payload the consumer reads, streams, or leaves for the walker to skip
// (seeking, on a file).
import {FormatError} from '../errors.js'
import {HvmParam} from '../format/x86.js'
import type {ByteReader} from '../io/reader.js'
import {wordsToLE} from '../io/words.js'
import {NOT_CONVERTIBLE_CHUNKS} from '../legacy/chunks.js'
import {type Guest, type LegacyEvent, type QemuRecordEvent, type ToolstackWidth, unhandledEvent} from '../legacy/events.js'
import type {Payload} from '../io/payload.js'
import {decodeToolstack, physmapPairs} from '../legacy/toolstack.js'
import {walkLegacy, type WalkOptions} from '../legacy/walker.js'
import {CONVERTED_LIBXC_VERSION, DomainType, HvmParamEntry, HvmParamsHeader, PageDataHeader, Rec, VcpuHeader, X86PvInfo, X86PvP2mFramesHeader, X86TscInfo} from '../v2/libxc/layout.js'
import {EmulatorHeader, EmulatorId, LIBXL_OPT_LEGACY, LibxlRec} from '../v2/libxl/layout.js'
import type {Layer} from '../v2/record.js'
import {XL_MANDATORY_STREAM_V2, XlHeader} from '../xl/layout.js'
import type {XlHeaderInfo} from '../xl/header.js'

export type OutputFormat = 'libxl' | 'libxc'

export interface PlanOptions extends WalkOptions {
  format: OutputFormat
  /**
   * The qemu record goes outside the stream, where the output's container
   * wants it: a libxl stream then has no EMULATOR_CONTEXT for it (and its
   * xenstore record comes at the end of the stream).
   */
  qemuOutside?: boolean
  /** Leave the input's xl header out (the output's container stands in its place). */
  omitXlHeader?: boolean
  /**
   * The libxc stream version to write: 3 (the default: Xen 4.14+ restores
   * it, and Xen's converter writes it since), or 2 for Xen 4.6-4.13, whose
   * restorer takes version 2 only. Version 2 is what RELEASE-4.13.0's
   * convert-legacy-stream wrote: the same records less STATIC_DATA_END.
   */
  libxcVersion?: 2 | 3
}

/** A record of the stream. */
export interface PlannedRecord {
  kind: 'record'
  layer: Layer
  type: number
  /**
   * The body, whole; for a record with `data` or `bulk`, the part before
   * them (PAGE_DATA's header and pfn words, EMULATOR_CONTEXT's header):
   * what the verifier is shown of it.
   */
  head: Buffer
  /** The rest of the body, still in the input (page contents, qemu state). */
  data?: Payload
  /** The rest of the body, already read (qemu state that ran to the end of a pipe). */
  bulk?: Buffer
  /**
   * PAGE_DATA: the batch's pfns and types, in stream order, and how many
   * have data (their contents, in that order, are `data`). The arrays are
   * the walker's, reused once the next descriptor is asked for.
   */
  pages?: {pfns: Uint32Array; types: Uint8Array; dataPages: number}
}

export type Planned =
  /** The xl header as the output holds it (its STREAMv2 flag set for a libxl stream). */
  | {kind: 'xl-header'; header: XlHeaderInfo}
  /** The image is recognised; nothing of the stream is planned yet. */
  | {kind: 'image'; guest: Guest; toolstackWidth: ToolstackWidth}
  | {kind: 'libxl-header'; options: number}
  | {kind: 'libxc-headers'; domainType: number; version: number}
  | PlannedRecord
  /**
   * The device-model record: outside the stream (`outside`: bytes after a
   * bare libxc stream, or where the container wants them), or else inside
   * it, as the records planned next (EMULATOR_XENSTORE_DATA, EMULATOR_CONTEXT).
   */
  | {kind: 'qemu-record'; record: QemuRecordEvent; outside: boolean}
  | {kind: 'warning'; message: string}

/** What the plan found, as far as it has gone. */
export interface PlanFacts {
  guest: Guest
  toolstackWidth: ToolstackWidth
  xlHeader: boolean
  domainName: string | null
  /** Pages of the PAGE_DATA records, and the entries dropped as unmapped. */
  pages: {total: number; withData: number; dropped: number; batches: number}
  /** The vcpus the stream holds state for (vcpu_info's online ones, and each basic context), unsorted. */
  vcpus: number[]
}

/**
 * The plan of a legacy image read from `reader`: iterate it for the
 * descriptors; `facts` grows as it goes. Each descriptor is done with
 * before the next is asked for (its Payload is skipped otherwise, and a
 * batch's arrays are reused).
 */
export class RecordPlan implements AsyncIterable<Planned> {
  readonly facts: PlanFacts = {
    guest: 'pv',
    toolstackWidth: 64,
    xlHeader: false,
    domainName: null,
    pages: {total: 0, withData: 0, dropped: 0, batches: 0},
    vcpus: [],
  }

  constructor(
    private readonly reader: ByteReader,
    private readonly opts: PlanOptions,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Planned> {
    const opts = this.opts
    const facts = this.facts
    const libxl = opts.format === 'libxl'
    const version = opts.libxcVersion ?? CONVERTED_LIBXC_VERSION
    const rec = (type: number, head: Buffer): PlannedRecord => ({kind: 'record', layer: 'libxc', type, head})
    const empty = () => Buffer.alloc(0)
    // HVM parameters from body chunks, planned together at the end of the body.
    const hvmParams: Array<[number, bigint]> = []
    const xenstore: Array<[string, string]> = []
    let p2mSize = 0
    let imageSeen = false
    // Page batches so far: a PAGE_DATA record's head is encoded only while its batch is the last.
    let batch = 0
    // The online vcpus the tail holds (the last vcpu_info; without one, vcpu 0 only).
    let vcpuInfo: {online: number[]; offset: number; index: number} | undefined

    // Xen's converter reads the qemu record into a libxl stream whatever
    // --skip-qemu says: only a bare libxc stream can leave it out.
    // A batch's pfns and types are reused for the next batch (a consumer is
    // done with a descriptor before it asks for the next).
    const walk: WalkOptions = {...opts, skipQemu: opts.skipQemu && !libxl, transientBatches: true}
    for await (const ev of walkLegacy(this.reader, walk) as AsyncGenerator<LegacyEvent>) {
      switch (ev.kind) {
        case 'xl-header': {
          facts.xlHeader = true
          facts.domainName = ev.header.config?.name ?? null
          if (opts.omitXlHeader) break
          const raw = Buffer.from(ev.header.raw)
          const mandatoryFlags = libxl ? ev.header.mandatoryFlags | XL_MANDATORY_STREAM_V2 : ev.header.mandatoryFlags
          XlHeader.fields.mandatoryFlags.put(raw, XlHeader.offsets.mandatoryFlags, mandatoryFlags)
          yield {kind: 'xl-header', header: {...ev.header, raw, mandatoryFlags, streamV2: libxl}}
          break
        }
        case 'image':
          facts.guest = ev.guest
          facts.toolstackWidth = ev.toolstackWidth
          p2mSize = ev.p2mSize
          imageSeen = true
          yield {kind: 'image', guest: ev.guest, toolstackWidth: ev.toolstackWidth}
          if (opts.skipQemu && libxl && ev.guest === 'hvm') {
            yield {kind: 'warning', message: "--skip-qemu does not apply to libxl output (nor does it in Xen's converter): the qemu record is read and becomes EMULATOR_CONTEXT"}
          }
          if (libxl) {
            yield {kind: 'libxl-header', options: LIBXL_OPT_LEGACY}
            yield {kind: 'record', layer: 'libxl', type: LibxlRec.LIBXC_CONTEXT, head: empty()}
          }
          yield {kind: 'libxc-headers', domainType: ev.guest === 'pv' ? DomainType.X86_PV : DomainType.X86_HVM, version}
          if (ev.guest === 'hvm' && version === 3) yield rec(Rec.STATIC_DATA_END, empty())
          break
        case 'extended-info':
          yield rec(Rec.X86_PV_INFO, X86PvInfo.encode({guestWidth: ev.guestWidth, ptLevels: ev.ptLevels, reserved1: 0, reserved2: 0}))
          if (version === 3) yield rec(Rec.STATIC_DATA_END, empty())
          break
        case 'p2m-frames': {
          const head = Buffer.alloc(X86PvP2mFramesHeader.size + ev.frames.length * 8)
          X86PvP2mFramesHeader.put(head, 0, {startPfn: 0, endPfn: Math.max(0, p2mSize - 1)})
          Buffer.from(ev.frames.buffer, ev.frames.byteOffset, ev.frames.byteLength).copy(head, X86PvP2mFramesHeader.size)
          yield rec(Rec.X86_PV_P2M_FRAMES, head)
          break
        }
        case 'page-batch': {
          facts.pages.dropped += ev.dropped
          const n = ev.pfns.length
          if (n === 0) break // a zero-count PAGE_DATA is invalid v2: nothing planned
          facts.pages.batches++
          facts.pages.total += n
          facts.pages.withData += ev.dataPages
          const mine = ++batch
          yield new PageDataRecord({pfns: ev.pfns, types: ev.types, dataPages: ev.dataPages}, ev.dataPages ? ev.data : undefined, () => batch === mine)
          break
        }
        case 'chunk': {
          const d = ev.detail
          if (NOT_CONVERTIBLE_CHUNKS.has(ev.type)) {
            throw new FormatError('not-convertible', `${ev.name} chunk cannot be converted: v2 streams have no equivalent`, {offset: ev.offset, index: ev.index, indexKind: 'chunk', context: ev.name})
          }
          if (d.chunk === 'hvm_param') hvmParams.push([d.param, d.value])
          else if (d.chunk === 'tsc_info') {
            yield rec(Rec.X86_TSC_INFO, X86TscInfo.encode({mode: d.mode, khz: d.khz, nsec: d.nsec, incarnation: d.incarnation, reserved: 0}))
          } else if (d.chunk === 'vcpu_info') {
            facts.vcpus = d.online
            vcpuInfo = {online: d.online, offset: ev.offset, index: ev.index}
          } else if (d.chunk === 'toolstack' && libxl) {
            const warnings: string[] = []
            xenstore.push(...physmapPairs(decodeToolstack(d.data, facts.toolstackWidth, ev.offset + 8, ev.index, (m) => warnings.push(m))))
            for (const message of warnings) yield {kind: 'warning', message}
          }
          break
        }
        case 'end-of-body':
          if (facts.guest === 'pv') {
            // What a v2 restorer refuses, known now, before the tail is planned.
            if (facts.pages.batches === 0) {
              throw new FormatError(
                'no-page-data',
                "the PV image sends no pages (no page batch with a mapped entry) before its end chunk; a v2 restorer refuses such a stream: vcpu 0's page tables would name pages never sent (process_vcpu_basic())",
                {offset: ev.offset, index: ev.index, indexKind: 'chunk', context: 'end'},
              )
            }
            if (vcpuInfo && !vcpuInfo.online.includes(0)) {
              throw new FormatError(
                'vcpu0-offline',
                `vcpu_info leaves vcpu 0 offline (online: ${vcpuInfo.online.join(',') || 'none'}); a v2 restorer needs vcpu 0's state and refuses a stream without it`,
                {offset: vcpuInfo.offset, index: vcpuInfo.index, indexKind: 'chunk', context: 'vcpu_info'},
              )
            }
          }
          if (hvmParams.length) yield rec(Rec.HVM_PARAMS, hvmParamsBody(hvmParams))
          break
        case 'unmapped-pfns':
          // Pfns the saver could not map: nothing to restore for them, and a
          // v2 stream has no record of them (Xen's converter skips them too).
          break
        case 'vcpu-context': {
          const type = {basic: Rec.X86_PV_VCPU_BASIC, extended: Rec.X86_PV_VCPU_EXTENDED, xsave: Rec.X86_PV_VCPU_XSAVE}[ev.part]
          yield rec(type, Buffer.concat([VcpuHeader.encode({vcpuId: ev.vcpu, reserved: 0}), ev.data]))
          if (ev.part === 'basic' && !facts.vcpus.includes(ev.vcpu)) facts.vcpus.push(ev.vcpu)
          break
        }
        case 'shared-info':
          yield rec(Rec.SHARED_INFO, ev.data)
          yield rec(Rec.END, empty())
          break
        case 'hvm-magic-pfns':
          yield rec(
            Rec.HVM_PARAMS,
            hvmParamsBody([
              [HvmParam.IOREQ_PFN, ev.ioreq],
              [HvmParam.BUFIOREQ_PFN, ev.bufioreq],
              [HvmParam.STORE_PFN, ev.store],
            ]),
          )
          break
        case 'hvm-context':
          if (ev.length === 0) {
            throw new FormatError('empty-hvm-context', 'the HVM context is empty; a v2 stream must carry the HVM context blob, and a restorer refuses an empty HVM_CONTEXT', {
              offset: ev.offset,
              context: 'HVM context',
              expected: 'at least 1 byte',
              got: '0',
            })
          }
          yield rec(Rec.HVM_CONTEXT, await ev.data.read())
          yield rec(Rec.END, empty())
          break
        case 'qemu-record': {
          const outside = !libxl || opts.qemuOutside === true
          yield {kind: 'qemu-record', record: ev, outside}
          if (outside) break
          yield* xenstoreRecord(xenstore)
          xenstore.length = 0
          const head = EmulatorHeader.encode({emulatorId: EmulatorId.UNKNOWN, index: 0})
          if (ev.length !== undefined) yield {kind: 'record', layer: 'libxl', type: LibxlRec.EMULATOR_CONTEXT, head, data: ev.data}
          // Qemu state running to the end of a pipe: its length is only known once read.
          else yield {kind: 'record', layer: 'libxl', type: LibxlRec.EMULATOR_CONTEXT, head, bulk: await ev.data.read()}
          break
        }
        case 'no-qemu-record':
          if (ev.reason === 'eof' && libxl)
            yield {kind: 'warning', message: 'the HVM image has no device-model (qemu) record; the converted stream has no EMULATOR_CONTEXT, so the guest restores without saved qemu state'}
          break
        case 'trailing':
          yield {kind: 'warning', message: `${ev.length} bytes after the end of the image at byte ${ev.offset} were ignored`}
          break
        case 'warning':
          yield {kind: 'warning', message: ev.message}
          break
        case 'done':
          if (libxl) {
            yield* xenstoreRecord(xenstore)
            yield {kind: 'record', layer: 'libxl', type: LibxlRec.END, head: empty()}
          }
          break
        default:
          throw unhandledEvent(ev)
      }
    }
    if (!imageSeen) throw new Error('internal: walker ended without an image')
  }
}

/**
 * A PAGE_DATA record. Its head (header and pfn words) is encoded when first
 * asked for, while the walker's arrays still hold its batch: a consumer
 * that only wants the pfns (dump-core's window passes) never pays for it.
 */
class PageDataRecord implements PlannedRecord {
  readonly kind = 'record'
  readonly layer = 'libxc'
  readonly type = Rec.PAGE_DATA
  private encoded: Buffer | undefined

  constructor(
    readonly pages: {pfns: Uint32Array; types: Uint8Array; dataPages: number},
    readonly data: Payload | undefined,
    /** Whether the walker's arrays still hold this batch. */
    private readonly current: () => boolean,
  ) {}

  get head(): Buffer {
    if (this.encoded) return this.encoded
    if (!this.current()) throw new Error('internal: a PAGE_DATA head asked for after its batch')
    return (this.encoded = pageDataHead(this.pages.pfns, this.pages.types))
  }
}

/**
 * PAGE_DATA's header and pfn words for a batch. A legacy pfn has 28 bits:
 * each word's high half is just the type.
 */
function pageDataHead(pfns: Uint32Array, types: Uint8Array): Buffer {
  const n = pfns.length
  // Header and pfn words as u32s (aligned: allocUnsafeSlow is not a pool slice).
  const head = Buffer.allocUnsafeSlow(PageDataHeader.size + n * 8)
  const words = new Uint32Array(head.buffer, head.byteOffset, 2 + 2 * n)
  words[0] = n
  words[1] = 0
  for (let i = 0; i < n; i++) {
    words[2 + 2 * i] = pfns[i]
    words[3 + 2 * i] = types[i] << 28
  }
  wordsToLE(words, 2 + 2 * n)
  return head
}

function hvmParamsBody(params: Array<[number, bigint]>): Buffer {
  const buf = Buffer.alloc(HvmParamsHeader.size + params.length * HvmParamEntry.size)
  HvmParamsHeader.put(buf, 0, {count: params.length, reserved: 0})
  for (const [i, [index, value]] of params.entries()) HvmParamEntry.put(buf, HvmParamsHeader.size + i * HvmParamEntry.size, {index: BigInt(index), value})
  return buf
}

/** The xenstore keys the toolstack chunk gave, as one EMULATOR_XENSTORE_DATA record (none without keys). */
function* xenstoreRecord(pairs: Array<[string, string]>): Generator<PlannedRecord> {
  if (pairs.length === 0) return
  const strings = pairs.flat().map((s) => Buffer.from(s + '\0', 'latin1'))
  yield {kind: 'record', layer: 'libxl', type: LibxlRec.EMULATOR_XENSTORE_DATA, head: Buffer.concat([EmulatorHeader.encode({emulatorId: EmulatorId.UNKNOWN, index: 0}), ...strings])}
}
