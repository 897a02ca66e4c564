// The device-model (qemu) record that follows the HVM tail of a legacy
// stream (after the HVM context; a container may frame it its own way).
// Toolstacks disagree on its framing: the
// signature, whether a length follows and in which byte order. Each framing
// is declared once here as a variant; a container says which variants it
// accepts and the one reader below reads "a qemu record header at this
// point" for all of them.
import {FormatError, TruncatedError} from '../errors.js'
import type {ByteReader} from '../io/reader.js'
import {type Token, u32be, u32le} from '../format/layout.js'
import {QEMU_SIG_DM_0002, QEMU_SIG_REMUS, QEMU_SIG_REST} from '../format/x86.js'

export interface QemuRecordVariant {
  /** Stable name for reports and tests. */
  readonly name: string
  /** The signature bytes, exactly (latin1). */
  readonly signature: string
  /** The length word after the signature; absent: the qemu state runs to the end of the stream. */
  readonly length?: Token<number>
  /** Who writes it, for messages. */
  readonly writer: string
}

/** libxl / libxc (Xen 4.x) and XenServer builds of 2014; XenServer's Libxc_legacy section. */
export const QEMU_DM_0002: QemuRecordVariant = {name: 'dm-0002', signature: QEMU_SIG_DM_0002, length: u32le, writer: 'libxl'}
/** Remus checkpoints. */
export const QEMU_REMUS: QemuRecordVariant = {name: 'remus', signature: QEMU_SIG_REMUS, length: u32le, writer: 'Remus'}
/** xend and early xl: no length, the qemu state is the rest of the stream. */
export const QEMU_TO_END: QemuRecordVariant = {name: 'to-end', signature: QEMU_SIG_REST, writer: 'xend'}
/** XenServer (xenopsd) legacy image: the signature ends in a newline and the length is big-endian. */
export const QEMU_XENSERVER: QemuRecordVariant = {name: 'xenserver', signature: 'QemuDeviceModelRecord\n', length: u32be, writer: 'XenServer'}

/** What a bare legacy stream (or one behind an xl header) may hold. */
export const BARE_LEGACY_QEMU_RECORDS: readonly QemuRecordVariant[] = [QEMU_DM_0002, QEMU_REMUS, QEMU_TO_END]
/** After the legacy stream of a XenServer legacy image (`XenSavedDomain\n`). */
export const XENSERVER_LEGACY_QEMU_RECORDS: readonly QemuRecordVariant[] = [QEMU_XENSERVER, QEMU_DM_0002]
/** After the legacy stream in a XenServer structured image's Libxc_legacy section. */
export const XENSERVER_LIBXC_LEGACY_QEMU_RECORDS: readonly QemuRecordVariant[] = [QEMU_DM_0002]
/** After the HVM tail of an xend `xm save` file. */
export const XEND_QEMU_RECORDS: readonly QemuRecordVariant[] = [QEMU_TO_END]

export interface QemuRecordHeader {
  variant: QemuRecordVariant
  /** Offset of the signature. */
  offset: number
  /** Signature and length word exactly as stored. */
  header: Buffer
  /** Bytes of qemu state after the header; undefined: to the end of a stream of unknown size. */
  length: number | undefined
  /** Offset of the first byte of qemu state. */
  dataOffset: number
}

/** Longest signature first, so that a signature that extends another wins. */
function bySignatureLength(variants: readonly QemuRecordVariant[]): QemuRecordVariant[] {
  return [...variants].sort((a, b) => b.signature.length - a.signature.length)
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'))
}

/**
 * Read the header of a qemu record at the reader's position, accepting only
 * `variants`. Returns undefined when the stream ends right here (the record
 * is optional after a legacy HVM tail; the caller decides whether that is
 * allowed). The qemu state itself is left unread: `length` bytes (or the
 * rest of the stream) follow.
 */
export async function readQemuRecordHeader(reader: ByteReader, variants: readonly QemuRecordVariant[]): Promise<QemuRecordHeader | undefined> {
  const offset = reader.offset
  const ordered = bySignatureLength(variants)
  const longest = ordered[0].signature.length
  const head = await reader.peek(longest)
  if (head.length === 0) return undefined
  const text = head.toString('latin1')
  for (const variant of ordered) {
    const sig = variant.signature
    if (text.length < sig.length) {
      // The stream ends inside what could still be this signature.
      if (sig.startsWith(text)) throw new TruncatedError(offset + head.length, `${variant.writer} qemu record signature`, sig.length - head.length)
      continue
    }
    if (!text.startsWith(sig)) continue
    const sigBytes = await reader.read(sig.length, 'qemu record signature')
    if (!variant.length) {
      const length = reader.remaining
      return {variant, offset, header: sigBytes, length, dataOffset: reader.offset}
    }
    const lenAt = reader.offset
    const lenBytes = await reader.read(variant.length.size, `${variant.writer} qemu record length`)
    const length = variant.length.get(lenBytes, 0)
    reader.checkLength(length, 'qemu record', 0xffffffff, 'u32', {offset: lenAt})
    return {variant, offset, header: Buffer.concat([sigBytes, lenBytes]), length, dataOffset: reader.offset}
  }
  const shown = text.slice(0, Math.min(text.length, ordered[ordered.length - 1].signature.length))
  throw new FormatError('unknown-qemu-signature', 'unknown device-model record signature after the HVM context', {
    offset,
    context: 'qemu record',
    expected: ordered.map((v) => JSON.stringify(v.signature)).join(' or '),
    got: `"${printable(shown)}"`,
  })
}

/** The header bytes of a qemu record of `length` bytes in this variant. */
export function encodeQemuRecordHeader(variant: QemuRecordVariant, length?: number): Buffer {
  const sig = Buffer.from(variant.signature, 'latin1')
  if (!variant.length) return sig
  if (length === undefined) throw new Error(`internal: ${variant.name} qemu record needs a length`)
  const len = Buffer.alloc(variant.length.size)
  variant.length.put(len, 0, length)
  return Buffer.concat([sig, len])
}
