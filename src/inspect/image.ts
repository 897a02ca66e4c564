// inspect-legacy on an opened image: the container's facts, then the legacy
// stream inside it walked with the qemu record framings that container
// writes. A XenServer structured image is read section by section: up to
// its Libxc_legacy section, the stream in it, then the sections after it.
import {type ContainerSummary, containerSummary, guestClaimWarning} from '../container/describe.js'
import {libvirtVersionDefect} from '../container/libvirt.js'
import {drainGzip, type OpenedImage} from '../container/open.js'
import {restOfSections, untilStream} from '../container/sections.js'
import {FormatError} from '../errors.js'
import type {WalkOptions} from '../legacy/walker.js'
import {inspectLegacy, type InspectReport} from './report.js'
import {addWarning} from '../text.js'

export type InspectImageOptions = Pick<WalkOptions, 'width' | 'guest' | 'layoutFlags' | 'skipQemu'> & {verbose?: boolean; onWarning?: (m: string) => void}

export async function inspectImage(img: OpenedImage, name: string, opts: InspectImageOptions): Promise<{container: ContainerSummary; report: InspectReport}> {
  const container = containerSummary(img)
  const c = img.container
  // Warnings about the container: told at once, and kept in the report with the stream's.
  const own: string[] = []
  const warn = (m: string) => {
    own.push(m)
    opts.onWarning?.(m)
  }
  const walkOpts = {...opts, qemuRecords: img.qemuRecords}
  let report: InspectReport
  if (c.kind === 'xenserver-structured') {
    // A section xenopsd refuses does not stop the inspection of the stream: a warning.
    const sectionOpts = {onRefused: (err: FormatError) => warn(err.message)}
    const stream = await untilStream(img.reader, container, sectionOpts)
    if (stream.section.body === 'libxc-stream') {
      throw new FormatError('already-v2', 'this XenServer image holds a v2 stream (a Libxc section), not a legacy one; use `xst verify`', {offset: stream.offset, context: 'Libxc section'})
    }
    if (stream.section.body !== 'legacy-stream') {
      throw new FormatError('xenserver-no-legacy', `the first stream section is ${stream.section.name}, not Libxc_legacy: there is no legacy stream to inspect`, {offset: stream.offset, context: `${stream.section.name} section`})
    }
    report = await inspectLegacy(img.reader, name, {...walkOpts, stopAtImageEnd: true})
    await restOfSections(img.reader, container, sectionOpts)
    container.afterEnd = await img.reader.skipToEnd()
    report.bytes = img.reader.offset - container.afterEnd
  } else {
    if (c.kind === 'libvirt' && img.stream === 'legacy' && c.header.claims !== 'legacy') {
      const defect = libvirtVersionDefect(c.header, 'legacy')
      if (defect) warn(`${defect.message}; libvirt would hand the legacy stream to libxl as a v2 stream (xst convert writes version 2 over the converted stream)`)
    }
    report = await inspectLegacy(img.reader, name, walkOpts)
  }
  const claim = guestClaimWarning(c, report.image.guest)
  if (claim) warn(claim)
  // Walked to its end above unless a container stopped the walk; a gzip input is read on so its check runs.
  await drainGzip(img)
  for (const m of own) addWarning(report.warnings, m)
  return {container, report}
}
