// Bytes outside any record. After a bare libxc stream they may be the
// device-model (qemu) record a legacy image ends with, which a conversion
// to a libxc stream copies through unchanged: a 21-byte signature, a u32
// length for two of the signatures, then qemu state. Anything else there,
// and anything after a libxl END or before the stream's END, is an error.
import {QEMU_SIG_DM_0002, QEMU_SIG_LEN, QEMU_SIG_REMUS, QEMU_SIG_REST} from '../../format/x86.js'
import {plural} from '../../text.js'
import type {VerifyContext} from './context.js'
import {latin1} from './headers.js'

/** xl's message after the stream it sent in `xl migrate` (tools/xl/xl.h), with its NUL. */
export const XL_MIGRATE_PERMISSION_TO_GO = 'domain is yours, you are cleared to unpause\0'

/** How many first bytes of a tail are kept to tell what it is: a qemu signature and length, or xl's message. */
export const TAIL_HEAD_BYTES = Math.max(QEMU_SIG_LEN + 4, XL_MIGRATE_PERMISSION_TO_GO.length)

/** What a tail holding XL_MIGRATE_PERMISSION_TO_GO is called in the summary. */
export const XL_MIGRATE_MESSAGE = "xl migrate's permission-to-go message"

/** Bytes outside any record, as shown so far (they may come in several pieces). */
export interface TailBytes {
  offset: number
  bytes: number
  /** The first TAIL_HEAD_BYTES of them, when the caller showed them. */
  head: Buffer | undefined
  /** Where they came: after the libxc END of a bare libxc stream, after the libxl END, or before any END. */
  after: 'libxc-end' | 'libxl-end' | 'no-end'
}

/** Check the bytes outside any record once all of them are known; returns what they are, for the summary. */
export function checkTail(v: VerifyContext, t: TailBytes): string {
  const {offset, bytes} = t
  let kind: string | undefined
  if (t.after === 'no-end') {
    v.report('unexpected-tail', `${plural(bytes, 'byte')} outside any record before the stream's END`, {offset})
  } else if (t.after === 'libxl-end') {
    if (t.head && bytes === XL_MIGRATE_PERMISSION_TO_GO.length && t.head.toString('latin1') === XL_MIGRATE_PERMISSION_TO_GO) {
      kind = XL_MIGRATE_MESSAGE
    } else {
      v.report('trailing-bytes', `${plural(bytes, 'byte')} after the libxl END record, which the restorer does not read`, {offset})
    }
  } else {
    kind = deviceModelRecord(v, offset, bytes, t.head)
  }
  const name = kind === XL_MIGRATE_MESSAGE ? 'xl migrate message' : kind ? 'device-model record' : 'trailing bytes'
  v.note({offset, layer: v.top ?? 'libxc', name, length: bytes, detail: kind ?? ''})
  return kind ?? 'unrecognised'
}

/** A qemu record after a bare libxc stream, as the legacy converter leaves it. */
function deviceModelRecord(v: VerifyContext, offset: number, length: number, head?: Buffer): string | undefined {
  if (!head) return 'device-model record'
  const sig = head.length >= QEMU_SIG_LEN ? latin1(head, 0, QEMU_SIG_LEN) : ''
  if (sig === QEMU_SIG_REST) return sig
  if (sig === QEMU_SIG_DM_0002 || sig === QEMU_SIG_REMUS) {
    const have = length - QEMU_SIG_LEN - 4
    if (head.length < QEMU_SIG_LEN + 4 || have < 0) {
      v.report('qemu-record-size', `the ${sig} record after END is cut short: it has no length field`, {offset})
    } else {
      const said = head.readUInt32LE(QEMU_SIG_LEN)
      if (said !== have) v.report('qemu-record-size', `the ${sig} record after END says ${plural(said, 'byte')} of qemu state, but ${have} follow`, {offset: offset + QEMU_SIG_LEN})
    }
    return sig
  }
  // Cut inside the signature: the record was there, and whatever reads it fails.
  const start = head.toString('latin1')
  const cut = length < QEMU_SIG_LEN ? [QEMU_SIG_REST, QEMU_SIG_DM_0002, QEMU_SIG_REMUS].find((s) => s.startsWith(start)) : undefined
  if (cut) {
    v.report('qemu-record-size', `the ${cut} record after END is cut short: ${plural(length, 'byte')} of its ${QEMU_SIG_LEN}-byte signature`, {offset})
    return cut
  }
  const shown = latin1(head, 0, Math.min(head.length, 8))
  v.report('trailing-bytes', `${plural(length, 'byte')} after END are not a device-model record (they start "${shown}"); the restorer does not read them`, {offset})
  return undefined
}
