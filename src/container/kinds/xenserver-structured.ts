// XenServer's structured suspend image (`XenSavedDomv2-\n`): the signature,
// then sections (layouts, table and reader: ../xenserver.ts; the one walk
// over them: ../sections.ts) to End_of_image: a Xenops record, the memory
// image as a Libxc (v2) or Libxc_legacy section's stream, qemu state,
// UEFI variables, vTPM and vGPU state.
import {FormatError} from '../../errors.js'
import {printable} from '../../text.js'
import {Rec} from '../../v2/libxc/layout.js'
import {paddedLength, RecordHeader} from '../../v2/record.js'
import {XENSERVER_LIBXC_LEGACY_QEMU_RECORDS} from '../../legacy/qemu-record.js'
import {streamKindAt} from '../stream.js'
import {noStreamError, readXenops, restOfSections, sectionWords, uncheckedAfterDemu, unreadableStreamSection, untilStream, walkStructured, xenopsSummary} from '../sections.js'
import {
  parseXenopsRecord,
  readXenServerSignature,
  restoreRefusal,
  SectionHeader,
  type StructuredSection,
  XENSERVER_STRUCTURED_SIGNATURE,
  type XenopsRecord,
  type XenServerSignatureInfo,
} from '../xenserver.js'
import type {ByteReader} from '../../io/reader.js'
import type {ByteSink} from '../../io/sink.js'
import type {ContainerModule, ContainerSummary} from '../module.js'

export interface XenServerStructuredContainer {
  kind: 'xenserver-structured'
  signature: XenServerSignatureInfo
}

export const xenserverStructured: ContainerModule<XenServerStructuredContainer> = {
  kind: 'xenserver-structured',
  label: 'XenServer structured suspend image',
  detect: {magic: Buffer.from(XENSERVER_STRUCTURED_SIGNATURE, 'latin1'), family: 'xenserver'},
  async open(reader) {
    return {kind: 'xenserver-structured', signature: await readXenServerSignature(reader)}
  },
  /** Sections follow the signature: the stream is found by walking them. */
  streamAfterHeader: async () => undefined,
  moreAfterStream: true,
  qemuRecords: XENSERVER_LIBXC_LEGACY_QEMU_RECORDS,
  restoredBy: (stream) => [stream === 'legacy' ? 'xenopsd (XenServer / XCP-ng VM resume; its Libxc_legacy section is converted on the way)' : 'xenopsd (XenServer / XCP-ng VM resume)'],

  describe: () => ({sections: []}),
  domainName: (s) => s.xenops?.vmName ?? null,
  words: (s) => s.label,
  lines(s, pad) {
    const L: string[] = []
    if (s.xenops) {
      const x = s.xenops
      L.push(
        pad('xenops record') +
          `saved ${x.time}, ${x.wordSize}-bit xenopsd${x.vmStrLength !== null ? `, vm_str ${x.vmStrLength} bytes` : ''}${x.xsSubtreeEntries !== null ? `, ${x.xsSubtreeEntries} xenstore entries` : ''}`,
      )
      if (x.vmName !== null || x.vmUuid !== null) L.push(pad('VM') + [x.vmName !== null ? `"${x.vmName}"` : undefined, x.vmUuid ?? undefined].filter(Boolean).join(', '))
    }
    if (s.sections) L.push(pad('sections') + (s.sections.map(sectionWords).join(', ') || 'none read'))
    if (s.stoppedAt) L.push(pad('not read') + `the ${s.stoppedAt.section} section at byte ${s.stoppedAt.offset} and everything after it (its end cannot be found)`)
    if (s.afterEnd) L.push(pad('after the image') + `${s.afterEnd} bytes after End_of_image (not part of the image)`)
    return L
  },
  guestClaim: () => undefined,

  /**
   * Every section is read (sized bodies bounded by their lengths), the
   * Xenops record parsed (a field xst does not know is a warning: an older
   * xenopsd refuses it), the Libxc section's stream checked up to its END,
   * and End_of_image required; sections a restore refuses are errors
   * (restoreRefusal); a Demu section after the memory image ends the check
   * with a warning (its end cannot be found); bytes after End_of_image are
   * counted, not checked. A Libxc_legacy section is sent to `xst convert`.
   */
  async verify(img, {verifier, summary, check}) {
    const r = img.reader
    let libxc = 0
    const onward = () => (verifier.done ? false : undefined)
    try {
      const stopped = await walkStructured<boolean>(r, summary, {
        async sized(s) {
          if (s.section.name === 'Xenops') {
            try {
              const record = await readXenops(s)
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
          return onward()
        },
        async stream(s) {
          const name = s.section.name
          const where = {offset: s.offset, context: `${name} section`}
          switch (s.section.body) {
            case 'libxc-stream':
              if (libxc++) throw new FormatError('xenserver-second-libxc', 'a second Libxc section: an image holds one memory image', where)
              if (!(await check({stopAtEnd: true}))) return false
              return onward()
            case 'legacy-stream':
              throw new FormatError('legacy-image', 'the Libxc_legacy section holds a legacy (Xen <= 4.5) stream; convert the image with `xst convert`', where)
            case 'libxl-stream':
              throw new FormatError(
                'xenserver-refused-section',
                `a ${name} section: xenopsd refuses to restore an image holding one (xc/domain.ml process_header: Suspend_image_failure; and its end cannot be found to check what follows)`,
                where,
              )
            case 'opaque-stream':
              if (libxc === 0) {
                throw new FormatError(
                  'xenserver-opaque-section',
                  `a ${name} section (${s.section.what}) before the memory image is in a format of its own whose end xst cannot find, so nothing after it, the memory image included, can be checked`,
                  where,
                )
              }
              // The vGPU state after the memory image (Citrix vGPU): all before it was checked; the rest cannot be.
              verifier.containerProblem(uncheckedAfterDemu(s), 'warning')
              summary.stoppedAt = {section: name, offset: s.offset}
              return true
          }
          return onward()
        },
        end: onward,
      })
      if (stopped !== undefined) return stopped
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
  },

  /**
   * Read section by section: up to its Libxc_legacy section (a section
   * xenopsd refuses is a warning: it does not stop the inspection of the
   * stream), the stream in it, then the sections after it.
   */
  async inspect(img, summary, io) {
    const r = img.reader
    const sectionOpts = {onRefused: (err: FormatError) => io.warn(err.message)}
    const stream = await untilStream(r, summary, sectionOpts)
    if (stream.section.body === 'libxc-stream') {
      throw new FormatError('already-v2', 'this XenServer image holds a v2 stream (a Libxc section), not a legacy one; use `xst verify`', {offset: stream.offset, context: 'Libxc section'})
    }
    if (stream.section.body !== 'legacy-stream') {
      throw new FormatError('xenserver-no-legacy', `the first stream section is ${stream.section.name}, not Libxc_legacy: there is no legacy stream to inspect`, {
        offset: stream.offset,
        context: `${stream.section.name} section`,
      })
    }
    const report = await io.read({stopAtImageEnd: true})
    await restOfSections(r, summary, sectionOpts)
    summary.afterEnd = await r.skipToEnd()
    report.bytes = r.offset - summary.afterEnd
    return report
  },

  identify: {
    /** The first stream section is the memory image; a section xenopsd refuses on the way is damage. */
    async toStream(img, summary) {
      const s = await untilStream(img.reader, summary, {onRefused: refuse})
      if (s.section.body === 'libxc-stream') return streamKindAt(img.reader)
      if (s.section.body === 'legacy-stream') return 'legacy'
      throw new FormatError(
        'xenserver-no-memory-image',
        `the first stream section is ${s.section.name}, which xenopsd ${s.section.refusedByRestore ? 'refuses' : 'cannot restore a memory image from'}`,
        {offset: s.offset},
      )
    },
    /**
     * What restores the image depends on the sections after its Libxc
     * stream (a Demu section needs a vGPU host; xenopsd refuses some), the
     * reader inside the stream at a record boundary: on a file, the rest
     * of the stream's records are stepped over by their headers (page data
     * seeked over, never read), then the section headers are read to
     * End_of_image. A Demu section there (Citrix vGPU) is where reading
     * stops: it says what restores the image. A section xenopsd refuses,
     * or a defect met on the way, makes the image damaged. A pipe or gzip
     * input would have to be read whole for this, so there it is left to
     * `xst verify`, and said.
     */
    async afterV2(img, stream, summary) {
      if (stream !== 'libxc') return {}
      const r = img.reader
      const unread = 'the sections after the memory image were not read'
      if (!r.seekable) return {note: `${unread} (the input cannot be seeked over; \`xst verify\` reads them)`}
      for (let n = 0; ; n++) {
        if (n === MAX_RECORDS_WALKED) return {note: `${unread} (the Libxc stream holds more than ${MAX_RECORDS_WALKED} records; \`xst verify\` reads them)`}
        const at = r.offset
        const h = await r.readLayout(RecordHeader, 'libxc record header')
        await r.skip(paddedLength(h.length), `the libxc record at byte ${at}`)
        if (h.type === Rec.END) break
      }
      const demu = await restOfSections(r, summary, {onRefused: refuse, stopAtOpaque: true})
      if (demu) {
        return {
          note: `a XenServer vGPU image: xenopsd hands its Demu section (byte ${demu.offset}) to the vGPU emulator, so only a XenServer host with NVIDIA vGPU restores it; the sections from there on were not read`,
          restoredBy: [VGPU_RESTORER],
        }
      }
      summary.afterEnd = await r.skipToEnd()
      return {}
    },
    v2Verdict: () => undefined,
  },

  dump: {
    /** The memory image is the first stream section's: a Libxc section's v2 stream or a Libxc_legacy section's legacy one. */
    async toStream(img, summary, onRefused) {
      const s = await untilStream(img.reader, summary, {onRefused})
      // The section says what its stream is; the walker or the verifier says what is wrong with it.
      if (s.section.body === 'libxc-stream') return 'v2'
      if (s.section.body === 'legacy-stream') return 'legacy'
      throw unreadableStreamSection(s)
    },
    /**
     * The sections after the stream, to End_of_image, and whatever the
     * input holds after it. A Demu section after a Libxc stream (Citrix
     * vGPU) ends the reading with a warning: the memory is all before it.
     * A legacy stream goes through the converter, and dump-core refuses
     * what convert refuses: convert cannot copy a Demu section.
     */
    async afterStream(_img, reader, summary, {kind, onWarning, onRefused}) {
      const demu = await restOfSections(reader, summary, {onRefused, stopAtOpaque: kind === 'v2'})
      const end = reader.offset
      if (demu) {
        onWarning?.(uncheckedAfterDemu(demu).message)
        // Read on to the end all the same (a gzip input's check, a pipe's writer); how much is not told: where the image ends is unknown.
        await reader.skipToEnd()
        return end
      }
      summary.afterEnd = await reader.skipToEnd()
      return end
    },
  },

  convert: {
    keep: 'xenserver',
    /**
     * Up to the memory image, which must be a Libxc_legacy section: every
     * section before it is held, exactly as read, for the output (the
     * Xenops record checked and shown as the other commands show it); a
     * XenServer output carries them over, and copies the sections after
     * the stream.
     */
    async prepare(img, summary) {
      const r = img.reader
      const before: Buffer[] = [img.container.signature.bytes]
      let held = before[0].length
      const stream = await walkStructured<StructuredSection>(r, summary, {
        async sized(s) {
          held += SectionHeader.size + s.length
          if (held > MAX_SECTIONS_BEFORE_STREAM) {
            throw new FormatError(
              'length-too-large',
              `the sections before the memory image add up to more than MAX_SECTIONS_BEFORE_STREAM (${MAX_SECTIONS_BEFORE_STREAM}) bytes, which xst holds in memory`,
              {offset: s.offset, context: `${s.section.name} section`},
            )
          }
          const body = await s.body!.read()
          if (s.section.name === 'Xenops') summary.xenops = xenopsSummary(parseXenopsRecord(body, s.bodyOffset))
          before.push(sectionHeaderBytes(s), body)
        },
        stream(s) {
          if (s.section.body === 'legacy-stream') return s
          if (s.section.body === 'libxc-stream') {
            throw new FormatError('already-v2', 'this XenServer image already holds a v2 stream (a Libxc section); there is nothing to convert (check it with `xst verify`)', {
              offset: s.offset,
              context: `${s.section.name} section`,
            })
          }
          throw unreadableStreamSection(s)
        },
        end(s) {
          throw noStreamError(s)
        },
      })
      if (!stream) throw new FormatError('xenserver-no-stream', 'the XenServer image ends before any memory image section', {offset: r.offset, context: 'XenServer sections'})
      return {stream: 'legacy', sections: {before, rest: (sink, notes) => copyRest(r, summary, sink, notes)}}
    },
    ownXlHeader: () => false,
    planV2: (_c, _stream, plan) => plan,
    libvirtHeader: () => undefined,
  },
}

/** Bound on the sections before a Libxc_legacy section, which convert holds in memory until the output starts. */
export const MAX_SECTIONS_BEFORE_STREAM = 64 << 20

/** A section's header as it was read (its length field as stored). */
function sectionHeaderBytes(s: StructuredSection): Buffer {
  return SectionHeader.encode({type: BigInt(s.section.type), length: s.rawLength})
}

/** After the Libxc_legacy stream: every later section copied, in order, to End_of_image; bytes after it counted, not copied. */
async function copyRest(r: ByteReader, summary: ContainerSummary, sink: ByteSink, notes: string[]): Promise<void> {
  await walkStructured(r, summary, {
    async sized(s) {
      await sink.write(sectionHeaderBytes(s))
      await s.body!.pipe((piece) => sink.write(piece))
    },
    async end(s) {
      await sink.write(sectionHeaderBytes(s))
    },
    stream(s) {
      throw new FormatError('xenserver-stream-after', `a ${s.section.name} section after the memory image: xst cannot find its end to copy it`, {
        offset: s.offset,
        context: `${s.section.name} section`,
      })
    },
  })
  const left = await r.skipToEnd()
  if (left) {
    summary.afterEnd = left
    notes.push(`${left} bytes after End_of_image are not part of the image and were not copied`)
  }
}

/** Most libxc records identify walks over to reach the sections after them (a 1 TiB guest's stream holds some 270,000). */
export const MAX_RECORDS_WALKED = 1 << 22

/** Who restores a XenServer image with a Demu section (emu-manager hands it to the vGPU emulator). */
const VGPU_RESTORER = 'xenopsd on a XenServer host with NVIDIA vGPU'

function refuse(err: FormatError): never {
  throw err
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
