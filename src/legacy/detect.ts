// Telling what a legacy image is from its first bytes: toolstack width and
// guest type. A legacy image has no magic and no version; Xen's
// docs/specs/libxc-migration-stream.pandoc ("Legacy Images (x86 only)")
// only tells it from a v2 stream, whose first 8 bytes are all ones
// (p2m_size never is).
//
// Each of the four layouts (PV or HVM, 32- or 64-bit toolstack) is tried on
// the first bytes and given a level (see Reading) by how far the bytes bear
// it out:
//
// - PV: p2m_size, the all-ones extended-info marker, total length, then
//   blocks. A known block id (vcpu, extv, xcnt) anywhere in the chain of
//   block headers makes it certain: the 4.5 restorer reads the blocks in any
//   order and skips unknown ones, so the first block need not be `vcpu`.
//   The marker alone (no known id in reach) is weaker than an HVM reading.
// - HVM: p2m_size, then chunks, followed as far as their sizes are known. A
//   first page batch whose entries make sense, or an end chunk followed by a
//   believable tail, confirms it; a chunk type or entry that cannot be
//   contradicts it (though a defective image contradicts its own layout too).
//
// A certain PV reading settles it. Otherwise the flags choose among the
// readings nothing contradicts; a flag none of those fits is overruled by a
// confirmed reading, with a warning naming both (libxl passes its own width,
// which need not be the saving host's); failing that, the flags choose
// among what is left, or stand alone, and the walker reports the defect.
//
// Peeks stay small (DETECT_WINDOW) and go no further than the layout being
// tried says the image reaches, so a stream left open after the image is
// not waited on.
import {FormatError, TruncatedError} from '../errors.js'
import type {ByteReader} from '../io/reader.js'
import {isValidPageType, MAX_VCPU_ID} from '../format/x86.js'
import {HVM_PARAM_CHUNKS} from './chunks.js'
import {Chunk, EXT_INFO_IDS, MAX_BATCH, MAX_EXTENDED_INFO, MAX_HVM_CONTEXT, MAX_TOOLSTACK, MIN_CHUNK_ID, PFINFO_TYPE_SHIFT, PFINFO_UNMAPPED} from './layout.js'
import {LIBXL_MAGIC} from '../v2/libxl/layout.js'
import type {Guest, LegacyWarningCode, ToolstackWidth} from './events.js'

const XENF = 'XENF'

/** Most bytes detection looks at. */
const DETECT_WINDOW = 64 << 10
/** Most chunks an HVM reading is followed through (metadata chunks are small; the window bounds them too). */
const HVM_PROBE_CHUNKS = 256

export interface Detected {
  width: ToolstackWidth
  guest: Guest
  widthFrom: 'detected' | 'flag'
  guestFrom: 'detected' | 'flag'
  /** Flags the image overruled, one message each. */
  warnings: Array<{code: LegacyWarningCode; message: string}>
}

/** What a stream starting with these bytes is, if it is a v2 stream. */
export function v2Kind(head: Buffer): 'libxc' | 'libxl' | undefined {
  if (head.length >= 12 && head.subarray(0, 8).every((b) => b === 0xff) && head.toString('latin1', 8, 12) === XENF) return 'libxc'
  if (head.length >= 8 && head.toString('latin1', 0, 8) === LIBXL_MAGIC) return 'libxl'
  return undefined
}

/** One way of reading the image, and how strongly its bytes bear it out. */
interface Reading {
  width: ToolstackWidth
  guest: Guest
  /**
   * 4: certain (a PV marker and a known block id); 3: its first structure
   * checks out; 2: nothing in reach contradicts it; 1: its first bytes fit
   * but something further in does not.
   */
  level: 1 | 2 | 3 | 4
  /** What the evidence is, for a warning. */
  why: string
}

/** Bytes from the start of the image, fetched on demand and never more than asked. */
class Head {
  private buf: Buffer = Buffer.alloc(0)
  private ended = false
  constructor(private readonly reader: ByteReader) {}

  /** The first `n` bytes (fewer when the stream ends first); never more than DETECT_WINDOW. */
  async get(n: number): Promise<Buffer> {
    n = Math.min(n, DETECT_WINDOW)
    if (this.buf.length < n && !this.ended) {
      this.buf = await this.reader.peek(n)
      if (this.buf.length < n) this.ended = true
    }
    return this.buf.subarray(0, Math.min(n, this.buf.length))
  }

  /** True when the stream ended within the first `n` bytes. */
  endsWithin(n: number): boolean {
    return this.ended && this.buf.length < n
  }
}

const isOnes = (b: Buffer) => b.every((x) => x === 0xff)

/**
 * The PV reading of this width: null when the marker is not there. Throws a
 * truncation when the stream ends inside what can only be a PV header.
 */
async function pvReading(head: Head, width: ToolstackWidth, offset: number): Promise<Reading | null> {
  const w = width / 8
  const totalAt = 2 * w
  const firstId = totalAt + 4
  const b = await head.get(firstId + 4)
  // A 64-bit p2m_size is below 2^32: its upper half is zero.
  if (w === 8 && b.length >= 8 && b.readUInt32LE(4) !== 0) return null
  if (b.length <= w) return null
  if (!isOnes(b.subarray(w, Math.min(2 * w, b.length)))) return null
  if (b.length < firstId + 4) {
    // The stream ends inside the marker, the length or the first block id:
    // if what is there is the start of a PV header, it is a cut PV image.
    const id = b.subarray(Math.min(firstId, b.length))
    if (EXT_INFO_IDS.some((k) => Buffer.from(k).subarray(0, id.length).equals(id))) {
      throw new TruncatedError(offset + b.length, 'extended info', firstId + 4 - b.length)
    }
    return null
  }
  // Follow the chain of block headers as far as the window reaches.
  const total = b.readUInt32LE(totalAt)
  const end = firstId + Math.min(total, MAX_EXTENDED_INFO)
  let at = firstId
  let seen = 0
  while (at + 8 <= end && seen++ < 64) {
    const blk = await head.get(at + 8)
    if (blk.length < at + 8) break
    const id = blk.toString('latin1', at, at + 4)
    if ((EXT_INFO_IDS as readonly string[]).includes(id)) {
      return {width, guest: 'pv', level: 4, why: `the extended-info marker and a "${id}" block at byte ${offset + at}`}
    }
    at += 8 + blk.readUInt32LE(at + 4)
  }
  // The marker but no known block in reach: a PV image with odd blocks, or not PV at all.
  if (total > MAX_EXTENDED_INFO) return null
  return {width, guest: 'pv', level: 2, why: `the extended-info marker at byte ${offset + w}`}
}

const plausibleChunk = (t: number) => t >= MIN_CHUNK_ID && t <= MAX_BATCH

/** Payload bytes of a metadata chunk after its type, when they can be known from here. */
function metadataSize(type: number, b: Buffer, at: number): number | 'bad' | 'unknown' {
  if (HVM_PARAM_CHUNKS[type] !== undefined) return 12
  switch (type) {
    case Chunk.ENABLE_VERIFY_MODE:
    case Chunk.LAST_CHECKPOINT:
    case Chunk.ENABLE_COMPRESSION:
      return 0
    case Chunk.TSC_INFO:
      return 20
    case Chunk.VCPU_INFO: {
      if (b.length < at + 4) return 'unknown'
      const max = b.readInt32LE(at)
      return max < 0 || max > MAX_VCPU_ID ? 'bad' : 4 + (Math.floor(max / 64) + 1) * 8
    }
    case Chunk.TOOLSTACK: {
      if (b.length < at + 4) return 'unknown'
      const len = b.readUInt32LE(at)
      return len > MAX_TOOLSTACK ? 'bad' : 4 + len
    }
  }
  return 'unknown' // tmem, tmem_extra, compressed_data: not followed here
}

/**
 * The HVM reading of this width: null when p2m_size or the first chunk type
 * cannot be. Level 3 when the first page batch checks out, or an end chunk
 * after a non-empty body is followed by a believable tail; 1 when something
 * further in contradicts it (which a defective image may do too); else 2.
 */
async function hvmReading(head: Head, width: ToolstackWidth, offset: number): Promise<Reading | null> {
  const w = width / 8
  let b = await head.get(w + 4)
  if (b.length < w + 4) return null
  if (w === 8 && b.readUInt32LE(4) !== 0) return null
  if (!plausibleChunk(b.readInt32LE(w))) return null
  // A p2m_size of 0 is a defect in any reading: it confirms none.
  const p2mZero = b.readUInt32LE(0) === 0
  const reading = (level: 1 | 2 | 3, why: string): Reading => ({width, guest: 'hvm', level: p2mZero ? 1 : level, why})
  const unconfirmed = reading(2, `a chunk type that fits at byte ${offset + w}`)
  let at = w
  for (let n = 0; n < HVM_PROBE_CHUNKS; n++) {
    // The type, and the first payload word (a vcpu_info max id, a toolstack length).
    b = await head.get(at + 8)
    if (b.length < at + 4) return unconfirmed
    const type = b.readInt32LE(at)
    const contradicted = reading(1, `a chunk type that fits at byte ${offset + w}, though not what follows`)
    if (!plausibleChunk(type)) return contradicted
    if (type > 0) {
      // A page batch: every entry a known page type (or the unmapped marker), 64-bit entries below 2^32.
      b = await head.get(at + 4 + type * w)
      if (b.length < at + 4 + type * w) return unconfirmed
      for (let i = 0; i < type; i++) {
        const e = at + 4 + i * w
        if (w === 8 && b.readUInt32LE(e + 4) !== 0) return contradicted
        const entry = b.readUInt32LE(e)
        if (entry !== PFINFO_UNMAPPED && !isValidPageType(entry >>> PFINFO_TYPE_SHIFT)) return contradicted
      }
      return reading(3, `a page batch of ${type} at byte ${offset + at}`)
    }
    if (type === Chunk.END) {
      // The tail: three magic pfns (below 2^32, like every pfn) and a context length.
      b = await head.get(at + 4 + 28)
      if (b.length < at + 4 + 28) return unconfirmed
      const pfnsOk = [0, 8, 16].every((k) => b.readUInt32LE(at + 4 + k + 4) === 0)
      const ctx = b.readUInt32LE(at + 4 + 24)
      if (!pfnsOk || ctx === 0 || ctx > MAX_HVM_CONTEXT) return contradicted
      // An empty body (no memory at all) confirms nothing: read as 32-bit,
      // every 64-bit image starts with one (the upper half of p2m_size).
      return at === w ? unconfirmed : reading(3, `an HVM tail after the end chunk at byte ${offset + at}`)
    }
    const size = metadataSize(type, b, at + 4)
    if (size === 'bad') return contradicted
    if (size === 'unknown') return unconfirmed
    at += 4 + size
  }
  return unconfirmed
}

/** Order of preference between readings the bytes support equally. */
const PREFERENCE = ['hvm64', 'hvm32', 'pv64', 'pv32']
const key = (r: {guest: Guest; width: ToolstackWidth}) => `${r.guest}${r.width}`

/**
 * The layout of the legacy image at the reader's position. `force` holds
 * the caller's --width and --guest; `flagsOffered` says the command has
 * those flags, so that an image no layout fits is answered with advice to
 * give them only where they can be given.
 */
export async function detectLegacy(reader: ByteReader, force: {width?: ToolstackWidth; guest?: Guest; flagsOffered?: boolean} = {}): Promise<Detected> {
  const offset = reader.offset
  const head = new Head(reader)
  const first = await head.get(32)
  if (first.length === 0) throw new TruncatedError(offset, 'p2m_size (the image is empty)', 4)
  const v2 = v2Kind(first)
  if (v2) {
    throw new FormatError('already-v2', `this is already a v2 stream (${v2}); use \`xst verify\``, {offset})
  }

  const readings: Reading[] = []
  for (const w of [64, 32] as const) {
    const r = await pvReading(head, w, offset)
    if (r) readings.push(r)
  }
  // A certain PV reading settles it; HVM readings are only looked for otherwise.
  const certain = readings.filter((r) => r.level === 4)
  const fits = certain.length ? certain : readings
  if (!certain.length) {
    for (const w of [64, 32] as const) {
      const r = await hvmReading(head, w, offset)
      if (r) fits.push(r)
    }
  }

  const agrees = (r: Reading) => (force.width === undefined || force.width === r.width) && (force.guest === undefined || force.guest === r.guest)
  const agreeing = (r: Reading) => Number(force.width === r.width) + Number(force.guest === r.guest)
  const byEvidence = (a: Reading, b: Reading) => b.level - a.level || PREFERENCE.indexOf(key(a)) - PREFERENCE.indexOf(key(b))
  const pick = (rs: Reading[], by: (a: Reading, b: Reading) => number = byEvidence) => rs.sort(by)[0] as Reading | undefined
  // A reading the flags allow and nothing contradicts; failing that, one the
  // bytes confirm overrules the flags; failing that, the flags choose among
  // what is left (a defective image contradicts its own layout too).
  const best =
    pick(fits.filter((r) => agrees(r) && r.level >= 2)) ??
    pick(
      fits.filter((r) => r.level >= 3),
      (a, b) => agreeing(b) - agreeing(a) || byEvidence(a, b),
    ) ??
    pick(fits.filter(agrees))

  if (!best) {
    if (force.width !== undefined && force.guest !== undefined) {
      return {width: force.width, guest: force.guest, widthFrom: 'flag', guestFrom: 'flag', warnings: []}
    }
    if (head.endsWithin(12)) throw new TruncatedError(offset + first.length, 'the first bytes of the image', 12 - first.length)
    const missing = [force.width === undefined ? '--width' : '', force.guest === undefined ? '--guest' : ''].filter(Boolean)
    const withFlags = [force.guest ? `--guest ${force.guest}` : '', force.width ? `--width ${force.width}` : ''].filter(Boolean).join(' and ')
    const advice = force.flagsOffered ? `; if it is a legacy image, give ${missing.join(' and ')}${withFlags ? ' as well' : ''}` : ''
    throw new FormatError(
      'undetectable',
      `cannot tell what this image is: not a v2 stream, and no legacy layout (PV or HVM, 32- or 64-bit toolstack${withFlags ? `, with ${withFlags}` : ''}) fits its first bytes${advice}`,
      {offset},
    )
  }

  const warnings: Detected['warnings'] = []
  if (force.width !== undefined && force.width !== best.width) {
    warnings.push({
      code: 'width-overruled',
      message: `--width ${force.width} was given, but the image was saved by a ${best.width}-bit toolstack (${best.why}); reading it as ${best.width}-bit`,
    })
  }
  if (force.guest !== undefined && force.guest !== best.guest) {
    warnings.push({
      code: 'guest-overruled',
      message: `--guest ${force.guest} was given, but the image is a${best.guest === 'hvm' ? 'n HVM' : ' PV'} image (${best.why}); reading it as ${best.guest.toUpperCase()}`,
    })
  }
  return {
    width: best.width,
    guest: best.guest,
    widthFrom: force.width === best.width ? 'flag' : 'detected',
    guestFrom: force.guest === best.guest ? 'flag' : 'detected',
    warnings,
  }
}
