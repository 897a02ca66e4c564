// A checkpointed v2 stream (a Remus or COLO replication capture, FORMAT.md
// §7) made plain: what `xl restore` reads, holding the state of the last
// complete checkpoint (or of --checkpoint K).
//
// Two passes over the input. The first is the verifier's: it says whether
// the stream is checkpointed at all (a plain v2 stream keeps convert's
// refusal), how many checkpoints it completes and where each ends. The
// second reads the input again as if it ended with checkpoint K and writes:
//
//   the headers as they are (an xl header, the libxl header, the libxc
//     image and domain headers), and the records that come once (X86_PV_INFO,
//     X86_PV_P2M_FRAMES, the cpu policies, STATIC_DATA_END, LIBXC_CONTEXT);
//   PAGE_DATA of every checkpoint 1..K, in order: a page sent again
//     replaces its earlier copy, as in a live migration's later passes;
//   every other record (vcpu and HVM context, TSC, shared info, HVM
//     params, the emulator's records) of checkpoint K only: a plain stream
//     carries them once, after the memory, and the receiver keeps the last
//     checkpoint's anyway;
//   libxc END where checkpoint K's CHECKPOINT was, libxl END where its
//     CHECKPOINT_END was; every other CHECKPOINT, CHECKPOINT_END and
//     CHECKPOINT_STATE is left out, and so is VERIFY (the restorer would
//     compare the later checkpoints' pages instead of writing them).
//
// An input that cannot be read twice (gzip, a pipe) is copied to a
// temporary file while the first pass reads it; the file is unlinked as
// soon as it is made, so it goes away with its descriptor on every exit.
import {unlinkedTempFile} from '../io/temp-file.js'
import fs from 'node:fs'
import {FormatError, outputSystemError, UsageError} from '../errors.js'
import {ByteReader} from '../io/reader.js'
import {BoundedSource, BufferSource, type ByteSource, FdSource} from '../io/source.js'
import {ReaderSource} from '../io/gzip-source.js'
import type {ByteSink} from '../io/sink.js'
import {drainGzip} from '../container/open.js'
import {Rec} from '../v2/libxc/layout.js'
import {LibxlHeader, LibxlRec} from '../v2/libxl/layout.js'
import {ImageHeader, LIBXC_HEADERS_SIZE} from '../v2/libxc/layout.js'
import {type Layer, paddedLength} from '../v2/record.js'
import {checkStream, type BodyInfo} from '../v2/reader.js'
import type {V2Verifier, VerifyReport} from '../v2/verify/verifier.js'
import {problemLine} from '../v2/verify/text.js'
import {V2Writer} from '../v2/writer.js'
import {hasXlHeader, readXlHeader} from '../xl/header.js'
import {XL_MAGIC, XL_MANDATORY_STREAM_V2, XlHeader} from '../xl/layout.js'
import type {Guest} from '../legacy/events.js'
import type {ConvertSummary} from './convert.js'
import {FAMILY_LABELS, type FamilyRequest, type FamilyResult, newXlHeader, type OutputFamily, type PreparedInput} from './families.js'
import {TeeSource} from './tee.js'

/** libxc records sent once, at the start of the first checkpoint: kept where they are. */
const ONCE = new Set<number>([Rec.X86_PV_INFO, Rec.X86_PV_P2M_FRAMES, Rec.X86_CPUID_POLICY, Rec.X86_MSR_POLICY, Rec.STATIC_DATA_END])

/** Which checkpoint a conversion wrote, of how many the input completes. */
export interface CheckpointWritten {
  kind: 'remus' | 'colo'
  written: number
  complete: number
}

/** A checkpointed input, read once by the verifier, ready to be read again. */
export interface CheckpointedInput {
  /** The input (or its spool), seekable, from the stream's first byte (an xl header included). */
  source: ByteSource
  format: Layer
  xlHeader: boolean
  checkpoint: CheckpointWritten
  /** Where checkpoint `written` ends in `source`. */
  end: number
  /** The input's bytes (decompressed). */
  bytes: number
  guest: Guest
  /** The input went to a temporary file (gzip or a pipe). */
  spooled: boolean
  /** Close the spool, if any. */
  close(): Promise<void>
}

/** LABELS for messages: Remus, COLO. */
export const CHECKPOINT_KIND_LABELS = {remus: 'Remus', colo: 'COLO'} as const

/**
 * A bare v2 stream (with or without an xl header) that is checkpointed:
 * read it once with the verifier and choose the checkpoint (`wanted`, or
 * the last complete one). Undefined for anything else (a plain v2 stream,
 * a legacy image, a container), which convert treats as before; --checkpoint
 * there is a usage error, except on a legacy image (the record plan takes it). A cut stream's warning goes to `warn`.
 */
export async function openCheckpointed(p: PreparedInput, wanted: number | undefined, warn?: (m: string) => void): Promise<CheckpointedInput | undefined> {
  const img = p.img
  const xlV2 = p.stream === 'xl' && (await xlSaysV2(img.reader))
  const bareV2 = img.container.kind === 'none' && img.reader.offset === 0 && (p.stream === 'libxc' || p.stream === 'libxl' || xlV2)
  if (!bareV2) {
    // A legacy Remus stream is converted by its record plan, which takes --checkpoint itself.
    const legacy = img.container.kind === 'none' && (p.stream === 'legacy' || (p.stream === 'xl' && !xlV2))
    if (wanted !== undefined && !legacy)
      throw new UsageError('--checkpoint: only a checkpointed stream (v2 Remus or COLO, legacy Remus) without a container is written by checkpoint; this input is not one')
    return undefined
  }
  const seekable = !img.gzip && img.reader.source.seekable
  let source: ByteSource
  let spool: FdSource | undefined
  let report: VerifyReport
  const verifier = new (await import('../v2/verify/verifier.js')).V2Verifier()
  try {
    if (seekable) {
      source = img.reader.source
      await checkStream(new ByteReader(source), verifier)
      report = verifier.finish(source.size ?? 0)
    } else {
      // The first pass copies what it reads: a second pass reads the copy.
      const copy = spoolFile()
      spool = copy.source
      const tee = new ByteReader(new TeeSource(new ReaderSource(img.reader), async (piece) => copy.write(piece)))
      await checkStream(tee, verifier)
      await tee.skipToEnd()
      await drainGzip(img)
      report = verifier.finish(copy.size)
      source = spool = copy.done()
    }
    const cp = report.summary.checkpoints
    if (!cp) {
      if (wanted !== undefined) throw new UsageError('--checkpoint: the stream is not checkpointed (no Remus or COLO checkpoint in it)')
      // A plain v2 stream: nothing to convert. A file is refused as before, by
      // the legacy reader; what was read through here can only be refused here, in the same words.
      if (seekable) return undefined
      if (p.stream === 'xl') throw new FormatError('already-v2', 'the xl header says a v2 stream follows (STREAMv2 flag); use `xst verify`', {offset: 0, context: 'xl header'})
      throw new FormatError('already-v2', `this is already a v2 stream (${p.stream}); use \`xst verify\``, {offset: 0})
    }
    if (!report.valid) {
      const e = report.errors[0]
      throw new FormatError(e.code, `the checkpointed stream does not verify: ${problemLine(e).replace(/^error: /, '')}; nothing is written (see \`xst verify\`)`, {offset: e.offset})
    }
    const label = CHECKPOINT_KIND_LABELS[cp.kind]
    if (cp.complete === 0 || cp.lastEnd === null) {
      throw new FormatError('no-complete-checkpoint', `this ${label} stream is cut inside its first checkpoint: no complete checkpoint to restore`, {offset: cp.cut?.at ?? 0})
    }
    const written = wanted ?? cp.complete
    if (written > cp.complete) throw new UsageError(`--checkpoint ${written}: the stream completes ${cp.complete} checkpoint${cp.complete === 1 ? '' : 's'}`)
    const end = written === cp.complete ? cp.lastEnd : cp.list[written - 1]?.end
    if (end === undefined) throw new UsageError(`--checkpoint ${written}: xst lists the first ${cp.list.length} checkpoints of a stream; that one is past them`)
    for (const w of report.warnings) if (w.code === 'checkpoint-cut') warn?.(problemLine(w).replace(/^warning: /, ''))
    const s = report.summary
    const closeSpool = spool
    return {
      source,
      format: s.format ?? 'libxc',
      xlHeader: s.xlHeader !== null,
      checkpoint: {kind: cp.kind, written, complete: cp.complete},
      end,
      bytes: s.bytes,
      guest: s.guest === 'pv' ? 'pv' : 'hvm',
      spooled: closeSpool !== undefined,
      close: async () => closeSpool?.close(),
    }
  } catch (err) {
    await spool?.close()
    throw err
  }
}

/** An xl header whose mandatory flags say a v2 stream follows (STREAMv2). */
async function xlSaysV2(reader: ByteReader): Promise<boolean> {
  const head = await reader.peek(XlHeader.size)
  if (head.length < XlHeader.size || head.toString('latin1', 0, XL_MAGIC.length) !== XL_MAGIC) return false
  return (XlHeader.get(head).mandatoryFlags & XL_MANDATORY_STREAM_V2) !== 0
}

/** A temporary file, unlinked at once, that the first pass writes the input into. */
function spoolFile(): {source: FdSource; size: number; write(piece: Buffer): void; done(): FdSource} {
  const f = unlinkedTempFile('.xst-convert-', '.xst-spool')
  const name = `spool file in ${f.dir}`
  const spool = {
    // Until done(): a source that only closes the descriptor.
    source: new FdSource(name, f.fd, true, {kind: 'positional', base: 0, fileSize: 0}),
    size: 0,
    write(piece: Buffer) {
      let at = 0
      try {
        while (at < piece.length) at += fs.writeSync(f.fd, piece, at, piece.length - at, spool.size + at)
      } catch (err) {
        throw outputSystemError(err, name)
      }
      spool.size += piece.length
    },
    done() {
      // The same descriptor, now read up to what was written.
      return new FdSource(name, f.fd, true, {kind: 'positional', base: 0, fileSize: spool.size})
    },
  }
  return spool
}

export interface PlainOptions {
  /** Leave the input's xl header out (--container none). */
  omitXlHeader?: boolean
  /** Bytes before the stream (a new xl header); shown to no observer. */
  prefix?: Buffer
  /** Shown every header and record written (the verifier). */
  observer: V2Verifier
}

/**
 * Write the plain stream of `ci` to `sink` (see the top of this file).
 * Returns the summary, from the observer's report on what was written.
 */
export async function writePlain(ci: CheckpointedInput, sink: ByteSink, opts: PlainOptions): Promise<{summary: ConvertSummary; report: VerifyReport}> {
  if (opts.prefix) await sink.write(opts.prefix)
  const out = new V2Writer(sink, opts.observer)
  const v = opts.observer
  const K = ci.checkpoint.written
  const reader = new ByteReader(new BoundedSource(ci.source, ci.end))
  /** The checkpoint the record being read belongs to (from 1). */
  let checkpoint = 1
  /** Where the record before ended: bytes between it and the next are headers. */
  let next = 0
  let ended = false

  const headers = async (from: number, to: number) => {
    const bytes = Buffer.alloc(to - from)
    await readAt(ci.source, bytes, from)
    const r = new ByteReader(new BufferSource(bytes))
    if (await hasXlHeader(r)) {
      const info = await readXlHeader(r)
      if (!opts.omitXlHeader) {
        v.xlHeader({...info, offset: out.offset})
        await out.raw(info.raw)
      }
    }
    const rest = bytes.subarray(r.offset)
    if (rest.length === LibxlHeader.size && from === 0 && ci.format === 'libxl') {
      v.libxlHeader(rest, out.offset)
    } else if (rest.length === LIBXC_HEADERS_SIZE) {
      v.libxcHeaders(rest.subarray(0, ImageHeader.size), rest.subarray(ImageHeader.size), out.offset)
    } else throw new Error(`internal: ${rest.length} bytes of headers between records at ${from}`)
    await out.raw(rest)
  }

  const onBody = async (rec: BodyInfo, r: ByteReader) => {
    if (rec.offset !== next) await headers(next, rec.offset)
    next = rec.offset + 8 + paddedLength(rec.length)
    const copy = async (type = rec.type) => {
      const head = Buffer.from(rec.head)
      const rest = await r.read(rec.length - rec.head.length, rec.what)
      await out.record(rec.layer, type, head, rest)
    }
    const end = () => out.record(rec.layer, rec.layer === 'libxc' ? Rec.END : LibxlRec.END, Buffer.alloc(0))
    if (rec.layer === 'libxc') {
      if (rec.type === Rec.CHECKPOINT) {
        if (checkpoint === K) await end()
        // A bare libxc stream's checkpoint ends here; a libxl stream's at CHECKPOINT_END.
        if (ci.format === 'libxc') {
          if (checkpoint === K) ended = true
          checkpoint++
        }
      } else if (rec.type === Rec.PAGE_DATA || ONCE.has(rec.type)) await copy()
      else if (rec.type === Rec.VERIFY || rec.type === Rec.END) {
        // VERIFY: left out (see above); END: never in a checkpointed stream.
      } else if (checkpoint === K) await copy()
    } else {
      if (rec.type === LibxlRec.CHECKPOINT_END) {
        if (checkpoint === K) {
          await end()
          ended = true
        }
        checkpoint++
      } else if (rec.type === LibxlRec.LIBXC_CONTEXT) await copy()
      else if (rec.type === LibxlRec.CHECKPOINT_STATE || rec.type === LibxlRec.END) {
        // Between checkpoints (COLO), or never there.
      } else if (checkpoint === K) await copy()
    }
  }

  // Read as the verifier reads it (which layer comes next); its problems were all seen in the first pass.
  const walker = new (await import('../v2/verify/verifier.js')).V2Verifier()
  if (!(await checkStream(reader, walker, {onBody}))) {
    const e = walker.finish(reader.offset).errors[0]
    throw new FormatError('input-changed', `the input read differently the second time (${e?.message ?? 'it no longer verifies'})`, {offset: e?.offset})
  }
  if (!ended) throw new FormatError('input-changed', `the input read differently the second time: checkpoint ${K} does not end at byte ${ci.end}`, {offset: ci.end})
  await out.flush()
  const report = v.finish(out.offset)
  if (report.summary.checkpoints !== null) throw new Error('internal: the stream made plain still holds a checkpoint')
  const s = report.summary
  const summary: ConvertSummary = {
    input: {guest: ci.guest, toolstackWidth: null, xlHeader: ci.xlHeader, bytes: ci.bytes, domainName: s.xlHeader?.domainName ?? null},
    output: {format: ci.format, libxcVersion: s.version.libxc ?? 0, bytes: out.offset},
    records: s.records,
    pages: {count: s.pages.count, withData: s.pages.withData, dropped: 0, batches: s.records.libxc.PAGE_DATA ?? 0},
    vcpus: s.vcpus,
    qemu: s.emulator.contexts ? {signature: 'EMULATOR_CONTEXT', bytes: s.emulator.contextBytes} : null,
    warnings: report.warnings.map((w) => w.message),
    checkpoint: ci.checkpoint,
  }
  return {summary, report}
}

/** Fill `buf` from `source` at `position`. */
async function readAt(source: ByteSource, buf: Buffer, position: number): Promise<void> {
  let at = 0
  while (at < buf.length) {
    const n = await source.read(buf, at, buf.length - at, position + at)
    if (n === 0) throw new FormatError('input-changed', 'the input read differently the second time: it is shorter', {offset: position + at})
    at += n
  }
}

/** How the plain stream is written: its family, and what becomes of the xl header. */
export interface PlainPlan {
  family: OutputFamily
  /** --container none: the stream alone. */
  omitXlHeader: boolean
  /** --container xl over a stream without one: a new xl header (with --config's config). */
  newXlHeader: boolean
}

/**
 * What the request asks of a checkpointed input: the stream stays the
 * format it is (libxl or libxc), with its xl header (keep, xl), without it
 * (none), or behind a new one (xl, over a libxl stream without one). No
 * other container holds a stream made plain.
 */
export function planPlain(ci: CheckpointedInput, req: FamilyRequest): PlainPlan {
  const kind = CHECKPOINT_KIND_LABELS[ci.checkpoint.kind]
  if (req.format !== undefined && req.format !== ci.format) {
    throw new UsageError(`--format ${req.format}: a checkpointed ${ci.format} stream (${kind}) is made plain as a ${ci.format} stream; drop --format`, 'container-format')
  }
  const family: OutputFamily = req.container === 'keep' ? 'bare' : req.container
  if (family === 'libvirt' || family === 'xenserver') {
    throw new UsageError(`--container ${family}: a checkpointed stream (${kind}) is made plain in no container, or behind an xl header (--container keep, xl or none)`, 'container-format')
  }
  if (family === 'xl' && ci.format === 'libxc') {
    throw new UsageError('--container xl: xl restore reads a libxl stream behind an xl header (STREAMv2); a libxc stream there cannot be restored; use --container keep or none', 'container-format')
  }
  const newXlHeader = family === 'xl' && !ci.xlHeader
  if (req.config && !newXlHeader) {
    throw new UsageError(
      '--config embeds a domain config in a new xl header: it applies only when the output is an xl save file xst writes the header of (--container xl over a stream without an xl header)',
      'config-not-applicable',
    )
  }
  return {family, omitXlHeader: family === 'none', newXlHeader}
}

/** Write the plain stream as the job asks (see planPlain): the output family's result, as runFamily gives it. */
export async function runPlain(p: PreparedInput, ci: CheckpointedInput, plan: PlainPlan, req: FamilyRequest, sink: ByteSink, verifier: V2Verifier): Promise<FamilyResult> {
  const notes: string[] = []
  let prefix: Buffer | undefined
  if (plan.newXlHeader) {
    prefix = newXlHeader(req.config)
    verifier.xlHeader(await readXlHeader(new ByteReader(new BufferSource(prefix))))
    if (!req.config) notes.push('no domain config is embedded in the xl header: restore with `xl restore CONFIG NEW` (or give one with --config FILE)')
  }
  const {summary, report} = await writePlain(ci, sink, {omitXlHeader: plan.omitXlHeader, prefix, observer: verifier})
  const {written, complete, kind} = ci.checkpoint
  notes.push(
    `checkpoint ${written} of the ${complete} complete in this ${CHECKPOINT_KIND_LABELS[kind]} stream, written as a plain stream: the pages of checkpoints 1-${written} in order (a page sent again replaces its earlier copy), the vcpu, device and emulator state of checkpoint ${written}, then END`,
  )
  if (ci.spooled) notes.push('the input could not be read twice (gzip or a pipe): it was copied to a temporary file, removed again, for the second pass')
  if (p.img.gzip) notes.push('the input was gzip-compressed; it was read through, and the output is not compressed unless --gzip is given')
  return {summary, report, container: {input: p.container, output: {family: plan.family, label: FAMILY_LABELS[plan.family]}}, notes}
}
