// The legacy chunk table: one row per metadata chunk id (-1 down to
// MIN_CHUNK_ID) with its name, the reader of its payload, the HVM parameter
// it carries, and whether a v2 stream has a place for it. The walker reads
// every metadata chunk through it; inspect and convert ask it what a chunk
// is; the name maps and sets below are derived from it.
import {FormatError} from '../errors.js'
import {i32le, type Token, u32le} from '../format/layout.js'
import {HvmParam, MAX_VCPU_ID} from '../format/x86.js'
import type {ByteReader} from '../io/reader.js'
import type {ChunkDetail, Guest} from './events.js'
import {Chunk, CHUNK_NAMES, HvmParamChunk, MAX_COMPRESSED_CHUNK, MAX_TOOLSTACK, TmemHeader, TmemPoolHeader, TscInfoChunk} from './layout.js'

/** What a chunk reader is given: the reader just past the chunk's i32 type, and where it is. */
export interface ChunkReading {
  readonly r: ByteReader
  /** The saving toolstack's `unsigned long`. */
  readonly word: Token<bigint>
  readonly guest: Guest
  readonly kind: ChunkKind
  /** Offset of the chunk's type word, and the chunk's index in the body. */
  readonly offset: number
  readonly index: number
}

export interface ChunkKind {
  readonly type: number
  readonly name: string
  /** Reads the payload after the type. */
  readonly read: (c: ChunkReading) => Promise<ChunkDetail>
  /** The HVM parameter (index) the chunk's value is. */
  readonly hvmParam?: number
  /** False when a v2 stream has no equivalent for what the chunk holds. */
  readonly convertible: boolean
}

/** Where in the image, for an error inside chunk `c`: at `offset`, naming the chunk unless told not to. */
function where(c: ChunkReading, offset: number, named = true) {
  return {offset, index: c.index, indexKind: 'chunk', ...(named ? {context: c.kind.name} : {})}
}

const LIST_END = 0xffffffff

// ---- readers -----------------------------------------------------------------

/** A chunk with no payload: its presence is what it says. */
const flag = (chunk: 'enable_verify_mode' | 'last_checkpoint' | 'enable_compression') => async (): Promise<ChunkDetail> => ({chunk})

async function hvmParam(c: ChunkReading): Promise<ChunkDetail> {
  const name = c.kind.name
  if (c.guest === 'pv') {
    throw new FormatError('hvm-chunk-in-pv', `HVM chunk ${name} in a PV image`, {...where(c, c.offset), expected: 'no HVM parameter chunks in a PV image', got: name})
  }
  const {value} = await c.r.readLayout(HvmParamChunk, name)
  return {chunk: 'hvm_param', param: c.kind.hvmParam!, value}
}

/** The highest vcpu id, then a bitmap of the online vcpus in 64-bit words. */
async function vcpuInfo(c: ChunkReading): Promise<ChunkDetail> {
  const maxAt = c.r.offset
  const maxId = await c.r.readLayout(i32le, 'vcpu_info max id')
  if (maxId < 0 || maxId > MAX_VCPU_ID) {
    throw new FormatError('bad-vcpu-info', 'vcpu_info max vcpu id out of range', {...where(c, maxAt), expected: `0..${MAX_VCPU_ID}`, got: `${maxId}`})
  }
  const words = Math.floor(maxId / 64) + 1
  const map = await c.r.read(words * 8, 'vcpu_info bitmap')
  const online: number[] = []
  for (let id = 0; id <= maxId; id++) {
    if (map[id >> 3] & (1 << (id & 7))) online.push(id)
  }
  return {chunk: 'vcpu_info', maxVcpuId: maxId, online}
}

async function tscInfo(c: ChunkReading): Promise<ChunkDetail> {
  const t = await c.r.readLayout(TscInfoChunk, c.kind.name)
  return {chunk: 'tsc_info', mode: t.mode, nsec: t.nsec, khz: t.khz, incarnation: t.incarnation}
}

/** A u32 length and that many bytes of libxl's data (decoded by toolstack.ts). */
async function toolstack(c: ChunkReading): Promise<ChunkDetail> {
  const lenAt = c.r.offset
  const length = await c.r.readLayout(u32le, 'toolstack length')
  c.r.checkLength(length, 'toolstack chunk', MAX_TOOLSTACK, 'MAX_TOOLSTACK', where(c, lenAt, false))
  return {chunk: 'toolstack', length, data: await c.r.read(length, 'toolstack chunk')}
}

/** A word-sized length and that many bytes of Remus's compressed pages (decoded by the walker). */
async function compressedData(c: ChunkReading): Promise<ChunkDetail> {
  const lenAt = c.r.offset
  const size = await c.r.readLayout(c.word, 'compressed_data length')
  if (size > BigInt(MAX_COMPRESSED_CHUNK)) {
    throw new FormatError('length-too-large', `compressed_data chunk of ${size} bytes, more than xst reads in one (${MAX_COMPRESSED_CHUNK}, twice the 4.5 saver's output buffer)`, {
      ...where(c, lenAt),
      expected: `at most ${MAX_COMPRESSED_CHUNK}`,
      got: size.toString(),
    })
  }
  const length = Number(size)
  return {chunk: 'compressed_data', length, data: await c.r.read(length, 'compressed_data')}
}

/** Walk tmem pools: the layout is knowable, the contents are not convertible. */
async function tmem(c: ChunkReading): Promise<ChunkDetail> {
  const r = c.r
  const h = await r.readLayout(TmemHeader, 'tmem header')
  let pools = 0
  let pages = 0
  let pageBytes = 0
  for (;;) {
    const poolId = await r.readLayout(u32le, 'tmem pool id')
    if (poolId === LIST_END) break
    const pool = await r.readLayout(TmemPoolHeader, 'tmem pool header')
    pools++
    const pageSize = 2 ** (((pool.flags >>> 24) & 0xf) + 12)
    for (let i = 0; i < pool.nPages; i++) {
      const oid = await r.read(24, 'tmem page oid')
      if (oid.every((b) => b === 0xff)) break
      await r.skip(4 + pageSize, 'tmem page')
      pages++
      pageBytes += pageSize
    }
  }
  return {chunk: 'tmem', version: h.version, pools, pages, pageBytes}
}

/** Entries of a pool id, a 3-word oid and an index, up to a pool id of all ones. */
async function tmemExtra(c: ChunkReading): Promise<ChunkDetail> {
  let entries = 0
  for (;;) {
    const poolId = await c.r.readLayout(u32le, 'tmem_extra pool id')
    if (poolId === LIST_END) break
    await c.r.skip(28, 'tmem_extra entry')
    entries++
  }
  return {chunk: 'tmem_extra', entries}
}

// ---- the table -----------------------------------------------------------------

type ChunkId = Exclude<keyof typeof Chunk, 'END'>

function row(id: ChunkId, read: ChunkKind['read'], facts: {hvmParam?: number; convertible?: boolean} = {}): ChunkKind {
  return {type: Chunk[id], name: CHUNK_NAMES[Chunk[id]], read, convertible: facts.convertible ?? true, ...(facts.hvmParam !== undefined ? {hvmParam: facts.hvmParam} : {})}
}

const param = (id: ChunkId, index: number) => row(id, hvmParam, {hvmParam: index})
const notConvertible = {convertible: false}

const ROWS: readonly ChunkKind[] = [
  row('ENABLE_VERIFY_MODE', flag('enable_verify_mode')),
  row('VCPU_INFO', vcpuInfo),
  param('HVM_IDENT_PT', HvmParam.IDENT_PT),
  param('HVM_VM86_TSS', HvmParam.VM86_TSS),
  row('TMEM', tmem, notConvertible),
  row('TMEM_EXTRA', tmemExtra, notConvertible),
  row('TSC_INFO', tscInfo),
  param('HVM_CONSOLE_PFN', HvmParam.CONSOLE_PFN),
  row('LAST_CHECKPOINT', flag('last_checkpoint')),
  param('HVM_ACPI_IOPORTS_LOCATION', HvmParam.ACPI_IOPORTS_LOCATION),
  param('HVM_VIRIDIAN', HvmParam.VIRIDIAN),
  // Remus: delta-compressed pages, and the switch that turns them on (the walker decodes them; a conversion takes the pages).
  row('COMPRESSED_DATA', compressedData),
  row('ENABLE_COMPRESSION', flag('enable_compression')),
  param('HVM_GENERATION_ID_ADDR', HvmParam.VM_GENERATION_ID_ADDR),
  param('HVM_PAGING_RING_PFN', HvmParam.PAGING_RING_PFN),
  param('HVM_MONITOR_RING_PFN', HvmParam.MONITOR_RING_PFN),
  param('HVM_SHARING_RING_PFN', HvmParam.SHARING_RING_PFN),
  row('TOOLSTACK', toolstack),
  param('HVM_IOREQ_SERVER_PFN', HvmParam.IOREQ_SERVER_PFN),
  param('HVM_NR_IOREQ_SERVER_PAGES', HvmParam.NR_IOREQ_SERVER_PAGES),
]

/** Every metadata chunk, by id. */
export const LEGACY_CHUNKS: ReadonlyMap<number, ChunkKind> = new Map(ROWS.map((k) => [k.type, k]))

/** The metadata chunk with this id, if there is one. */
export function chunkKind(type: number): ChunkKind | undefined {
  return LEGACY_CHUNKS.get(type)
}

/** Chunk id -> the HVM parameter it carries, for the chunks that carry one. */
export const HVM_PARAM_CHUNKS: Readonly<Record<number, number>> = Object.fromEntries(ROWS.flatMap((k) => (k.hvmParam !== undefined ? [[k.type, k.hvmParam]] : [])))

/** Ids of the chunks a conversion refuses. */
export const NOT_CONVERTIBLE_CHUNKS: ReadonlySet<number> = new Set(ROWS.filter((k) => !k.convertible).map((k) => k.type))
