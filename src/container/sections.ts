// Reading a XenServer structured image's sections around its memory image
// (the first stream section), as inspect-legacy, identify, convert and
// dump-core do.
import {FormatError} from '../errors.js'
import {type ContainerSummary, xenopsSummary} from './describe.js'
import {parseXenopsRecord, type StructuredSection} from './xenserver.js'

/** Read sections up to the first stream section (listing them, parsing Xenops) and return it. */
export async function untilStream(walk: AsyncGenerator<StructuredSection>, summary: ContainerSummary): Promise<StructuredSection> {
  for (;;) {
    const step = await walk.next()
    if (step.done) throw new FormatError('xenserver-no-stream', 'the XenServer image ends (End_of_image) before any memory image section', {context: 'XenServer sections'})
    const s = step.value
    summary.sections!.push({name: s.section.name, offset: s.offset, length: s.section.body === 'sized' ? s.length : null})
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
 * Read the sections after the memory image's stream to End_of_image,
 * listing them (the reader must be at the stream's end). A stream section
 * there cannot be read past.
 */
export async function restOfSections(walk: AsyncGenerator<StructuredSection>, summary: ContainerSummary): Promise<void> {
  for (;;) {
    const step = await walk.next()
    if (step.done) return
    const s = step.value
    summary.sections!.push({name: s.section.name, offset: s.offset, length: s.section.body === 'sized' ? s.length : null})
    if (s.section.body !== 'sized' && s.section.body !== 'none') {
      throw new FormatError('xenserver-stream-after', `a ${s.section.name} section after the memory image: its end cannot be found here, so the rest of the image cannot be read`, {offset: s.offset, context: `${s.section.name} section`})
    }
  }
}
