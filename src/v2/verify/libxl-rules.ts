// The per-type checks of libxl records, one per type of the libxl record
// table (../libxl/records.ts), mapped to their types in checks.ts. What a
// record holds is Xen's docs/specs/libxl-migration-stream.pandoc; what is
// an error is what libxl's libxl_stream_read.c refuses (restorer.ts).
import {Rec} from '../libxc/layout.js'
import {CHECKPOINT_STATE_NAMES, CheckpointState, EMULATOR_NAMES, EmulatorHeader, MAX_XENSTORE_DATA} from '../libxl/layout.js'
import {paddedLength, type RecordInfo, type RecordKind} from '../record.js'
import {plural} from '../../text.js'
import type {Checked, VerifyContext} from './context.js'

export function end(v: VerifyContext, rec: RecordInfo): Checked {
  if (!v.ll.libxcContext) v.report('missing-libxc-context', 'the libxl stream ends without a LIBXC_CONTEXT record; it holds no domain', v.at(rec))
  // Only inside a checkpoint can libxl records come before the libxc END.
  else if (!v.lx.seen(Rec.END))
    v.report('missing-libxc-end', 'the libxl stream ends inside a checkpoint (after a libxc CHECKPOINT, with no CHECKPOINT_END): the libxc stream never reaches its END', v.at(rec))
  return {next: 'tail'}
}

export function libxcContext(v: VerifyContext, rec: RecordInfo): Checked | void {
  if (v.ll.libxcContext) {
    v.report('duplicate-libxc-context', 'a second LIBXC_CONTEXT; the libxc stream comes once (checkpoints continue it after CHECKPOINT_END)', v.at(rec))
    return
  }
  v.ll.libxcContext = true
  return {detail: 'the libxc stream follows', next: 'libxc-headers'}
}

/** The emulator sub-header of EMULATOR_* records; undefined when the body is too short for it. */
function emulatorHeader(v: VerifyContext, rec: RecordInfo, kind: RecordKind): {emulatorId: number; index: number} | undefined {
  if (v.short(rec, kind)) return undefined
  const h = EmulatorHeader.get(rec.head)
  if (EMULATOR_NAMES[h.emulatorId] === undefined) {
    v.report('emulator-id', `emulator id ${h.emulatorId} is not defined (0 unknown, 1 qemu-traditional, 2 qemu-upstream)`, v.at(rec, 8))
  }
  return h
}

const emulatorName = (h: {emulatorId: number; index: number}) => `${EMULATOR_NAMES[h.emulatorId] ?? `emulator ${h.emulatorId}`} ${h.index}`

export function xenstoreData(v: VerifyContext, rec: RecordInfo, kind: RecordKind): Checked | void {
  const h = emulatorHeader(v, rec, kind)
  if (!h) return
  const emu = emulatorName(h)
  if (rec.head.length < rec.length) {
    v.report('xenstore-data-size', `EMULATOR_XENSTORE_DATA body is ${rec.length} bytes; xst checks at most ${MAX_XENSTORE_DATA}`, v.at(rec))
    return {detail: emu}
  }
  const data = rec.head.subarray(EmulatorHeader.size, rec.length)
  if (data.length === 0) return {detail: `${emu}, no keys`}
  if (data[data.length - 1] !== 0) {
    v.report('xenstore-not-terminated', 'xenstore data does not end with a NUL byte', v.at(rec, 8 + rec.length - 1))
    return {detail: emu}
  }
  const strings = data.subarray(0, -1).toString('latin1').split('\0')
  if (strings.length % 2 !== 0) {
    v.report('xenstore-odd-strings', `xenstore data holds ${strings.length} strings; keys and values come in pairs, so the count must be even`, v.at(rec, 8 + EmulatorHeader.size))
  }
  // libxl__restore_emulator_xenstore_data() writes each key below the device
  // model's own xenstore directory: it refuses an empty or absolute one.
  let at = 8 + EmulatorHeader.size
  for (let i = 0; i < strings.length; i += 2) {
    const key = strings[i]
    if (key === '' || key.startsWith('/')) {
      if (key === '') v.report('xenstore-empty-key', `xenstore data key ${i / 2} is empty`, v.at(rec, at))
      else
        v.report('xenstore-absolute-key', `xenstore data key ${i / 2} "${key.slice(0, 64)}" is an absolute path; the restorer takes only keys relative to the device model's directory`, v.at(rec, at))
      break
    }
    at += key.length + 1 + (i + 1 < strings.length ? strings[i + 1].length + 1 : 0)
  }
  const keys = strings.length >> 1
  v.ll.emulator.xenstoreKeys += keys
  return {detail: `${emu}, ${plural(keys, 'key')}`}
}

export function emulatorContext(v: VerifyContext, rec: RecordInfo, kind: RecordKind): Checked | void {
  const h = emulatorHeader(v, rec, kind)
  if (!h) return
  const size = rec.length - EmulatorHeader.size
  v.ll.emulator.contexts++
  v.ll.emulator.contextBytes += size
  v.ll.emulator.firstId ??= h.emulatorId
  return {detail: `${emulatorName(h)}, ${plural(size, 'byte')}`}
}

export function checkpointEnd(v: VerifyContext, rec: RecordInfo): Checked | void {
  if (!v.ll.inCheckpoint) {
    v.report('checkpoint-end-out-of-place', 'CHECKPOINT_END without a libxc CHECKPOINT before it', v.at(rec))
    return
  }
  v.ll.inCheckpoint = false
  v.ll.afterCheckpointEnd = true
  v.cp.close(rec.offset + 8)
  return {detail: `end of checkpoint ${v.cp.complete}; the libxc stream continues`, next: 'after-checkpoint-end'}
}

/**
 * COLO: after each CHECKPOINT_END the primary says what the secondary is
 * to do next (libxl_colo_save.c colo_start_new_checkpoint()); libxl reads
 * it only there (libxl_stream_read.c: "Unexpected CHECKPOINT_STATE").
 */
export function checkpointState(v: VerifyContext, rec: RecordInfo, kind: RecordKind): Checked | void {
  if (!v.cp.atBoundary) {
    v.report('checkpoint-state-out-of-place', 'CHECKPOINT_STATE where libxl does not read one: it follows a CHECKPOINT_END in a COLO stream', v.at(rec))
    return
  }
  v.cp.kind = 'colo'
  // Not part of the next checkpoint: a stream that ends after it ends at a boundary.
  v.cp.current.start = rec.offset + 8 + paddedLength(rec.length)
  if (v.short(rec, kind)) return {next: 'libxc-record'}
  const {id} = CheckpointState.get(rec.head)
  return {detail: `COLO: ${CHECKPOINT_STATE_NAMES[id] ?? `control id ${id}`}`, next: 'libxc-record'}
}
