// inspect-legacy on an opened image: the container's facts, then the legacy
// stream inside it walked with the qemu record framings that container
// writes; the container's module reads what surrounds the stream (a
// XenServer structured image's sections before and after its Libxc_legacy
// section) and says what it makes of it.
import {type ContainerSummary, containerSummary, guestClaimWarning} from '../container/describe.js'
import {drainGzip, type OpenedImage} from '../container/open.js'
import {containerModule} from '../container/registry.js'
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
  const report = await containerModule(c.kind).inspect(img, container, {
    warn,
    read: (o) => inspectLegacy(img.reader, name, {...walkOpts, ...o}),
  })
  const claim = guestClaimWarning(c, report.image.guest)
  if (claim) warn(claim)
  // Walked to its end above unless a container stopped the walk; a gzip input is read on so its check runs.
  await drainGzip(img)
  for (const m of own) addWarning(report.warnings, m)
  return {container, report}
}
