// `xst verify` on an opened image: the v2 stream inside whatever container
// holds it, and the container's own rules (README, "Containers"):
//
// - libvirt: the header's version must match the stream that follows;
// - XenServer structured: every section is read (sized bodies bounded by
//   their lengths), the Xenops record parsed (a field xst does not know is
//   a warning: an older xenopsd refuses it), the Libxc section's stream
//   verified up to its END, and End_of_image required; sections a restore
//   refuses are errors (restoreRefusal); a Demu section after the memory
//   image ends the check with a warning (its end cannot be found); bytes
//   after End_of_image are counted, not checked;
// - anything holding a legacy stream is sent to `xst convert`.
import {FormatError} from '../errors.js'
import type {Layer} from '../v2/record.js'
import {checkStream} from '../v2/reader.js'
import type {V2Verifier, VerifyReport} from '../v2/verify/verifier.js'
import {printable} from '../text.js'
import {type ContainerSummary, containerSummary, xenopsSummary} from './describe.js'
import {libvirtVersionDefect} from './libvirt.js'
import {drainGzip, type OpenedImage} from './open.js'
import {uncheckedAfterDemu} from './sections.js'
import {parseXenopsRecord, restoreRefusal, walkSections, type XenopsRecord} from './xenserver.js'

export interface VerifyImageOptions {
  format?: Layer
}

export type ImageVerifyReport = VerifyReport & {container: ContainerSummary}

export async function verifyImage(img: OpenedImage, verifier: V2Verifier, opts: VerifyImageOptions = {}): Promise<ImageVerifyReport> {
  const container = containerSummary(img)
  const r = img.reader
  let ok: boolean
  const c = img.container
  if (c.kind === 'xenserver-structured') {
    ok = await structured(img, verifier, opts, container)
  } else {
    if (c.kind === 'libvirt' && (img.stream === 'libxl' || img.stream === 'libxc')) {
      const defect = libvirtVersionDefect(c.header, img.stream)
      if (defect) verifier.containerProblem(defect)
    }
    ok = await checkStream(r, verifier, opts)
  }
  if (ok && !verifier.done) {
    try {
      await drainGzip(img)
    } catch (err) {
      if (!(err instanceof FormatError)) throw err
      verifier.fatal(err)
    }
  }
  return {...verifier.finish(r.offset), container}
}

async function structured(img: OpenedImage, verifier: V2Verifier, opts: VerifyImageOptions, summary: ContainerSummary): Promise<boolean> {
  const r = img.reader
  const sections = summary.sections!
  let libxc = 0
  const walk = walkSections(r)
  try {
    for (;;) {
      const step = await walk.next()
      if (step.done) break
      const s = step.value
      const name = s.section.name
      const where = {offset: s.offset, context: `${name} section`}
      sections.push({name, offset: s.offset, length: s.section.body === 'sized' ? s.length : null})
      switch (s.section.body) {
        case 'sized':
          if (name === 'Xenops') {
            try {
              const record = parseXenopsRecord(await s.body!.read(), s.bodyOffset)
              summary.xenops = xenopsSummary(record)
              const unknown = unknownFieldsWarning(record)
              if (unknown) verifier.containerProblem(unknown, 'warning')
            } catch (err) {
              if (!(err instanceof FormatError)) throw err
              verifier.containerProblem(err)
            }
          } else {
            const refused = restoreRefusal(s)
            if (refused) verifier.containerProblem(refused)
          }
          break
        case 'libxc-stream':
          if (libxc++) throw new FormatError('xenserver-second-libxc', 'a second Libxc section: an image holds one memory image', where)
          if (!(await checkStream(r, verifier, {...opts, stopAtEnd: true}))) return false
          break
        case 'legacy-stream':
          throw new FormatError('legacy-image', 'the Libxc_legacy section holds a legacy (Xen <= 4.5) stream; convert the image with `xst convert`', where)
        case 'libxl-stream':
          throw new FormatError('xenserver-refused-section', `a ${name} section: xenopsd refuses to restore an image holding one (xc/domain.ml process_header: Suspend_image_failure; and its end cannot be found to check what follows)`, where)
        case 'opaque-stream':
          if (libxc === 0) {
            throw new FormatError('xenserver-opaque-section', `a ${name} section (${s.section.what}) before the memory image is in a format of its own whose end xst cannot find, so nothing after it, the memory image included, can be checked`, where)
          }
          // The vGPU state after the memory image (Citrix vGPU): all before it was checked; the rest cannot be.
          verifier.containerProblem(uncheckedAfterDemu(s), 'warning')
          summary.stoppedAt = {section: name, offset: s.offset}
          return true
        case 'none':
          break
      }
      if (verifier.done) return false
    }
    if (libxc === 0) {
      throw new FormatError('xenserver-no-libxc', 'the image has no Libxc section: it holds no memory image', {offset: r.offset, context: 'XenServer sections'})
    }
    summary.afterEnd = await r.skipToEnd()
  } catch (err) {
    if (!(err instanceof FormatError)) throw err
    verifier.fatal(err)
    return false
  }
  return true
}

/** Most field names a warning lists. */
const LISTED_FIELDS = 8

/**
 * Fields of the Xenops record that xenopsd's Xenops_record.t does not have:
 * its of_string (lib/suspend_image.ml, ppx_sexp_conv) refuses a record
 * holding a field it lacks, so a xenopsd without them does not restore the
 * image; one that has them (a newer one, which wrote them) does. A warning.
 */
function unknownFieldsWarning(r: XenopsRecord): FormatError | undefined {
  const n = r.unknownFields.length
  if (n === 0) return undefined
  const names = r.unknownFields.slice(0, LISTED_FIELDS).map(printable).join(', ') + (n > LISTED_FIELDS ? `, and ${n - LISTED_FIELDS} more` : '')
  return new FormatError(
    'xenops-unknown-field',
    `the Xenops record holds ${n === 1 ? 'a field' : `${n} fields`} xst does not know (${names}): a xenopsd without ${n === 1 ? 'it' : 'them'} refuses the record (lib/suspend_image.ml Xenops_record.of_string)`,
    {offset: r.unknownFieldAt, context: 'Xenops record'},
  )
}
