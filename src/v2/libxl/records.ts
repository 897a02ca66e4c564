// The libxl record table: every record type of Xen's libxl stream
// (docs/specs/libxl-migration-stream.pandoc, "Records"), with how much of its
// body the checks read, whether it must be empty, the header its body starts
// with, the guests whose streams may hold it, and its check
// (../verify/libxl-rules.ts). libxl records belong to no stream version.
import {type RecordKind, RecordTable} from '../record.js'
import type {Check} from '../verify/context.js'
import * as rules from '../verify/libxl-rules.js'
import {CheckpointState, EmulatorHeader, LibxlRec, MAX_XENSTORE_DATA} from './layout.js'

type Facts = Partial<Omit<RecordKind<Check>, 'type' | 'name' | 'check' | 'v3Only'>>

function row(name: keyof typeof LibxlRec, check: Check, facts: Facts = {}): RecordKind<Check> {
  return {type: LibxlRec[name], name, prefix: 0, guest: 'both', v3Only: false, empty: false, check, ...facts}
}

const emulatorHeader = {bytes: EmulatorHeader.size, what: 'emulator header', code: 'record-size'} as const

export const LIBXL_RECORDS = new RecordTable<Check>([
  row('END', rules.end, {empty: true}),
  row('LIBXC_CONTEXT', rules.libxcContext, {empty: true}),
  // Emulator records are HVM-only: libxl's process_record() refuses them
  // for any other domain type. The strings are checked when the body is
  // small enough to read whole.
  row('EMULATOR_XENSTORE_DATA', rules.xenstoreData, {
    guest: 'hvm',
    prefix: (length) => (length <= MAX_XENSTORE_DATA ? length : EmulatorHeader.size),
    minSize: emulatorHeader,
  }),
  row('EMULATOR_CONTEXT', rules.emulatorContext, {guest: 'hvm', prefix: EmulatorHeader.size, minSize: emulatorHeader}),
  row('CHECKPOINT_END', rules.checkpointEnd, {empty: true}),
  row('CHECKPOINT_STATE', rules.checkpointState, {prefix: CheckpointState.size}),
])

/** Type number -> name of every libxl record type. */
export const LIBXL_REC_NAMES = LIBXL_RECORDS.names()
