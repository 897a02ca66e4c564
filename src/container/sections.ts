// The one walk over a XenServer structured image's sections, which every
// command reads with (inspect-legacy, identify, verify, convert,
// dump-core): each section is listed in the summary as it is met and
// handed to the command's handler for its kind of body. The memory image
// is the first stream section (Libxc or Libxc_legacy); the reader of its
// stream is the command's, between two walks or inside one.
import {FormatError} from '../errors.js'
import type {ByteReader} from '../io/reader.js'
import type {ContainerSummary, SectionLine} from './module.js'
import {parseXenopsRecord, restoreRefusal, type StructuredSection, walkSections, type XenopsRecord} from './xenserver.js'

/** The summary's line for a section. */
export function sectionLine(s: StructuredSection): SectionLine {
  return {name: s.section.name, offset: s.offset, length: s.section.body === 'sized' ? s.length : null}
}

export function sectionWords(s: SectionLine): string {
  return s.length === null ? `${s.name}@${s.offset}` : `${s.name}@${s.offset}(${s.length})`
}

export function xenopsSummary(r: XenopsRecord): NonNullable<ContainerSummary['xenops']> {
  return {time: r.time, wordSize: r.wordSize, vmStrLength: r.vmStrLength ?? null, xsSubtreeEntries: r.xsSubtreeEntries ?? null, unknownFields: r.unknownFields, vmName: r.vmName, vmUuid: r.vmUuid}
}

/** A handler's answer: undefined (or nothing) to go on, a value to end the walk with. */
type Step<T> = Promise<T | undefined | void> | T | undefined | void

/** What a walk does with each section, by its body; a handler's value (anything but undefined) ends the walk with it. */
export interface SectionHandlers<T> {
  /** A sized section: its body is a Payload, skipped unless read. */
  sized(s: StructuredSection): Step<T>
  /** A stream section (Libxc, Libxc_legacy, Libxl, Demu): its stream must be read to its end before the walk goes on. */
  stream(s: StructuredSection): Step<T>
  /** End_of_image, the last section. */
  end(s: StructuredSection): Step<T>
}

/**
 * Walk the sections from the reader's position (just after the signature,
 * or after a stream section's stream), listing each in the summary and
 * handing it to its handler. Returns the first value a handler returns, or
 * undefined once End_of_image has been read. Errors of the sections
 * themselves (an unknown type, a length over its bound, no End_of_image)
 * are walkSections'.
 */
/** Most sections a structured image may hold: xenopsd writes one of each kind it has, and memory follows the count (6 million empty sections fit in 96 MB). */
export const MAX_SECTIONS = 10_000

export async function walkStructured<T>(reader: ByteReader, summary: ContainerSummary, h: SectionHandlers<T>): Promise<T | undefined> {
  const walk = walkSections(reader)
  for (;;) {
    const step = await walk.next()
    if (step.done) return undefined
    const s = step.value
    if (summary.sections!.length >= MAX_SECTIONS) {
      throw new FormatError('too-many-elements', `the XenServer image holds more than ${MAX_SECTIONS} sections, more than xst keeps (xenopsd writes fewer than 20)`, {
        offset: s.offset,
        context: `${s.section.name} section`,
      })
    }
    summary.sections!.push(sectionLine(s))
    const body = s.section.body
    const stop = await (body === 'sized' ? h.sized(s) : body === 'none' ? h.end(s) : h.stream(s))
    if (stop !== undefined) return stop as T
  }
}

/** The Xenops record of a sized Xenops section, read and checked (a broken record is refused). */
export async function readXenops(s: StructuredSection): Promise<XenopsRecord> {
  return parseXenopsRecord(await s.body!.read(), s.bodyOffset)
}

/** End_of_image where the memory image was expected. */
export function noStreamError(s: StructuredSection): FormatError {
  return new FormatError('xenserver-no-stream', 'the XenServer image ends (End_of_image) before any memory image section', {offset: s.offset, context: 'End_of_image section'})
}

/** What a walk is told of each section a restore refuses (restoreRefusal); without it, they pass unremarked. */
export interface SectionWalkOptions {
  onRefused?: (err: FormatError) => void
}

function tellRefusal(s: StructuredSection, opts: SectionWalkOptions): void {
  const refused = restoreRefusal(s)
  if (refused) opts.onRefused?.(refused)
}

/** Read sections up to the first stream section (listing them, parsing Xenops) and return it. */
export async function untilStream(reader: ByteReader, summary: ContainerSummary, opts: SectionWalkOptions = {}): Promise<StructuredSection> {
  const stream = await walkStructured<StructuredSection>(reader, summary, {
    async sized(s) {
      tellRefusal(s, opts)
      if (s.section.name === 'Xenops') summary.xenops = xenopsSummary(await readXenops(s))
      return undefined
    },
    stream: (s) => s,
    end(s) {
      throw noStreamError(s)
    },
  })
  if (!stream) throw new FormatError('xenserver-no-stream', 'the XenServer image ends (End_of_image) before any memory image section', {context: 'XenServer sections'})
  return stream
}

/**
 * Why a stream section other than Libxc and Libxc_legacy cannot be read as
 * the memory image: nothing says where its stream ends.
 */
export function unreadableStreamSection(s: StructuredSection): FormatError {
  return new FormatError(
    'xenserver-refused-section',
    `a ${s.section.name} section (${s.section.what}) before the memory image: ${s.section.refusedByRestore ? 'xenopsd refuses it, and ' : ''}xst cannot find its end`,
    {offset: s.offset, context: `${s.section.name} section`},
  )
}

/**
 * A Demu section after the memory image, as Citrix XenServer writes it for
 * a VM with an NVIDIA vGPU (the vGPU state follows the memory on the same
 * descriptor): xenopsd's process_header (xc/domain.ml) hands it to the vGPU
 * emulator through emu-manager, and only that emulator knows where its
 * stream ends. Nothing from there on can be read, so what can be said is
 * said as a warning: the memory image before it is whole.
 */
export function uncheckedAfterDemu(s: StructuredSection): FormatError {
  return new FormatError(
    'xenserver-unchecked-after-demu',
    `a ${s.section.name} section (${s.section.what}, in NVIDIA's own format, whose end xst cannot find) follows the memory image: it and every section after it were not checked; xenopsd hands it to the vGPU emulator (xc/domain.ml process_header), so only a XenServer host with NVIDIA vGPU restores this image`,
    {offset: s.offset, context: `${s.section.name} section`},
  )
}

export interface RestOfSectionsOptions extends SectionWalkOptions {
  /**
   * At a Demu section (an opaque stream): stop there, note it in the
   * summary (stoppedAt) and return it, instead of refusing the image. For
   * readers that have all they need before it (a dump of the memory image).
   */
  stopAtOpaque?: boolean
}

/**
 * Read the sections after the memory image's stream to End_of_image,
 * listing them (the reader must be at the stream's end). A stream section
 * there cannot be read past: refused, or (stopAtOpaque, a Demu section)
 * where the reading stops, returned.
 */
export function restOfSections(reader: ByteReader, summary: ContainerSummary, opts: RestOfSectionsOptions = {}): Promise<StructuredSection | undefined> {
  return walkStructured<StructuredSection>(reader, summary, {
    sized(s) {
      tellRefusal(s, opts)
      return undefined
    },
    stream(s) {
      if (s.section.body === 'opaque-stream' && opts.stopAtOpaque) {
        summary.stoppedAt = {section: s.section.name, offset: s.offset}
        return s
      }
      const where = {offset: s.offset, context: `${s.section.name} section`}
      if (s.section.refusedByRestore) {
        throw new FormatError(
          'xenserver-refused-section',
          `a ${s.section.name} section (${s.section.what}) after the memory image: xenopsd refuses to restore an image holding one (xc/domain.ml process_header: Suspend_image_failure), and its end cannot be found to read on`,
          where,
        )
      }
      throw new FormatError('xenserver-stream-after', `a ${s.section.name} section after the memory image: its end cannot be found here, so the rest of the image cannot be read`, where)
    },
    end: () => undefined,
  })
}
