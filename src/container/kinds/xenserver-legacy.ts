// XenServer's legacy suspend image (`XenSavedDomain\n`): the signature, a
// legacy stream with no xl header, then for HVM a qemu record in
// XenServer's framing (layout and reader: ../xenserver.ts).
import {XENSERVER_LEGACY_QEMU_RECORDS} from '../qemu-record.js'
import {drainGzip} from '../gzip.js'
import {streamKindAt} from '../stream.js'
import {readXenServerSignature, XENSERVER_LEGACY_SIGNATURE, type XenServerSignatureInfo} from '../xenserver.js'
import type {ContainerModule} from '../module.js'

export interface XenServerLegacyContainer {
  kind: 'xenserver-legacy'
  signature: XenServerSignatureInfo
}

export const xenserverLegacy: ContainerModule<XenServerLegacyContainer> = {
  kind: 'xenserver-legacy',
  label: 'XenServer legacy suspend image',
  detect: {magic: Buffer.from(XENSERVER_LEGACY_SIGNATURE, 'latin1'), family: 'xenserver'},
  async open(reader) {
    return {kind: 'xenserver-legacy', signature: await readXenServerSignature(reader)}
  },
  streamAfterHeader: streamKindAt,
  moreAfterStream: false,
  qemuRecords: XENSERVER_LEGACY_QEMU_RECORDS,

  describe: () => ({}),
  domainName: () => null,
  words: (s) => s.label,
  lines: () => [],
  guestClaim: () => undefined,

  verify: (_img, v) => v.check(),
  inspect: (_img, _summary, io) => io.read(),
  identify: {
    toStream: async (img) => img.stream,
    afterV2: async () => ({}),
    v2Verdict: () => undefined,
  },
  dump: {
    toStream: async () => undefined,
    /** The stream was read to the input's end; a gzip input is read on to its end (never seekable: `reader` is the opened image's own). */
    async afterStream(img, reader) {
      await drainGzip(img)
      return reader.offset
    },
  },
}
