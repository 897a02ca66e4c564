// The libxl record table: every record type of Xen's libxl stream
// (docs/specs/libxl-migration-stream.pandoc, "Records"), with how much of its
// body the checks read, whether it must be empty, the header its body starts
// with and the guests whose streams may hold it. Facts only; the verifier
// keeps its checks beside it (../verify/checks.ts). libxl records belong to
// no stream version.
import {type RecordKind, RecordTable} from '../record.js'
import {CheckpointState, EmulatorHeader, LibxlRec, MAX_XENSTORE_DATA} from './layout.js'

type Facts = Partial<Omit<RecordKind, 'type' | 'name' | 'v3Only'>>

function row(name: keyof typeof LibxlRec, facts: Facts = {}): RecordKind {
  return {type: LibxlRec[name], name, prefix: 0, guest: 'both', v3Only: false, empty: false, ...facts}
}

const emulatorHeader = {bytes: EmulatorHeader.size, what: 'emulator header', code: 'record-size'} as const

export const LIBXL_RECORDS = new RecordTable([
  row('END', {empty: true}),
  row('LIBXC_CONTEXT', {empty: true}),
  // Emulator records are HVM-only: libxl's process_record() refuses them
  // for any other domain type. The strings are checked when the body is
  // small enough to read whole.
  row('EMULATOR_XENSTORE_DATA', {
    guest: 'hvm',
    prefix: (length) => (length <= MAX_XENSTORE_DATA ? length : EmulatorHeader.size),
    minSize: emulatorHeader,
  }),
  row('EMULATOR_CONTEXT', {guest: 'hvm', prefix: EmulatorHeader.size, minSize: emulatorHeader}),
  row('CHECKPOINT_END', {empty: true}),
  row('CHECKPOINT_STATE', {prefix: CheckpointState.size, minSize: {bytes: CheckpointState.size, what: 'control id', code: 'record-size'}}),
])

/** Type number -> name of every libxl record type. */
export const LIBXL_REC_NAMES = LIBXL_RECORDS.names()
