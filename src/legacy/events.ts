// What the legacy walker reports, in stream order. Every event carries the
// absolute byte offset where its bytes start.
import type {XlHeaderInfo} from '../xl/header.js'
import type {Payload} from '../io/payload.js'

export type Guest = 'pv' | 'hvm'
export type ToolstackWidth = 32 | 64

export interface XlHeaderEvent {
  kind: 'xl-header'
  offset: number
  header: XlHeaderInfo
}

export interface ImageEvent {
  kind: 'image'
  offset: number
  toolstackWidth: ToolstackWidth
  guest: Guest
  /** How each fact was found: from the image itself, or given by a flag. */
  widthFrom: 'detected' | 'flag'
  guestFrom: 'detected' | 'flag'
  p2mSize: number
}

export interface ExtInfoBlock {
  id: string
  offset: number
  size: number
}

export interface ExtendedInfoEvent {
  kind: 'extended-info'
  offset: number
  totalLength: number
  blocks: ExtInfoBlock[]
  /** Guest word size in bytes and pagetable levels, from the vcpu block size. */
  guestWidth: 4 | 8
  ptLevels: 3 | 4
  vcpuContextSize: number
  /** `extv`: each vcpu also has a 128-byte extended context. */
  extendedContext: boolean
  /** `xcnt`: the xsave length (area + 16) each vcpu's xsave record may hold. */
  xsaveLength?: number
}

export interface P2mFramesEvent {
  kind: 'p2m-frames'
  offset: number
  /** Frame numbers, widened to 64 bits. */
  frames: BigUint64Array
}

export interface PageBatchEvent {
  kind: 'page-batch'
  offset: number
  index: number
  /** Entries as stored, including dropped ones. */
  count: number
  /** Kept entries: pfn and 4-bit type, in stream order. */
  pfns: Uint32Array
  types: Uint8Array
  /** Entries equal to the "could not map" marker, left out of pfns/types. */
  dropped: number
  /** Entries followed by page contents. */
  dataPages: number
  /** The page contents (dataPages x 4096 bytes); empty in a compressed checkpoint, whose pages come in compressed-pages events. */
  data: Payload
  /** The batch is of a compressed checkpoint: its pages are in the compressed_data chunks that follow. */
  compressed: boolean
  /** The checkpoint the batch belongs to (1 for an image that is not checkpointed). */
  checkpoint: number
}

export type ChunkDetail =
  | {chunk: 'enable_verify_mode' | 'last_checkpoint' | 'enable_compression'}
  | {chunk: 'vcpu_info'; maxVcpuId: number; online: number[]}
  | {chunk: 'hvm_param'; param: number; value: bigint}
  | {chunk: 'tsc_info'; mode: number; nsec: bigint; khz: number; incarnation: number}
  | {chunk: 'toolstack'; length: number; data: Buffer}
  | {chunk: 'tmem'; version: number; pools: number; pages: number; pageBytes: number}
  | {chunk: 'tmem_extra'; entries: number}
  | {chunk: 'compressed_data'; length: number; data: Buffer}

export interface ChunkEvent {
  kind: 'chunk'
  offset: number
  index: number
  type: number
  name: string
  /** Bytes the chunk occupies, type included. */
  size: number
  detail: ChunkDetail
}

export interface EndOfBodyEvent {
  kind: 'end-of-body'
  offset: number
  index: number
}

export interface UnmappedPfnsEvent {
  kind: 'unmapped-pfns'
  offset: number
  count: number
}

export interface VcpuContextEvent {
  kind: 'vcpu-context'
  offset: number
  vcpu: number
  part: 'basic' | 'extended' | 'xsave'
  /** The context bytes (for xsave: the area only, without its 16-byte header). */
  data: Buffer
  xfeatureMask?: bigint
}

export interface SharedInfoEvent {
  kind: 'shared-info'
  offset: number
  data: Buffer
}

export interface HvmMagicPfnsEvent {
  kind: 'hvm-magic-pfns'
  offset: number
  ioreq: bigint
  bufioreq: bigint
  store: bigint
}

export interface HvmContextEvent {
  kind: 'hvm-context'
  offset: number
  length: number
  data: Payload
}

export interface QemuRecordEvent {
  kind: 'qemu-record'
  offset: number
  signature: string
  /** Bytes of qemu state (after the signature and any length word). */
  length: number | undefined
  /** The signature and length word exactly as stored. */
  header: Buffer
  data: Payload
}

export interface NoQemuRecordEvent {
  kind: 'no-qemu-record'
  offset: number
  /** Why: the stream ended, or the caller said there is none (--skip-qemu). */
  reason: 'eof' | 'skipped'
}

/**
 * A Remus checkpoint starts (the second, the third, ...): the one before it
 * is complete, ending here. The first checkpoint is the image itself; a
 * stream with none of these is not checkpointed (or holds one checkpoint).
 */
export interface CheckpointEvent {
  kind: 'checkpoint'
  offset: number
  index: number
}

/**
 * The stream ends inside checkpoint `index` (from byte `start`), as a
 * replication capture does: the receiver fails over from the one before.
 * Whatever the events since `start` said is not part of any complete state.
 */
export interface CheckpointCutEvent {
  kind: 'checkpoint-cut'
  offset: number
  index: number
  start: number
  message: string
}

/**
 * Pages of a compressed checkpoint whose encodings are complete: in the
 * order the checkpoint's batches listed them, each to be decoded over the
 * receiver's copy of the page (src/legacy/compression.ts). Page `i`'s
 * encoding is `encodings.subarray(starts[i], starts[i + 1])`.
 */
export interface CompressedPagesEvent {
  kind: 'compressed-pages'
  /** The compressed_data chunk whose bytes completed these pages. */
  offset: number
  checkpoint: number
  pfns: Uint32Array
  types: Uint8Array
  encodings: Buffer
  starts: Uint32Array
  /** How the pages were sent: unchanged (one byte), whole, or as runs over the old copy. */
  unchanged: number
  whole: number
  runs: number
}

export interface TrailingEvent {
  kind: 'trailing'
  offset: number
  length: number
}

/**
 * What a warning event is about. These reach the commands' output as text
 * only (their --json has warnings as messages), so they are not in the
 * error-code catalogue; the union keeps them to a known few all the same.
 */
export type LegacyWarningCode =
  /** --width was given and the image says otherwise. */
  | 'width-overruled'
  /** --guest was given and the image says otherwise. */
  | 'guest-overruled'
  /** An extended-info extv block carries bytes (ignored, as the restorer does). */
  | 'extv-block-data'
  /** An extended-info block of an unknown id (skipped, as the restorer does). */
  | 'unknown-extended-info-block'
  /** A page batch sends one pfn twice with different types (both kept). */
  | 'pfn-retyped-in-batch'
  /** A PV image without vcpu_info: vcpu 0 is taken as the only one online. */
  | 'no-vcpu-info'
  /** A compressed checkpoint's compressed data goes on past its last page (the restorer never reads it). */
  | 'compressed-data-unused'
  /** enable_compression after the first checkpoint: the restorer only looks for it in the first. */
  | 'late-enable-compression'

export interface WarningEvent {
  kind: 'warning'
  offset: number
  code: LegacyWarningCode
  message: string
}

export interface DoneEvent {
  kind: 'done'
  offset: number
}

export type LegacyEvent =
  | XlHeaderEvent
  | ImageEvent
  | ExtendedInfoEvent
  | P2mFramesEvent
  | PageBatchEvent
  | ChunkEvent
  | EndOfBodyEvent
  | UnmappedPfnsEvent
  | VcpuContextEvent
  | SharedInfoEvent
  | HvmMagicPfnsEvent
  | HvmContextEvent
  | QemuRecordEvent
  | NoQemuRecordEvent
  | CheckpointEvent
  | CheckpointCutEvent
  | CompressedPagesEvent
  | TrailingEvent
  | WarningEvent
  | DoneEvent

/**
 * The default of a switch over every event kind, in each consumer: an event
 * kind added to LegacyEvent and not handled there fails to compile.
 */
export function unhandledEvent(ev: never): Error {
  return new Error(`internal: legacy event "${(ev as LegacyEvent).kind}" not handled`)
}
