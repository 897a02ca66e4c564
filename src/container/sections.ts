// Reading a XenServer structured image's sections up to its memory image
// (the first stream section), as inspect-legacy, identify and convert do.
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
      if (s.section.body === 'none') throw new FormatError('xenserver-no-stream', 'the XenServer image ends (End_of_image) before any memory image section', {offset: s.offset, context: 'XenServer sections'})
      return s
    }
  }
}

