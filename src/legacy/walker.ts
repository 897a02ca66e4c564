// The legacy walker: reads a Xen <= 4.5 save image (FORMAT.md §1-2) and
// yields typed events in stream order. inspect-legacy and convert both run
// on it. Large spans (page contents, HVM context, qemu state) are handed out
// as Payloads the consumer may read; whatever it leaves is skipped.
import {FormatError} from '../errors.js'
import type {ByteReader} from '../io/reader.js'
import {
  Chunk,
  CHUNK_NAMES,
  EXT_VCPU_32,
  EXT_VCPU_64,
  EXTENDED_VCPU_CONTEXT_SIZE,
  ExtInfoBlock,
  HVM_PARAM_CHUNKS,
  HvmMagicPfns,
  HvmParamChunk,
  isValidPageType,
  MAX_BATCH,
  MAX_EXTENDED_INFO,
  MAX_HVM_CONTEXT,
  MAX_QEMU_IN_MEMORY,
  MAX_TOOLSTACK,
  MAX_VCPU_ID,
  MAX_XSAVE_SIZE,
  PAGE_SIZE,
  pageTypeHasData,
  PFINFO_PFN_MASK,
  PFINFO_TYPE_SHIFT,
  PFINFO_UNMAPPED,
  TmemHeader,
  TmemPoolHeader,
  TscInfoChunk,
  XsaveHeader,
} from '../format/legacy.js'
import {hasXlHeader, readXlHeader} from '../xl/header.js'
import {BARE_LEGACY_QEMU_RECORDS, type QemuRecordVariant, readQemuRecordHeader} from '../container/qemu-record.js'
import {detectLegacy} from './detect.js'
import type {ChunkDetail, ExtendedInfoEvent, Guest, LegacyEvent, ToolstackWidth, WarningEvent} from './events.js'
import {Payload} from './payload.js'

export interface WalkOptions {
  /** Toolstack width, when the caller knows better than detection. */
  width?: ToolstackWidth
  /** Guest type, when the caller knows better than detection. */
  guest?: Guest
  /** The HVM tail has no qemu record (XenServer's --skip-qemu). */
  skipQemu?: boolean
  /** Expect an xl header (-x): absence is then an error. Without it, one is detected. */
  xlHeader?: boolean
  /**
   * On a stream (pipe, socket), stop at the end of the image instead of
   * reading on to count trailing bytes: a toolstack may keep the descriptor
   * open after the image, and the migration protocol goes on on it.
   */
  stopAtEnd?: boolean
  /**
   * The framings of the device-model (qemu) record after the HVM tail that
   * the container around the stream writes (src/container/qemu-record.ts);
   * default: what a bare stream or one behind an xl header may hold.
   */
  qemuRecords?: readonly QemuRecordVariant[]
  /**
   * Stop right after the image (its qemu record included), on any source:
   * what follows belongs to the container (XenServer sections after a
   * Libxc_legacy stream) and is left unread for its caller.
   */
  stopAtImageEnd?: boolean
}

/** Largest p2m frame list read into memory (a 16 TiB PV guest needs 32 MiB). */
export const MAX_P2M_FRAME_BYTES = 64 << 20

export async function* walkLegacy(reader: ByteReader, opts: WalkOptions = {}): AsyncGenerator<LegacyEvent> {
  const w = new Walk(reader, opts)
  yield* w.run()
}

class Walk {
  private width: ToolstackWidth = 64
  private ulongSize: 4 | 8 = 8
  private guest: Guest = 'pv'
  private p2mSize = 0
  private chunkIndex = 0
  private ext?: ExtendedInfoEvent
  private online: number[] | undefined

  constructor(private readonly r: ByteReader, private readonly opts: WalkOptions) {}

  async *run(): AsyncGenerator<LegacyEvent> {
    const r = this.r
    if (await hasXlHeader(r)) {
      const header = await readXlHeader(r)
      if (header.streamV2) {
        throw new FormatError('already-v2', 'the xl header says a v2 stream follows (STREAMv2 flag); use `xst verify`', {offset: header.offset, context: 'xl header'})
      }
      yield {kind: 'xl-header', offset: header.offset, header}
    } else if (this.opts.xlHeader) {
      throw new FormatError('no-xl-header', 'an xl header was expected (-x) but the image does not start with one', {offset: r.offset})
    }

    const imageOffset = r.offset
    const det = await detectLegacy(r, {width: this.opts.width, guest: this.opts.guest})
    this.width = det.width
    this.ulongSize = det.width === 64 ? 8 : 4
    this.guest = det.guest
    const p2m = await this.ulong('p2m_size')
    if (p2m > 0xffffffffn) {
      throw new FormatError('bad-p2m-size', 'p2m_size is too large for a legacy image', {offset: imageOffset}, 'below 2^32', p2m.toString())
    }
    if (p2m === 0n) {
      // No pfn can be below it: no memory, no p2m frame to list (the 4.5 restorer cannot restore it either).
      throw new FormatError('bad-p2m-size', 'p2m_size is 0: the image describes a guest without memory', {offset: imageOffset}, 'at least 1', '0')
    }
    this.p2mSize = Number(p2m)
    yield {kind: 'image', offset: imageOffset, toolstackWidth: det.width, guest: det.guest, widthFrom: det.widthFrom, guestFrom: det.guestFrom, p2mSize: this.p2mSize}
    for (const w of det.warnings) yield {kind: 'warning', offset: imageOffset, code: w.code, message: w.message}

    if (this.guest === 'pv') {
      const {ext, warnings} = await this.extendedInfo()
      this.ext = ext
      yield ext
      yield* warnings
      yield await this.p2mFrames(ext.guestWidth)
    }

    yield* this.chunks()

    if (this.guest === 'pv') yield* this.pvTail()
    else yield* this.hvmTail()

    const trailingAt = r.offset
    if (!this.opts.stopAtImageEnd && (r.seekable || !this.opts.stopAtEnd)) {
      const trailing = await r.skipToEnd()
      if (trailing > 0) yield {kind: 'trailing', offset: trailingAt, length: trailing}
    }
    yield {kind: 'done', offset: r.offset}
  }

  // ---- small readers -------------------------------------------------------

  private async ulong(what: string): Promise<bigint> {
    const b = await this.r.read(this.ulongSize, what)
    return this.ulongSize === 8 ? b.readBigUInt64LE(0) : BigInt(b.readUInt32LE(0))
  }

  private async u32(what: string): Promise<number> {
    return (await this.r.read(4, what)).readUInt32LE(0)
  }

  private async i32(what: string): Promise<number> {
    return (await this.r.read(4, what)).readInt32LE(0)
  }

  private chunkWhere(offset: number, name?: string) {
    return {offset, index: this.chunkIndex, indexKind: 'chunk', context: name}
  }

  // ---- PV header -----------------------------------------------------------

  private async extendedInfo(): Promise<{ext: ExtendedInfoEvent; warnings: WarningEvent[]}> {
    const r = this.r
    const offset = r.offset
    const marker = await this.ulong('extended-info marker')
    const allOnes = this.ulongSize === 8 ? 0xffffffffffffffffn : 0xffffffffn
    if (marker !== allOnes) {
      throw new FormatError('no-extended-info', 'a PV image must have an extended-info block after p2m_size', {offset, context: 'extended info'}, 'marker of all ones', '0x' + marker.toString(16))
    }
    const totalAt = r.offset
    const total = await this.u32('extended-info length')
    r.checkLength(total, 'extended info', MAX_EXTENDED_INFO, 'MAX_EXTENDED_INFO', {offset: totalAt})
    const blocks: ExtendedInfoEvent['blocks'] = []
    const warnings: WarningEvent[] = []
    let vcpuSize: number | undefined
    let extv = false
    let xsaveLength: number | undefined
    let used = 0
    // Blocks come in any order (the 4.5 restorer loops over them by id).
    while (used < total) {
      const at = r.offset
      if (total - used < ExtInfoBlock.size) {
        throw new FormatError('extended-info-length', 'extended-info length ends inside a block header', {offset: at, context: 'extended info'}, `a multiple of whole blocks (${total} bytes)`, `${total - used} stray bytes`)
      }
      const {id, size} = ExtInfoBlock.get(await r.read(ExtInfoBlock.size, 'extended-info block header'))
      used += ExtInfoBlock.size
      if (size > total - used) {
        throw new FormatError('extended-info-length', `extended-info block "${printable(id)}" runs past the extended-info length`, {offset: at, context: 'extended info'}, `at most ${total - used} bytes`, `${size}`)
      }
      blocks.push({id, offset: at, size})
      switch (id) {
        case 'vcpu':
          if (size !== EXT_VCPU_64 && size !== EXT_VCPU_32) {
            throw new FormatError('bad-vcpu-block', 'extended-info vcpu block size gives no known guest', {offset: at, context: 'extended info'}, '0x1430 (64-bit guest) or 0xaf0 (32-bit guest)', '0x' + size.toString(16))
          }
          vcpuSize = size
          await r.skip(size, 'extended-info vcpu block')
          break
        case 'extv':
          // Its presence is the flag; the restorer reads and discards any bytes it carries.
          if (size !== 0) {
            warnings.push({kind: 'warning', offset: at, code: 'extv-block-data', message: `extended-info extv block at byte ${at} carries ${size} bytes; they were ignored, as the Xen 4.5 restorer ignores them`})
            await r.skip(size, 'extended-info extv block')
          }
          extv = true
          break
        case 'xcnt':
          // The restorer reads 4 bytes but counts the whole block as read: any
          // other size leaves it reading the p2m frame list from the wrong place.
          if (size !== 4) {
            throw new FormatError('bad-xcnt-block', 'extended-info xcnt block must hold one u32 (the Xen 4.5 restorer reads 4 bytes whatever its size, and would misread the rest of the image)', {offset: at, context: 'extended info'}, '4', `${size}`)
          }
          xsaveLength = await this.u32('extended-info xcnt block')
          break
        default:
          warnings.push({
            kind: 'warning',
            offset: at,
            code: 'unknown-extended-info-block',
            message: `unknown extended-info block "${printable(id)}" (${size} bytes) at byte ${at} was skipped, as the Xen 4.5 restorer skips it`,
          })
          await r.skip(size, 'extended-info block')
      }
      used += size
    }
    if (vcpuSize === undefined) {
      throw new FormatError('no-vcpu-block', 'extended info has no vcpu block, so the guest width is unknown', {offset, context: 'extended info'})
    }
    const is64 = vcpuSize === EXT_VCPU_64
    const ext: ExtendedInfoEvent = {
      kind: 'extended-info',
      offset,
      totalLength: total,
      blocks,
      guestWidth: is64 ? 8 : 4,
      ptLevels: is64 ? 4 : 3,
      vcpuContextSize: vcpuSize,
      extendedContext: extv,
      xsaveLength,
    }
    return {ext, warnings}
  }

  private async p2mFrames(guestWidth: 4 | 8): Promise<LegacyEvent> {
    const r = this.r
    const offset = r.offset
    const perFrame = PAGE_SIZE / guestWidth
    const count = Math.ceil(this.p2mSize / perFrame)
    const bytes = count * this.ulongSize
    r.checkLength(bytes, 'p2m frame list', MAX_P2M_FRAME_BYTES, 'MAX_P2M_FRAME_BYTES', {offset})
    const raw = await r.read(bytes, 'p2m frame list')
    const frames = new BigUint64Array(count)
    for (let i = 0; i < count; i++) {
      frames[i] = this.ulongSize === 8 ? raw.readBigUInt64LE(i * 8) : BigInt(raw.readUInt32LE(i * 4))
    }
    return {kind: 'p2m-frames', offset, frames}
  }

  // ---- chunks --------------------------------------------------------------

  private async *chunks(): AsyncGenerator<LegacyEvent> {
    const r = this.r
    for (;; this.chunkIndex++) {
      const offset = r.offset
      const type = await this.i32('chunk type')
      if (type === Chunk.END) {
        yield {kind: 'end-of-body', offset, index: this.chunkIndex}
        return
      }
      if (type > 0) {
        yield* this.pageBatch(offset, type)
        continue
      }
      const name = CHUNK_NAMES[type]
      if (name === undefined) {
        throw new FormatError('unknown-chunk', `unknown chunk type ${type}`, this.chunkWhere(offset), 'a page batch (1..1024), 0, or -1..-20', `${type}`)
      }
      const detail = await this.chunkPayload(type, name, offset)
      yield {kind: 'chunk', offset, index: this.chunkIndex, type, name, size: r.offset - offset, detail}
    }
  }

  private async *pageBatch(offset: number, count: number): AsyncGenerator<LegacyEvent> {
    const r = this.r
    if (count > MAX_BATCH) {
      throw new FormatError('batch-too-large', `page batch of ${count} pages`, this.chunkWhere(offset, 'page batch'), `at most ${MAX_BATCH}`, `${count}`)
    }
    const entriesAt = r.offset
    const raw = await r.read(count * this.ulongSize, 'page batch pfn list')
    const pfns = new Uint32Array(count)
    const types = new Uint8Array(count)
    // Repeats: while the pfns only go up (as savers write them), none can
    // repeat and nothing needs remembering; the first step down starts a
    // map of the types each pfn came with. The same entry twice is an error
    // (Xen's converter compares whole entries); the same pfn with another
    // type is kept, as the 4.5 restorer applies both.
    let seen: Map<number, number> | undefined
    let retyped: {entry: number; pfn: number; count: number} | undefined
    let last = -1
    let kept = 0
    let dataPages = 0
    for (let i = 0; i < count; i++) {
      const at = entriesAt + i * this.ulongSize
      let entry: number
      if (this.ulongSize === 8) {
        if (raw.readUInt32LE(i * 8 + 4) !== 0) {
          throw new FormatError(
            'bad-pfn-entry',
            `page batch entry ${i} has bits above 31 set: the Xen 4.5 restorer keeps them in the pfn, which is then out of range (Xen's converter drops them silently)`,
            this.chunkWhere(at, 'page batch'),
            'a 28-bit pfn and 4-bit type',
            '0x' + raw.readBigUInt64LE(i * 8).toString(16),
          )
        }
        entry = raw.readUInt32LE(i * 8)
      } else {
        entry = raw.readUInt32LE(i * 4)
      }
      if (entry === PFINFO_UNMAPPED) continue
      const type = entry >>> PFINFO_TYPE_SHIFT
      const pfn = entry & PFINFO_PFN_MASK
      if (!isValidPageType(type)) {
        throw new FormatError('bad-page-type', `page batch entry ${i} (pfn 0x${pfn.toString(16)}) has an undefined page type`, this.chunkWhere(at, 'page batch'), 'a type of 0-4 or 9-15', `${type}`)
      }
      if (pfn >= this.p2mSize) {
        throw new FormatError(
          'pfn-out-of-range',
          `page batch entry ${i} names pfn 0x${pfn.toString(16)}, beyond the guest's p2m_size (the Xen 4.5 restorer refuses it: pfn out of range)`,
          this.chunkWhere(at, 'page batch'),
          `a pfn below 0x${this.p2mSize.toString(16)}`,
          `0x${pfn.toString(16)}`,
        )
      }
      if (pfn <= last && !seen) {
        seen = new Map()
        for (let k = 0; k < kept; k++) seen.set(pfns[k], (seen.get(pfns[k]) ?? 0) | (1 << types[k]))
      }
      if (seen) {
        const typesSeen = seen.get(pfn) ?? 0
        if (typesSeen & (1 << type)) {
          throw new FormatError('duplicate-pfn', `pfn 0x${pfn.toString(16)} appears twice in one page batch (entry ${i}), with the same type`, this.chunkWhere(at, 'page batch'), 'each entry once per batch', 'a duplicate')
        }
        if (typesSeen !== 0) {
          if (retyped) retyped.count++
          else retyped = {entry: i, pfn, count: 1}
        }
        seen.set(pfn, typesSeen | (1 << type))
      }
      last = pfn
      pfns[kept] = pfn
      types[kept] = type
      kept++
      if (pageTypeHasData(type)) dataPages++
    }
    if (retyped) {
      const more = retyped.count > 1 ? ` (and ${retyped.count - 1} more)` : ''
      yield {
        kind: 'warning',
        offset: entriesAt + retyped.entry * this.ulongSize,
        code: 'pfn-retyped-in-batch',
        message: `page batch at byte ${offset} (chunk ${this.chunkIndex}) sends pfn 0x${retyped.pfn.toString(16)} again with another page type (entry ${retyped.entry})${more}; both entries were kept, as the Xen 4.5 restorer applies both`,
      }
    }
    const dataAt = r.offset
    const dataLength = dataPages * PAGE_SIZE
    const data = new Payload(r, dataAt, dataLength, 'page data', dataLength)
    yield {
      kind: 'page-batch',
      offset,
      index: this.chunkIndex,
      count,
      pfns: pfns.subarray(0, kept),
      types: types.subarray(0, kept),
      dropped: count - kept,
      dataPages,
      data,
    }
    await data.finish()
  }

  private async chunkPayload(type: number, name: string, offset: number): Promise<ChunkDetail> {
    const r = this.r
    const param = HVM_PARAM_CHUNKS[type]
    if (param !== undefined) {
      if (this.guest === 'pv') {
        throw new FormatError('hvm-chunk-in-pv', `HVM chunk ${name} in a PV image`, this.chunkWhere(offset, name), 'no HVM parameter chunks in a PV image', name)
      }
      const {value} = HvmParamChunk.get(await r.read(HvmParamChunk.size, name))
      return {chunk: 'hvm_param', param, value}
    }
    switch (type) {
      case Chunk.ENABLE_VERIFY_MODE:
        return {chunk: 'enable_verify_mode'}
      case Chunk.LAST_CHECKPOINT:
        return {chunk: 'last_checkpoint'}
      case Chunk.ENABLE_COMPRESSION:
        return {chunk: 'enable_compression'}
      case Chunk.VCPU_INFO: {
        const maxAt = r.offset
        const maxId = await this.i32('vcpu_info max id')
        if (maxId < 0 || maxId > MAX_VCPU_ID) {
          throw new FormatError('bad-vcpu-info', 'vcpu_info max vcpu id out of range', {offset: maxAt, index: this.chunkIndex, indexKind: 'chunk', context: name}, `0..${MAX_VCPU_ID}`, `${maxId}`)
        }
        const words = Math.floor(maxId / 64) + 1
        const map = await r.read(words * 8, 'vcpu_info bitmap')
        const online: number[] = []
        for (let id = 0; id <= maxId; id++) {
          if (map[id >> 3] & (1 << (id & 7))) online.push(id)
        }
        this.online = online
        return {chunk: 'vcpu_info', maxVcpuId: maxId, online}
      }
      case Chunk.TSC_INFO: {
        const t = TscInfoChunk.get(await r.read(TscInfoChunk.size, name))
        return {chunk: 'tsc_info', mode: t.mode, nsec: t.nsec, khz: t.khz, incarnation: t.incarnation}
      }
      case Chunk.TOOLSTACK: {
        const lenAt = r.offset
        const length = await this.u32('toolstack length')
        r.checkLength(length, 'toolstack chunk', MAX_TOOLSTACK, 'MAX_TOOLSTACK', {offset: lenAt, index: this.chunkIndex, indexKind: 'chunk'})
        return {chunk: 'toolstack', length, data: await r.read(length, 'toolstack chunk')}
      }
      case Chunk.COMPRESSED_DATA: {
        const lenAt = r.offset
        const size = await this.ulong('compressed_data length')
        if (size > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new FormatError('length-too-large', 'compressed_data length is not a usable number', {offset: lenAt, index: this.chunkIndex, indexKind: 'chunk', context: name})
        }
        await r.skip(Number(size), 'compressed_data')
        return {chunk: 'compressed_data', length: Number(size)}
      }
      case Chunk.TMEM:
        return this.tmem()
      case Chunk.TMEM_EXTRA: {
        let entries = 0
        for (;;) {
          const poolId = await this.u32('tmem_extra pool id')
          if (poolId === 0xffffffff) break
          await r.skip(28, 'tmem_extra entry')
          entries++
        }
        return {chunk: 'tmem_extra', entries}
      }
    }
    throw new Error(`internal: chunk ${type} has a name but no reader`)
  }

  /** Walk tmem pools: the layout is knowable, the contents are not convertible. */
  private async tmem(): Promise<ChunkDetail> {
    const r = this.r
    const h = TmemHeader.get(await r.read(TmemHeader.size, 'tmem header'))
    let pools = 0
    let pages = 0
    let pageBytes = 0
    for (;;) {
      const poolId = await this.u32('tmem pool id')
      if (poolId === 0xffffffff) break
      const pool = TmemPoolHeader.get(await r.read(TmemPoolHeader.size, 'tmem pool header'))
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

  // ---- tails ---------------------------------------------------------------

  private async *pvTail(): AsyncGenerator<LegacyEvent> {
    const r = this.r
    const ext = this.ext!
    const unmappedAt = r.offset
    const n = await this.u32('unmapped pfn count')
    await r.skip(n * this.ulongSize, 'unmapped pfn list')
    yield {kind: 'unmapped-pfns', offset: unmappedAt, count: n}

    let online = this.online
    if (online === undefined) {
      online = [0]
      yield {
        kind: 'warning',
        offset: unmappedAt,
        code: 'no-vcpu-info',
        message: 'PV image has no vcpu_info chunk; taking vcpu 0 as the only online vcpu, as the Xen 4.5 restorer did',
      }
    }
    for (const vcpu of online) {
      let at = r.offset
      yield {kind: 'vcpu-context', offset: at, vcpu, part: 'basic', data: await r.read(ext.vcpuContextSize, `vcpu ${vcpu} basic context`)}
      if (ext.extendedContext) {
        at = r.offset
        yield {kind: 'vcpu-context', offset: at, vcpu, part: 'extended', data: await r.read(EXTENDED_VCPU_CONTEXT_SIZE, `vcpu ${vcpu} extended context`)}
      }
      if (ext.xsaveLength !== undefined) {
        at = r.offset
        const h = XsaveHeader.get(await r.read(XsaveHeader.size, `vcpu ${vcpu} xsave header`))
        const max = Math.max(0, ext.xsaveLength - XsaveHeader.size)
        if (h.size > BigInt(max)) {
          throw new FormatError('bad-xsave-size', `vcpu ${vcpu} xsave area is larger than the xcnt block allows`, {offset: at + 8, context: 'xsave'}, `at most ${max}`, h.size.toString())
        }
        const size = Number(h.size)
        r.checkLength(size, `vcpu ${vcpu} xsave area`, MAX_XSAVE_SIZE, 'MAX_XSAVE_SIZE', {offset: at + 8})
        yield {kind: 'vcpu-context', offset: at, vcpu, part: 'xsave', xfeatureMask: h.xfeatureMask, data: await r.read(size, `vcpu ${vcpu} xsave area`)}
      }
    }
    const shinfoAt = r.offset
    yield {kind: 'shared-info', offset: shinfoAt, data: await r.read(PAGE_SIZE, 'shared info page')}
  }

  private async *hvmTail(): AsyncGenerator<LegacyEvent> {
    const r = this.r
    const pfnsAt = r.offset
    const m = HvmMagicPfns.get(await r.read(HvmMagicPfns.size, 'HVM magic pfns'))
    yield {kind: 'hvm-magic-pfns', offset: pfnsAt, ioreq: m.ioreq, bufioreq: m.bufioreq, store: m.store}

    const ctxAt = r.offset
    const len = await this.u32('HVM context length')
    r.checkLength(len, 'HVM context', MAX_HVM_CONTEXT, 'MAX_HVM_CONTEXT', {offset: ctxAt})
    const ctx = new Payload(r, r.offset, len, 'HVM context', MAX_HVM_CONTEXT)
    yield {kind: 'hvm-context', offset: ctxAt, length: len, data: ctx}
    await ctx.finish()

    const qemuAt = r.offset
    if (this.opts.skipQemu) {
      yield {kind: 'no-qemu-record', offset: qemuAt, reason: 'skipped'}
      return
    }
    const q = await readQemuRecordHeader(r, this.opts.qemuRecords ?? BARE_LEGACY_QEMU_RECORDS)
    if (!q) {
      yield {kind: 'no-qemu-record', offset: qemuAt, reason: 'eof'}
      return
    }
    const data = new Payload(r, q.dataOffset, q.length, 'qemu record', MAX_QEMU_IN_MEMORY)
    yield {kind: 'qemu-record', offset: qemuAt, signature: q.variant.signature, length: q.length, header: q.header, data}
    await data.finish()
  }
}

/** Show odd bytes of an id or signature as escapes. */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'))
}

