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
  /** The page contents (dataPages x 4096 bytes). */
  data: Payload
}

export type ChunkDetail =
  | {chunk: 'enable_verify_mode' | 'last_checkpoint' | 'enable_compression'}
  | {chunk: 'vcpu_info'; maxVcpuId: number; online: number[]}
  | {chunk: 'hvm_param'; param: number; value: bigint}
  | {chunk: 'tsc_info'; mode: number; nsec: bigint; khz: number; incarnation: number}
  | {chunk: 'toolstack'; length: number; data: Buffer}
  | {chunk: 'tmem'; version: number; pools: number; pages: number; pageBytes: number}
  | {chunk: 'tmem_extra'; entries: number}
  | {chunk: 'compressed_data'; length: number}

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
