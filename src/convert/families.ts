// How each container family's output is assembled around the converted
// stream (docs/containers.md). The conversion itself
// (convert.ts) knows nothing of containers: it is given the bytes to write
// before the stream, whether to leave out the input's xl header, and where
// the qemu record goes. The input's container module (src/container/kinds)
// says which family --container keep writes, reads what an output carries
// over (a structured image's sections, a libvirt header) and plans a v2
// stream inside (libvirt's version repair); FAMILIES here writes each
// output family around the stream.
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
import {BufferSource} from '../io/source.js'
import {ReaderSource} from '../io/gzip-source.js'
import {TeeSource} from './tee.js'
import {FormatError, UsageError} from '../errors.js'
import {XL_BYTEORDER, XL_MAGIC, XL_MANDATORY_CONFIG_JSON, XL_MANDATORY_STREAM_V2, XlHeader} from '../xl/layout.js'
import type {Guest} from '../legacy/events.js'
import {checkStream} from '../v2/reader.js'
import type {V2Verifier, VerifyReport} from '../v2/verify/verifier.js'
import {configFacts, readXlHeader} from '../xl/header.js'
import {containerDomainName, type ContainerSummary, containerSummary, guestClaimWarning} from '../container/describe.js'
import {withLibvirtVersion, LIBVIRT_VERSION_V2} from '../container/libvirt.js'
import type {CarriedSections, Container, ContainerModule, StreamKind} from '../container/module.js'
import {drainGzip, type OpenedImage} from '../container/open.js'
import {containerModule} from '../container/registry.js'
import {BARE_LEGACY_QEMU_RECORDS, encodeQemuRecordHeader, QEMU_DM_0002} from '../legacy/qemu-record.js'
import {CONVERTED_WORD_SIZE, encodeSectionHeader, encodeStructuredSignature, encodeXenopsRecord, encodeXenopsSection, SectionHeader, xenopsTimeNow} from '../container/xenserver.js'
import {convertLegacy, type ConvertOptions, type ConvertSummary, type OutputFormat} from './convert.js'
import type {ContainerChoice} from './choices.js'

export type {ContainerChoice}
export {MAX_SECTIONS_BEFORE_STREAM} from '../container/kinds/xenserver-structured.js'

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

/** "a libvirt ...", "an xend ...". */
const aContainer = (label: string) => `${/^(xend|xl|no )/.test(label) ? 'an' : 'a'} ${label}`.replace(/^an no /, 'no ')

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

export interface PreparedInput {
  img: OpenedImage
  /** The input's container module. */
  module: ContainerModule<Container>
  container: ContainerSummary
  /** What the stream inside is (after the structured sections, for a XenServer structured image). */
  stream: StreamKind
  /** What of the input's container a XenServer output carries over (a structured input's sections). */
  sections?: CarriedSections
}

/** Read what is needed to plan (the container's module reads it: a structured image's sections up to its memory image). */
export async function prepareInput(img: OpenedImage): Promise<PreparedInput> {
  const module = containerModule(img.container.kind)
  const container = containerSummary(img)
  return {img, module, container, ...(await module.convert.prepare(img, container))}
}

/**
 * Which family and format the output is, or why the request cannot be
 * restored. Usage errors for combinations no toolstack restores; format
 * errors for inputs that cannot be converted whatever is asked.
 */
export function planConversion(p: PreparedInput, req: FamilyRequest): Plan {
  const c = p.img.container
  const m = p.module
  const family: OutputFamily = req.container === 'keep' ? m.convert.keep : req.container
  const format: OutputFormat = req.format ?? (family === 'xenserver' || req.helper ? 'libxc' : 'libxl')
  const asked = req.container === 'keep' ? `${aContainer(m.label)} input (--container keep)` : `--container ${req.container}`

  if (family === 'xenserver' && format === 'libxl') {
    throw new UsageError(
      `${asked}: a XenServer image holds a libxc stream in its Libxc section (xenopsd refuses a Libxl section); drop --format libxl, or choose another --container`,
      'container-format',
    )
  }
  if (family === 'libvirt' && format === 'libxc') {
    throw new UsageError(
      `${asked}: libvirt's libxl driver restores a libxl stream behind a version 2 header, never a bare libxc stream; drop --format libxc, or use --container none`,
      'container-format',
    )
  }
  if (family === 'xl' && format === 'libxc') {
    throw new UsageError(
      `${asked}: xl restore reads a libxl stream behind an xl header (STREAMv2); a libxc stream there cannot be restored; drop --format libxc, or use --container none`,
      'container-format',
    )
  }
  if (family === 'libvirt' && !m.convert.libvirtHeader(c)) {
    throw new UsageError(`--container libvirt: a libvirt image carries the domain XML, which only a libvirt input has (this is ${aContainer(m.label)})`, 'container-needs-xml')
  }
  if (req.config && !(family === 'xl' && !m.convert.ownXlHeader(p.stream))) {
    throw new UsageError(
      '--config embeds a domain config in a new xl header: it applies only when the output is an xl save file xst writes the header of (an xend input, or --container xl over an input without an xl header)',
      'config-not-applicable',
    )
  }

  const plan: Plan = {family, format, mode: 'convert'}
  // A v2 stream: nothing to convert (the walker says it is already v2), unless the container says otherwise (a libvirt header's version put right).
  if (p.stream === 'libxl' || p.stream === 'libxc') return m.convert.planV2(c, p.stream, plan)
  return plan
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

/** What an output family's writer is given: the input, the request, and the conversion's options to set (prefix, xl header, qemu record). */
interface FamilyWrite {
  p: PreparedInput
  plan: Plan
  req: FamilyRequest
  sink: ByteSink
  opts: RunOptions
  conv: ConvertOptions
  notes: string[]
}

/** What a family does once the converted stream is written. */
interface AfterConversion {
  /** Put the summary right (bytes written outside the stream) and note what the conversion found. */
  finish?(summary: ConvertSummary): void
  /** Write what follows the stream. */
  after?(): Promise<void>
}

/** Each output family: what it writes around the converted stream (what of the input's container it keeps comes from the container's module). */
const FAMILIES: Record<OutputFamily, (w: FamilyWrite) => AfterConversion | Promise<AfterConversion>> = {
  bare: () => ({}),
  none({plan, conv, notes}) {
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
    return {}
  },
  async xl({p, req, opts, conv, notes}) {
    if (p.module.convert.ownXlHeader(p.stream)) return {} // the input's own xl header, STREAMv2 set
    // An xend HVM guest's device state is qemu-traditional's (xend ran nothing else): the config xst embeds asks libxl for that device model.
    const config = req.config && p.container.kind === 'xend' && p.container.xend?.imageKind === 'hvm' ? withTraditionalDeviceModel(req.config, notes) : req.config
    const header = newXlHeader(config)
    conv.prefix = header
    conv.omitXlHeader = true
    opts.verifier?.xlHeader(await readXlHeader(new ByteReader(new BufferSource(header))))
    if (!req.config) notes.push('no domain config is embedded in the xl header: restore with `xl restore CONFIG NEW` (or give one with --config FILE)')
    return {}
  },
  libvirt({p, conv, notes}) {
    const h = p.module.convert.libvirtHeader(p.img.container)
    if (!h) throw new Error('internal: libvirt output from a non-libvirt input')
    conv.prefix = withLibvirtVersion(h.headerBytes, LIBVIRT_VERSION_V2)
    conv.omitXlHeader = true
    if (h.version !== LIBVIRT_VERSION_V2)
      notes.push(`the libvirt header's version was rewritten from ${h.version} to ${LIBVIRT_VERSION_V2}, over the converted libxl stream; the domain XML is copied unchanged`)
    else notes.push('the libvirt header said version 2 over a legacy stream; it now holds the converted libxl stream it claims')
    return {}
  },
  xenserver({p, sink, opts, conv, notes}) {
    const carried = p.sections
    let qemuSeen = false
    /** Bytes of a Qemu_trad section written outside the stream (not counted as stream bytes). */
    let outside = 0
    const head: Buffer[] = carried ? [...carried.before] : [encodeStructuredSignature(), encodeXenopsSection(encodeXenopsRecord({time: xenopsTimeNow(), wordSize: CONVERTED_WORD_SIZE}))]
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
    if (!carried) notes.push('a new Xenops section holds the save time and word_size 64 (SOURCE_DATE_EPOCH sets the time)')
    else notes.push('the Libxc_legacy section became a Libxc section (the converted stream) and a Qemu_trad section (its qemu record); every other section is copied unchanged, in order')
    return {
      finish(summary) {
        summary.output.bytes -= outside
        if (summary.input.guest === 'hvm' && !qemuSeen && !opts.skipQemu) {
          notes.push('the HVM image has no qemu record, so the XenServer image has no Qemu_trad section')
        }
      },
      after: carried ? () => carried.rest(sink, notes) : () => sink.write(encodeSectionHeader('End_of_image')),
    }
  },
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
  if (plan.mode === 'copy') return result(...(await copyV2(p, plan, sink, notes)))

  const c = p.img.container
  const conv: ConvertOptions = {
    ...opts,
    format: plan.format,
    qemuRecords: p.img.qemuRecords,
    observer: opts.verifier ?? opts.observer,
    // A gzip stream is read to its end (its check is at the end); what follows the image there is reported.
    stopAtEnd: opts.stopAtEnd && !p.img.gzip,
    stopAtImageEnd: p.module.moreAfterStream,
  }
  const around = await FAMILIES[plan.family]({p, plan, req, sink, opts, conv, notes})
  conv.onImage = (image) => {
    const claim = guestClaimWarning(c, image.guest)
    if (claim) opts.onWarning?.(claim)
    opts.onImage?.(image)
  }
  const summary = await convertLegacy(p.img.reader, sink, conv)
  around.finish?.(summary)
  await around.after?.()
  await drainGzip(p.img)
  return result(summary)
}

/**
 * `config` asking for qemu-traditional: libxl takes the device model from
 * the config alone (libxl__domain_build_info_setdefault()), and defaults to
 * qemu-xen, which cannot load qemu-traditional's device state. A config
 * that asks for qemu-xen is refused: the restore it embeds would fail.
 */
export function withTraditionalDeviceModel(config: XlConfig, notes: string[]): XlConfig {
  const asked = configFacts(config.text, config.json).deviceModel
  if (asked === 'qemu-xen-traditional') return config
  if (asked === 'qemu-xen') {
    throw new UsageError(
      '--config asks for device_model_version "qemu-xen", but an xend image\'s device state is qemu-traditional\'s (xend ran nothing else), which upstream QEMU cannot load: leave the setting out (xst then asks for qemu-xen-traditional) or set it to "qemu-xen-traditional"',
      'bad-config',
    )
  }
  notes.push(
    'device_model_version "qemu-xen-traditional" was added to the embedded config: the device state of an xend image is qemu-traditional\'s, and libxl would start qemu-xen for it (Xen 4.21 and later cannot restore it at all)',
  )
  if (config.json) {
    const doc = JSON.parse(config.text)
    doc.b_info = {...(doc.b_info ?? {}), device_model_version: 'qemu_xen_traditional'}
    return {text: `${JSON.stringify(doc, null, 4)}\n`, json: true}
  }
  return {text: `${config.text.replace(/\n?$/, '\n')}device_model_version = "qemu-xen-traditional"\n`, json: false}
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

/**
 * A libvirt image whose stream is already v2: the stream is copied byte
 * for byte into the new container (a version 2 libvirt header, an xl
 * header, or none), checked by the v2 verifier as it goes through.
 */
async function copyV2(p: PreparedInput, plan: Plan, sink: ByteSink, notes: string[]): Promise<[ConvertSummary, VerifyReport]> {
  const h = p.module.convert.libvirtHeader(p.img.container)
  if (!h) throw new Error('internal: a v2 copy from a non-libvirt input')
  const r = p.img.reader
  const streamAt = r.offset
  let prefix: Buffer | undefined
  if (plan.family === 'libvirt') {
    prefix = withLibvirtVersion(h.headerBytes, LIBVIRT_VERSION_V2)
    notes.push(`repaired: the libvirt header said version ${h.version} over a libxl v2 stream; the version is now ${LIBVIRT_VERSION_V2}, and the stream is copied byte for byte`)
  } else if (plan.family === 'xl') {
    prefix = newXlHeader()
    notes.push('the libxl v2 stream is copied byte for byte behind a new xl header: restore with `xl restore CONFIG NEW`')
  } else notes.push('the libxl v2 stream is copied byte for byte, without its libvirt header')
  // Checked as it is copied; nothing of it is trusted before it verifies.
  // Loaded here, not with this module: a conversion run with --no-verify never loads the verifier.
  const verifier = new (await import('../v2/verify/verifier.js')).V2Verifier()
  let written = 0
  if (prefix) await sink.write(prefix)
  const tee = new ByteReader(
    new TeeSource(new ReaderSource(r), async (piece) => {
      written += piece.length
      await sink.write(piece)
    }),
  )
  await checkStream(tee, verifier, {format: 'libxl'})
  const report = verifier.finish(written)
  if (!report.valid) {
    const e = report.errors[0]
    throw new FormatError('stream-invalid', `the libxl stream in the libvirt image does not verify (byte ${streamAt + e.offset}): ${e.message}; it is not copied`, {offset: streamAt + e.offset})
  }
  await sink.flush()
  await drainGzip(p.img)
  const s = report.summary
  const guest: Guest = s.guest === 'pv' ? 'pv' : 'hvm'
  const summary: ConvertSummary = {
    input: {guest, toolstackWidth: null, xlHeader: false, bytes: r.offset, domainName: containerDomainName(p.container)},
    output: {format: 'libxl', libxcVersion: s.version.libxc ?? 0, bytes: written},
    records: s.records,
    pages: {count: s.pages.count, withData: s.pages.withData, dropped: 0, batches: s.records.libxc.PAGE_DATA ?? 0},
    vcpus: s.vcpus,
    qemu: s.emulator.contexts ? {signature: 'EMULATOR_CONTEXT', bytes: s.emulator.contextBytes} : null,
    warnings: report.warnings.map((w) => w.message),
    checkpoint: null,
  }
  return [summary, report]
}
