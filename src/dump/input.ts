// Opening an image for a dump: is it a legacy image or a v2 stream, and can
// it be read again (a second pass over a file) or only once (a pipe)?
//
// This is the one place a dump's input is opened. A container (libvirt,
// XenServer, xend, gzip) is unwrapped in front of it: the unwrapping step
// hands over a reader positioned at the stream it holds, and everything
// here works from that reader's position (a file's later passes seek back
// to it; a gzip stream is not seekable, so it is read once, like a pipe).
// The container's module reaches the memory image (a XenServer structured
// image is walked section by section to its Libxc or Libxc_legacy
// section), whose stream is then dumped like any other, and reads what
// follows it once the first pass has read the stream (afterStream). A
// section xenopsd refuses (restoreRefusal) is a warning here: the memory is
// whole whatever follows it. A Demu section after a Libxc stream (Citrix
// vGPU) ends the reading with a warning: the memory is all before it, and
// nothing says where it ends.
//
// The first pass reads the input to its end, as convert does: a gzip
// input's length and CRC are checked only there, and what follows the image
// is reported (or refused) the way convert and verify report it.
import {type ContainerSummary, containerSummary} from '../container/describe.js'
import {type OpenedImage, openImage} from '../container/open.js'
import type {QemuRecordVariant} from '../legacy/qemu-record.js'
import {containerModule} from '../container/registry.js'
import type {FormatError} from '../errors.js'
import {ByteReader} from '../io/reader.js'
import type {ByteSource} from '../io/source.js'
import {XL_MAGIC, XL_MANDATORY_STREAM_V2, XlHeader} from '../xl/layout.js'
import {ImageHeader} from '../v2/libxc/layout.js'
import {detectV2} from '../v2/detect.js'

/** How far past an xl header detection may look (the reader's window is 1 MiB). */
const PEEK_LIMIT = 512 << 10

export interface DumpImage {
  kind: 'legacy' | 'v2'
  /** The reader the first pass uses, at the image's first byte. */
  reader: ByteReader
  source: ByteSource
  /** Offset of the image's first byte in `source`. */
  start: number
  /** The image can be read again: the passes after the first seek over page data. */
  seekable: boolean
  /** The input as opened: its container, and the gzip layer if any. */
  opened: OpenedImage
  /**
   * The container the image sits in (kind 'none' for a bare image), as
   * every command reports it; a structured image's sections as far as read.
   */
  container: ContainerSummary
  /** The qemu record framings that container writes after a legacy HVM tail. */
  qemuRecords: readonly QemuRecordVariant[]
  /** The input was gzip: read once, as from a pipe. */
  gzip: boolean
  /**
   * More of the container follows the stream (a XenServer structured
   * image's sections), so the stream is read to its end only (a legacy
   * image's qemu record, a v2 stream's END) and the rest by afterStream.
   */
  structured: boolean
}

/**
 * Look at the first bytes of the image at `reader`'s position (without
 * consuming them) and say what it is. Anything that is not a v2 stream is
 * taken for a legacy image, whose walker then says what is wrong with it,
 * as convert does. An xl header is looked past: its STREAMv2 flag says a
 * libxl stream follows, but a libxc stream may also follow an xl header
 * without it.
 */
export async function openImageForDump(input: ByteReader, onWarning?: (message: string) => void): Promise<DumpImage> {
  // The container (libvirt, XenServer legacy, xend) and gzip are read through
  // first: the reader it hands back is positioned at the stream inside.
  const opened = await openImage(input)
  const reader = opened.reader
  const gzip = opened.gzip !== undefined
  const qemuRecords = opened.qemuRecords
  const container = containerSummary(opened)
  const m = containerModule(opened.container.kind)
  const image = {reader, source: reader.source, seekable: reader.seekable && !gzip, opened, container, qemuRecords, gzip, structured: m.moreAfterStream}
  // The container says what the stream is when it knows (a section's type); otherwise its bytes do.
  const said = await m.dump.toStream(opened, container, refusedWarning(onWarning))
  if (said) return {...image, kind: said, start: reader.offset}
  const start = reader.offset
  let skip = 0
  let xlSaysV2 = false
  const magic = await reader.peek(XL_MAGIC.length)
  if (magic.length === XL_MAGIC.length && magic.toString('latin1') === XL_MAGIC) {
    const h = await reader.peekLayout(XlHeader)
    if (h) {
      xlSaysV2 = (h.mandatoryFlags & XL_MANDATORY_STREAM_V2) !== 0
      skip = XlHeader.size + h.optionalDataLen <= PEEK_LIMIT ? XlHeader.size + h.optionalDataLen : -1
    } else skip = -1
  }
  let kind: DumpImage['kind']
  if (skip < 0) kind = xlSaysV2 ? 'v2' : 'legacy'
  else {
    const head = (await reader.peek(skip + ImageHeader.size)).subarray(skip)
    kind = detectV2(Buffer.from(head), xlSaysV2) === 'legacy' ? 'legacy' : 'v2'
  }
  return {...image, kind, start}
}

/**
 * How the first pass and the header passes walk a legacy image, as convert
 * walks it: on to the input's end (trailing bytes are reported), but for a
 * structured image's stream, whose next section follows it.
 */
export function legacyWalk(image: DumpImage): {qemuRecords: readonly QemuRecordVariant[]; stopAtImageEnd: boolean} {
  return {qemuRecords: image.qemuRecords, stopAtImageEnd: image.structured}
}

/**
 * What follows the stream in its container, read by the first pass once it
 * has read the stream with `reader`: a structured image's sections, to
 * End_of_image, and whatever the input holds after it. Everything else was
 * read to its end with the stream; a gzip input is read on to its end here
 * in any case, as convert does (drainGzip), so its check runs before
 * anything is written. Returns the image's length (End_of_image included).
 */
export async function afterStream(image: DumpImage, reader: ByteReader, onWarning?: (message: string) => void): Promise<number> {
  const m = containerModule(image.opened.container.kind)
  return m.dump.afterStream(image.opened, reader, image.container, {kind: image.kind, onWarning, onRefused: refusedWarning(onWarning)})
}

/** A section xenopsd refuses, told as a dump's warning: the memory image is whole whatever follows it. */
function refusedWarning(onWarning?: (message: string) => void): ((err: FormatError) => void) | undefined {
  return onWarning && ((err) => onWarning(`${err.message}; the memory image is dumped all the same`))
}

/** A fresh reader at the image's first byte, for a pass after the first (seekable images only). */
export async function reopen(image: DumpImage, make: (s: ByteSource) => ByteReader = (s) => new ByteReader(s)): Promise<ByteReader> {
  if (!image.seekable) throw new Error('internal: a second pass over an input that cannot be read again')
  const r = make(image.source)
  await r.skip(image.start, 'the container in front of the image')
  return r
}
