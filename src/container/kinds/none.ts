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
