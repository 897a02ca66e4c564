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
import {FormatError, UsageError} from '../errors.js'
import {HvmParam} from '../format/x86.js'
import type {ByteReader} from '../io/reader.js'
import {wordsToLE} from '../io/words.js'
import {NOT_CONVERTIBLE_CHUNKS} from '../legacy/chunks.js'
import {type Guest, type LegacyEvent, type QemuRecordEvent, type ToolstackWidth, unhandledEvent} from '../legacy/events.js'
import {HeldPayload, type Payload} from '../io/payload.js'
import {decodeCompressedPage} from '../legacy/compression.js'
import type {CompressedPagesEvent, PageBatchEvent} from '../legacy/events.js'
import {PAGE_SIZE, pageTypeHasData} from '../format/x86.js'
import {plural} from '../text.js'
import {PageList, PageStore} from './page-store.js'
import {PfnSet} from '../legacy/pfn-set.js'
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
  /**
   * A Remus stream: the checkpoint whose state the plan takes (from 1);
   * without it, the last complete one, as the receiver fails over.
   */
  checkpoint?: number
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
  pages: {count: number; withData: number; dropped: number; batches: number}
  /** The vcpus the stream holds state for (vcpu_info's online ones, and each basic context), unsorted. */
  vcpus: number[]
  /**
   * A Remus stream (checkpoints after the image): the checkpoint planned,
   * of how many complete, and where the stream is cut inside the next.
   * Null when the image is not checkpointed.
   */
  checkpoint: null | {kind: 'remus'; planned: number; complete: number; compressed: boolean; cut: null | {checkpoint: number; start: number; at: number}}
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
    pages: {count: 0, withData: 0, dropped: 0, batches: 0},
    vcpus: [],
    checkpoint: null,
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
    // A Remus stream (FORMAT.md §7) is planned as the plain stream of one
    // checkpoint's state: the pages of every checkpoint up to it, in order
    // (a later copy of a page replaces an earlier one, as in a live
    // migration's passes), then that checkpoint's context alone. The
    // image streams through as ever; a tail that may be followed by
    // another checkpoint is held until it is known not to be; a later
    // checkpoint is kept whole (its pages in a PageStore) until it is
    // complete, and dropped if the stream ends inside it.
    const mayGoOn = !opts.stopAtImageEnd && (this.reader.seekable || !opts.stopAtEnd || opts.checkpointsOnStream === true)
    const wanted = opts.checkpoint
    if (wanted !== undefined && (!Number.isSafeInteger(wanted) || wanted < 1)) throw new UsageError(`--checkpoint ${wanted}: checkpoints are counted from 1`)
    let lastCheckpointChunk = false
    /** The physmap keys of the last toolstack chunk read. */
    let pairs: Array<[string, string]> = []
    /** The held tail of the last complete checkpoint (and of the image, until what follows it is known). */
    let tail: Planned[] | undefined
    /** The checkpoint being read after the first, and what it holds so far. */
    let later: LaterCheckpoint | undefined
    /** Past the wanted checkpoint: the rest is read only to count the complete ones. */
    let past = false
    /** Where the image starts (its xl header, if any), and whether its pages are in the store. */
    let imageStart: number | undefined
    let seeded = false
    /** The last checkpoint that started (1: the image). */
    let started = 1
    let store: PageStore | undefined
    const cp = () => facts.checkpoint!
    /** A planned item of a tail: held, when the tail is, else planned now. */
    function* put(p: Planned): Generator<Planned> {
      if (later) later.tail.push(p)
      else if (tail) tail.push(p)
      else yield p
    }
    /** A later checkpoint is complete: its pages and parameters, planned now; its tail, held in place of the one before. */
    const complete = async function* (this: void, c: LaterCheckpoint): AsyncGenerator<Planned> {
      for await (const r of c.pageRecords(store)) {
        facts.pages.batches++
        facts.pages.count += r.pages!.pfns.length
        facts.pages.withData += r.pages!.dataPages
        yield r
      }
      if (c.params.length) yield rec(Rec.HVM_PARAMS, hvmParamsBody(c.params))
      tail = c.tail
      // Its physmap keys, unless its qemu record already took them into the tail.
      xenstore.length = 0
      if (!c.xenstoreUsed) xenstore.push(...c.xenstore)
    }
    try {
      for await (const ev of walkLegacy(this.reader, walk) as AsyncGenerator<LegacyEvent>) {
        if (past && ev.kind !== 'checkpoint' && ev.kind !== 'checkpoint-cut' && ev.kind !== 'done') continue
        switch (ev.kind) {
          case 'xl-header': {
            imageStart ??= ev.offset
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
            imageStart ??= ev.offset
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
            if (later) {
              await later.batch(ev, () => (store ??= PageStore.create()))
              break
            }
            const n = ev.pfns.length
            if (n === 0) break // a zero-count PAGE_DATA is invalid v2: nothing planned
            facts.pages.batches++
            facts.pages.count += n
            facts.pages.withData += ev.dataPages
            const mine = ++batch
            yield new PageDataRecord({pfns: ev.pfns, types: ev.types, dataPages: ev.dataPages}, ev.dataPages ? ev.data : undefined, () => batch === mine)
            break
          }
          case 'chunk': {
            const d = ev.detail
            if (NOT_CONVERTIBLE_CHUNKS.has(ev.type)) {
              throw new FormatError('not-convertible', `${ev.name} chunk cannot be converted: v2 streams have no equivalent`, {
                offset: ev.offset,
                index: ev.index,
                indexKind: 'chunk',
                context: ev.name,
              })
            }
            if (d.chunk === 'last_checkpoint') lastCheckpointChunk = true
            if (later) {
              // A later checkpoint's chunks: its parameters, vcpus and physmap replace the earlier ones'.
              if (d.chunk === 'hvm_param') later.params.push([d.param, d.value])
              else if (d.chunk === 'vcpu_info') facts.vcpus = d.online
              else if (d.chunk === 'tsc_info') later.tail.unshift(rec(Rec.X86_TSC_INFO, X86TscInfo.encode({mode: d.mode, khz: d.khz, nsec: d.nsec, incarnation: d.incarnation, reserved: 0})))
              else if (d.chunk === 'toolstack' && libxl) later.xenstore = pairs = physmapPairs(decodeToolstack(d.data, facts.toolstackWidth, ev.offset + 8, ev.index, () => {}))
              break
            }
            if (d.chunk === 'hvm_param') hvmParams.push([d.param, d.value])
            else if (d.chunk === 'tsc_info') {
              yield rec(Rec.X86_TSC_INFO, X86TscInfo.encode({mode: d.mode, khz: d.khz, nsec: d.nsec, incarnation: d.incarnation, reserved: 0}))
            } else if (d.chunk === 'vcpu_info') {
              facts.vcpus = d.online
              vcpuInfo = {online: d.online, offset: ev.offset, index: ev.index}
            } else if (d.chunk === 'toolstack' && libxl) {
              const warnings: string[] = []
              pairs = physmapPairs(decodeToolstack(d.data, facts.toolstackWidth, ev.offset + 8, ev.index, (m) => warnings.push(m)))
              xenstore.push(...pairs)
              for (const message of warnings) yield {kind: 'warning', message}
            }
            break
          }
          case 'end-of-body':
            if (later) break
            // A stream without last_checkpoint may go on with another checkpoint: its tail is held until that is known.
            if (mayGoOn && !lastCheckpointChunk) tail = []
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
            yield* put(rec(type, Buffer.concat([VcpuHeader.encode({vcpuId: ev.vcpu, reserved: 0}), ev.data])))
            if (ev.part === 'basic' && !facts.vcpus.includes(ev.vcpu)) facts.vcpus.push(ev.vcpu)
            break
          }
          case 'shared-info':
            yield* put(rec(Rec.SHARED_INFO, ev.data))
            yield* put(rec(Rec.END, empty()))
            break
          case 'hvm-magic-pfns':
            yield* put(
              rec(
                Rec.HVM_PARAMS,
                hvmParamsBody([
                  [HvmParam.IOREQ_PFN, ev.ioreq],
                  [HvmParam.BUFIOREQ_PFN, ev.bufioreq],
                  [HvmParam.STORE_PFN, ev.store],
                ]),
              ),
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
            yield* put(rec(Rec.HVM_CONTEXT, await ev.data.read()))
            yield* put(rec(Rec.END, empty()))
            break
          case 'qemu-record': {
            const outside = !libxl || opts.qemuOutside === true
            if (later || tail) {
              // Held: its bytes read now, handed out from memory when the tail is planned.
              const bytes = await ev.data.read()
              const held = () => new HeldPayload(bytes, ev.data.offset, 'qemu record')
              yield* put({kind: 'qemu-record', record: {...ev, data: held()}, outside})
              if (outside) break
              for (const x of xenstoreRecord(later ? later.xenstore : xenstore)) yield* put(x)
              if (later) later.xenstoreUsed = true
              else xenstore.length = 0
              yield* put({kind: 'record', layer: 'libxl', type: LibxlRec.EMULATOR_CONTEXT, head: EmulatorHeader.encode({emulatorId: EmulatorId.UNKNOWN, index: 0}), data: held()})
              break
            }
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
            if (ev.reason === 'eof' && libxl && !later)
              yield {kind: 'warning', message: 'the HVM image has no device-model (qemu) record; the converted stream has no EMULATOR_CONTEXT, so the guest restores without saved qemu state'}
            break
          case 'checkpoint': {
            // Checkpoint ev.index - 1 is complete.
            started = ev.index
            if (!facts.checkpoint) facts.checkpoint = {kind: 'remus', planned: 1, complete: 1, compressed: false, cut: null}
            else {
              cp().complete++
              if (later && !past) yield* complete(later)
            }
            later = undefined
            if (!past) cp().planned = cp().complete
            if (wanted !== undefined && cp().complete >= wanted) past = true
            if (!past) later = new LaterCheckpoint(ev.index, pairs, this.reader.seekable ? this.reader : undefined)
            break
          }
          case 'compressed-pages': {
            if (!later) break
            const st = (store ??= PageStore.create())
            // A page encoded against its copy in the image (no saver does it: it sends a page whole the first time it compresses it; the restorer takes it): the image's pages, read back.
            if (!seeded && !ev.pfns.every((pfn, i) => st.holds(pfn) || isWhole(ev, i))) {
              await seedFromImage(this.reader, imageStart, walk, st)
              seeded = true
            }
            later.compressed(ev, st)
            break
          }
          case 'checkpoint-cut':
            // Nothing of the cut checkpoint is planned.
            cp().cut = {checkpoint: ev.index, start: ev.start, at: ev.offset}
            later = undefined
            yield {kind: 'warning', message: ev.message}
            break
          case 'trailing':
            yield {kind: 'warning', message: `${ev.length} bytes after the end of the image at byte ${ev.offset} were ignored`}
            break
          case 'warning':
            yield {kind: 'warning', message: ev.message}
            break
          case 'done':
            // The stream ended where a checkpoint did (unless it was cut inside one): the last one started is complete.
            if (facts.checkpoint && !facts.checkpoint.cut) facts.checkpoint.complete = started
            if (later) {
              cp().planned = cp().complete
              yield* complete(later)
              later = undefined
            }
            if (facts.checkpoint && wanted !== undefined && wanted > facts.checkpoint.complete) {
              throw new UsageError(`--checkpoint ${wanted}: the stream completes ${plural(facts.checkpoint.complete, 'checkpoint')}`)
            }
            if (!facts.checkpoint && wanted !== undefined) throw new UsageError('--checkpoint: the image is not checkpointed (no Remus checkpoint follows it)')
            if (tail) {
              const t = tail
              tail = undefined
              yield* t
            }
            if (libxl) {
              yield* xenstoreRecord(xenstore)
              yield {kind: 'record', layer: 'libxl', type: LibxlRec.END, head: empty()}
            }
            break
          default:
            throw unhandledEvent(ev)
        }
      }
    } finally {
      store?.close()
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

/**
 * A Remus checkpoint after the first, as it is read: its page entries (the
 * contents in the PageStore), its parameters and its tail, planned only
 * once it is complete.
 */
class LaterCheckpoint {
  readonly pages = new PageList()
  /**
   * Its batches, in order: entries [from, from + count) of `pages`, and
   * where their contents are in the input (a file: read back when the
   * checkpoint is complete), or none (in the store: from a pipe, or
   * decoded from compressed data).
   */
  private readonly batches: Array<{from: number; count: number; dataAt?: number}> = []
  readonly params: Array<[number, bigint]> = []
  readonly tail: Planned[] = []
  /** Its physmap keys (the checkpoint before's, until its own toolstack chunk), and whether its qemu record took them. */
  xenstoreUsed = false
  /** A page being decoded (the store's copy, then the encoding over it). */
  private readonly page = Buffer.alloc(PAGE_SIZE)

  constructor(
    readonly index: number,
    public xenstore: Array<[string, string]>,
    /** The input, when it can be read again: inline page contents are read back from it rather than kept. */
    private readonly input: ByteReader | undefined,
  ) {}

  /** A page batch: its entries listed; its contents (unless they come compressed) left in the input, or put in the store. */
  async batch(ev: PageBatchEvent, store: () => PageStore): Promise<void> {
    const from = this.pages.length
    for (let i = 0; i < ev.pfns.length; i++) this.pages.push(ev.pfns[i], ev.types[i])
    if (ev.pfns.length === 0) return
    if (ev.compressed || ev.dataPages === 0 || !this.input) {
      this.batches.push({from, count: ev.pfns.length})
      if (ev.compressed || ev.dataPages === 0) return
      const data = await ev.data.read()
      let k = 0
      for (let i = 0; i < ev.pfns.length; i++) if (pageTypeHasData(ev.types[i])) store().put(ev.pfns[i], data.subarray(k++ * PAGE_SIZE, k * PAGE_SIZE))
      return
    }
    this.batches.push({from, count: ev.pfns.length, dataAt: ev.data.offset})
  }

  /** Compressed pages: each decoded over the copy the receiver holds (the walker checked there is one, unless sent whole). */
  compressed(ev: CompressedPagesEvent, store: PageStore): void {
    for (let i = 0; i < ev.pfns.length; i++) {
      const pfn = ev.pfns[i]
      store.get(pfn, this.page)
      decodeCompressedPage(ev.encodings.subarray(ev.starts[i], ev.starts[i + 1]), 0, this.page)
      store.put(pfn, this.page)
    }
  }

  /** PAGE_DATA records of the checkpoint's batches, in order, their contents read back from the input or taken from the store. */
  async *pageRecords(store: PageStore | undefined): AsyncGenerator<PlannedRecord> {
    const {pfns, types} = this.pages
    for (const b of this.batches) {
      const p = pfns.slice(b.from, b.from + b.count)
      const t = types.slice(b.from, b.from + b.count)
      let dataPages = 0
      for (let i = 0; i < t.length; i++) if (pageTypeHasData(t[i])) dataPages++
      let buf: Buffer
      if (b.dataAt !== undefined) {
        // Back to where the batch's contents are, and back again to where the walk is.
        const r = this.input!
        const back = r.offset
        r.seekTo(b.dataAt)
        buf = await r.read(dataPages * PAGE_SIZE, 'page data')
        r.seekTo(back)
      } else {
        buf = Buffer.allocUnsafe(dataPages * PAGE_SIZE)
        let k = 0
        for (let i = 0; i < p.length; i++) if (pageTypeHasData(t[i])) store!.get(p[i], buf, k++ * PAGE_SIZE)
      }
      yield {kind: 'record', layer: 'libxc', type: Rec.PAGE_DATA, head: pageDataHead(p, t), data: new HeldPayload(buf, b.dataAt ?? 0, 'page data'), pages: {pfns: p, types: t, dataPages}}
    }
  }
}

/** Whether page `i` of a compressed-pages event is sent whole (0x80: no old copy needed). */
function isWhole(ev: CompressedPagesEvent, i: number): boolean {
  return ev.encodings[ev.starts[i]] === 0x80
}

/**
 * The image's (the first checkpoint's) pages into the store, where no later
 * checkpoint put one: read back from the input, which is then taken back to
 * where it was. Only a file can be read back; from a pipe or gzip the pages
 * are gone.
 */
async function seedFromImage(reader: ByteReader, start: number | undefined, walk: WalkOptions, store: PageStore): Promise<void> {
  if (!reader.seekable || start === undefined) {
    throw new UsageError(
      "a compressed Remus checkpoint encodes a page against its copy in the first checkpoint (the 4.5 saver never does: it sends a page whole the first time it compresses it), and the first checkpoint's pages can be read back only from a file: give the file, not a pipe or gzip",
    )
  }
  const back = reader.offset
  reader.seekTo(start)
  // A pfn the store holds from a later checkpoint keeps that newer copy; of the image's own copies (one a pass), the last.
  const fromImage = new PfnSet()
  for await (const ev of walkLegacy(reader, {...walk, stopAtImageEnd: true})) {
    if (ev.kind !== 'page-batch' || ev.dataPages === 0) continue
    const data = await ev.data.read()
    let k = 0
    for (let i = 0; i < ev.pfns.length; i++) {
      if (!pageTypeHasData(ev.types[i])) continue
      const pfn = ev.pfns[i]
      if (!store.holds(pfn) || fromImage.has(pfn)) {
        store.put(pfn, data.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE))
        fromImage.add(pfn)
      }
      k++
    }
  }
  reader.seekTo(back)
}
