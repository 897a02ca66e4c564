// Legacy (Xen <= 4.5) image builder: writes images from a declaration, for
// unit tests, fuzz tests and the benchmark. It writes what it is told, bad
// values included; the defaults give a well-formed image.
//
// Imports only node: and the project's layout declarations, so plain `tsc`
// can compile it (no test-framework imports).
import {ulong} from '../../src/format/layout.js'
import {EXT_VCPU_32, EXT_VCPU_64, EXTENDED_VCPU_CONTEXT_SIZE, PAGE_SIZE, pageTypeHasData, QEMU_SIG_DM_0002, QEMU_SIG_LEN, QEMU_SIG_REMUS, QEMU_SIG_REST} from '../../src/format/x86.js'
import {
  Chunk,
  ChunkType,
  ExtInfoBlock,
  HvmMagicPfns,
  HvmParamChunk,
  MAX_BATCH,
  PFINFO_PFN_MASK,
  PFINFO_TYPE_SHIFT,
  PFINFO_UNMAPPED,
  PhysmapEntryHeader,
  TmemHeader,
  TmemPoolHeader,
  ToolstackHeader,
  TscInfoChunk,
  XsaveHeader,
} from '../../src/legacy/layout.js'
import {XL_BYTEORDER, XL_MAGIC, XL_MANDATORY_CONFIG_JSON, XlHeader} from '../../src/xl/layout.js'

// ---------------------------------------------------------------------------
// Spec
// ---------------------------------------------------------------------------

export type Width = 32 | 64
export type GuestKind = 'pv' | 'hvm'

/** The optional xl save-file header. */
export interface XlSpec {
  /** Domain config text (xl syntax, or JSON when `json`). */
  config?: string
  /** Config is JSON: sets mandatory bit0 unless `mandatoryFlags` is given. */
  json?: boolean
  mandatoryFlags?: number
  optionalFlags?: number
  /** Bad-value overrides. */
  magic?: string
  byteorder?: number
  /** The `u32 config_len` written before the config text. */
  configLength?: number
  /** Optional data as raw bytes (replaces config_len + config). */
  optionalData?: Buffer
  /** The optional_data_len field. */
  optionalDataLength?: number
}

export interface ExtBlockSpec {
  id: string
  /** Block contents (default: `size` bytes of a fill pattern, or none). */
  data?: Buffer
  /** The size field (default: data length). */
  size?: number
}

/** PV extended info. */
export interface ExtInfoSpec {
  /** Guest width: 64 -> vcpu block 0x1430, 32 -> 0xaf0. Default 64. */
  guestWidth?: 32 | 64
  /** Contents of the vcpu block (its length sets the size). */
  vcpuBlock?: Buffer
  /** vcpu block size override (bad sizes). */
  vcpuSize?: number
  /** Write an `extv` block. Default true. */
  extv?: boolean
  /** Write an `xcnt` block holding this xsave length (area + 16). */
  xsaveLength?: number
  /** Raw list of blocks, replacing vcpu/extv/xcnt. */
  blocks?: ExtBlockSpec[]
  /** total_len override (default: sum of the blocks). */
  totalLength?: number
  /** The marker ulong (default all ones). */
  marker?: bigint
}

/** One page-batch entry: a pfn and a type, or the raw entry word. */
export type EntrySpec =
  | number // pfn, normal page
  | {pfn: number; type?: number; data?: boolean}
  | {dropped: true}
  | {raw: number | bigint; data?: boolean}

export interface PagesChunk {
  kind: 'pages'
  /** Entries in stream order. */
  entries?: EntrySpec[]
  /** Or a compact range of pfns, all of one type. */
  range?: {start: number; count: number; type?: number}
  /** Batch count word override (default: number of entries). */
  count?: number
  /** Page contents, replacing the deterministic fill (must be dataPages x 4096). */
  data?: Buffer
}

/** Many batches of consecutive pfns (a large image's body), expanded lazily. */
export interface PageRunChunk {
  kind: 'page-run'
  start: number
  count: number
  /** Pages per batch, default 1024. */
  batch?: number
  type?: number
}

/** The chunks that carry one HVM parameter, by name, from id -3 down to -20 (the tests' one list of them). */
export const HVM_PARAM_CHUNK_NAMES = [
  'hvm_ident_pt',
  'hvm_vm86_tss',
  'hvm_console_pfn',
  'hvm_acpi_ioports_location',
  'hvm_viridian',
  'hvm_generation_id_addr',
  'hvm_paging_ring_pfn',
  'hvm_monitor_ring_pfn',
  'hvm_sharing_ring_pfn',
  'hvm_ioreq_server_pfn',
  'hvm_nr_ioreq_server_pages',
] as const
export type HvmParamName = (typeof HVM_PARAM_CHUNK_NAMES)[number]

export interface PhysmapSpec {
  physOffset: bigint
  startAddr: bigint
  size: bigint
  name: string
  /** Append the NUL terminator (default true). */
  nul?: boolean
  /** namelen override. */
  nameLength?: number
  /** The 4 stray bytes a 64-bit toolstack wrote after the name (default zeros). */
  pad?: Buffer
}

export interface TmemPageSpec {
  oid: [bigint, bigint, bigint]
  index: number
  /** Page contents (default: a fill of the pool's page size). */
  data?: Buffer
}

export interface TmemPoolSpec {
  id: number
  /** Bits 27-24: page size as a power of two above 4096. */
  flags?: number
  uuid?: [bigint, bigint]
  /** n_pages field (default: pages.length). */
  nPages?: number
  pages?: TmemPageSpec[]
  /** Write an all-ones oid after the pages (the saver ran out early). */
  cutShort?: boolean
}

export type ChunkSpec =
  | PagesChunk
  | PageRunChunk
  | {kind: 'enable_verify_mode'}
  | {kind: 'last_checkpoint'}
  | {kind: 'enable_compression'}
  | {kind: 'vcpu_info'; online: number[]; maxId?: number; words?: number}
  | {kind: 'hvm_param'; chunk: HvmParamName | number; value: bigint; pad?: number}
  | {kind: 'tsc_info'; mode?: number; nsec?: bigint; khz?: number; incarnation?: number}
  | {
      kind: 'toolstack'
      physmap?: PhysmapSpec[]
      version?: number
      /** Entry count field (default physmap.length). */
      count?: number
      /** Write the 64-bit padding quirk (default: toolstack width is 64). */
      padded?: boolean
      /** Raw toolstack data, replacing version/count/physmap. */
      raw?: Buffer
      /** Bytes after the last physmap entry (libxl checks only a minimum size). */
      trailing?: Buffer
      /** The u32 length field (default: data length). */
      length?: number
    }
  | {
      kind: 'tmem'
      version?: number
      maxPools?: number
      clientFlags?: number
      weight?: number
      cap?: number
      pools?: TmemPoolSpec[]
    }
  | {kind: 'tmem_extra'; entries?: Array<{poolId: number; oid: [bigint, bigint, bigint]; index: number}>}
  | {kind: 'compressed_data'; data?: Buffer | number; size?: bigint}
  /** Any chunk type id followed by any payload. */
  | {kind: 'raw'; type: number; payload?: Buffer}
  /** Bytes written as they are, between chunks. */
  | {kind: 'bytes'; data: Buffer}

export interface VcpuContextSpec {
  vcpu: number
  basic?: Buffer
  extended?: Buffer
  xsave?: {mask?: bigint; data?: Buffer; size?: bigint}
}

export interface PvTailSpec {
  /** Unmapped pfns (written as ulongs). */
  unmapped?: Array<number | bigint>
  /** Count field override. */
  unmappedCount?: number
  /** vcpus whose contexts follow (default: the online set of the last vcpu_info chunk, else [0]). */
  vcpus?: number[]
  /** Explicit context bytes, by vcpu (others get the deterministic fill). */
  contexts?: VcpuContextSpec[]
  /** xsave header values for every vcpu (default mask 7, size xsaveLength - 16). */
  xsave?: {mask?: bigint; size?: bigint}
  sharedInfo?: Buffer
}

export type QemuSignature = typeof QEMU_SIG_DM_0002 | typeof QEMU_SIG_REMUS | typeof QEMU_SIG_REST

export interface QemuSpec {
  /** One of the three signatures, or any 21 characters. */
  signature: QemuSignature | string
  /** State bytes, or a length to fill deterministically. */
  data?: Buffer | number
  /** The u32 length word override. */
  length?: number
  /** Write a length word (default: every signature but QemuDeviceModelRecord). */
  lengthWord?: boolean
}

export interface HvmTailSpec {
  ioreq?: bigint
  bufioreq?: bigint
  store?: bigint
  /** HVM context blob, or a length to fill deterministically (default 1024). */
  context?: Buffer | number
  /** The u32 length field override. */
  contextLength?: number
  /** Device-model record; null or absent: none (the image ends after the context). */
  qemu?: QemuSpec | null
}

export interface LegacySpec {
  /** Toolstack width (its `unsigned long`). */
  width: Width
  guest: GuestKind
  xl?: XlSpec
  /** Default: highest pfn in the page batches + 1. */
  p2mSize?: number | bigint
  /** PV only; default {guestWidth: 64, extv: true}. */
  ext?: ExtInfoSpec
  /** PV p2m frame list (default: ceil(p2mSize / (4096 / guest width)) made-up frames). */
  p2mFrames?: Array<number | bigint>
  chunks?: ChunkSpec[]
  /** Write the end chunk (default true). */
  end?: boolean
  /** PV tail (default values when absent). */
  pv?: PvTailSpec
  /** HVM tail (default values when absent). */
  hvm?: HvmTailSpec
  /** Stop after the body (no tail at all). */
  noTail?: boolean
  /** Bytes after the image. */
  trailing?: Buffer
}

/** Where each part of a built image starts. */
export interface LegacyMap {
  xlHeader?: number
  /** Offset of p2m_size. */
  image: number
  extInfo?: number
  /** Offset of each extended-info block header. */
  extBlocks: number[]
  p2mFrames?: number
  /** One per chunk as walked (a page-run gives one per batch); `at` is the offset of its type word. */
  chunks: Array<{at: number; kind: string; size: number; dataAt?: number}>
  /** Offset of the end chunk. */
  end?: number
  unmapped?: number
  vcpus: Array<{vcpu: number; basic: number; extended?: number; xsave?: number}>
  sharedInfo?: number
  hvmMagic?: number
  hvmContext?: number
  qemu?: number
  trailing?: number
  /** Total bytes. */
  size: number
}

// ---------------------------------------------------------------------------
// Deterministic contents
// ---------------------------------------------------------------------------

/** 4096 + 256 bytes, byte i = i & 0xff: a page is one copy out of it. */
const PATTERN = (() => {
  const b = Buffer.allocUnsafe(PAGE_SIZE + 256)
  for (let i = 0; i < b.length; i++) b[i] = i & 0xff
  return b
})()

/**
 * The contents the builder gives page `pfn`: u32 LE pfn in bytes 0-3, then
 * byte i = (i + pfn) & 0xff.
 */
export function pageBytes(pfn: number, out: Buffer = Buffer.allocUnsafe(PAGE_SIZE), at = 0): Buffer {
  const k = pfn & 0xff
  PATTERN.copy(out, at, k, k + PAGE_SIZE)
  out.writeUInt32LE(pfn >>> 0, at)
  return out
}

/** `n` deterministic bytes from `seed`: byte i = (seed * 29 + i * 7 + (i >>> 8)) & 0xff. */
export function fillBytes(seed: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  const s = (seed * 29) & 0xff
  for (let i = 0; i < n; i++) b[i] = (s + i * 7 + (i >>> 8)) & 0xff
  return b
}

const PART_SEED = {basic: 1, extended: 2, xsave: 3} as const

/** The builder's default vcpu context bytes. */
export function vcpuContextBytes(vcpu: number, part: 'basic' | 'extended' | 'xsave', size: number): Buffer {
  const b = fillBytes(vcpu * 4 + PART_SEED[part], size)
  if (size >= 4) b.writeUInt32LE(vcpu, 0)
  return b
}

/** The builder's default shared-info page. */
export const defaultSharedInfo = (): Buffer => fillBytes(0x5151, PAGE_SIZE)

/** The builder's default blobs (HVM context, qemu state, compressed data). */
export const BLOB_SEED = {hvmContext: 0x4856, qemu: 0x5145, compressed: 0x4350, tmem: 0x544d, vcpuBlock: 0x5643} as const

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Guest width in bytes from an ext spec. */
function guestWidthBytes(spec: LegacySpec): 4 | 8 {
  const e = spec.ext ?? {}
  if (e.vcpuBlock) return e.vcpuBlock.length === EXT_VCPU_32 ? 4 : 8
  if (e.vcpuSize !== undefined) return e.vcpuSize === EXT_VCPU_32 ? 4 : 8
  return e.guestWidth === 32 ? 4 : 8
}

function vcpuContextSize(spec: LegacySpec): number {
  const e = spec.ext ?? {}
  if (e.blocks) {
    const v = e.blocks.find((b) => b.id === 'vcpu')
    return v ? (v.size ?? v.data?.length ?? 0) : EXT_VCPU_64
  }
  if (e.vcpuSize !== undefined) return e.vcpuSize
  if (e.vcpuBlock) return e.vcpuBlock.length
  return e.guestWidth === 32 ? EXT_VCPU_32 : EXT_VCPU_64
}

function extHas(spec: LegacySpec): {extv: boolean; xsaveLength?: number} {
  const e = spec.ext ?? {}
  if (e.blocks) {
    const x = e.blocks.find((b) => b.id === 'xcnt')
    return {extv: e.blocks.some((b) => b.id === 'extv'), xsaveLength: x?.data && x.data.length >= 4 ? x.data.readUInt32LE(0) : undefined}
  }
  return {extv: e.extv ?? true, xsaveLength: e.xsaveLength}
}

function entryWord(e: EntrySpec): {word: bigint; pfn?: number; data: boolean} {
  if (typeof e === 'number') return {word: BigInt(e), pfn: e, data: true}
  if ('dropped' in e) return {word: BigInt(PFINFO_UNMAPPED), data: false}
  if ('raw' in e) {
    // A number is a 32-bit word (so `8 << 28`, negative in JS, means 0x80000000).
    const w = typeof e.raw === 'number' ? BigInt(e.raw >>> 0) : BigInt.asUintN(64, e.raw)
    const lo = Number(w & 0xffffffffn)
    const type = lo >>> PFINFO_TYPE_SHIFT
    const has = e.data ?? (lo !== PFINFO_UNMAPPED && pageTypeHasData(type))
    return {word: w, pfn: lo & PFINFO_PFN_MASK, data: has}
  }
  const type = e.type ?? 0
  return {word: BigInt(((type << PFINFO_TYPE_SHIFT) | (e.pfn & PFINFO_PFN_MASK)) >>> 0), pfn: e.pfn, data: e.data ?? pageTypeHasData(type)}
}

function batchEntries(c: PagesChunk): EntrySpec[] {
  if (c.entries) return c.entries
  if (c.range) {
    const {start, count, type = 0} = c.range
    const out: EntrySpec[] = new Array(count)
    for (let i = 0; i < count; i++) out[i] = type === 0 ? start + i : {pfn: start + i, type}
    return out
  }
  return []
}

/** Highest pfn any batch names, + 1. */
function impliedP2mSize(spec: LegacySpec): number {
  let max = -1
  for (const c of spec.chunks ?? []) {
    if (c.kind === 'page-run') max = Math.max(max, c.start + c.count - 1)
    else if (c.kind === 'pages') {
      if (c.range) max = Math.max(max, c.range.start + c.range.count - 1)
      else
        for (const e of c.entries ?? []) {
          const w = entryWord(e)
          if (w.pfn !== undefined && w.word !== BigInt(PFINFO_UNMAPPED)) max = Math.max(max, w.pfn)
        }
    }
  }
  return max + 1
}

function p2mSizeOf(spec: LegacySpec): bigint {
  return spec.p2mSize !== undefined ? BigInt(spec.p2mSize) : BigInt(Math.max(1, impliedP2mSize(spec)))
}

function i32(v: number): Buffer {
  return ChunkType.encode({type: v})
}

function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32LE(v >>> 0, 0)
  return b
}

function u64(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8)
  b.writeBigUInt64LE(BigInt.asUintN(64, v), 0)
  return b
}

function hvmParamType(chunk: HvmParamName | number): number {
  if (typeof chunk === 'number') return chunk
  const type = (Chunk as Record<string, number>)[chunk.toUpperCase()]
  if (type === undefined) throw new Error(`builder: unknown HVM param chunk ${chunk}`)
  return type
}

/** Largest piece a blob is written in. */
const PIECE = 4 << 20

function* blobPieces(data: Buffer | number, seed: number): Generator<Buffer> {
  if (typeof data !== 'number') {
    yield data
    return
  }
  // Large fills repeat a 64 KiB period so they stream without holding it all.
  if (data <= PIECE) {
    yield fillBytes(seed, data)
    return
  }
  const period = fillBytes(seed, 1 << 16)
  const piece = Buffer.allocUnsafe(PIECE)
  for (let i = 0; i < PIECE; i += period.length) period.copy(piece, i)
  let left = data
  while (left > 0) {
    const k = Math.min(left, PIECE)
    yield Buffer.from(piece.subarray(0, k))
    left -= k
  }
}

function blobLength(data: Buffer | number): number {
  return typeof data === 'number' ? data : data.length
}

// ---------------------------------------------------------------------------
// Parts
// ---------------------------------------------------------------------------

export function xlHeaderBytes(x: XlSpec): Buffer {
  let optional: Buffer
  if (x.optionalData) optional = x.optionalData
  else if (x.config !== undefined) {
    const text = Buffer.from(x.config, 'utf8')
    optional = Buffer.concat([u32(x.configLength ?? text.length), text])
  } else optional = Buffer.alloc(0)
  const fixed = XlHeader.encode({
    magic: x.magic ?? XL_MAGIC,
    byteorder: x.byteorder ?? XL_BYTEORDER,
    mandatoryFlags: x.mandatoryFlags ?? (x.json ? XL_MANDATORY_CONFIG_JSON : 0),
    optionalFlags: x.optionalFlags ?? 0,
    optionalDataLen: x.optionalDataLength ?? optional.length,
  })
  return Buffer.concat([fixed, optional])
}

function extInfoBytes(spec: LegacySpec, w: 4 | 8, map: LegacyMap, at: number): Buffer {
  const e = spec.ext ?? {}
  let blocks: ExtBlockSpec[]
  if (e.blocks) blocks = e.blocks
  else {
    const size = vcpuContextSize(spec)
    blocks = [{id: 'vcpu', data: e.vcpuBlock ?? fillBytes(BLOB_SEED.vcpuBlock, size), size}]
    if (e.extv ?? true) blocks.push({id: 'extv'})
    if (e.xsaveLength !== undefined) blocks.push({id: 'xcnt', data: u32(e.xsaveLength)})
  }
  const parts: Buffer[] = []
  let total = 0
  for (const b of blocks) {
    const data = b.data ?? (b.size ? fillBytes(BLOB_SEED.vcpuBlock, b.size) : Buffer.alloc(0))
    parts.push(ExtInfoBlock.encode({id: b.id.padEnd(4, '\0').slice(0, 4), size: b.size ?? data.length}), data)
    total += ExtInfoBlock.size + data.length
  }
  const marker = e.marker ?? (w === 8 ? 0xffffffffffffffffn : 0xffffffffn)
  const head = Buffer.concat([encodeUlong(w, marker), u32(e.totalLength ?? total)])
  let off = at + head.length
  for (let i = 0; i < parts.length; i += 2) {
    map.extBlocks.push(off)
    off += parts[i].length + parts[i + 1].length
  }
  return Buffer.concat([head, ...parts])
}

function encodeUlong(w: 4 | 8, v: bigint): Buffer {
  const b = Buffer.allocUnsafe(w)
  ulong(w).put(b, 0, w === 8 ? BigInt.asUintN(64, v) : BigInt.asUintN(32, v))
  return b
}

/** One page batch: count word, entries, page contents, in one buffer. */
function batchBytes(c: PagesChunk, w: 4 | 8): {buf: Buffer; dataAt: number} {
  const entries = batchEntries(c)
  const words = entries.map(entryWord)
  const dataPages = words.reduce((n, x) => n + (x.data ? 1 : 0), 0)
  const headLen = 4 + entries.length * w
  const buf = Buffer.allocUnsafe(headLen + (c.data ? c.data.length : dataPages * PAGE_SIZE))
  buf.writeInt32LE(c.count ?? entries.length, 0)
  const tok = ulong(w)
  words.forEach((x, i) => tok.put(buf, 4 + i * w, w === 8 ? x.word : BigInt.asUintN(32, x.word)))
  if (c.data) c.data.copy(buf, headLen)
  else {
    let at = headLen
    for (const x of words) {
      if (!x.data) continue
      pageBytes(x.pfn ?? 0, buf, at)
      at += PAGE_SIZE
    }
  }
  return {buf, dataAt: headLen}
}

function toolstackData(c: Extract<ChunkSpec, {kind: 'toolstack'}>, width: Width): Buffer {
  if (c.raw) return c.raw
  const physmap = c.physmap ?? []
  const padded = c.padded ?? width === 64
  const parts: Buffer[] = [ToolstackHeader.encode({version: c.version ?? 1, count: c.count ?? physmap.length})]
  for (const p of physmap) {
    const name = Buffer.from(p.name + (p.nul === false ? '' : '\0'), 'latin1')
    parts.push(PhysmapEntryHeader.encode({physOffset: p.physOffset, startAddr: p.startAddr, size: p.size, nameLen: p.nameLength ?? name.length}), name)
    if (padded) parts.push(p.pad ?? Buffer.alloc(4))
  }
  if (c.trailing) parts.push(c.trailing)
  return Buffer.concat(parts)
}

/** Bytes of one non-batch chunk, type word included. */
function chunkBytes(c: Exclude<ChunkSpec, PagesChunk | PageRunChunk>, width: Width): Buffer[] {
  const w: 4 | 8 = width === 64 ? 8 : 4
  switch (c.kind) {
    case 'enable_verify_mode':
      return [i32(Chunk.ENABLE_VERIFY_MODE)]
    case 'last_checkpoint':
      return [i32(Chunk.LAST_CHECKPOINT)]
    case 'enable_compression':
      return [i32(Chunk.ENABLE_COMPRESSION)]
    case 'vcpu_info': {
      const maxId = c.maxId ?? Math.max(0, ...c.online)
      const words = c.words ?? Math.floor(maxId / 64) + 1
      const map = Buffer.alloc(Math.max(0, words) * 8)
      for (const id of c.online) if (id >= 0 && id < words * 64) map[id >> 3] |= 1 << (id & 7)
      return [i32(Chunk.VCPU_INFO), i32(maxId), map]
    }
    case 'hvm_param':
      return [i32(hvmParamType(c.chunk)), HvmParamChunk.encode({pad: c.pad ?? 0, value: c.value})]
    case 'tsc_info':
      return [i32(Chunk.TSC_INFO), TscInfoChunk.encode({mode: c.mode ?? 0, nsec: c.nsec ?? 123456789012n, khz: c.khz ?? 2400000, incarnation: c.incarnation ?? 3})]
    case 'toolstack': {
      const data = toolstackData(c, width)
      return [i32(Chunk.TOOLSTACK), u32(c.length ?? data.length), data]
    }
    case 'tmem': {
      const parts: Buffer[] = [
        i32(Chunk.TMEM),
        TmemHeader.encode({
          version: c.version ?? 1,
          maxPools: c.maxPools ?? 16,
          marker1: 0xffffffff,
          clientFlags: c.clientFlags ?? 0,
          weight: c.weight ?? 0,
          cap: c.cap ?? 0,
          marker2: 0xffffffff,
        }),
      ]
      for (const p of c.pools ?? []) {
        const flags = p.flags ?? 0
        const pageSize = 2 ** (((flags >>> 24) & 0xf) + 12)
        const pages = p.pages ?? []
        parts.push(u32(p.id), TmemPoolHeader.encode({flags, nPages: p.nPages ?? pages.length, uuid0: p.uuid?.[0] ?? 0n, uuid1: p.uuid?.[1] ?? 0n}))
        for (const pg of pages) parts.push(u64(pg.oid[0]), u64(pg.oid[1]), u64(pg.oid[2]), u32(pg.index), pg.data ?? fillBytes(BLOB_SEED.tmem + pg.index, pageSize))
        if (p.cutShort) parts.push(Buffer.alloc(24, 0xff))
      }
      parts.push(u32(0xffffffff))
      return parts
    }
    case 'tmem_extra': {
      const parts: Buffer[] = [i32(Chunk.TMEM_EXTRA)]
      for (const e of c.entries ?? []) parts.push(u32(e.poolId), u64(e.oid[0]), u64(e.oid[1]), u64(e.oid[2]), u32(e.index))
      parts.push(u32(0xffffffff))
      return parts
    }
    case 'compressed_data': {
      const data = c.data ?? 64
      const bytes = typeof data === 'number' ? fillBytes(BLOB_SEED.compressed, data) : data
      return [i32(Chunk.COMPRESSED_DATA), encodeUlong(w, c.size ?? BigInt(bytes.length)), bytes]
    }
    case 'raw':
      return [i32(c.type), c.payload ?? Buffer.alloc(0)]
    case 'bytes':
      return [c.data]
  }
}

function lastOnline(spec: LegacySpec): number[] | undefined {
  let online: number[] | undefined
  for (const c of spec.chunks ?? []) if (c.kind === 'vcpu_info') online = [...c.online].filter((id) => id <= (c.maxId ?? Math.max(0, ...c.online))).sort((a, b) => a - b)
  return online
}

// ---------------------------------------------------------------------------
// The image, piece by piece
// ---------------------------------------------------------------------------

/**
 * The image as a sequence of buffers, none larger than one page batch (or
 * 4 MiB of a blob). `map` is filled in as the pieces are produced.
 */
export function* legacyPieces(spec: LegacySpec, map: LegacyMap = emptyMap()): Generator<Buffer> {
  const w: 4 | 8 = spec.width === 64 ? 8 : 4
  let off = 0
  const emit = (b: Buffer): Buffer => {
    off += b.length
    return b
  }

  if (spec.xl) {
    map.xlHeader = off
    yield emit(xlHeaderBytes(spec.xl))
  }

  map.image = off
  const p2mSize = p2mSizeOf(spec)
  yield emit(encodeUlong(w, p2mSize))

  if (spec.guest === 'pv') {
    map.extInfo = off
    yield emit(extInfoBytes(spec, w, map, off))
    map.p2mFrames = off
    const gw = guestWidthBytes(spec)
    const n = spec.p2mFrames?.length ?? Math.ceil(Number(p2mSize) / (PAGE_SIZE / gw))
    const frames = Buffer.allocUnsafe(n * w)
    for (let i = 0; i < n; i++) {
      const f = spec.p2mFrames ? BigInt(spec.p2mFrames[i]) : BigInt(0x10000 + i)
      ulong(w).put(frames, i * w, f)
    }
    yield emit(frames)
  }

  for (const c of spec.chunks ?? []) {
    if (c.kind === 'page-run') {
      const per = c.batch ?? MAX_BATCH
      for (let s = c.start; s < c.start + c.count; s += per) {
        const count = Math.min(per, c.start + c.count - s)
        const {buf, dataAt} = batchBytes({kind: 'pages', range: {start: s, count, type: c.type}}, w)
        map.chunks.push({at: off, kind: 'pages', size: buf.length, dataAt: off + dataAt})
        yield emit(buf)
      }
      continue
    }
    if (c.kind === 'pages') {
      const {buf, dataAt} = batchBytes(c, w)
      map.chunks.push({at: off, kind: 'pages', size: buf.length, dataAt: off + dataAt})
      yield emit(buf)
      continue
    }
    const parts = chunkBytes(c, spec.width)
    const buf = Buffer.concat(parts)
    map.chunks.push({at: off, kind: c.kind, size: buf.length})
    yield emit(buf)
  }

  if (spec.end ?? true) {
    map.end = off
    yield emit(i32(Chunk.END))
  }

  if (!spec.noTail) {
    if (spec.guest === 'pv') {
      const t = spec.pv ?? {}
      const unmapped = t.unmapped ?? []
      map.unmapped = off
      const list = Buffer.allocUnsafe(4 + unmapped.length * w)
      list.writeUInt32LE(t.unmappedCount ?? unmapped.length, 0)
      unmapped.forEach((p, i) => ulong(w).put(list, 4 + i * w, BigInt(p)))
      yield emit(list)

      const vcpus = t.vcpus ?? lastOnline(spec) ?? [0]
      const size = vcpuContextSize(spec)
      const {extv, xsaveLength} = extHas(spec)
      for (const vcpu of vcpus) {
        const given = t.contexts?.find((x) => x.vcpu === vcpu)
        const entry: LegacyMap['vcpus'][number] = {vcpu, basic: off}
        yield emit(given?.basic ?? vcpuContextBytes(vcpu, 'basic', size))
        if (extv) {
          entry.extended = off
          yield emit(given?.extended ?? vcpuContextBytes(vcpu, 'extended', EXTENDED_VCPU_CONTEXT_SIZE))
        }
        if (xsaveLength !== undefined) {
          entry.xsave = off
          const area = given?.xsave?.data ?? vcpuContextBytes(vcpu, 'xsave', Math.max(0, xsaveLength - XsaveHeader.size))
          const head = XsaveHeader.encode({
            xfeatureMask: given?.xsave?.mask ?? t.xsave?.mask ?? 7n,
            size: given?.xsave?.size ?? t.xsave?.size ?? BigInt(area.length),
          })
          yield emit(Buffer.concat([head, area]))
        }
        map.vcpus.push(entry)
      }
      map.sharedInfo = off
      yield emit(t.sharedInfo ?? defaultSharedInfo())
    } else {
      const t = spec.hvm ?? {}
      map.hvmMagic = off
      yield emit(HvmMagicPfns.encode({ioreq: t.ioreq ?? 0xfeffen, bufioreq: t.bufioreq ?? 0xfeffdn, store: t.store ?? 0xfeffcn}))
      map.hvmContext = off
      const ctx = t.context ?? 1024
      yield emit(u32(t.contextLength ?? blobLength(ctx)))
      for (const p of blobPieces(ctx, BLOB_SEED.hvmContext)) yield emit(p)
      if (t.qemu) {
        const q = t.qemu
        map.qemu = off
        const sig = Buffer.alloc(QEMU_SIG_LEN)
        sig.write(q.signature, 0, 'latin1')
        const data = q.data ?? 1000
        const lengthWord = q.lengthWord ?? q.signature !== QEMU_SIG_REST
        yield emit(lengthWord ? Buffer.concat([sig, u32(q.length ?? blobLength(data))]) : sig)
        for (const p of blobPieces(data, BLOB_SEED.qemu)) yield emit(p)
      }
    }
  }

  if (spec.trailing?.length) {
    map.trailing = off
    yield emit(spec.trailing)
  }
  map.size = off
}

export function emptyMap(): LegacyMap {
  return {image: 0, extBlocks: [], chunks: [], vcpus: [], size: 0}
}

/** A whole (small) image in one buffer. */
export function buildLegacy(spec: LegacySpec): Buffer {
  return Buffer.concat([...legacyPieces(spec)])
}

/** A whole image and where each part of it is. */
export function buildLegacyWithMap(spec: LegacySpec): {bytes: Buffer; map: LegacyMap} {
  const map = emptyMap()
  const bytes = Buffer.concat([...legacyPieces(spec, map)])
  return {bytes, map}
}

/**
 * Stream an image to `write`, one piece at a time (at most one page batch is
 * held). Resolves to the map of what was written.
 */
export async function writeLegacy(spec: LegacySpec, write: (buf: Buffer) => Promise<void> | void): Promise<LegacyMap> {
  const map = emptyMap()
  for (const piece of legacyPieces(spec, map)) await write(piece)
  return map
}

/** The image as an async iterable of buffers (e.g. for stream.Readable.from). */
export async function* legacyStream(spec: LegacySpec): AsyncGenerator<Buffer> {
  yield* legacyPieces(spec)
}

// ---------------------------------------------------------------------------
// Ready-made specs
// ---------------------------------------------------------------------------

export interface LargeImageOptions {
  guest: GuestKind
  /** Approximate image size in bytes (page contents dominate). */
  bytes: number
  /** Toolstack width, default 64. */
  width?: Width
  /** vcpus online, default 2. */
  vcpus?: number
  /** qemu state bytes for HVM, default 256 KiB. */
  qemuBytes?: number
}

/**
 * A realistic image of about `bytes` bytes: tsc_info, batches of 1024
 * consecutive pages, vcpu_info, the chunks a 4.5 saver wrote for the guest
 * type, last_checkpoint, and a full tail. Its spec is small whatever the size.
 */
export function largeImageSpec(o: LargeImageOptions): LegacySpec {
  const width = o.width ?? 64
  const w = width / 8
  const pages = Math.max(1, Math.floor(o.bytes / (PAGE_SIZE + w)))
  const online = Array.from({length: o.vcpus ?? 2}, (_, i) => i)
  const chunks: ChunkSpec[] = [{kind: 'tsc_info'}, {kind: 'page-run', start: 0, count: pages}, {kind: 'vcpu_info', online}]
  if (o.guest === 'hvm') {
    chunks.push(
      {kind: 'hvm_param', chunk: 'hvm_ident_pt', value: 0xfeffd000n},
      {kind: 'hvm_param', chunk: 'hvm_vm86_tss', value: 0xfeffa000n},
      {kind: 'hvm_param', chunk: 'hvm_console_pfn', value: 0xfefffn},
      {kind: 'hvm_param', chunk: 'hvm_acpi_ioports_location', value: 1n},
      {kind: 'hvm_param', chunk: 'hvm_viridian', value: 1n},
      {kind: 'toolstack', physmap: [{physOffset: 0xf0000000n, startAddr: 0xf0000000n, size: 0x800000n, name: 'vga.vram'}]},
    )
  }
  chunks.push({kind: 'last_checkpoint'})
  return {
    width,
    guest: o.guest,
    p2mSize: pages,
    ext: o.guest === 'pv' ? {guestWidth: 64, extv: true, xsaveLength: 848} : undefined,
    chunks,
    hvm: o.guest === 'hvm' ? {context: 8192, qemu: {signature: QEMU_SIG_DM_0002, data: o.qemuBytes ?? 256 << 10}} : undefined,
  }
}

/** A small, complete, valid image of either guest type (tests start from it and change one thing). */
export function smallSpec(guest: GuestKind, width: Width = 64, over: Partial<LegacySpec> = {}): LegacySpec {
  const chunks: ChunkSpec[] = [{kind: 'tsc_info'}, {kind: 'pages', range: {start: 0, count: 8}}, {kind: 'vcpu_info', online: [0, 1]}]
  if (guest === 'hvm') chunks.push({kind: 'hvm_param', chunk: 'hvm_viridian', value: 1n})
  chunks.push({kind: 'last_checkpoint'})
  return {
    width,
    guest,
    p2mSize: 16,
    ext: guest === 'pv' ? {guestWidth: 64, extv: true} : undefined,
    chunks,
    hvm: guest === 'hvm' ? {context: 256, qemu: {signature: QEMU_SIG_DM_0002, data: 100}} : undefined,
    ...over,
  }
}

export {EXT_VCPU_32, EXT_VCPU_64, QEMU_SIG_DM_0002, QEMU_SIG_REMUS, QEMU_SIG_REST}
