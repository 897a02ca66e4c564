// Telling what a legacy image is from its first bytes (FORMAT.md §2,
// "Telling a legacy image apart"): toolstack width and guest type.
import {FormatError, TruncatedError} from '../errors.js'
import type {ByteReader} from '../io/reader.js'
import {MAX_BATCH, MIN_CHUNK_ID} from '../format/legacy.js'
import {LIBXL_MAGIC} from '../v2/libxl/layout.js'
import type {Guest, ToolstackWidth} from './events.js'

const XENF = 'XENF'

export interface Detected {
  width: ToolstackWidth
  guest: Guest
  widthFrom: 'detected' | 'flag'
  guestFrom: 'detected' | 'flag'
}

/** What a stream starting with these bytes is, if it is a v2 stream. */
export function v2Kind(head: Buffer): 'libxc' | 'libxl' | undefined {
  if (head.length >= 12 && head.subarray(0, 8).every((b) => b === 0xff) && head.toString('latin1', 8, 12) === XENF) return 'libxc'
  if (head.length >= 8 && head.toString('latin1', 0, 8) === LIBXL_MAGIC) return 'libxl'
  return undefined
}

function isPvAt(head: Buffer, width: ToolstackWidth): boolean {
  const w = width / 8
  const idAt = 2 * w + 4
  if (head.length < idAt + 4) return false
  return head.subarray(w, 2 * w).every((b) => b === 0xff) && head.toString('latin1', idAt, idAt + 4) === 'vcpu'
}

/**
 * True when `head` (the whole stream: it ended inside the detection window)
 * is the start of a PV image of this width cut before its `vcpu` id.
 */
function isCutPv(head: Buffer, width: ToolstackWidth): boolean {
  const w = width / 8
  const idAt = 2 * w + 4
  if (head.length <= w || head.length >= idAt + 4) return false
  if (!head.subarray(w, Math.min(2 * w, head.length)).every((b) => b === 0xff)) return false
  const id = head.subarray(Math.min(idAt, head.length))
  return Buffer.from('vcpu').subarray(0, id.length).equals(id)
}

function plausibleChunk(t: number): boolean {
  return t >= MIN_CHUNK_ID && t <= MAX_BATCH
}

export async function detectLegacy(reader: ByteReader, force: {width?: ToolstackWidth; guest?: Guest} = {}): Promise<Detected> {
  const offset = reader.offset
  const head = await reader.peek(32)
  if (head.length === 0) throw new TruncatedError(offset, 'p2m_size (the image is empty)', 4)
  const v2 = v2Kind(head)
  if (v2) {
    throw new FormatError('already-v2', `this is already a v2 stream (${v2}); use \`xst verify\``, {offset})
  }
  let width = force.width
  let guest = force.guest
  // A PV image cut short here would otherwise pass for an HVM one.
  if (guest !== 'hvm') {
    for (const w of width ? [width] : ([64, 32] as const)) {
      if (isCutPv(head, w)) throw new TruncatedError(offset + head.length, 'extended info', 2 * (w / 8) + 8 - head.length)
    }
  }
  if (width === undefined) {
    if (isPvAt(head, 64)) width = 64
    else if (isPvAt(head, 32)) width = 32
    else if (guest !== 'pv' && head.length >= 12) {
      // HVM: no marker follows p2m_size, so look at the first chunk type.
      const upperZero = head.readUInt32LE(4) === 0
      const as64 = plausibleChunk(head.readInt32LE(8))
      const as32 = plausibleChunk(head.readInt32LE(4))
      if (upperZero && as64) width = 64
      else if (!upperZero && as32) width = 32
    }
    if (width === undefined) {
      if (head.length < 12) throw new TruncatedError(offset + head.length, 'the first bytes of the image', 12 - head.length)
      throw new FormatError(
        'undetectable',
        'cannot tell what this image is: not a v2 stream, and no legacy layout (PV or HVM, 32- or 64-bit toolstack) fits its first bytes; if it is a legacy image, give --width and --guest',
        {offset},
      )
    }
  }
  if (guest === undefined) guest = isPvAt(head, width) ? 'pv' : 'hvm'
  return {width, guest, widthFrom: force.width ? 'flag' : 'detected', guestFrom: force.guest ? 'flag' : 'detected'}
}
