// What a container whose stream follows its header does around the stream
// (no container, libvirt, XenServer legacy, xend): the stream is sniffed
// after the header and read to the input's end, and nothing of the
// container follows it. Those modules start from these and say what
// differs.
import {drainGzip} from '../gzip.js'
import {streamKindAt} from '../stream.js'
import type {ContainerModule} from '../module.js'

type Around<C extends {kind: string}> = Pick<ContainerModule<C>, 'streamAfterHeader' | 'moreAfterStream' | 'verify' | 'inspect' | 'identify' | 'dump'> & {
  convert: Omit<ContainerModule<C>['convert'], 'keep'>
}

export function streamFollowsHeader<C extends {kind: string}>(): Around<C> {
  return {
    streamAfterHeader: streamKindAt,
    moreAfterStream: false,
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
    convert: {
      prepare: async (img) => ({stream: img.stream ?? 'empty'}),
      ownXlHeader: () => false,
      planV2: (_c, _stream, plan) => plan,
      libvirtHeader: () => undefined,
    },
  }
}
