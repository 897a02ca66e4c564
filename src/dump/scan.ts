// The passes over an image.
//
// The first pass checks the image the way the other commands do and
// gathers what a dump needs (guest facts, the pfns that get data). A
// legacy image goes through the converter itself, so dump-core refuses
// exactly what `xst convert` refuses, with the same message, and dumps
// exactly what the converted stream holds; a v2 stream is read with the v2
// verifier alongside. With a placer, page contents are read and placed as
// they come (a raw dump, or the spool); without one, on a file, page data
// is seeked over.
//
// A window pass (files only) reads the headers again and notes, for each
// pfn of a window, where in the input its last copy is.
import {type ErrorCode, FormatError} from '../errors.js'
import {PAGE_SIZE, pageTypeHasData} from '../format/x86.js'
import {guestClaimWarning} from '../container/describe.js'
import {convertLegacy} from '../convert/convert.js'
import {ByteReader} from '../io/reader.js'
import type {ByteSink} from '../io/sink.js'
import {walkLegacy} from '../legacy/walker.js'
import {type BodyHook, verifyStream} from '../v2/reader.js'
import {Rec} from '../v2/libxc/layout.js'
import type {RecordInfo} from '../v2/record.js'
import type {StreamObserver} from '../v2/writer.js'
import {problemLine} from '../v2/verify/text.js'
import {type VerifyReport, V2Verifier} from '../v2/verify/verifier.js'
import {addWarning, plural} from '../text.js'
import {GuestFacts, pageDataPfns, wantsBody} from './facts.js'
import {afterStream, type DumpImage, legacyWalk, reopen} from './input.js'
import {PAGES_PER_IO, type PagePlacer} from './pages.js'
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
  warnings: string[]
}

export interface ScanOptions {
  /** Read page contents and place them; without it, page data is skipped where the input allows. */
  placer?: PagePlacer
  onWarning?: (message: string) => void
  /** Input bytes read so far. */
  onProgress?: (offset: number) => void
}

/** What the walker calls the page contents of a batch (see HeaderOnlyReader). */
const PAGE_DATA_WHAT = 'page data'

/**
 * A reader for a file whose page contents are not wanted: asked for a
 * batch's page data, it seeks over it (checking it is there) and hands back
 * zeros. Everything else is read as usual. Should the walker ever name its
 * page data differently, the pages are simply read: slower, still right.
 */
class HeaderOnlyReader extends ByteReader {
  // The reader's own, not shared: it goes with the reader after the first pass.
  private zeros = Buffer.alloc(0)

  override async read(n: number, what: string): Promise<Buffer> {
    if (what !== PAGE_DATA_WHAT || !this.seekable) return super.read(n, what)
    await this.skip(n, what)
    if (this.zeros.length < n) this.zeros = Buffer.alloc(n)
    return this.zeros.subarray(0, n)
  }

  override recycle(buf: Buffer): void {
    if (buf.buffer !== this.zeros.buffer) super.recycle(buf)
  }
}

/**
 * The converted stream as a sink: it counts bytes and hands the page
 * contents of each PAGE_DATA record (whose place in the stream the observer
 * announces before the record's bytes arrive) to the placer, however the
 * writer splits its writes.
 */
export class ConvertedTap implements ByteSink {
  private n = 0
  private cur: {start: number; end: number; pfns: Float64Array} | undefined
  private staging = Buffer.alloc(PAGE_SIZE)

  constructor(private readonly placer: PagePlacer | undefined) {}

  get bytesWritten(): number {
    return this.n
  }

  /** The next PAGE_DATA record's page contents are stream bytes [start, end), for `pfns`. */
  expect(start: number, end: number, pfns: Float64Array): void {
    this.cur = this.placer && pfns.length ? {start, end, pfns} : undefined
  }

  async write(buf: Uint8Array, release?: () => void): Promise<void> {
    const from = this.n
    this.n += buf.length
    const c = this.cur
    if (c && this.n > c.start && from < c.end) {
      const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
      let pos = Math.max(from, c.start)
      const stop = Math.min(this.n, c.end)
      while (pos < stop) {
        const rel = pos - c.start
        const page = Math.floor(rel / PAGE_SIZE)
        const within = rel % PAGE_SIZE
        const whole = within === 0 ? Math.floor((stop - pos) / PAGE_SIZE) : 0
        if (whole > 0) {
          this.placer!.place(c.pfns, page, whole, b, pos - from)
          pos += whole * PAGE_SIZE
          continue
        }
        // A page split across writes: gathered, placed once whole.
        const k = Math.min(PAGE_SIZE - within, stop - pos)
        b.copy(this.staging, within, pos - from, pos - from + k)
        pos += k
        if (within + k === PAGE_SIZE) this.placer!.place(c.pfns, page, 1, this.staging, 0)
      }
      if (this.n >= c.end) this.cur = undefined
    }
    release?.()
  }

  async flush(): Promise<void> {}
}

/** The first pass over a legacy image: through the converter, as `xst convert` runs it. */
async function scanLegacy(image: DumpImage, o: ScanOptions): Promise<ScanResult> {
  const facts = new GuestFacts()
  const verifier = new V2Verifier()
  const tap = new ConvertedTap(o.placer)
  const warnings: string[] = []
  const warn = (m: string) => {
    addWarning(warnings, m)
    o.onWarning?.(m)
  }
  const observer: StreamObserver = {
    xlHeader: (info) => verifier.xlHeader(info),
    libxlHeader: (h, at) => verifier.libxlHeader(h, at),
    libxcHeaders: (ih, dh, at) => verifier.libxcHeaders(ih, dh, at),
    tail: (at, length, bytes) => verifier.tail(at, length, bytes),
    record: (rec: RecordInfo) => {
      verifier.record(rec)
      if (rec.layer !== 'libxc') return
      if (rec.type === Rec.PAGE_DATA) {
        const pfns = pageDataPfns(rec.head, rec.length)
        if (!pfns) return
        facts.addPages(pfns, rec.offset)
        tap.expect(rec.offset + 8 + rec.head.length, rec.offset + 8 + rec.length, pfns)
      } else if (rec.head.length === rec.length) facts.body(rec.type, rec.head)
    },
  }
  const reader = image.seekable && !o.placer ? await reopen(image, (s) => new HeaderOnlyReader(s)) : image.reader
  const summary = await convertLegacy(reader, tap, {
    format: 'libxl',
    ...legacyWalk(image),
    observer,
    onWarning: warn,
    // What the container claims of the guest, against what the stream is, as convert warns of it.
    onImage: (img) => {
      const claim = guestClaimWarning(image.opened.container, img.guest)
      if (claim) warn(claim)
    },
    onProgress: o.onProgress,
  })
  const report = verifier.finish(tap.bytesWritten)
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
  return {
    input: {
      kind: 'legacy',
      libxcVersion: null,
      libxlVersion: null,
      guest: summary.input.guest,
      guestWidth: s.guestWidth,
      xlHeader: summary.input.xlHeader,
      domainName: summary.input.domainName,
      bytes,
    },
    facts,
    xenVersion: null,
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
  throw new FormatError(
    first.code,
    `${first.message}; the stream does not verify${n > 1 ? ` (${plural(n, 'error')}; \`xst verify\` lists them all)` : ''}`,
    {offset: first.offset, index: first.index ?? undefined, indexKind: first.layer ? `${first.layer} record` : undefined, context: first.record ?? undefined},
  )
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
  const hook: BodyHook = async (rec, r) => {
    if (rec.layer !== 'libxc') return
    if (rec.type === Rec.PAGE_DATA) {
      const pfns = pageDataPfns(rec.head, rec.length)
      if (!pfns) return
      try {
        facts.addPages(pfns, rec.offset)
      } catch (err) {
        throw new Stop(err)
      }
      if (o.placer && pfns.length) {
        let k = 0
        await r.pipe(
          rec.length - rec.head.length,
          rec.what,
          (piece) => {
            const n = piece.length / PAGE_SIZE
            o.placer!.place(pfns, k, n, piece, 0)
            k += n
            r.recycle(piece)
          },
          PAGES_PER_IO * PAGE_SIZE,
        )
      }
      o.onProgress?.(r.offset)
    } else if (wantsBody(rec.type, rec.length)) {
      const rest = await r.read(rec.length - rec.head.length, rec.what)
      facts.body(rec.type, rec.head.length ? Buffer.concat([rec.head, rest]) : rest)
    }
  }
  let report: VerifyReport
  try {
    // In a Libxc section the stream ends at its END: the next section follows.
    report = await verifyStream(reader, new V2Verifier(), {onBody: hook, stopAtEnd: image.structured})
  } catch (err) {
    throw err instanceof Stop ? err.error : err
  }
  refuseInvalid(report, warn)
  const s = report.summary
  const guest = s.guestType === 'x86 PV' ? 'pv' : 'hvm'
  if (s.guestType !== 'x86 PV' && s.guestType !== 'x86 HVM' && s.guestType !== 'x86 PVH') {
    throw new FormatError('not-x86', `the stream is of a ${s.guestType ?? 'unknown'} guest; xst dumps x86 guests only`, {offset: 0})
  }
  const xen = s.xenVersion && s.xenVersion.major !== 0 ? s.xenVersion : null
  const bytes = await afterStream(image, reader, warn)
  return {
    input: {kind: s.format ?? 'libxc', libxcVersion: s.version.libxc, libxlVersion: s.version.libxl, guest, guestWidth: s.guestWidth, xlHeader: s.xlHeader !== null, domainName: s.xlHeader?.domainName ?? null, bytes},
    facts,
    xenVersion: xen,
    warnings,
  }
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
    // Each batch is done with before the next: its arrays can be reused.
    for await (const ev of walkLegacy(reader, {...legacyWalk(image), transientBatches: true})) {
      if (ev.kind !== 'page-batch') continue
      let at = ev.data.offset
      for (let i = 0; i < ev.pfns.length; i++) {
        if (!pageTypeHasData(ev.types[i])) continue
        window.set(ev.pfns[i], at)
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
