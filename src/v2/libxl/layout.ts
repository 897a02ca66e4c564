// The libxl stream of Xen 4.6+: its header and record types, as Xen's
// docs/specs/libxl-migration-stream.pandoc describes them ("Header",
// "Records", "Emulator Records"). The header is big-endian; records are
// framed like libxc ones (../record.ts), and LIBXC_CONTEXT is followed by a
// whole libxc stream.
import {layout, namesOf, u32be, u32le, u64be} from '../../format/layout.js'

/** A libxl stream starts with these 8 bytes. */
export const LIBXL_MAGIC = 'LibxlFmt'
/** The same bytes as the header's big-endian u64 ident field. */
export const LIBXL_IDENT = Buffer.from(LIBXL_MAGIC, 'latin1').readBigUInt64BE(0)
export const LIBXL_VERSION = 2
export const LIBXL_OPT_BIG_ENDIAN = 1 << 0
export const LIBXL_OPT_LEGACY = 1 << 1
export const LIBXL_OPT_RESERVED = ~(LIBXL_OPT_BIG_ENDIAN | LIBXL_OPT_LEGACY) >>> 0

export const LibxlHeader = layout('libxl header', {ident: u64be, version: u32be, options: u32be})

/** libxl record types, named as in the spec; records.ts says what each holds and how it is checked. */
export const LibxlRec = {
  END: 0,
  LIBXC_CONTEXT: 1,
  EMULATOR_XENSTORE_DATA: 2,
  EMULATOR_CONTEXT: 3,
  CHECKPOINT_END: 4,
  CHECKPOINT_STATE: 5,
} as const

export const EmulatorHeader = layout('emulator header', {emulatorId: u32le, index: u32le})
/** Largest EMULATOR_XENSTORE_DATA body xst reads to check its strings. */
export const MAX_XENSTORE_DATA = 16 << 20
/** COLO's CHECKPOINT_STATE body: the control id alone (libxl_sr_checkpoint_state, 4 bytes; the spec's text shows a pad that libxl does not write). */
export const CheckpointState = layout('CHECKPOINT_STATE', {id: u32le})
/** Its control ids (libxl_sr_stream_format.h). */
export const CHECKPOINT_STATE_NAMES: Record<number, string> = {0: 'new', 1: 'secondary suspended', 2: 'secondary ready', 3: 'secondary resumed'}

export const EmulatorId = {UNKNOWN: 0, QEMU_TRADITIONAL: 1, QEMU_UPSTREAM: 2} as const
/** "unknown", "qemu-traditional", "qemu-upstream". */
export const EMULATOR_NAMES = namesOf(EmulatorId, (key) => key.toLowerCase().replace(/_/g, '-'))
