// No container: a bare stream, with or without an xl header (the xl header
// is read by the stream's readers, the legacy walker and the v2 verifier,
// since either format may follow it). What every input no magic marks as a
// container is opened as.
import {BARE_LEGACY_QEMU_RECORDS} from '../../legacy/qemu-record.js'
import type {ContainerModule} from '../module.js'
import {streamFollowsHeader} from './stream-follows.js'

export interface NoContainer {
  kind: 'none'
}

const around = streamFollowsHeader<NoContainer>()

export const none: ContainerModule<NoContainer> = {
  ...around,
  kind: 'none',
  label: 'no container',
  detect: null,
  async open() {
    return {kind: 'none'}
  },
  qemuRecords: BARE_LEGACY_QEMU_RECORDS,
  restoredBy(stream, xlHeader) {
    if (stream === 'legacy')
      return xlHeader
        ? ['xl restore (Xen <= 4.5; Xen 4.6+ runs the legacy converter)']
        : ['a toolstack helper through libxenguest of Xen <= 4.5', 'xl restore after `xst convert` gives it an xl header']
    if (stream === 'libxl') return xlHeader ? ['xl restore'] : ['libxl_domain_create_restore() (the libxl API; xl restore needs an xl header in front)']
    // Behind an xl header without STREAMv2, xl would run the legacy converter on it.
    return xlHeader ? [] : ["xc_domain_restore() (libxenguest: a toolstack helper such as XenServer's xenguest; xl restore needs a libxl stream)"]
  },

  describe: () => ({}),
  domainName: () => null,
  words: (s) => s.label,
  lines: () => [],
  guestClaim: () => undefined,

  convert: {
    ...around.convert,
    keep: 'bare',
    /** An xl header in front of the stream is kept when the output is an xl save file. */
    ownXlHeader: (stream) => stream === 'xl',
  },
}
