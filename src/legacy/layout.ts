// Legacy (Xen <= 4.5) save format: constants and layouts of what the 4.5
// saver (tools/libxc/xc_domain_save.c and xg_save_restore.h in Xen 4.5)
// writes — p2m size, extended info, page batches and chunks, the PV and HVM
// tails. Facts the v2 formats share with it are in ../format/x86.ts; what
// each chunk holds and how it is read is in chunks.ts.
import {chars, i32le, layout, namesOf, u32le, u64le} from '../format/layout.js'

/** Largest page batch the 4.5 saver writes. */
export const MAX_BATCH = 1024

/** Page type is in bits 31-28 of a pfn_type entry; the pfn is below. */
export const PFINFO_TYPE_SHIFT = 28
export const PFINFO_PFN_MASK = 0x0fffffff
/** An entry equal to this is a page the saver could not map: dropped. */
export const PFINFO_UNMAPPED = 0xf0000000

/** Chunk ids: 0 ends the body, a positive id is a page batch of that many pages, a negative one is metadata. */
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

/** Chunk names by id ("end", "vcpu_info", "hvm_ident_pt", ...). */
export const CHUNK_NAMES = namesOf(Chunk, (key) => key.toLowerCase())

/** The lowest metadata chunk id a 4.5 saver writes. */
export const MIN_CHUNK_ID = Math.min(...Object.values(Chunk))

/** Payload of an HVM-parameter chunk (after the i32 type). */
export const HvmParamChunk = layout('hvm param chunk', {pad: u32le, value: u64le})

/** Payload of tsc_info: packed, 20 bytes. */
export const TscInfoChunk = layout('tsc_info chunk', {mode: u32le, nsec: u64le, khz: u32le, incarnation: u32le})

export const ChunkType = layout('chunk type', {type: i32le})

/** Extended-info block header. */
export const ExtInfoBlock = layout('extended-info block', {id: chars(4), size: u32le})
/** The block ids a 4.5 saver wrote (the restorer skips any other). */
export const EXT_INFO_IDS = ['vcpu', 'extv', 'xcnt'] as const

/** Bounds on lengths read from an image, checked before allocating. */
export const MAX_EXTENDED_INFO = 1 << 20
export const MAX_XSAVE_SIZE = 1 << 20
export const MAX_TOOLSTACK = 16 << 20
export const MAX_HVM_CONTEXT = 64 << 20
/** A compressed_data chunk: the 4.5 saver writes at most its 16 MiB output buffer (OUTBUF_SIZE) in one. */
export const MAX_COMPRESSED_CHUNK = 32 << 20
/** A qemu record of unknown length (to the end of a pipe) is held in memory up to this. */
export const MAX_QEMU_IN_MEMORY = 128 << 20

export const XsaveHeader = layout('xsave header', {xfeatureMask: u64le, size: u64le})

export const HvmMagicPfns = layout('hvm magic pfns', {ioreq: u64le, bufioreq: u64le, store: u64le})

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
