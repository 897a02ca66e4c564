// The passes over an image.
//
// The first pass checks the image the way the other commands do and
// gathers what a dump needs (guest facts, the pfns that get data). A
// legacy image is read through the record plan `xst convert` writes
// (src/plan/plan.ts), its records shown to the verifier as convert shows
// them, so dump-core refuses exactly what `xst convert` refuses, with the
// same message, and dumps exactly what the converted stream holds; a v2
// stream is read with the v2 verifier alongside. With a placer, page
// contents are read and placed as they come (a raw dump, or the spool);
// without one, on a file, page data is seeked over.
//
// A window pass (files only) reads the headers again and notes, for each
// pfn of a window, where in the input its last copy is.
import {type ErrorCode, FormatError, UsageError} from '../errors.js'
import {PAGE_SIZE, pageTypeHasData} from '../format/x86.js'
import {guestClaimWarning} from '../container/describe.js'
import type {ByteReader} from '../io/reader.js'
import type {ByteSink} from '../io/sink.js'
import {MAX_BATCH} from '../legacy/layout.js'
import {walkLegacy} from '../legacy/walker.js'
import {CheckpointHold} from './checkpoint-hold.js'
import {Breather} from '../io/breather.js'
import {type PlannedRecord, RecordPlan} from '../plan/plan.js'
import {type BodyHook, verifyStream} from '../v2/reader.js'
import {Rec} from '../v2/libxc/layout.js'
import {type BulkSource, V2Writer} from '../v2/writer.js'
import {problemLine} from '../v2/verify/text.js'
import {type VerifyReport, V2Verifier} from '../v2/verify/verifier.js'
import {addWarning, plural} from '../text.js'
import {GuestFacts, pageDataPfns, wantsBody} from './facts.js'
import {afterStream, type DumpImage, legacyWalk, reopen} from './input.js'
import type {PagePlacer} from './pages.js'
import type {PageWindow} from './pfns.js'

export interface ScanInput {
  /** 'legacy' or the v2 stream's outer format. */
  kind: 'legacy' | 'libxc' | 'libxl'
  /** The v2 stream's versions, as its headers give them (null for a legacy image, and libxl's for a bare libxc stream). */
  libxcVersion: number | null
  libxlVersion: number | null
  guest: 'pv' | 'hvm'
  /** PV guest word size in bits; null for HVM or unknown. */
  guestWidth: 32 | 64 | null
  xlHeader: boolean
  domainName: string | null
  bytes: number
}

export interface ScanResult {
  input: ScanInput
  facts: GuestFacts
  /** From a native v2 stream's domain header; null for a converted or legacy image. */
  xenVersion: {major: number; minor: number} | null
  /** A legacy Remus stream: the checkpoint dumped, of how many complete (a v2 one is chosen before the scan: chooseCheckpoint). */
  checkpoint: Omit<CheckpointChoice, 'end'> | null
  warnings: string[]
}

export interface ScanOptions {
  /** Read page contents and place them; without it, page data is skipped where the input allows. */
  placer?: PagePlacer
  onWarning?: (message: string) => void
  /** Input bytes read so far. */
  onProgress?: (offset: number) => void
  /** A legacy Remus stream: the checkpoint to dump (the plan takes it; a v2 stream is bounded before the scan instead). */
  checkpoint?: number
}

/**
 * The converted stream, counted and never kept: dump-core needs the offset
 * of each record (the verifier's, as `xst convert` would write them), not
 * its bytes.
 */
class StreamCount implements ByteSink {
  bytesWritten = 0

  async write(buf: Uint8Array, release?: () => void): Promise<void> {
    this.bytesWritten += buf.length
    release?.()
  }

  async flush(): Promise<void> {}

  /**
   * A record's bulk that stays in the input, counted into the stream as the
   * writer's transfer of it: the pass takes page contents from the input
   * itself (or leaves them to be skipped), and the qemu state is not dumped.
   */
  bulk(length: number): BulkSource {
    return {
      length,
      canTransferTo: (sink) => sink === this,
      transferTo: async () => {
        this.bytesWritten += length
      },
      read: () => Promise.reject(new Error("internal: the converted stream's bulk is never read")),
      recycle: () => {},
    }
  }
}

/** The pfns of a PAGE_DATA record's pages with data, in order (in `into`, reused from batch to batch). */
function dataPfns(pages: NonNullable<PlannedRecord['pages']>, into: Float64Array): Float64Array {
  const {pfns, types} = pages
  let n = 0
  for (let i = 0; i < pfns.length; i++) if (pageTypeHasData(types[i])) into[n++] = pfns[i]
  return into.subarray(0, n)
}

/**
 * The first pass over a legacy image: its record plan, as `xst convert`
 * writes it, shown to the verifier through the v2 writer (the stream
 * counted, not kept); the pages and vcpu state are taken from the plan's
 * descriptors, page contents read from the input only with a placer.
 */
async function scanLegacy(image: DumpImage, o: ScanOptions): Promise<ScanResult> {
  const facts = new GuestFacts()
  const verifier = new V2Verifier()
  const count = new StreamCount()
  const out = new V2Writer(count, verifier)
  const warnings: string[] = []
  const warn = (m: string) => {
    addWarning(warnings, m)
    o.onWarning?.(m)
  }
  const reader = image.seekable && !o.placer ? await reopen(image) : image.reader
  const plan = new RecordPlan(reader, {format: 'libxl', ...legacyWalk(image), checkpoint: o.checkpoint})
  const scratch = new Float64Array(MAX_BATCH)
  // A raw dump from a file may read and write synchronously: a signal must still be acted on within a moment.
  const breather = new Breather()
  for await (const d of plan) {
    const pause = breather.step()
    if (pause) await pause
    switch (d.kind) {
      case 'xl-header':
        verifier.xlHeader(d.header)
        await out.raw(d.header.raw)
        break
      case 'image': {
        // What the container claims of the guest, against what the stream is, as convert warns of it.
        const claim = guestClaimWarning(image.opened.container, d.guest)
        if (claim) warn(claim)
        break
      }
      case 'libxl-header':
        await out.libxlHeader(d.options)
        break
      case 'libxc-headers':
        await out.libxcHeaders(d.domainType, d.version)
        break
      case 'record': {
        const at = out.offset
        if (d.bulk) await out.record(d.layer, d.type, d.head, d.bulk)
        else await out.recordFrom(d.layer, d.type, d.head, d.data && count.bulk(d.data.length!))
        if (d.layer !== 'libxc') break
        if (!d.pages) {
          if (!d.data) facts.body(d.type, d.head)
          break
        }
        const pfns = dataPfns(d.pages, scratch)
        facts.addPages(pfns, at)
        if (o.placer && d.data) {
          const buf = await d.data.read()
          o.placer.place(pfns, 0, pfns.length, buf, 0)
          d.data.recycle(buf)
        }
        o.onProgress?.(d.data ? d.data.offset + d.data.length! : reader.offset)
        break
      }
      case 'qemu-record':
        // In a libxl stream: the records that follow (dump-core takes nothing of them).
        break
      case 'warning':
        warn(d.message)
        break
      default:
        d satisfies never
    }
  }
  const report = verifier.finish(count.bytesWritten)
  if (!report.valid) {
    const first = report.errors[0]
    // The words of `xst convert`, which refuses the image the same way.
    throw new FormatError(
      'converted-stream-invalid',
      `the converted stream does not verify (${plural(report.errorCount, 'error')}; first: output byte ${first?.offset}: ${first?.message}); nothing was written`,
    )
  }
  const bytes = await afterStream(image, reader, warn)
  const s = report.summary
  const f = plan.facts
  return {
    input: {
      kind: 'legacy',
      libxcVersion: null,
      libxlVersion: null,
      guest: f.guest,
      guestWidth: s.guestWidth,
      xlHeader: f.xlHeader,
      domainName: f.domainName,
      bytes,
    },
    facts,
    xenVersion: null,
    checkpoint: f.checkpoint ? {kind: f.checkpoint.kind, dumped: f.checkpoint.planned, complete: f.checkpoint.complete} : null,
    warnings,
  }
}

/** The verifier's problems that do not stop a dump: pages beyond the p2m are still the guest's pages. */
const DUMPABLE_DESPITE = new Set<ErrorCode>(['pfn-out-of-range'])

function refuseInvalid(report: VerifyReport, warn: (m: string) => void): void {
  // What the restorer reads past is said here as verify says it.
  for (const p of report.warnings) warn(problemLine(p).replace(/^warning: /, ''))
  for (const p of report.errors.filter((e) => DUMPABLE_DESPITE.has(e.code))) {
    warn(`byte ${p.offset}, ${p.layer} record ${p.index} (${p.record}): ${p.message}; dumped anyway, the pages are real`)
  }
  const errors = report.errors.filter((e) => !DUMPABLE_DESPITE.has(e.code))
  if (errors.length === 0) return
  const first = errors[0]
  // All errors, less the dumpable ones kept (past the first thousand only a count is kept: then an estimate).
  const n = report.errorCount - (report.errors.length - errors.length)
  throw new FormatError(first.code, `${first.message}; the stream does not verify${n > 1 ? ` (${plural(n, 'error')}; \`xst verify\` lists them all)` : ''}`, {
    offset: first.offset,
    index: first.index ?? undefined,
    indexKind: first.layer ? `${first.layer} record` : undefined,
    context: first.record ?? undefined,
  })
}

/** Carries an error past verifyStream, which would take a FormatError for a finding about the stream. */
class Stop extends Error {
  constructor(readonly error: unknown) {
    super('stop')
  }
}

/** The first pass over a v2 stream, with the verifier. */
async function scanV2(image: DumpImage, o: ScanOptions): Promise<ScanResult> {
  const facts = new GuestFacts()
  const warnings: string[] = []
  const warn = (m: string) => {
    addWarning(warnings, m)
    o.onWarning?.(m)
  }
  const reader = image.seekable && !o.placer ? await reopen(image) : image.reader
  // A pfn the dump cannot hold stops the pass, rather than become one of
  // the verifier's findings (which is what a FormatError thrown here would).
  // Pages placed as they come (a pipe, gzip, or a raw dump to a file): a replication stream's later checkpoints are held until complete.
  const addPages = (pfns: Float64Array, offset: number) => {
    try {
      facts.addPages(pfns, offset)
    } catch (err) {
      throw new Stop(err)
    }
  }
  const hold = o.placer ? new CheckpointHold(facts, addPages, o.placer, o.checkpoint) : undefined
  const breather = new Breather()
  const hook: BodyHook = async (rec, r) => {
    const pause = breather.step()
    if (pause) await pause
    hold?.record(rec.layer, rec.type)
    if (rec.layer !== 'libxc') return
    if (rec.type === Rec.PAGE_DATA) {
      const pfns = pageDataPfns(rec.head, rec.length)
      if (!pfns) return
      if (hold) await hold.pages(pfns, rec.offset, r, rec.length - rec.head.length, rec.what)
      else addPages(pfns, rec.offset)
      o.onProgress?.(r.offset)
    } else if (wantsBody(rec.type, rec.length)) {
      const rest = await r.read(rec.length - rec.head.length, rec.what)
      const body = rec.head.length ? Buffer.concat([rec.head, rest]) : rest
      if (hold) hold.body(rec.type, body)
      else facts.body(rec.type, body)
    }
  }
  let report: VerifyReport
  try {
    // In a Libxc section the stream ends at its END: the next section follows.
    report = await verifyStream(reader, new V2Verifier(), {onBody: hook, stopAtEnd: image.structured})
  } catch (err) {
    throw err instanceof Stop ? err.error : err
  } finally {
    hold?.close()
  }
  refuseInvalid(report, warn)
  // Read once (a pipe, gzip): the checkpoint dumped is known only now. (On a file, chooseCheckpoint chose it before.)
  const cps = report.summary.checkpoints
  let checkpoint: ScanResult['checkpoint'] = null
  if (cps && !image.seekable) {
    const dumped = o.checkpoint ?? cps.complete
    if (dumped > cps.complete) throw new UsageError(`--checkpoint ${dumped}: the stream completes ${plural(cps.complete, 'checkpoint')}`)
    checkpoint = {kind: cps.kind, dumped, complete: cps.complete}
  } else if (!cps && o.checkpoint !== undefined && !image.seekable) {
    throw new UsageError('--checkpoint: the stream is not checkpointed (no Remus or COLO checkpoint in it)')
  }
  const s = report.summary
  if (s.guest === null) {
    throw new FormatError('not-x86', "the stream's libxc domain header names no x86 guest type (PV, HVM or PVH); xst dumps x86 guests only", {offset: 0})
  }
  const guest = s.guest === 'pv' ? 'pv' : 'hvm'
  const xen = s.xenVersion && s.xenVersion.major !== 0 ? s.xenVersion : null
  const bytes = await afterStream(image, reader, warn)
  return {
    input: {
      kind: s.format ?? 'libxc',
      libxcVersion: s.version.libxc,
      libxlVersion: s.version.libxl,
      guest,
      guestWidth: s.guestWidth,
      xlHeader: s.xlHeader !== null,
      domainName: s.xlHeader?.domainName ?? null,
      bytes,
    },
    facts,
    xenVersion: xen,
    checkpoint,
    warnings,
  }
}

/** Which checkpoint of a replication stream a dump takes, and where it ends in the input. */
export interface CheckpointChoice {
  kind: 'remus' | 'colo'
  /** The checkpoint dumped (from 1), and how many the stream completes. */
  dumped: number
  complete: number
  /** Where the dumped checkpoint ends: the input is read as if it ended there. */
  end: number
}

/**
 * A v2 replication stream (Remus, COLO) on a file: the checkpoint to dump,
 * `wanted` or the last complete one, as the receiver fails over from it.
 * Found by a pass of the verifier (page data seeked over); undefined for a
 * plain stream. Its warnings (where an incomplete checkpoint was cut) are
 * passed on: the passes that follow read only up to the chosen checkpoint.
 */
export async function chooseCheckpoint(image: DumpImage, wanted: number | undefined, warn: (m: string) => void): Promise<CheckpointChoice | undefined> {
  // A legacy Remus stream is read in one pass, its checkpoint chosen by the record plan (scanLegacy);
  // a v2 one read once (a pipe, gzip) has its later checkpoints held as they come (scanV2's CheckpointHold).
  if (image.kind === 'legacy' || !image.seekable) return undefined
  const report = await verifyStream(await reopen(image), new V2Verifier(), {stopAtEnd: image.structured})
  const cp = report.summary.checkpoints
  if (!cp || cp.complete === 0) {
    if (wanted !== undefined) throw new UsageError('--checkpoint: the stream is not checkpointed (no Remus or COLO checkpoint in it)')
    return undefined
  }
  const dumped = wanted ?? cp.complete
  if (dumped > cp.complete) throw new UsageError(`--checkpoint ${dumped}: the stream completes ${cp.complete} checkpoint${cp.complete === 1 ? '' : 's'}`)
  const end = dumped === cp.complete ? cp.lastEnd : cp.list[dumped - 1]?.end
  if (end === undefined || end === null) throw new UsageError(`--checkpoint ${dumped}: xst lists the first ${cp.list.length} checkpoints of a stream; that one is past them`)
  for (const w of report.warnings) if (w.code === 'checkpoint-cut') warn(problemLine(w).replace(/^warning: /, ''))
  return {kind: cp.kind, dumped, complete: cp.complete, end}
}

/**
 * Whether a legacy image on a file is a Remus stream (a checkpoint follows
 * the image): its later checkpoints' pages come from the record plan's
 * store, not from the input, so the dump takes them as they come (a spool).
 */
export async function legacyCheckpointed(image: DumpImage): Promise<boolean> {
  if (image.kind !== 'legacy' || !image.seekable) return false
  for await (const ev of walkLegacy(await reopen(image), {...legacyWalk(image), transientBatches: true})) {
    if (ev.kind === 'checkpoint') return true
  }
  return false
}

export function scanImage(image: DumpImage, o: ScanOptions = {}): Promise<ScanResult> {
  return image.kind === 'legacy' ? scanLegacy(image, o) : scanV2(image, o)
}

/**
 * A header pass over a seekable image: for each pfn in the window, the
 * input offset of its last copy. `reader` (from reopen) is taken back to
 * the image's start, so that the passes share one reader's buffers.
 */
export async function locatePages(image: DumpImage, window: PageWindow, reader: ByteReader, onProgress?: (offset: number) => void): Promise<void> {
  reader.seekTo(image.start)
  if (image.kind === 'legacy') {
    // The plan's PAGE_DATA records, and where in the input each one's page contents lie (left unread).
    for await (const d of new RecordPlan(reader, {format: 'libxl', ...legacyWalk(image)})) {
      if (d.kind !== 'record' || !d.pages) continue
      const {pfns, types} = d.pages
      let at = d.data?.offset ?? 0
      for (let i = 0; i < pfns.length; i++) {
        if (!pageTypeHasData(types[i])) continue
        window.set(pfns[i], at)
        at += PAGE_SIZE
      }
      onProgress?.(reader.offset)
    }
    return
  }
  const hook: BodyHook = async (rec, r) => {
    if (rec.layer !== 'libxc' || rec.type !== Rec.PAGE_DATA) return
    const pfns = pageDataPfns(rec.head, rec.length)
    if (!pfns) return
    const at = r.offset
    for (let k = 0; k < pfns.length; k++) window.set(pfns[k], at + k * PAGE_SIZE)
    onProgress?.(at)
  }
  const report = await verifyStream(reader, new V2Verifier(), {onBody: hook, stopAtEnd: image.structured})
  if (report.stopped === 'fatal') throw new FormatError('input-changed', 'the image read differently the second time; was it changed while xst read it?')
}
