// libvirt's libxl-driver save image (`virsh save`, `managedsave`): its
// header and domain XML (layout and reader: ../libvirt.ts), then a stream
// with no xl header, legacy or libxl v2 as the header's version claims.
// The claim is checked against the stream, not trusted: verify reports a
// mismatch, identify judges by it, and convert repairs a version-1 header
// over a libxl stream (the stream copied byte for byte behind version 2).
import {FormatError, UsageError} from '../../errors.js'
import {type LibvirtHeaderInfo, LIBVIRT_MAGIC, libvirtVersionDefect, readLibvirtHeader} from '../libvirt.js'
import {BARE_LEGACY_QEMU_RECORDS} from '../../legacy/qemu-record.js'
import type {ContainerModule} from '../module.js'
import {streamFollowsHeader} from './stream-follows.js'

export interface LibvirtContainer {
  kind: 'libvirt'
  header: LibvirtHeaderInfo
}

const around = streamFollowsHeader<LibvirtContainer>()

export const libvirt: ContainerModule<LibvirtContainer> = {
  ...around,
  kind: 'libvirt',
  label: 'libvirt libxl-driver save image',
  detect: {magic: Buffer.from(LIBVIRT_MAGIC, 'latin1'), family: 'libvirt'},
  async open(reader) {
    return {kind: 'libvirt', header: await readLibvirtHeader(reader)}
  },
  qemuRecords: BARE_LEGACY_QEMU_RECORDS,

  describe(c) {
    const h = c.header
    return {libvirt: {version: h.version, claims: h.claims, xmlLength: h.xmlLength, domainName: h.domainName ?? null, emulator: h.emulator ?? null}}
  },
  domainName: (s) => s.libvirt?.domainName ?? null,
  words: (s) => s.label + (s.libvirt ? ` (version ${s.libvirt.version})` : ''),
  lines(s, pad) {
    const l = s.libvirt
    if (!l) return []
    return [pad('libvirt header') + `version ${l.version} (claims a ${l.claims} stream), domain XML ${l.xmlLength} bytes${l.domainName ? `, domain "${l.domainName}"` : ''}`]
  },
  guestClaim: () => undefined,

  /** The header's version must match the v2 stream that follows (a legacy one is for convert). */
  async verify(img, v) {
    if (img.stream === 'libxl' || img.stream === 'libxc') {
      const defect = libvirtVersionDefect(img.container.header, img.stream)
      if (defect) v.verifier.containerProblem(defect)
    }
    return v.check()
  },
  /** A header claiming a v2 stream over a legacy one: a warning (convert writes version 2 over the converted stream). */
  inspect(img, _summary, io) {
    const h = img.container.header
    if (img.stream === 'legacy' && h.claims !== 'legacy') {
      const defect = libvirtVersionDefect(h, 'legacy')
      if (defect) io.warn(defect.message)
    }
    // A v2 stream under a header claiming legacy: not inspect-legacy's, and repairable, said in the words verify and convert use.
    if ((img.stream === 'libxl' || img.stream === 'libxc') && h.claims === 'legacy') {
      throw new FormatError(
        'already-v2',
        `this is a ${img.stream} v2 stream, though the libvirt header's version ${h.version} claims a legacy one: use \`xst verify\`${img.stream === 'libxl' ? '; repairable: `xst convert` rewrites the version' : ''}`,
        {offset: img.reader.offset},
      )
    }
    return io.read()
  },
  restoredBy: (stream) =>
    stream === 'legacy'
      ? ['virsh restore on Xen <= 4.5 (libvirt libxl driver)', 'virsh restore on Xen 4.6+ after `xst convert` (libvirt runs no converter on a version 1 image it cannot read)']
      : ['virsh restore / managedsave resume (libvirt libxl driver)'],
  identify: {
    ...around.identify,
    /** The version over a v2 stream: version 1 over a libxl stream is repaired by convert; over a libxc stream nothing reads it. */
    v2Verdict(c, stream) {
      const defect = libvirtVersionDefect(c.header, stream)
      if (defect && stream === 'libxl') {
        return {
          verdict: 'needs conversion',
          note: `the libvirt header says version ${c.header.version} over a libxl v2 stream; \`xst convert\` rewrites the version`,
          restoredBy: ['virsh restore, once `xst convert` has rewritten the version (libvirt would run the legacy converter on it)'],
        }
      }
      return defect ? {verdict: 'damaged', restoredBy: [], error: defect} : undefined
    },
  },

  dump: {
    ...around.dump,
    /** The memory is whole whatever the header's version claims: a mismatch is said (verify calls the image invalid; convert repairs it), and the stream dumped. */
    async toStream(img, _summary, onRefused) {
      if (img.stream === 'libxl' || img.stream === 'libxc') {
        const defect = libvirtVersionDefect(img.container.header, img.stream)
        if (defect) onRefused?.(defect)
      }
      return undefined
    },
  },

  convert: {
    ...around.convert,
    keep: 'libvirt',
    /**
     * A v2 stream: nothing to convert, but a version-1 header over a libxl
     * stream is put right, the stream copied byte for byte into the new
     * container (a libvirt version 2 header, an xl header, or none).
     */
    planV2(c, stream, {family, format}) {
      const defect = libvirtVersionDefect(c.header, stream)
      if (stream === 'libxc') throw defect!
      if (!defect && family === 'libvirt') {
        throw new FormatError('already-v2', 'this libvirt image already holds a libxl v2 stream behind a version 2 header; there is nothing to convert (check it with `xst verify`)', {
          offset: c.header.offset,
        })
      }
      if (family === 'xenserver')
        throw new UsageError(
          '--container xenserver: the libvirt image holds a libxl v2 stream, which xst does not take apart; only a legacy stream is converted into a XenServer image',
          'container-format',
        )
      if (format === 'libxc') throw new UsageError('--format libxc: the libvirt image holds a libxl v2 stream, which is copied as it is, not converted', 'container-format')
      return {family: family === 'bare' ? 'none' : family, format: 'libxl', mode: 'copy'}
    },
    libvirtHeader: (c) => c.header,
  },
}
