// Legacy -> v2 conversion: the record plan (src/plan/plan.ts) says what
// the image becomes, record by record, and this writes it: the headers and
// records through the v2 writer (which shows each to the observer, the
// verifier), page contents moved from the input as cheaply as the input and
// output allow, the qemu record into the stream or where the output's
// container wants it. The output is byte-identical to Xen's
// convert-legacy-stream where that tool succeeds; where it fails, we follow
// what the Xen 4.5 restorer did.
import {STATE_HEAD} from '../restore/device-model.js'
import type {ByteReader} from '../io/reader.js'
import {type ByteSink, HoldingSink} from '../io/sink.js'
import {CONVERTED_LIBXC_VERSION} from '../v2/libxc/layout.js'
import {REC_NAMES} from '../v2/libxc/records.js'
import {LibxlRec} from '../v2/libxl/layout.js'
import {LIBXL_REC_NAMES} from '../v2/libxl/records.js'
import type {Guest, QemuRecordEvent, ToolstackWidth} from '../legacy/events.js'
import type {WalkOptions} from '../legacy/walker.js'
import {type OutputFormat, type PlannedRecord, RecordPlan} from '../plan/plan.js'
import {addWarning, hex} from '../text.js'
import {type StreamObserver, V2Writer} from '../v2/writer.js'

import type {CheckpointWritten} from './checkpointed.js'

export type {OutputFormat} from '../plan/plan.js'

export interface ConvertOptions extends WalkOptions {
  format: OutputFormat
  /** The libxc stream version to write (3, the default; 2 for Xen 4.6-4.13: see convert/target.ts). */
  libxcVersion?: 2 | 3
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
  /** A Remus stream: the checkpoint to convert (from 1); the last complete one without it. */
  checkpoint?: number
  /** Given the first bytes of the device state written (the qemu record's), for the restore assessment. */
  onDeviceState?: (head: Buffer) => void
}

export interface ConvertSummary {
  /** toolstackWidth: null when no legacy stream was read (a v2 stream copied into a new container). */
  input: {guest: Guest; toolstackWidth: ToolstackWidth | null; xlHeader: boolean; bytes: number; domainName: string | null}
  /** What was written: its format, its libxc stream's version (as its image header says), its size. */
  output: {format: OutputFormat; libxcVersion: number; bytes: number}
  records: {libxc: Record<string, number>; libxl: Record<string, number>}
  pages: {count: number; withData: number; dropped: number; batches: number}
  vcpus: {count: number; ids: number[]}
  qemu: {signature: string; bytes: number} | null
  warnings: string[]
  /** A checkpointed stream (v2 Remus or COLO, legacy Remus) made plain: the checkpoint whose state was written, of how many complete; null otherwise. */
  checkpoint: CheckpointWritten | null
}

export async function convertLegacy(reader: ByteReader, sink: ByteSink, opts: ConvertOptions): Promise<ConvertSummary> {
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
  let qemu: ConvertSummary['qemu'] = null

  /** A PAGE_DATA record: its page contents go from the input to the output as cheaply as the two allow (the native addon moves them in the kernel). */
  const writePages = async (r: PlannedRecord) => {
    if (held.opened) {
      await out.recordFrom(r.layer, r.type, r.head, r.data)
    } else {
      // The first batch is read whole before anything is written (see HoldingSink above).
      const data = await r.data?.read()
      await held.open()
      // Once written, the page buffer goes back to the reader for the next batch.
      await out.record(r.layer, r.type, r.head, data, data && (() => reader.recycle(data)))
    }
    opts.onProgress?.(reader.offset)
  }

  // The first bytes of the device state, kept as they go by (whose state it is: src/restore/device-model.ts).
  const stateHead: Buffer[] = []
  let stateHeadBytes = 0
  const seeState = (piece: Buffer) => {
    if (stateHeadBytes >= STATE_HEAD || !opts.onDeviceState) return
    const take = Buffer.from(piece.subarray(0, STATE_HEAD - stateHeadBytes))
    stateHead.push(take)
    stateHeadBytes += take.length
  }
  const stateSeen = () => opts.onDeviceState?.(Buffer.concat(stateHead))

  /** The qemu state of an EMULATOR_CONTEXT record, streamed from the input (or already read, when it ran to the end of a pipe). */
  const writeEmulator = async (r: PlannedRecord) => {
    const data = r.data
    if (data) {
      await out.recordStreamed(r.layer, r.type, r.head, data.length!, async (write) => {
        qemu!.bytes = await data.pipe((piece) => {
          seeState(piece)
          return write(piece)
        })
      })
    } else {
      qemu!.bytes = r.bulk!.length
      seeState(r.bulk!)
      await out.record(r.layer, r.type, r.head, r.bulk)
    }
    stateSeen()
  }

  /** The qemu record outside the stream: where the container wants it, or after a bare libxc stream as it was. */
  const writeOutside = async (q: QemuRecordEvent) => {
    if (opts.onQemuRecord) {
      qemu!.bytes = await opts.onQemuRecord(q, {raw: (b) => out.raw(b), tail: (b) => out.tail(b)})
    } else {
      await out.tail(q.header)
      qemu!.bytes = await q.data.pipe((p) => {
        seeState(p)
        return out.tail(p)
      })
      stateSeen()
    }
  }

  const plan = new RecordPlan(reader, {...opts, qemuOutside: opts.onQemuRecord !== undefined})
  for await (const d of plan) {
    switch (d.kind) {
      case 'xl-header':
        opts.observer?.xlHeader?.(d.header)
        await out.raw(d.header.raw)
        break
      case 'image':
        opts.onImage?.({guest: d.guest, toolstackWidth: d.toolstackWidth})
        break
      case 'libxl-header':
        await out.libxlHeader(d.options)
        break
      case 'libxc-headers':
        await out.libxcHeaders(d.domainType, d.version)
        break
      case 'record':
        if (d.pages) await writePages(d)
        else if (d.layer === 'libxl' && d.type === LibxlRec.EMULATOR_CONTEXT) await writeEmulator(d)
        else await out.record(d.layer, d.type, d.head)
        break
      case 'qemu-record':
        qemu = {signature: d.record.signature, bytes: 0}
        await held.open()
        if (d.outside) await writeOutside(d.record)
        break
      case 'warning':
        warn(d.message)
        break
      default:
        d satisfies never
    }
  }
  await out.flush()
  const f = plan.facts
  return {
    input: {guest: f.guest, toolstackWidth: f.toolstackWidth, xlHeader: f.xlHeader, bytes: reader.offset, domainName: f.domainName},
    output: {format: opts.format, libxcVersion: opts.libxcVersion ?? CONVERTED_LIBXC_VERSION, bytes: out.offset},
    records: {libxc: namedCounts(out.counts.libxc, REC_NAMES), libxl: namedCounts(out.counts.libxl, LIBXL_REC_NAMES)},
    pages: {...f.pages},
    vcpus: {count: f.vcpus.length, ids: f.vcpus.sort((a, b) => a - b)},
    qemu,
    warnings,
    checkpoint: f.checkpoint ? {kind: f.checkpoint.kind, written: f.checkpoint.planned, complete: f.checkpoint.complete} : null,
  }
}

function namedCounts(counts: Map<number, number>, names: Record<number, string>): Record<string, number> {
  const o: Record<string, number> = {}
  for (const [t, n] of counts) o[names[t] ?? hex(t)] = n
  return o
}
