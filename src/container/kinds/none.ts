// No container: a bare stream, with or without an xl header (the xl header
// is read by the stream's readers, the legacy walker and the v2 verifier,
// since either format may follow it). What every input no magic marks as a
// container is opened as.
import {BARE_LEGACY_QEMU_RECORDS} from '../qemu-record.js'
import {drainGzip} from '../gzip.js'
import {streamKindAt} from '../stream.js'
import type {ContainerModule} from '../module.js'

export interface NoContainer {
  kind: 'none'
}

export const none: ContainerModule<NoContainer> = {
  kind: 'none',
  label: 'no container',
  detect: null,
  async open() {
    return {kind: 'none'}
  },
  streamAfterHeader: streamKindAt,
  moreAfterStream: false,
  qemuRecords: BARE_LEGACY_QEMU_RECORDS,

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
