// The one step every command takes first: what the input is, from its
// first bytes, and a reader positioned where the stream inside it starts.
//
// gzip is read through (decompressed as a stream, in constant memory): the
// reader handed out then counts decompressed bytes, so every offset in a
// message about the image is an offset into the decompressed image, while
// gzip's own errors name the compressed byte. A container's header is read
// and checked here; the stream inside is only sniffed (libxc, libxl, an xl
// header, or legacy-or-nothing), for the command to read with the walker or
// the verifier, using the qemu record framings the container writes. A file
// of a format that is not Xen's but is known (src/foreign: a libvirt
// QEMU/KVM save image, QEMU device state, an ELF core) is refused here, by
// name, gzip-compressed or not.
import {FormatError, TruncatedError} from '../errors.js'
import {ForeignFormatError, recogniseForeign} from '../foreign/recognise.js'
import {GzipSource, ReaderSource} from '../io/gzip-source.js'
import {ByteReader} from '../io/reader.js'
import {XL_MAGIC} from '../xl/layout.js'
import {detectV2} from '../v2/detect.js'
import {kindInfo, type Sniffed, sniff, SNIFF_LENGTH} from './identify.js'
import {type LibvirtHeaderInfo, readLibvirtHeader} from './libvirt.js'
import {
  BARE_LEGACY_QEMU_RECORDS,
  type QemuRecordVariant,
  XEND_QEMU_RECORDS,
  XENSERVER_LEGACY_QEMU_RECORDS,
  XENSERVER_LIBXC_LEGACY_QEMU_RECORDS,
} from './qemu-record.js'
import {readXendHeader, type XendHeaderInfo} from './xend.js'
import {readXenServerSignature, type XenServerSignatureInfo} from './xenserver.js'

/** gzip members inside gzip members read through before giving up. */
const MAX_GZIP_LAYERS = 2

export type Container =
  | {kind: 'none'}
  | {kind: 'libvirt'; header: LibvirtHeaderInfo}
  | {kind: 'xenserver-legacy'; signature: XenServerSignatureInfo}
  | {kind: 'xenserver-structured'; signature: XenServerSignatureInfo}
  | {kind: 'xend'; header: XendHeaderInfo}

export type ContainerKind = Container['kind']

/**
 * What the bytes at the reader's position are: a libxc or libxl v2 stream,
 * an xl header (what follows it is for the walker or verifier to tell), a
 * legacy stream or not an image at all (the legacy detector tells), or
 * nothing at all.
 */
export type StreamKind = 'libxc' | 'libxl' | 'xl' | 'legacy' | 'empty'

export interface OpenedImage {
  /** The image, decompressed when it was gzip, positioned after the container's header. */
  reader: ByteReader
  /** The input as given (compressed, when gzip). */
  input: ByteReader
  /** The decompressing source, when the input was gzip. */
  gzip: GzipSource | undefined
  container: Container
  /** What follows the container header; undefined for a structured XenServer image (sections follow). */
  stream: StreamKind | undefined
  /** The qemu record framings the container writes after a legacy HVM tail. */
  qemuRecords: readonly QemuRecordVariant[]
}

/** Container labels for messages and reports. */
export const CONTAINER_LABELS: Record<ContainerKind, string> = {
  none: 'no container',
  libvirt: 'libvirt libxl-driver save image',
  'xenserver-legacy': 'XenServer legacy suspend image',
  'xenserver-structured': 'XenServer structured suspend image',
  xend: 'xend (xm save) image',
}

const QEMU_RECORDS: Record<ContainerKind, readonly QemuRecordVariant[]> = {
  none: BARE_LEGACY_QEMU_RECORDS,
  libvirt: BARE_LEGACY_QEMU_RECORDS,
  'xenserver-legacy': XENSERVER_LEGACY_QEMU_RECORDS,
  'xenserver-structured': XENSERVER_LIBXC_LEGACY_QEMU_RECORDS,
  xend: XEND_QEMU_RECORDS,
}

/**
 * Open the image `input` holds: read through gzip, read the container's
 * header, sniff the stream after it. Throws the container's defects (a
 * truncated header, a length past the end, a bad signature) as
 * FormatErrors with their offsets, and a file of a known format that is
 * not a Xen image as a ForeignFormatError naming it. `onSniff` is told what the first bytes
 * inside any gzip layers are, before anything else is read (identify asks
 * what an input it cannot open looked like, compressed or not).
 */
export async function openImage(input: ByteReader, opts: {onSniff?: (s: Sniffed) => void} = {}): Promise<OpenedImage> {
  let reader = input
  let gzip: GzipSource | undefined
  let head = Buffer.from(await reader.peek(SNIFF_LENGTH))
  let s = sniff(head)
  for (let layer = 0; s.kind === 'gzip'; layer++) {
    if (layer === MAX_GZIP_LAYERS) {
      throw new FormatError('gzip-nested', `gzip data inside ${layer} layers of gzip: xst reads through at most ${MAX_GZIP_LAYERS}`, {offset: 0, context: 'gzip'})
    }
    gzip = new GzipSource(new ReaderSource(reader))
    reader = new ByteReader(gzip)
    head = Buffer.from(await reader.peek(SNIFF_LENGTH))
    s = sniff(head)
  }
  opts.onSniff?.(s)
  // The whole input is shorter than the magic it starts: a container cut short.
  const cut = s.cut.map((k) => kindInfo(k)!).filter((k) => k.family !== 'v2' && k.family !== 'xl')
  if (s.kind === 'unknown-or-legacy' && cut.length && head.length < SNIFF_LENGTH) {
    throw new TruncatedError(reader.offset + head.length, `the ${cut.map((k) => k.label).join(' or ')} signature`, cut[0].magic.length - head.length)
  }
  // Not Xen's, but named: a libvirt QEMU/KVM save image, QEMU device state, an ELF core (src/foreign).
  if (s.kind === 'unknown-or-legacy') {
    const foreign = await recogniseForeign((n) => reader.peek(n))
    if (foreign) throw new ForeignFormatError(foreign, gzip !== undefined)
  }
  let container: Container
  switch (s.kind) {
    case 'libvirt':
      container = {kind: 'libvirt', header: await readLibvirtHeader(reader)}
      break
    case 'xenserver-legacy':
      container = {kind: 'xenserver-legacy', signature: await readXenServerSignature(reader)}
      break
    case 'xenserver-structured':
      container = {kind: 'xenserver-structured', signature: await readXenServerSignature(reader)}
      break
    case 'xend':
      container = {kind: 'xend', header: await readXendHeader(reader)}
      break
    default:
      container = {kind: 'none'}
  }
  const stream = container.kind === 'xenserver-structured' ? undefined : await streamKindAt(reader)
  return {reader, input, gzip, container, stream, qemuRecords: QEMU_RECORDS[container.kind]}
}

/** What the stream at the reader's position is (see StreamKind); nothing is consumed. */
export async function streamKindAt(reader: ByteReader): Promise<StreamKind> {
  const head = Buffer.from(await reader.peek(SNIFF_LENGTH))
  if (head.length === 0) return 'empty'
  if (head.length >= XL_MAGIC.length ? head.toString('latin1', 0, XL_MAGIC.length) === XL_MAGIC : XL_MAGIC.startsWith(head.toString('latin1'))) return 'xl'
  return detectV2(head)
}

/**
 * Read a gzip input on to its end once the image has been read, so that
 * its length and CRC check runs (a damaged or cut gzip stream is an error
 * even when the image itself ended well). Returns the decompressed bytes
 * that were left; 0 and nothing read when the input is not gzip.
 */
export async function drainGzip(img: OpenedImage): Promise<number> {
  if (!img.gzip) return 0
  return img.reader.skipToEnd()
}

/** Close the input (and the decompressor, if any). */
export async function closeImage(img: OpenedImage): Promise<void> {
  if (img.gzip) await img.reader.close()
  else await img.input.close()
}
