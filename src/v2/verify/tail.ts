// Bytes outside any record. After a bare libxc stream they may be the
// device-model (qemu) record a legacy image ends with, which a conversion
// to a libxc stream copies through unchanged: a 21-byte signature, a u32
// length for two of the signatures, then qemu state. Anything else there,
// and anything after a libxl END or before the stream's END, is an error.
import {QEMU_SIG_DM_0002, QEMU_SIG_LEN, QEMU_SIG_REMUS, QEMU_SIG_REST} from '../../format/legacy.js'
import {plural} from '../../text.js'
import type {VerifyContext} from './context.js'
import {latin1} from './headers.js'

/**
 * Bytes at `offset` outside any record; `expected` when the stream had
 * ended (its END was seen). `head` is their first bytes, when the caller
 * has them. Returns what they are, for the summary.
 */
export function checkTail(v: VerifyContext, expected: boolean, offset: number, length: number, head?: Buffer): string {
  let kind: string | undefined
  if (!expected) {
    v.error('unexpected-tail', `${plural(length, 'byte')} outside any record before the stream's END`, {offset})
  } else if (v.top === 'libxl') {
    v.error('trailing-bytes', `${plural(length, 'byte')} after the libxl END record`, {offset})
  } else {
    kind = deviceModelRecord(v, offset, length, head)
  }
  v.note({offset, layer: v.top ?? 'libxc', name: kind ? 'device-model record' : 'trailing bytes', length, detail: kind ?? ''})
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
