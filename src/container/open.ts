// The one step every command takes first: what the input is, from its
// first bytes, and a reader positioned where the stream inside it starts.
//
// gzip is read through (decompressed as a stream, in constant memory): the
// reader handed out then counts decompressed bytes, so every offset in a
// message about the image is an offset into the decompressed image, while
// gzip's own errors name the compressed byte. The container's module reads
// and checks its header here; the stream inside is only sniffed (libxc,
// libxl, an xl header, or legacy-or-nothing), for the command to read with
// the walker or the verifier, using the qemu record framings the container
// writes. A file of a format that is not Xen's but is known (src/foreign: a
// libvirt QEMU/KVM save image, QEMU device state, an ELF core) is refused
// here, by name, gzip-compressed or not.
import {TruncatedError} from '../errors.js'
import {ForeignFormatError, recogniseForeign} from '../foreign/recognise.js'
import type {GzipSource} from '../io/gzip-source.js'
import type {ByteReader} from '../io/reader.js'
import {throughGzip} from './gzip.js'
import {kindInfo, type Sniffed, sniff, SNIFF_LENGTH} from './identify.js'
import type {OpenedImage} from './module.js'
import {CONTAINERS, containerBySniff, type ContainerKind} from './registry.js'

export type {Container, ContainerKind, OpenedImage, StreamKind} from './module.js'
export {drainGzip} from './gzip.js'
export {streamKindAt} from './stream.js'

/** Container labels for messages and reports. */
export const CONTAINER_LABELS = Object.fromEntries(Object.values(CONTAINERS).map((m) => [m.kind, m.label])) as Record<ContainerKind, string>

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
    ;({reader, gzip} = throughGzip(reader, layer))
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
  const m = containerBySniff(s.kind) ?? CONTAINERS.none
  const container = await m.open(reader)
  const stream = await m.streamAfterHeader(reader)
  return {reader, input, gzip, container, stream, qemuRecords: m.qemuRecords}
}

/** Close the input (and the decompressor, if any). */
export async function closeImage(img: OpenedImage): Promise<void> {
  if (img.gzip) await img.reader.close()
  else await img.input.close()
}
