// Reading a XenServer structured image's sections around its memory image
// (the first stream section), as inspect-legacy, identify, convert and
// dump-core do.
import {FormatError} from '../errors.js'
import type {ContainerSummary, SectionLine} from './module.js'
import {parseXenopsRecord, restoreRefusal, type StructuredSection, type XenopsRecord} from './xenserver.js'

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

/** What a walk is told of each section a restore refuses (restoreRefusal); without it, they pass unremarked. */
export interface SectionWalkOptions {
  onRefused?: (err: FormatError) => void
}

function list(s: StructuredSection, summary: ContainerSummary, opts: SectionWalkOptions): void {
  summary.sections!.push(sectionLine(s))
  const refused = s.section.body === 'sized' ? restoreRefusal(s) : undefined
  if (refused) opts.onRefused?.(refused)
}

/** Read sections up to the first stream section (listing them, parsing Xenops) and return it. */
export async function untilStream(walk: AsyncGenerator<StructuredSection>, summary: ContainerSummary, opts: SectionWalkOptions = {}): Promise<StructuredSection> {
  for (;;) {
    const step = await walk.next()
    if (step.done) throw new FormatError('xenserver-no-stream', 'the XenServer image ends (End_of_image) before any memory image section', {context: 'XenServer sections'})
    const s = step.value
    list(s, summary, opts)
    if (s.section.name === 'Xenops') summary.xenops = xenopsSummary(parseXenopsRecord(await s.body!.read(), s.bodyOffset))
    if (s.section.body !== 'sized') {
      if (s.section.body === 'none') throw new FormatError('xenserver-no-stream', 'the XenServer image ends (End_of_image) before any memory image section', {offset: s.offset, context: 'End_of_image section'})
      return s
    }
  }
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
export async function restOfSections(walk: AsyncGenerator<StructuredSection>, summary: ContainerSummary, opts: RestOfSectionsOptions = {}): Promise<StructuredSection | undefined> {
  for (;;) {
    const step = await walk.next()
    if (step.done) return undefined
    const s = step.value
    list(s, summary, opts)
    if (s.section.body === 'opaque-stream' && opts.stopAtOpaque) {
      summary.stoppedAt = {section: s.section.name, offset: s.offset}
      return s
    }
    if (s.section.body !== 'sized' && s.section.body !== 'none') {
      const where = {offset: s.offset, context: `${s.section.name} section`}
      if (s.section.refusedByRestore) {
        throw new FormatError('xenserver-refused-section', `a ${s.section.name} section (${s.section.what}) after the memory image: xenopsd refuses to restore an image holding one (xc/domain.ml process_header: Suspend_image_failure), and its end cannot be found to read on`, where)
      }
      throw new FormatError('xenserver-stream-after', `a ${s.section.name} section after the memory image: its end cannot be found here, so the rest of the image cannot be read`, where)
    }
  }
}
