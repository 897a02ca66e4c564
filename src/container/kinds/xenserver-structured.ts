// XenServer's structured suspend image (`XenSavedDomv2-\n`): the signature,
// then sections (layouts, table and reader: ../xenserver.ts; the one walk
// over them: ../sections.ts) to End_of_image: a Xenops record, the memory
// image as a Libxc (v2) or Libxc_legacy section's stream, qemu state,
// UEFI variables, vTPM and vGPU state.
import {XENSERVER_LIBXC_LEGACY_QEMU_RECORDS} from '../qemu-record.js'
import {sectionWords} from '../sections.js'
import {readXenServerSignature, XENSERVER_STRUCTURED_SIGNATURE, type XenServerSignatureInfo} from '../xenserver.js'
import type {ContainerModule} from '../module.js'

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
  qemuRecords: XENSERVER_LIBXC_LEGACY_QEMU_RECORDS,

  describe: () => ({sections: []}),
  domainName: (s) => s.xenops?.vmName ?? null,
  words: (s) => s.label,
  lines(s, pad) {
    const L: string[] = []
    if (s.xenops) {
      const x = s.xenops
      L.push(pad('xenops record') + `saved ${x.time}, ${x.wordSize}-bit xenopsd${x.vmStrLength !== null ? `, vm_str ${x.vmStrLength} bytes` : ''}${x.xsSubtreeEntries !== null ? `, ${x.xsSubtreeEntries} xenstore entries` : ''}`)
      if (x.vmName !== null || x.vmUuid !== null) L.push(pad('VM') + [x.vmName !== null ? `"${x.vmName}"` : undefined, x.vmUuid ?? undefined].filter(Boolean).join(', '))
    }
    if (s.sections) L.push(pad('sections') + (s.sections.map(sectionWords).join(', ') || 'none read'))
    if (s.stoppedAt) L.push(pad('not read') + `the ${s.stoppedAt.section} section at byte ${s.stoppedAt.offset} and everything after it (its end cannot be found)`)
    if (s.afterEnd) L.push(pad('after the image') + `${s.afterEnd} bytes after End_of_image (not part of the image)`)
    return L
  },
  guestClaim: () => undefined,
}
