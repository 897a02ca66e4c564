// Legacy -> v2 conversion, driven by the legacy walker: each part of the
// image becomes the records Xen's docs/specs/libxc-migration-stream.pandoc
// ("Layout") orders for its guest type, in a libxl stream
// (libxl-migration-stream.pandoc) whose header says it was converted, or
// bare. The output is byte-identical to Xen's convert-legacy-stream where
// that tool succeeds; where it fails, we follow what the Xen 4.5 restorer
// did.
import {FormatError} from '../errors.js'
import type {ByteReader} from '../io/reader.js'
import {type ByteSink, HoldingSink} from '../io/sink.js'
import {
  CONVERTED_LIBXC_VERSION,
  DomainType,
  HvmParamEntry,
  HvmParamsHeader,
  PageDataHeader,
  Rec,
  VcpuHeader,
  X86PvInfo,
  X86PvP2mFramesHeader,
  X86TscInfo,
} from '../v2/libxc/layout.js'
import {REC_NAMES} from '../v2/libxc/records.js'
import {EmulatorHeader, EmulatorId, LIBXL_OPT_LEGACY, LibxlRec} from '../v2/libxl/layout.js'
import {LIBXL_REC_NAMES} from '../v2/libxl/records.js'
import {HvmParam} from '../format/x86.js'
import {XL_MANDATORY_STREAM_V2, XlHeader} from '../xl/layout.js'
import {NOT_CONVERTIBLE_CHUNKS} from '../legacy/chunks.js'
import {type Guest, type LegacyEvent, type QemuRecordEvent, type ToolstackWidth, unhandledEvent} from '../legacy/events.js'
import {decodeToolstack, physmapPairs} from '../legacy/toolstack.js'
import {walkLegacy, type WalkOptions} from '../legacy/walker.js'
import {PfnWord} from '../v2/record.js'
import {addWarning, hex} from '../text.js'
import {wordsToLE} from '../io/words.js'
import {type StreamObserver, V2Writer} from '../v2/writer.js'

export type OutputFormat = 'libxl' | 'libxc'

export interface ConvertOptions extends WalkOptions {
  format: OutputFormat
  /** Shown every record as it is written (the verifier). */
  observer?: StreamObserver
  /** Called after each page batch with the input offset reached. */
  onProgress?: (inputOffset: number) => void
  /** Called once the image is recognised, before anything is converted. */
  onImage?: (image: {guest: Guest; toolstackWidth: ToolstackWidth}) => void
  /** Called for each warning as it arises. */
  onWarning?: (message: string) => void
  /**
   * A container's bytes before the stream (a libvirt or xl header, a
   * XenServer signature and sections): written first and held back with
   * the stream's first bytes; not part of the stream the observer is shown.
   */
  prefix?: Buffer
  /** Leave the input's xl header out of the output (the output's container stands in its place). */
  omitXlHeader?: boolean
  /**
   * Put the qemu record where the output's container wants it instead of
   * into the stream: called with the record once the stream's END is
   * written; `raw` writes bytes outside the stream, `tail` bytes after it
   * (shown to the observer as such). Returns the qemu state bytes written.
   */
  onQemuRecord?: (record: QemuRecordEvent, out: {raw(b: Buffer): Promise<void>; tail(b: Buffer): Promise<void>}) => Promise<number>
}

export interface ConvertSummary {
  /** toolstackWidth: null when no legacy stream was read (a v2 stream copied into a new container). */
  input: {guest: Guest; toolstackWidth: ToolstackWidth | null; xlHeader: boolean; bytes: number; domainName: string | null}
  /** What was written: its format, its libxc stream's version (as its image header says), its size. */
  output: {format: OutputFormat; libxcVersion: number; bytes: number}
  records: {libxc: Record<string, number>; libxl: Record<string, number>}
  pages: {total: number; withData: number; dropped: number; batches: number}
  vcpus: number[]
  qemu: {signature: string; bytes: number} | null
  warnings: string[]
}


export async function convertLegacy(reader: ByteReader, sink: ByteSink, opts: ConvertOptions): Promise<ConvertSummary> {
  const libxl = opts.format === 'libxl'
  // Nothing reaches `sink` before the first page data: by then every defect
  // of the image's start is known (p2m_size, extended info, p2m frames, and
  // in a PV image without pages, the whole body), so an image refused for
  // one of them leaves a stream output empty, not half-written. What is held
  // is small (headers, the p2m frame list) except in an HVM image without
  // pages, whose tail is held too, up to its qemu record. A defect found
  // after that point cannot be un-written on a stream; the job says how many
  // bytes went out.
  const held = new HoldingSink(sink)
  if (opts.prefix) await held.write(opts.prefix)
  const out = new V2Writer(held, opts.observer)
  const warnings: string[] = []
  const warn = (m: string) => {
    addWarning(warnings, m)
    opts.onWarning?.(m)
  }
  const summary: ConvertSummary = {
    input: {guest: 'pv', toolstackWidth: 64, xlHeader: false, bytes: 0, domainName: null},
    output: {format: opts.format, libxcVersion: CONVERTED_LIBXC_VERSION, bytes: 0},
    records: {libxc: {}, libxl: {}},
    pages: {total: 0, withData: 0, dropped: 0, batches: 0},
    vcpus: [],
    qemu: null,
    warnings,
  }
  // HVM parameters from body chunks, written together at the end of the body.
  const hvmParams: Array<[number, bigint]> = []
  const xenstore: Array<[string, string]> = []
  let width: ToolstackWidth = 64
  let guest: Guest = 'pv'
  let p2mSize = 0
  let headersWritten = false
  // The online vcpus the tail holds (the last vcpu_info; without one, vcpu 0 only).
  let vcpuInfo: {online: number[]; offset: number; index: number} | undefined

  const startLibxc = async (g: Guest) => {
    if (libxl) {
      await out.libxlHeader(LIBXL_OPT_LEGACY)
      await out.record('libxl', LibxlRec.LIBXC_CONTEXT, Buffer.alloc(0))
    }
    await out.libxcHeaders(g === 'pv' ? DomainType.X86_PV : DomainType.X86_HVM, CONVERTED_LIBXC_VERSION)
    headersWritten = true
  }
  const rec = (type: number, head: Buffer, bulk?: Buffer, release?: () => void) => out.record('libxc', type, head, bulk, release)

  // Xen's converter reads the qemu record into a libxl stream whatever
  // --skip-qemu says: only a bare libxc stream can leave it out.
  // A batch's pfns and types are copied into its PAGE_DATA header at once,
  // so the walker may reuse their memory for the next batch.
  const walk: WalkOptions = {...opts, skipQemu: opts.skipQemu && !libxl, transientBatches: true}
  for await (const ev of walkLegacy(reader, walk) as AsyncGenerator<LegacyEvent>) {
    switch (ev.kind) {
      case 'xl-header': {
        summary.input.xlHeader = true
        summary.input.domainName = ev.header.config?.name ?? null
        if (opts.omitXlHeader) break
        const raw = Buffer.from(ev.header.raw)
        const mandatoryFlags = libxl ? ev.header.mandatoryFlags | XL_MANDATORY_STREAM_V2 : ev.header.mandatoryFlags
        XlHeader.fields.mandatoryFlags.put(raw, XlHeader.offsets.mandatoryFlags, mandatoryFlags)
        opts.observer?.xlHeader?.({...ev.header, raw, mandatoryFlags, streamV2: libxl})
        await out.raw(raw)
        break
      }
      case 'image':
        width = ev.toolstackWidth
        guest = ev.guest
        p2mSize = ev.p2mSize
        summary.input.guest = guest
        summary.input.toolstackWidth = width
        opts.onImage?.({guest, toolstackWidth: width})
        if (opts.skipQemu && libxl && guest === 'hvm') warn('--skip-qemu does not apply to libxl output (nor does it in Xen\'s converter): the qemu record is read and becomes EMULATOR_CONTEXT')
        await startLibxc(guest)
        if (guest === 'hvm') await rec(Rec.STATIC_DATA_END, Buffer.alloc(0))
        break
      case 'extended-info':
        await rec(Rec.X86_PV_INFO, X86PvInfo.encode({guestWidth: ev.guestWidth, ptLevels: ev.ptLevels, reserved1: 0, reserved2: 0}))
        await rec(Rec.STATIC_DATA_END, Buffer.alloc(0))
        break
      case 'p2m-frames': {
        const head = Buffer.alloc(X86PvP2mFramesHeader.size + ev.frames.length * 8)
        X86PvP2mFramesHeader.put(head, 0, {startPfn: 0, endPfn: Math.max(0, p2mSize - 1)})
        Buffer.from(ev.frames.buffer, ev.frames.byteOffset, ev.frames.byteLength).copy(head, X86PvP2mFramesHeader.size)
        await rec(Rec.X86_PV_P2M_FRAMES, head)
        break
      }
      case 'page-batch': {
        summary.pages.dropped += ev.dropped
        const n = ev.pfns.length
        if (n === 0) break // a zero-count PAGE_DATA is invalid v2: write nothing
        summary.pages.batches++
        summary.pages.total += n
        summary.pages.withData += ev.dataPages
        // Header and pfn words as u32s (aligned: allocUnsafeSlow is not a pool slice).
        // A legacy pfn has 28 bits: the word's high half is just the type.
        const head = Buffer.allocUnsafeSlow(PageDataHeader.size + n * 8)
        const words = new Uint32Array(head.buffer, head.byteOffset, 2 + 2 * n)
        words[0] = n
        words[1] = 0
        const {pfns, types} = ev
        for (let i = 0; i < n; i++) {
          words[2 + 2 * i] = pfns[i]
          words[3 + 2 * i] = types[i] << 28
        }
        wordsToLE(words, 2 + 2 * n)
        if (held.opened) {
          // The page contents go from the input to the output as cheaply as
          // the two allow (the native addon moves them in the kernel).
          await out.recordFrom('libxc', Rec.PAGE_DATA, head, ev.dataPages ? ev.data : undefined)
        } else {
          // The first batch is read whole before anything is written (see HoldingSink above).
          const data = ev.dataPages ? await ev.data.read() : undefined
          await held.open()
          // Once written, the page buffer goes back to the reader for the next batch.
          await rec(Rec.PAGE_DATA, head, data, data && (() => reader.recycle(data)))
        }
        opts.onProgress?.(reader.offset)
        break
      }
      case 'chunk': {
        const d = ev.detail
        if (NOT_CONVERTIBLE_CHUNKS.has(ev.type)) {
          throw new FormatError('not-convertible', `${ev.name} chunk cannot be converted: v2 streams have no equivalent`, {offset: ev.offset, index: ev.index, indexKind: 'chunk', context: ev.name})
        }
        if (d.chunk === 'hvm_param') hvmParams.push([d.param, d.value])
        else if (d.chunk === 'tsc_info') {
          await rec(Rec.X86_TSC_INFO, X86TscInfo.encode({mode: d.mode, khz: d.khz, nsec: d.nsec, incarnation: d.incarnation, reserved: 0}))
        } else if (d.chunk === 'vcpu_info') {
          summary.vcpus = d.online
          vcpuInfo = {online: d.online, offset: ev.offset, index: ev.index}
        } else if (d.chunk === 'toolstack' && libxl) {
          xenstore.push(...physmapPairs(decodeToolstack(d.data, width, ev.offset + 8, ev.index, warn)))
        }
        break
      }
      case 'end-of-body':
        if (guest === 'pv') {
          // What a v2 restorer refuses, known now, before the tail is written.
          if (summary.pages.batches === 0) {
            throw new FormatError(
              'no-page-data',
              'the PV image sends no pages (no page batch with a mapped entry) before its end chunk; a v2 restorer refuses such a stream: vcpu 0\'s page tables would name pages never sent (process_vcpu_basic())',
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
        if (hvmParams.length) await rec(Rec.HVM_PARAMS, hvmParamsBody(hvmParams))
        break
      case 'unmapped-pfns':
        // Pfns the saver could not map: nothing to restore for them, and a
        // v2 stream has no record of them (Xen's converter skips them too).
        break
      case 'vcpu-context': {
        const type = {basic: Rec.X86_PV_VCPU_BASIC, extended: Rec.X86_PV_VCPU_EXTENDED, xsave: Rec.X86_PV_VCPU_XSAVE}[ev.part]
        await rec(type, Buffer.concat([VcpuHeader.encode({vcpuId: ev.vcpu, reserved: 0}), ev.data]))
        if (ev.part === 'basic' && !summary.vcpus.includes(ev.vcpu)) summary.vcpus.push(ev.vcpu)
        break
      }
      case 'shared-info':
        await rec(Rec.SHARED_INFO, ev.data)
        await rec(Rec.END, Buffer.alloc(0))
        break
      case 'hvm-magic-pfns':
        await rec(
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
          throw new FormatError(
            'empty-hvm-context',
            'the HVM context is empty; a v2 stream must carry the HVM context blob, and a restorer refuses an empty HVM_CONTEXT',
            {offset: ev.offset, context: 'HVM context', expected: 'at least 1 byte', got: '0'},
          )
        }
        await rec(Rec.HVM_CONTEXT, await ev.data.read())
        await rec(Rec.END, Buffer.alloc(0))
        break
      case 'qemu-record':
        summary.qemu = {signature: ev.signature, bytes: 0}
        await held.open()
        if (opts.onQemuRecord) {
          summary.qemu.bytes = await opts.onQemuRecord(ev, {raw: (b) => out.raw(b), tail: (b) => out.tail(b)})
        } else if (libxl) {
          await writeXenstore(out, xenstore)
          xenstore.length = 0
          const head = EmulatorHeader.encode({emulatorId: EmulatorId.UNKNOWN, index: 0})
          if (ev.length !== undefined) {
            await out.recordStreamed('libxl', LibxlRec.EMULATOR_CONTEXT, head, ev.length, async (write) => {
              summary.qemu!.bytes = await ev.data.pipe(write)
            })
          } else {
            // Qemu state running to the end of a pipe: its length is only known once read.
            const blob = await ev.data.read()
            summary.qemu.bytes = blob.length
            await out.record('libxl', LibxlRec.EMULATOR_CONTEXT, head, blob)
          }
        } else {
          // A bare libxc stream is followed by the device-model record as it was.
          await out.tail(ev.header)
          summary.qemu.bytes = await ev.data.pipe((p) => out.tail(p))
        }
        break
      case 'no-qemu-record':
        if (ev.reason === 'eof' && libxl) warn('the HVM image has no device-model (qemu) record; the converted stream has no EMULATOR_CONTEXT, so the guest restores without saved qemu state')
        break
      case 'trailing':
        warn(`${ev.length} bytes after the end of the image at byte ${ev.offset} were ignored`)
        break
      case 'warning':
        warn(ev.message)
        break
      case 'done':
        if (libxl) {
          await writeXenstore(out, xenstore)
          await out.record('libxl', LibxlRec.END, Buffer.alloc(0))
        }
        break
      default:
        throw unhandledEvent(ev)
    }
  }
  if (!headersWritten) throw new Error('internal: walker ended without an image')
  await out.flush()
  summary.input.bytes = reader.offset
  summary.output.bytes = out.offset
  summary.records.libxc = namedCounts(out.counts.libxc, REC_NAMES)
  summary.records.libxl = namedCounts(out.counts.libxl, LIBXL_REC_NAMES)
  summary.vcpus.sort((a, b) => a - b)
  return summary
}

function hvmParamsBody(params: Array<[number, bigint]>): Buffer {
  const buf = Buffer.alloc(HvmParamsHeader.size + params.length * HvmParamEntry.size)
  HvmParamsHeader.put(buf, 0, {count: params.length, reserved: 0})
  params.forEach(([index, value], i) => HvmParamEntry.put(buf, HvmParamsHeader.size + i * HvmParamEntry.size, {index: BigInt(index), value}))
  return buf
}

async function writeXenstore(out: V2Writer, pairs: Array<[string, string]>): Promise<void> {
  if (pairs.length === 0) return
  const strings = pairs.flatMap(([k, v]) => [k, v]).map((s) => Buffer.from(s + '\0', 'latin1'))
  await out.record('libxl', LibxlRec.EMULATOR_XENSTORE_DATA, Buffer.concat([EmulatorHeader.encode({emulatorId: EmulatorId.UNKNOWN, index: 0}), ...strings]))
}

function namedCounts(counts: Map<number, number>, names: Record<number, string>): Record<string, number> {
  const o: Record<string, number> = {}
  for (const [t, n] of counts) o[names[t] ?? hex(t)] = n
  return o
}
