// How each container family's output is assembled around the converted
// stream (the README's "Containers" section). The conversion itself
// (convert.ts) knows nothing of containers: it is given the bytes to write
// before the stream, whether to leave out the input's xl header, and where
// the qemu record goes.
//
//   input                      default output (--container keep)
//   bare stream / xl header    the same, as today (the xl header kept)
//   libvirt v1 + legacy        libvirt v2 header (same XML) + libxl stream
//   libvirt v1 + libxl         libvirt v2 header + the stream copied (a repair)
//   XenServer legacy           XenServer structured: signature, new Xenops,
//                              Libxc (libxc stream), Qemu_trad, End_of_image
//   XenServer + Libxc_legacy   the same image, Libxc_legacy replaced by
//                              Libxc + Qemu_trad, every other section copied
//   xend                       xl header (STREAMv2, no config) + libxl stream
import {ByteReader} from '../io/reader.js'
import type {ByteSink} from '../io/sink.js'
import {BufferSource, type ByteSource} from '../io/source.js'
import {ReaderSource} from '../io/gzip-source.js'
import {FormatError, UsageError} from '../errors.js'
import {XL_BYTEORDER, XL_MAGIC, XL_MANDATORY_CONFIG_JSON, XL_MANDATORY_STREAM_V2, XlHeader} from '../xl/layout.js'
import type {Guest} from '../legacy/events.js'
import {checkStream} from '../v2/reader.js'
import {V2Verifier, type VerifyReport} from '../v2/verify/verifier.js'
import {readXlHeader} from '../xl/header.js'
import {type ContainerSummary, containerSummary, guestClaimWarning, xenopsSummary} from '../container/describe.js'
import {libvirtVersionDefect, withLibvirtVersion, LIBVIRT_VERSION_V2} from '../container/libvirt.js'
import {CONTAINER_LABELS, drainGzip, type OpenedImage} from '../container/open.js'
import {unreadableStreamSection} from '../container/sections.js'
import {BARE_LEGACY_QEMU_RECORDS, encodeQemuRecordHeader, QEMU_DM_0002} from '../container/qemu-record.js'
import {
  CONVERTED_WORD_SIZE,
  encodeSectionHeader,
  encodeStructuredSignature,
  encodeXenopsRecord,
  encodeXenopsSection,
  parseXenopsRecord,
  SectionHeader,
  type StructuredSection,
  walkSections,
  xenopsTimeNow,
} from '../container/xenserver.js'
import {convertLegacy, type ConvertOptions, type ConvertSummary, type OutputFormat} from './convert.js'
import type {ContainerChoice} from './choices.js'

export type {ContainerChoice}

/**
 * The output's family: `bare` is a bare stream input written as before
 * (its xl header, if any, kept); `none` is the stream alone, no container
 * and no xl header.
 */
export type OutputFamily = 'bare' | 'xl' | 'libvirt' | 'xenserver' | 'none'

export const FAMILY_LABELS: Record<OutputFamily, string> = {
  bare: 'no container',
  xl: 'xl save file',
  libvirt: 'libvirt libxl-driver save image (version 2)',
  xenserver: 'XenServer structured suspend image',
  none: 'no container, no xl header',
}

/** Bound on the sections before a Libxc_legacy section, which are held in memory until the output starts. */
export const MAX_SECTIONS_BEFORE_STREAM = 64 << 20

/** "a libvirt ...", "an xend ...". */
const aContainer = (kind: keyof typeof CONTAINER_LABELS) => `${/^(xend|xl|no )/.test(CONTAINER_LABELS[kind]) ? 'an' : 'a'} ${CONTAINER_LABELS[kind]}`.replace(/^an no /, 'no ')

/** An xl domain config to embed in a new xl header (convert --config). */
export interface XlConfig {
  text: string
  /** The file parsed as JSON: flagged so (mandatory bit 0), as xl writes its own. */
  json: boolean
}

export interface FamilyRequest {
  container: ContainerChoice
  /** --format, when given. */
  format?: OutputFormat
  /** Run as a toolstack's helper (--in/--out): libxc unless --format says otherwise. */
  helper: boolean
  config?: XlConfig
}

export interface Plan {
  family: OutputFamily
  format: OutputFormat
  /** convert: a legacy stream converted; copy: a v2 stream copied into the new container (a libvirt version repair). */
  mode: 'convert' | 'copy'
}

/** A structured XenServer input, read up to its memory image section. */
interface StructuredInput {
  walk: AsyncGenerator<StructuredSection>
  /** Signature and every section before the stream section, exactly as read. */
  before: Buffer[]
  stream: StructuredSection
}

export interface PreparedInput {
  img: OpenedImage
  container: ContainerSummary
  /** What the stream inside is (after the structured sections, for a XenServer structured image). */
  stream: 'legacy' | 'libxc' | 'libxl' | 'xl' | 'empty'
  structured?: StructuredInput
}

/** Read what is needed to plan: a structured image's sections up to its memory image. */
export async function prepareInput(img: OpenedImage): Promise<PreparedInput> {
  const container = containerSummary(img)
  if (img.container.kind !== 'xenserver-structured') return {img, container, stream: img.stream ?? 'empty'}
  const r = img.reader
  const walk = walkSections(r)
  const before: Buffer[] = [img.container.signature.bytes]
  let held = before[0].length
  for (;;) {
    const step = await walk.next()
    if (step.done) throw new FormatError('xenserver-no-stream', 'the XenServer image ends before any memory image section', {offset: r.offset, context: 'XenServer sections'})
    const s = step.value
    const where = {offset: s.offset, context: `${s.section.name} section`}
    container.sections!.push({name: s.section.name, offset: s.offset, length: s.section.body === 'sized' ? s.length : null})
    switch (s.section.body) {
      case 'sized': {
        held += SectionHeader.size + s.length
        if (held > MAX_SECTIONS_BEFORE_STREAM) {
          throw new FormatError('length-too-large', `the sections before the memory image add up to more than MAX_SECTIONS_BEFORE_STREAM (${MAX_SECTIONS_BEFORE_STREAM}) bytes, which xst holds in memory`, where)
        }
        const body = await s.body!.read()
        // Checked (a broken record is refused) and shown, as the other commands show it.
        if (s.section.name === 'Xenops') container.xenops = xenopsSummary(parseXenopsRecord(body, s.bodyOffset))
        before.push(sectionHeaderBytes(s), body)
        break
      }
      case 'legacy-stream':
        return {img, container, stream: 'legacy', structured: {walk, before, stream: s}}
      case 'libxc-stream':
        throw new FormatError('already-v2', 'this XenServer image already holds a v2 stream (a Libxc section); there is nothing to convert (check it with `xst verify`)', where)
      case 'none':
        throw new FormatError('xenserver-no-stream', 'the XenServer image ends (End_of_image) before any memory image section', where)
      default:
        throw unreadableStreamSection(s)
    }
  }
}

function sectionHeaderBytes(s: StructuredSection): Buffer {
  return SectionHeader.encode({type: BigInt(s.section.type), length: s.rawLength})
}

/**
 * Which family and format the output is, or why the request cannot be
 * restored. Usage errors for combinations no toolstack restores; format
 * errors for inputs that cannot be converted whatever is asked.
 */
export function planConversion(p: PreparedInput, req: FamilyRequest): Plan {
  const c = p.img.container
  const keep: Record<typeof c.kind, OutputFamily> = {none: 'bare', libvirt: 'libvirt', 'xenserver-legacy': 'xenserver', 'xenserver-structured': 'xenserver', xend: 'xl'}
  const family: OutputFamily = req.container === 'keep' ? keep[c.kind] : req.container
  const format: OutputFormat = req.format ?? (family === 'xenserver' || req.helper ? 'libxc' : 'libxl')
  const asked = req.container === 'keep' ? `${aContainer(c.kind)} input (--container keep)` : `--container ${req.container}`

  if (family === 'xenserver' && format === 'libxl') {
    throw new UsageError(`${asked}: a XenServer image holds a libxc stream in its Libxc section (xenopsd refuses a Libxl section); drop --format libxl, or choose another --container`, 'container-format')
  }
  if (family === 'libvirt' && format === 'libxc') {
    throw new UsageError(`${asked}: libvirt's libxl driver restores a libxl stream behind a version 2 header, never a bare libxc stream; drop --format libxc, or use --container none`, 'container-format')
  }
  if (family === 'xl' && format === 'libxc') {
    throw new UsageError(`${asked}: xl restore reads a libxl stream behind an xl header (STREAMv2); a libxc stream there cannot be restored; drop --format libxc, or use --container none`, 'container-format')
  }
  if (family === 'libvirt' && c.kind !== 'libvirt') {
    throw new UsageError(`--container libvirt: a libvirt image carries the domain XML, which only a libvirt input has (this is ${aContainer(c.kind)})`, 'container-needs-xml')
  }
  if (req.config && !(family === 'xl' && !(c.kind === 'none' && p.stream === 'xl'))) {
    throw new UsageError('--config embeds a domain config in a new xl header: it applies only when the output is an xl save file xst writes the header of (an xend input, or --container xl over an input without an xl header)', 'config-not-applicable')
  }

  if (p.stream === 'libxl' || p.stream === 'libxc') {
    // A v2 stream: nothing to convert; a libvirt header may still need its version put right.
    if (c.kind !== 'libvirt') return {family, format, mode: 'convert'} // the walker says it is already v2
    const defect = libvirtVersionDefect(c.header, p.stream)
    if (p.stream === 'libxc') throw defect!
    if (!defect && family === 'libvirt') {
      throw new FormatError('already-v2', 'this libvirt image already holds a libxl v2 stream behind a version 2 header; there is nothing to convert (check it with `xst verify`)', {offset: c.header.offset})
    }
    if (family === 'xenserver') throw new UsageError('--container xenserver: the libvirt image holds a libxl v2 stream, which xst does not take apart; only a legacy stream is converted into a XenServer image', 'container-format')
    if (format === 'libxc') throw new UsageError('--format libxc: the libvirt image holds a libxl v2 stream, which is copied as it is, not converted', 'container-format')
    return {family: family === 'bare' ? 'none' : family, format: 'libxl', mode: 'copy'}
  }
  return {family, format, mode: 'convert'}
}

/** What the job passes in: how to convert, and how to check what is written. */
export interface RunOptions extends Omit<ConvertOptions, 'format' | 'prefix' | 'omitXlHeader' | 'onQemuRecord' | 'qemuRecords' | 'stopAtImageEnd'> {
  /** The verifier the job checks the converted stream with (it throws on the first error). */
  verifier?: V2Verifier
}

export interface FamilyResult {
  summary: ConvertSummary
  /** The verifier's report, when the family checked the stream itself (a copy). */
  report?: VerifyReport
  container: {input: ContainerSummary; output: {family: OutputFamily; label: string}}
  /** Things to tell the user (not warnings: what was done and how to go on). */
  notes: string[]
}

/** Write the output of `plan` to `sink`: the container around the converted (or copied) stream. */
export async function runFamily(p: PreparedInput, plan: Plan, req: FamilyRequest, sink: ByteSink, opts: RunOptions): Promise<FamilyResult> {
  const notes: string[] = []
  const result = (summary: ConvertSummary, report?: VerifyReport): FamilyResult => ({
    summary,
    report,
    container: {input: p.container, output: {family: plan.family, label: FAMILY_LABELS[plan.family]}},
    notes,
  })
  if (p.img.gzip) notes.push('the input was gzip-compressed; it was read through, and the output is not compressed unless --gzip is given')
  if (plan.mode === 'copy') return result(...(await copyV2(p, plan, sink, opts, notes)))

  const c = p.img.container
  const conv: ConvertOptions = {
    ...opts,
    format: plan.format,
    qemuRecords: p.img.qemuRecords,
    observer: opts.verifier ?? opts.observer,
    // A gzip stream is read to its end (its check is at the end); what follows the image there is reported.
    stopAtEnd: opts.stopAtEnd && !p.img.gzip,
    stopAtImageEnd: p.structured !== undefined,
  }
  let after: (() => Promise<void>) | undefined
  let qemuSeen = false
  /** Bytes of a Qemu_trad section written outside the stream (not counted as stream bytes). */
  let outside = 0
  switch (plan.family) {
    case 'bare':
      break
    case 'none':
      conv.omitXlHeader = true
      if (plan.format === 'libxc') {
        // A bare libxc stream is followed by its qemu record in the form a bare stream has.
        conv.onQemuRecord = async (q, out) => {
          const bare = BARE_LEGACY_QEMU_RECORDS.some((v) => v.signature === q.signature)
          if (bare) {
            await out.tail(q.header)
            return q.data.pipe((piece) => out.tail(piece))
          }
          const blob = await q.data.read()
          await out.tail(encodeQemuRecordHeader(QEMU_DM_0002, blob.length))
          await out.tail(blob)
          notes.push(`the ${JSON.stringify(q.signature)} qemu record was rewritten as a ${QEMU_DM_0002.signature} record, the form that follows a bare libxc stream`)
          return blob.length
        }
      }
      break
    case 'xl': {
      if (c.kind === 'none' && p.stream === 'xl') break // the input's own xl header, STREAMv2 set
      const header = newXlHeader(req.config)
      conv.prefix = header
      conv.omitXlHeader = true
      opts.verifier?.xlHeader(await readXlHeader(new ByteReader(new BufferSource(header))))
      if (!req.config) notes.push('no domain config is embedded in the xl header: restore with `xl restore CONFIG NEW` (or give one with --config FILE)')
      break
    }
    case 'libvirt': {
      if (c.kind !== 'libvirt') throw new Error('internal: libvirt output from a non-libvirt input')
      conv.prefix = withLibvirtVersion(c.header.headerBytes, LIBVIRT_VERSION_V2)
      conv.omitXlHeader = true
      if (c.header.version !== LIBVIRT_VERSION_V2) notes.push(`the libvirt header's version was rewritten from ${c.header.version} to ${LIBVIRT_VERSION_V2}, over the converted libxl stream; the domain XML is copied unchanged`)
      else notes.push('the libvirt header said version 2 over a legacy stream; it now holds the converted libxl stream it claims')
      break
    }
    case 'xenserver': {
      const head: Buffer[] = p.structured
        ? [...p.structured.before]
        : [encodeStructuredSignature(), encodeXenopsSection(encodeXenopsRecord({time: xenopsTimeNow(), wordSize: CONVERTED_WORD_SIZE}))]
      head.push(encodeSectionHeader('Libxc'))
      conv.prefix = Buffer.concat(head)
      conv.omitXlHeader = true
      conv.onQemuRecord = async (q, out) => {
        qemuSeen = true
        if (q.length === undefined) {
          // Qemu state to the end of a stream of unknown size: its length is only known once read.
          const blob = await q.data.read()
          await out.raw(encodeSectionHeader('Qemu_trad', blob.length))
          await out.raw(blob)
          outside += SectionHeader.size + blob.length
          return blob.length
        }
        await out.raw(encodeSectionHeader('Qemu_trad', q.length))
        outside += SectionHeader.size + q.length
        return q.data.pipe((piece) => out.raw(piece))
      }
      after = p.structured ? () => restOfStructured(p, sink, notes) : () => sink.write(encodeSectionHeader('End_of_image'))
      if (!p.structured) notes.push('a new Xenops section holds the save time and word_size 64 (SOURCE_DATE_EPOCH sets the time)')
      else notes.push('the Libxc_legacy section became a Libxc section (the converted stream) and a Qemu_trad section (its qemu record); every other section is copied unchanged, in order')
      break
    }
  }
  conv.onImage = (image) => {
    const claim = guestClaimWarning(c, image.guest)
    if (claim) opts.onWarning?.(claim)
    opts.onImage?.(image)
  }
  const summary = await convertLegacy(p.img.reader, sink, conv)
  summary.output.bytes -= outside
  if (plan.family === 'xenserver' && summary.input.guest === 'hvm' && !qemuSeen && !opts.skipQemu) {
    notes.push('the HVM image has no qemu record, so the XenServer image has no Qemu_trad section')
  }
  if (after) await after()
  await drainGzip(p.img)
  return result(summary)
}

/** A new xl save-file header: STREAMv2, and the config when one is given. */
export function newXlHeader(config?: XlConfig): Buffer {
  const data = config ? Buffer.concat([Buffer.from(config.text, 'utf8'), Buffer.alloc(1)]) : Buffer.alloc(0)
  const optional = config ? Buffer.concat([u32(data.length), data]) : data
  const head = XlHeader.encode({
    magic: XL_MAGIC,
    byteorder: XL_BYTEORDER,
    mandatoryFlags: XL_MANDATORY_STREAM_V2 | (config?.json ? XL_MANDATORY_CONFIG_JSON : 0),
    optionalFlags: 0,
    optionalDataLen: optional.length,
  })
  return Buffer.concat([head, optional])
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n, 0)
  return b
}

/** Read a --config file's text: JSON when it parses as such, xl syntax otherwise. */
export function xlConfigFrom(text: string): XlConfig {
  if (text.includes('\0')) throw new UsageError('--config: the file holds a NUL byte; a domain config is text', 'bad-config')
  let json = false
  try {
    const doc = JSON.parse(text)
    json = typeof doc === 'object' && doc !== null
  } catch {}
  return {text, json}
}

/** After the Libxc_legacy stream of a structured input: every later section copied, in order, to End_of_image. */
async function restOfStructured(p: PreparedInput, sink: ByteSink, notes: string[]): Promise<void> {
  const {walk} = p.structured!
  const r = p.img.reader
  for (;;) {
    const step = await walk.next()
    if (step.done) break
    const s = step.value
    p.container.sections!.push({name: s.section.name, offset: s.offset, length: s.section.body === 'sized' ? s.length : null})
    if (s.section.body === 'sized') {
      await sink.write(sectionHeaderBytes(s))
      await s.body!.pipe((piece) => sink.write(piece))
    } else if (s.section.body === 'none') {
      await sink.write(sectionHeaderBytes(s))
    } else {
      throw new FormatError('xenserver-stream-after', `a ${s.section.name} section after the memory image: xst cannot find its end to copy it`, {offset: s.offset, context: `${s.section.name} section`})
    }
  }
  const left = await r.skipToEnd()
  if (left) {
    p.container.afterEnd = left
    notes.push(`${left} bytes after End_of_image are not part of the image and were not copied`)
  }
}

/**
 * A libvirt image whose stream is already v2: the stream is copied byte
 * for byte into the new container (a version 2 libvirt header, an xl
 * header, or none), checked by the v2 verifier as it goes through.
 */
async function copyV2(p: PreparedInput, plan: Plan, sink: ByteSink, opts: RunOptions, notes: string[]): Promise<[ConvertSummary, VerifyReport]> {
  const c = p.img.container
  if (c.kind !== 'libvirt') throw new Error('internal: a v2 copy from a non-libvirt input')
  const r = p.img.reader
  const streamAt = r.offset
  let prefix: Buffer | undefined
  if (plan.family === 'libvirt') {
    prefix = withLibvirtVersion(c.header.headerBytes, LIBVIRT_VERSION_V2)
    notes.push(`repaired: the libvirt header said version ${c.header.version} over a libxl v2 stream; the version is now ${LIBVIRT_VERSION_V2}, and the stream is copied byte for byte`)
  } else if (plan.family === 'xl') {
    prefix = newXlHeader()
    notes.push('the libxl v2 stream is copied byte for byte behind a new xl header: restore with `xl restore CONFIG NEW`')
  } else notes.push('the libxl v2 stream is copied byte for byte, without its libvirt header')
  // Checked as it is copied; nothing of it is trusted before it verifies.
  const verifier = new V2Verifier()
  let written = 0
  if (prefix) await sink.write(prefix)
  const tee = new ByteReader(new TeeSource(new ReaderSource(r), async (piece) => {
    written += piece.length
    await sink.write(piece)
  }))
  await checkStream(tee, verifier, {format: 'libxl'})
  const report = verifier.finish(written)
  if (!report.valid) {
    const e = report.errors[0]
    throw new FormatError('stream-invalid', `the libxl stream in the libvirt image does not verify (byte ${streamAt + e.offset}): ${e.message}; it is not copied`, {offset: streamAt + e.offset})
  }
  await sink.flush()
  await drainGzip(p.img)
  const s = report.summary
  const guest: Guest = s.guestType === 'x86 PV' ? 'pv' : 'hvm'
  const summary: ConvertSummary = {
    input: {guest, toolstackWidth: null, xlHeader: false, bytes: r.offset, domainName: c.header.domainName ?? null},
    output: {format: 'libxl', libxcVersion: s.version.libxc ?? 0, bytes: written},
    records: s.records,
    pages: {total: s.pages.pfns, withData: s.pages.withData, dropped: 0, batches: s.records.libxc.PAGE_DATA ?? 0},
    vcpus: s.vcpus,
    qemu: s.emulator.contexts ? {signature: 'EMULATOR_CONTEXT', bytes: s.emulator.contextBytes} : null,
    warnings: report.warnings.map((w) => w.message),
  }
  return [summary, report]
}

/** Hands every byte read from `inner` to `copy` too, in order. */
class TeeSource implements ByteSource {
  readonly seekable = false
  readonly size = undefined
  readonly name: string

  constructor(
    private readonly inner: ByteSource,
    private readonly copy: (piece: Buffer) => Promise<void>,
  ) {
    this.name = inner.name
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number, min?: number): Promise<number> {
    const n = await this.inner.read(buf, offset, length, position, min)
    if (n > 0) await this.copy(Buffer.from(buf.subarray(offset, offset + n)))
    return n
  }

  async close(): Promise<void> {}
}
