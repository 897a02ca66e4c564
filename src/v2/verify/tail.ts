// Bytes outside any record. After a bare libxc stream they may be the
// device-model (qemu) record a legacy image ends with, which a conversion
// to a libxc stream copies through unchanged: a 21-byte signature, a u32
// length for two of the signatures, then qemu state. Anything else there,
// and anything after a libxl END or before the stream's END, is an error.
import {QEMU_SIG_DM_0002, QEMU_SIG_LEN, QEMU_SIG_REMUS, QEMU_SIG_REST} from '../../format/x86.js'
import {plural} from '../../text.js'
import type {VerifyContext} from './context.js'
import {latin1} from './headers.js'

/** How many first bytes of a tail are kept to tell what it is: a signature and a length. */
export const TAIL_HEAD_BYTES = QEMU_SIG_LEN + 4

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
    v.error('unexpected-tail', `${plural(bytes, 'byte')} outside any record before the stream's END`, {offset})
  } else if (t.after === 'libxl-end') {
    v.error('trailing-bytes', `${plural(bytes, 'byte')} after the libxl END record`, {offset})
  } else {
    kind = deviceModelRecord(v, offset, bytes, t.head)
  }
  v.note({offset, layer: v.top ?? 'libxc', name: kind ? 'device-model record' : 'trailing bytes', length: bytes, detail: kind ?? ''})
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
      v.error('qemu-record-size', `the ${sig} record after END is cut short: it has no length field`, {offset})
    } else {
      const said = head.readUInt32LE(QEMU_SIG_LEN)
      if (said !== have) v.error('qemu-record-size', `the ${sig} record after END says ${plural(said, 'byte')} of qemu state, but ${have} follow`, {offset: offset + QEMU_SIG_LEN})
    }
    return sig
  }
  const shown = latin1(head, 0, Math.min(head.length, 8))
  v.error('trailing-bytes', `${plural(length, 'byte')} after END are not a device-model record (they start "${shown}")`, {offset})
  return undefined
}
