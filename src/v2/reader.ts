// Reading a v2 stream from a ByteReader for the verifier: the record
// reader, and the driver that feeds a V2Verifier. Only what the checks look
// at is read (the body prefix in each type's table row); page contents and
// blobs are skipped, which on a file is a seek, so a large image is checked
// without reading its memory. Every length is checked against the bytes
// left (when known) before anything is allocated for it.
//
// A caller that needs more of some bodies than the checks do (dump-core:
// page contents, vcpu contexts) passes a body hook, which may read on into
// the body before the rest is skipped; verify passes none.
import {FormatError, TruncatedError} from '../errors.js'
import {ByteReader} from '../io/reader.js'
import {BufferSource} from '../io/source.js'
import {detectLegacy} from '../legacy/detect.js'
import {ImageHeader, LIBXC_HEADERS_SIZE, MAX_PAGE_DATA_PFNS, PageDataHeader} from './libxc/layout.js'
import {LibxlHeader} from './libxl/layout.js'
import {hasXlHeader, readXlHeader} from '../xl/header.js'
import {detectV2} from './detect.js'
import {bodyPrefix, recordName} from './tables.js'
import {TAIL_HEAD_BYTES} from './verify/tail.js'
import type {Location, V2Verifier, VerifyReport} from './verify/verifier.js'
import {type Layer, paddingOf, RecordHeader, type RecordInfo} from './record.js'

/** Enough of a legacy image's start for detectLegacy to tell its layout. */
const LEGACY_DETECT_BYTES = 64

/** A record length is a u32; with padding it stays below this. */
const MAX_PADDED_LENGTH = 2 ** 32 + 8

/** Where the reader is, for a message about a stream that breaks there. */
export type ReadPosition = Omit<Location, 'offset'>

/** A record as a body hook sees it (what the verifier is shown of it), the reader at the first byte after its prefix. */
export interface BodyInfo extends Pick<RecordInfo, 'layer' | 'index' | 'offset' | 'type' | 'length' | 'head'> {
  /** How the reader names the record in a truncation message. */
  what: string
}

/**
 * Called for every record once its prefix is read; it may read up to the
 * rest of the body (length - head.length bytes) from `reader`. Whatever it
 * leaves is skipped, as without a hook.
 */
export type BodyHook = (rec: BodyInfo, reader: ByteReader) => Promise<void>

/** Reads v2 records, giving each the body prefix the checks need. */
export class V2RecordReader {
  private readonly nextIndex: Record<Layer, number> = {libxc: 0, libxl: 0}
  /** The header or record being read. */
  position: ReadPosition = {}
  /** Where PAGE_DATA heads are read (see pageDataHead). */
  private pageHead: Buffer = Buffer.alloc(0)

  constructor(
    readonly reader: ByteReader,
    private readonly onBody?: BodyHook,
  ) {}

  /** The libxc image and domain headers; returns [image, domain, offset]. */
  async libxcHeaders(): Promise<[Buffer, Buffer, number]> {
    const offset = this.reader.offset
    this.position = {layer: 'libxc', record: 'image header'}
    const buf = await this.reader.read(LIBXC_HEADERS_SIZE, 'the libxc image and domain headers')
    return [buf.subarray(0, ImageHeader.size), buf.subarray(ImageHeader.size), offset]
  }

  async libxlHeader(): Promise<[Buffer, number]> {
    const offset = this.reader.offset
    this.position = {layer: 'libxl', record: 'libxl header'}
    return [await this.reader.read(LibxlHeader.size, 'the libxl header'), offset]
  }

  /** The next record; a PAGE_DATA record's head is valid until the next call (see pageDataHead). */
  async record(layer: Layer): Promise<RecordInfo> {
    const r = this.reader
    const offset = r.offset
    const index = this.nextIndex[layer]++
    this.position = {layer, index}
    // The header is looked at where it is (no copy); a stream that ends inside it reads it as usual to say so.
    let h = await r.peek(RecordHeader.size)
    if (h.length < RecordHeader.size) h = await r.read(RecordHeader.size, `the header of ${layer} record ${index}`)
    const type = h.readUInt32LE(0)
    const length = h.readUInt32LE(4)
    await r.skip(RecordHeader.size, 'record header')
    const name = recordName(layer, type)
    this.position.record = name
    const what = `${layer} record ${index} (${name})`
    const pad = paddingOf(length)
    r.checkLength(length + pad, what, MAX_PADDED_LENGTH, 'a record length', {offset, index, indexKind: `${layer} record`})
    const prefix = bodyPrefix(layer, type, length)
    const head = prefix === 'page-data' ? await this.pageDataHead(length, what) : await r.read(prefix, what)
    let taken = 0
    if (this.onBody) {
      const at = r.offset
      await this.onBody({layer, index, offset, type, length, head, what}, r)
      taken = r.offset - at
      if (taken < 0 || taken > length - head.length) throw new Error(`internal: a body hook read ${taken} bytes of ${what}, which has ${length - head.length} left`)
    }
    await r.skip(length - head.length - taken, what)
    const padding = await r.read(pad, what)
    // After page data most often comes more: the next record's header, PAGE_DATA header and pfns in one read (on a file).
    if (prefix === 'page-data') {
      const next = r.prefetch(RecordHeader.size + PageDataHeader.size + 8 * 1024)
      if (next) await next
    }
    return {layer, index, offset, type, length, head, padding}
  }

  /**
   * PAGE_DATA header and pfns: as many pfns as the count says and the body
   * holds, read exactly (nothing of the page data after them), the pfn words
   * straight into a buffer (4-byte aligned, so the checks read them as a
   * Uint32Array). The buffer is reused: a PAGE_DATA record's head is valid
   * until the next record is read.
   */
  private async pageDataHead(length: number, what: string): Promise<Buffer> {
    const r = this.reader
    if (length < PageDataHeader.size) return r.read(length, what)
    let header = await r.peek(PageDataHeader.size)
    if (header.length < PageDataHeader.size) header = await r.read(PageDataHeader.size, what)
    const count = header.readUInt32LE(PageDataHeader.offsets.count)
    const pfns = count > MAX_PAGE_DATA_PFNS ? 0 : Math.min(count, Math.floor((length - PageDataHeader.size) / 8))
    const size = PageDataHeader.size + 8 * pfns
    if (this.pageHead.length < size) this.pageHead = Buffer.allocUnsafeSlow(Math.max(size, 8 + 8 * 1024))
    const head = this.pageHead.subarray(0, size)
    // Header and pfns together, straight into the reused buffer.
    await r.readInto(head, 0, size, what)
    return head
  }
}

export interface VerifyStreamOptions {
  /** Read the stream as this format instead of detecting it. */
  format?: Layer
  /**
   * Stop after the libxc END: what follows belongs to a container around
   * the stream (the next XenServer section), not to the stream.
   */
  stopAtEnd?: boolean
  /** Shown every record's body before it is skipped (see BodyHook). */
  onBody?: BodyHook
}

/**
 * Check the stream `reader` holds with `verifier` and return its report.
 * Problems with the image end up in the report; only a failure to read
 * (an I/O error) is thrown.
 */
export async function verifyStream(reader: ByteReader, verifier: V2Verifier, opts: VerifyStreamOptions = {}): Promise<VerifyReport> {
  await checkStream(reader, verifier, opts)
  return verifier.finish(reader.offset)
}

/**
 * Show `verifier` the stream at the reader's position, without finishing
 * its report (a container may hold more to check). Returns false when a
 * defect stopped the walk (it is in the verifier's report).
 */
export async function checkStream(reader: ByteReader, verifier: V2Verifier, opts: VerifyStreamOptions = {}): Promise<boolean> {
  const records = new V2RecordReader(reader, opts.onBody)
  try {
    await drive(records, verifier, opts)
    return true
  } catch (err) {
    if (!(err instanceof FormatError)) throw err
    verifier.fatal(err, records.position)
    return false
  }
}

async function drive(records: V2RecordReader, verifier: V2Verifier, opts: VerifyStreamOptions): Promise<void> {
  const r = records.reader
  if (await r.atEnd()) {
    throw r.offset === 0 ? new FormatError('empty-input', 'the input is empty', {offset: 0}) : new FormatError('no-stream', 'no stream follows the container header', {offset: r.offset})
  }
  if (await hasXlHeader(r)) {
    records.position = {layer: 'xl', record: 'xl header'}
    verifier.xlHeader(await readXlHeader(r))
    records.position = {}
  }
  const head = await r.peek(ImageHeader.size)
  if (head.length === 0) throw new TruncatedError(r.offset, 'the stream after the xl header', ImageHeader.size)
  const format = opts.format ?? detectV2(head, verifier.xlSaysLibxl)
  if (format === 'legacy') throw await notV2(r)
  if (format === 'libxl') verifier.libxlHeader(...(await records.libxlHeader()))
  else verifier.libxcHeaders(...(await records.libxcHeaders()))
  for (;;) {
    // A replication stream (Remus, COLO) has no END: it may end between two checkpoints.
    if (verifier.atCheckpointBoundary && (await r.atEnd())) return
    switch (verifier.expecting) {
      case 'libxc-headers':
        verifier.libxcHeaders(...(await records.libxcHeaders()))
        break
      case 'libxc-record':
        verifier.record(await records.record('libxc'))
        break
      case 'libxl-record':
        verifier.record(await records.record('libxl'))
        break
      case 'after-checkpoint-end': {
        // COLO's libxl CHECKPOINT_STATE, or the libxc stream going on: the next header says.
        const h = await r.peek(RecordHeader.size)
        const layer = h.length < RecordHeader.size ? 'libxc' : verifier.layerAfterCheckpointEnd(h.readUInt32LE(0), h.readUInt32LE(4))
        verifier.record(await records.record(layer))
        break
      }
      case 'tail':
        if (opts.stopAtEnd) return
        return tail(records, verifier)
      default:
        return
    }
  }
}

/**
 * Why a stream that is not v2 cannot be checked: a legacy image is sent to
 * `xst convert` only when a legacy layout fits its first bytes, and
 * anything else is said to be neither. (gzip never gets here: it is read
 * through before the stream is looked at.)
 */
async function notV2(r: ByteReader): Promise<FormatError> {
  const offset = r.offset
  const head = await r.peek(LEGACY_DETECT_BYTES)
  let legacy = false
  try {
    // On a copy of the bytes: the reader stays where it is.
    await detectLegacy(new ByteReader(new BufferSource(Buffer.from(head))))
    legacy = true
  } catch {}
  if (legacy) return new FormatError('legacy-image', 'this is a legacy image; convert it with `xst convert`', {offset})
  return new FormatError('not-an-image', 'this is not a Xen save image: not a v2 stream (no libxc marker and "XENF", no "LibxlFmt" ident), and no legacy layout fits its first bytes', {offset})
}

/** Whatever follows the stream's END: a device-model record, or stray bytes. */
async function tail(records: V2RecordReader, verifier: V2Verifier): Promise<void> {
  const r = records.reader
  if (await r.atEnd()) return
  const offset = r.offset
  records.position = {}
  const head = Buffer.from(await r.peek(TAIL_HEAD_BYTES))
  verifier.tail(offset, await r.skipToEnd(), head)
}
