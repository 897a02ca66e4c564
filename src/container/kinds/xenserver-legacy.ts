// XenServer's legacy suspend image (`XenSavedDomain\n`): the signature, a
// legacy stream with no xl header, then for HVM a qemu record in
// XenServer's framing (layout and reader: ../xenserver.ts). convert writes
// a structured image in its place.
import {XENSERVER_LEGACY_QEMU_RECORDS} from '../../legacy/qemu-record.js'
import {readXenServerSignature, XENSERVER_LEGACY_SIGNATURE, type XenServerSignatureInfo} from '../xenserver.js'
import type {ContainerModule} from '../module.js'
import {streamFollowsHeader} from './stream-follows.js'

export interface XenServerLegacyContainer {
  kind: 'xenserver-legacy'
  signature: XenServerSignatureInfo
}

const around = streamFollowsHeader<XenServerLegacyContainer>()

export const xenserverLegacy: ContainerModule<XenServerLegacyContainer> = {
  ...around,
  kind: 'xenserver-legacy',
  label: 'XenServer legacy suspend image',
  detect: {magic: Buffer.from(XENSERVER_LEGACY_SIGNATURE, 'latin1'), family: 'xenserver'},
  async open(reader) {
    return {kind: 'xenserver-legacy', signature: await readXenServerSignature(reader)}
  },
  qemuRecords: XENSERVER_LEGACY_QEMU_RECORDS,
  restoredBy: () => ['xenopsd (XenServer / XCP-ng VM resume; the legacy stream is converted on the way)'],

  describe: () => ({}),
  domainName: () => null,
  words: (s) => s.label,
  lines: () => [],
  guestClaim: () => undefined,

  convert: {...around.convert, keep: 'xenserver'},
}
