// Legacy (Xen <= 4.5) save format constants and layouts (FORMAT.md §2).
import {chars, i32le, layout, u32le, u64le} from './layout.js'

export const PAGE_SIZE = 4096
/** Largest page batch the 4.5 saver writes. */
export const MAX_BATCH = 1024
/** vcpu_info's max id is below XC_SR_MAX_VCPUS (4096). */
export const MAX_VCPU_ID = 4095

/** Page type is in bits 31-28 of a pfn_type entry; the pfn is below. */
export const PFINFO_TYPE_SHIFT = 28
export const PFINFO_PFN_MASK = 0x0fffffff
/** An entry equal to this is a page the saver could not map: dropped. */
export const PFINFO_UNMAPPED = 0xf0000000

/** Page types (both formats use the same 4-bit values). */
export const PageType = {
  NOTAB: 0x0,
  L1TAB: 0x1,
  L2TAB: 0x2,
  L3TAB: 0x3,
  L4TAB: 0x4,
  L1PIN: 0x9,
  L2PIN: 0xa,
  L3PIN: 0xb,
  L4PIN: 0xc,
  BROKEN: 0xd,
  XALLOC: 0xe,
  XTAB: 0xf,
} as const

export const PAGE_TYPE_NAMES: Record<number, string> = {
  0x0: 'normal',
  0x1: 'l1',
  0x2: 'l2',
  0x3: 'l3',
  0x4: 'l4',
  0x9: 'l1-pinned',
  0xa: 'l2-pinned',
  0xb: 'l3-pinned',
  0xc: 'l4-pinned',
  0xd: 'broken',
  0xe: 'xalloc',
  0xf: 'xtab',
}

/** Types 5-8 were never defined. */
export function isValidPageType(t: number): boolean {
  return t in PAGE_TYPE_NAMES
}

/** Only these types are followed by 4096 bytes of page contents. */
export function pageTypeHasData(t: number): boolean {
  return t <= 0x4 || (t >= 0x9 && t <= 0xc)
}

/** Negative chunk ids. */
export const Chunk = {
  END: 0,
  ENABLE_VERIFY_MODE: -1,
  VCPU_INFO: -2,
  HVM_IDENT_PT: -3,
  HVM_VM86_TSS: -4,
  TMEM: -5,
  TMEM_EXTRA: -6,
  TSC_INFO: -7,
  HVM_CONSOLE_PFN: -8,
  LAST_CHECKPOINT: -9,
  HVM_ACPI_IOPORTS_LOCATION: -10,
  HVM_VIRIDIAN: -11,
  COMPRESSED_DATA: -12,
  ENABLE_COMPRESSION: -13,
  HVM_GENERATION_ID_ADDR: -14,
  HVM_PAGING_RING_PFN: -15,
  HVM_MONITOR_RING_PFN: -16,
  HVM_SHARING_RING_PFN: -17,
  TOOLSTACK: -18,
  HVM_IOREQ_SERVER_PFN: -19,
  HVM_NR_IOREQ_SERVER_PAGES: -20,
} as const

export const CHUNK_NAMES: Record<number, string> = {
  [Chunk.END]: 'end',
  [Chunk.ENABLE_VERIFY_MODE]: 'enable_verify_mode',
  [Chunk.VCPU_INFO]: 'vcpu_info',
  [Chunk.HVM_IDENT_PT]: 'hvm_ident_pt',
  [Chunk.HVM_VM86_TSS]: 'hvm_vm86_tss',
  [Chunk.TMEM]: 'tmem',
  [Chunk.TMEM_EXTRA]: 'tmem_extra',
  [Chunk.TSC_INFO]: 'tsc_info',
  [Chunk.HVM_CONSOLE_PFN]: 'hvm_console_pfn',
  [Chunk.LAST_CHECKPOINT]: 'last_checkpoint',
  [Chunk.HVM_ACPI_IOPORTS_LOCATION]: 'hvm_acpi_ioports_location',
  [Chunk.HVM_VIRIDIAN]: 'hvm_viridian',
  [Chunk.COMPRESSED_DATA]: 'compressed_data',
  [Chunk.ENABLE_COMPRESSION]: 'enable_compression',
  [Chunk.HVM_GENERATION_ID_ADDR]: 'hvm_generation_id_addr',
  [Chunk.HVM_PAGING_RING_PFN]: 'hvm_paging_ring_pfn',
  [Chunk.HVM_MONITOR_RING_PFN]: 'hvm_monitor_ring_pfn',
  [Chunk.HVM_SHARING_RING_PFN]: 'hvm_sharing_ring_pfn',
  [Chunk.TOOLSTACK]: 'toolstack',
  [Chunk.HVM_IOREQ_SERVER_PFN]: 'hvm_ioreq_server_pfn',
  [Chunk.HVM_NR_IOREQ_SERVER_PAGES]: 'hvm_nr_ioreq_server_pages',
}

export const MIN_CHUNK_ID = -20

/** Chunks whose contents have no v2 equivalent (tmem pages, Remus compression). */
export const NOT_CONVERTIBLE_CHUNKS: ReadonlySet<string> = new Set(['tmem', 'tmem_extra', 'compressed_data', 'enable_compression'])

/** Chunks that carry one HVM parameter, and the parameter index each becomes. */
export const HVM_PARAM_CHUNKS: Record<number, number> = {
  [Chunk.HVM_IDENT_PT]: 12,
  [Chunk.HVM_VM86_TSS]: 15,
  [Chunk.HVM_CONSOLE_PFN]: 17,
  [Chunk.HVM_ACPI_IOPORTS_LOCATION]: 19,
  [Chunk.HVM_VIRIDIAN]: 9,
  [Chunk.HVM_GENERATION_ID_ADDR]: 34,
  [Chunk.HVM_PAGING_RING_PFN]: 27,
  [Chunk.HVM_MONITOR_RING_PFN]: 28,
  [Chunk.HVM_SHARING_RING_PFN]: 29,
  [Chunk.HVM_IOREQ_SERVER_PFN]: 32,
  [Chunk.HVM_NR_IOREQ_SERVER_PAGES]: 33,
}

/** HVM params of the magic pfns in the HVM tail, in the order they are stored. */
export const HVM_PARAM_IOREQ_PFN = 5
export const HVM_PARAM_BUFIOREQ_PFN = 6
export const HVM_PARAM_STORE_PFN = 1

/** Payload of an HVM-parameter chunk (after the i32 type). */
export const HvmParamChunk = layout('hvm param chunk', {pad: u32le, value: u64le})

/** Payload of tsc_info: packed, 20 bytes. */
export const TscInfoChunk = layout('tsc_info chunk', {mode: u32le, nsec: u64le, khz: u32le, incarnation: u32le})

export const ChunkType = layout('chunk type', {type: i32le})

/** Extended-info block header. */
export const ExtInfoBlock = layout('extended-info block', {id: chars(4), size: u32le})
/** The block ids a 4.5 saver wrote (the restorer skips any other). */
export const EXT_INFO_IDS = ['vcpu', 'extv', 'xcnt'] as const

export const EXT_VCPU_64 = 0x1430
export const EXT_VCPU_32 = 0xaf0
export const EXTENDED_VCPU_CONTEXT_SIZE = 128
/** Bounds on lengths read from an image, checked before allocating. */
export const MAX_EXTENDED_INFO = 1 << 20
export const MAX_XSAVE_SIZE = 1 << 20
export const MAX_TOOLSTACK = 16 << 20
export const MAX_HVM_CONTEXT = 64 << 20
/** A qemu record of unknown length (to the end of a pipe) is held in memory up to this. */
export const MAX_QEMU_IN_MEMORY = 128 << 20

export const XsaveHeader = layout('xsave header', {xfeatureMask: u64le, size: u64le})

export const HvmMagicPfns = layout('hvm magic pfns', {ioreq: u64le, bufioreq: u64le, store: u64le})

export const QEMU_SIG_LEN = 21
export const QEMU_SIG_DM_0002 = 'DeviceModelRecord0002'
export const QEMU_SIG_REMUS = 'RemusDeviceModelState'
export const QEMU_SIG_REST = 'QemuDeviceModelRecord'

/** libxl toolstack data (chunk -18) v1 entry header. */
export const ToolstackHeader = layout('toolstack header', {version: u32le, count: u32le})
export const PhysmapEntryHeader = layout('physmap entry', {
  physOffset: u64le,
  startAddr: u64le,
  size: u64le,
  nameLen: u32le,
})

/** tmem (-5) header after the chunk type. */
export const TmemHeader = layout('tmem header', {
  version: u32le,
  maxPools: u32le,
  marker1: u32le,
  clientFlags: u32le,
  weight: u32le,
  cap: u32le,
  marker2: u32le,
})
export const TmemPoolHeader = layout('tmem pool', {flags: u32le, nPages: u32le, uuid0: u64le, uuid1: u64le})
