// The legacy walker: reads a Xen <= 4.5 save image (an optional xl header,
// p2m_size, for PV the extended info and p2m frame list, the body's chunks,
// then the PV or HVM tail) and yields typed events in stream order.
// inspect-legacy runs on it, and the record plan (src/plan/plan.ts) that
// convert and dump-core read. Large spans (page contents, HVM context, qemu
// state) are handed out as Payloads the consumer may read; whatever it
// leaves is skipped (seeked over, on a file).
import {FormatError, TruncatedError} from '../errors.js'
import {i32le, type Token, u32le, ulong} from '../format/layout.js'
import {EXTENDED_VCPU_CONTEXT_SIZE, PAGE_SIZE} from '../format/x86.js'
import type {ByteReader} from '../io/reader.js'
import {hex} from '../text.js'
import {hasXlHeader, readXlHeader} from '../xl/header.js'
import {chunkKind} from './chunks.js'
import {detectLegacy} from './detect.js'
import type {ExtendedInfoEvent, Guest, LegacyEvent, ToolstackWidth} from './events.js'
import {readExtendedInfo} from './extended-info.js'
import {Chunk, HvmMagicPfns, MAX_BATCH, MAX_HVM_CONTEXT, MAX_QEMU_IN_MEMORY, MAX_XSAVE_SIZE, MIN_CHUNK_ID, PFINFO_PFN_MASK, PFINFO_TYPE_SHIFT, PFINFO_UNMAPPED, XsaveHeader} from './layout.js'
import {BARE_LEGACY_QEMU_RECORDS, type QemuRecordVariant, readQemuRecordHeader} from './qemu-record.js'
import {HAS_DATA, PAGE_TYPE_FLAGS, scanAscending, scanRun, Slab} from './batch-scan.js'
import {HeldPayload, Payload} from '../io/payload.js'
import {CompressedPages} from './compressed-checkpoint.js'
import {PfnSet} from './pfn-set.js'
import {wordsFromLE} from '../io/words.js'

export interface WalkOptions {
  /** Toolstack width, when the caller knows better than detection. */
  width?: ToolstackWidth
  /** Guest type, when the caller knows better than detection. */
  guest?: Guest
  /** The command has --width and --guest: an image no layout fits is answered with advice to give them. */
  layoutFlags?: boolean
  /** The HVM tail has no qemu record (XenServer's --skip-qemu). */
  skipQemu?: boolean
  /**
   * The consumer is done with a page-batch event's pfns and types before it
   * asks for the next event, so their memory is reused: a 64 GiB image's
   * batches otherwise leave ~80 MB of arrays per pass for the collector.
   */
  transientBatches?: boolean
  /** Expect an xl header (-x): absence is then an error. Without it, one is detected. */
  xlHeader?: boolean
  /**
   * On a stream (pipe, socket), stop at the end of the image instead of
   * reading on to count trailing bytes: a toolstack may keep the descriptor
   * open after the image, and the migration protocol goes on on it.
   */
  stopAtEnd?: boolean
  /**
   * With stopAtEnd on a stream: read on after an image without a
   * last_checkpoint chunk, which a Remus saver follows with its next
   * checkpoint (every other 4.5 save ends with that chunk).
   */
  checkpointsOnStream?: boolean
  /**
   * The framings of the device-model (qemu) record after the HVM tail that
   * the container around the stream writes (src/legacy/qemu-record.ts);
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
  /** The saving toolstack's `unsigned long`. */
  private word: Token<bigint> = ulong(8)
  private guest: Guest = 'pv'
  private p2mSize = 0
  private chunkIndex = 0
  private ext?: ExtendedInfoEvent
  private online: number[] | undefined
  /** The page batch pfn list being checked (reused from batch to batch). */
  private pfnWords: Uint32Array | undefined
  /**
   * Where each batch's pfns and types are kept: with transientBatches, one
   * batch's worth, reused (a walk of a big image then leaves no 1 MiB
   * blocks behind for the GC: dump-core walks an image once per window).
   */
  private readonly slab: Slab
  /** The checkpoint being read: 1 is the image itself; a Remus stream repeats body and tail (FORMAT.md §7). */
  private checkpoint = 1
  /** A last_checkpoint chunk was read: the checkpoint being read is the last one. */
  private lastCheckpoint = false
  /** enable_compression was read in the first checkpoint: every later one comes compressed. */
  private compressionEnabled = false
  /** The pages a compressed checkpoint's batches listed, waiting for their data; set while one is read. */
  private compressed: CompressedPages | undefined
  /** Every pfn sent with contents so far: what a compressed page may be encoded against. */
  private readonly sent = new PfnSet()

  constructor(
    private readonly r: ByteReader,
    private readonly opts: WalkOptions,
  ) {
    this.slab = new Slab(opts.transientBatches ? MAX_BATCH * 5 + 8 : undefined)
  }

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
    const det = await detectLegacy(r, {width: this.opts.width, guest: this.opts.guest, flagsOffered: this.opts.layoutFlags})
    this.word = ulong(det.width === 64 ? 8 : 4)
    this.guest = det.guest
    const p2m = await r.readLayout(this.word, 'p2m_size')
    if (p2m > 0xffffffffn) {
      throw new FormatError('bad-p2m-size', 'p2m_size is too large for a legacy image', {offset: imageOffset, expected: 'below 2^32', got: p2m.toString()})
    }
    if (p2m === 0n) {
      // No pfn can be below it: no memory, no p2m frame to list (the 4.5 restorer cannot restore it either).
      throw new FormatError('bad-p2m-size', 'p2m_size is 0: the image describes a guest without memory', {offset: imageOffset, expected: 'at least 1', got: '0'})
    }
    this.p2mSize = Number(p2m)
    yield {kind: 'image', offset: imageOffset, toolstackWidth: det.width, guest: det.guest, widthFrom: det.widthFrom, guestFrom: det.guestFrom, p2mSize: this.p2mSize}
    for (const w of det.warnings) yield {kind: 'warning', offset: imageOffset, code: w.code, message: w.message}

    if (this.guest === 'pv') {
      const {ext, warnings} = await readExtendedInfo(r, this.word)
      this.ext = ext
      yield ext
      yield* warnings
      yield await this.p2mFrames(ext.guestWidth)
    }

    yield* this.chunks()
    yield* this.tail()
    yield* this.laterCheckpoints()

    const trailingAt = r.offset
    if (!this.opts.stopAtImageEnd && (r.seekable || !this.opts.stopAtEnd)) {
      const trailing = await r.skipToEnd()
      if (trailing > 0) yield {kind: 'trailing', offset: trailingAt, length: trailing}
    }
    yield {kind: 'done', offset: r.offset}
  }

  private async *tail(): AsyncGenerator<LegacyEvent> {
    if (this.guest === 'pv') yield* this.pvTail()
    else yield* this.hvmTail()
  }

  /**
   * The checkpoints after the image, in a Remus stream: each repeats the
   * body (the pages dirtied since, compressed when the first checkpoint
   * enabled it) and the whole tail. A stream without last_checkpoint may
   * go on (xc_domain_restore.c reads on until one is cut short, and fails
   * over from the last complete one); a plain save always ends with that
   * chunk. One cut inside a checkpoint ends the stream with a
   * checkpoint-cut event: whatever the events since its start said is not
   * part of a complete state. Inside the later checkpoints every span is
   * read before its event (they are small: the pages dirtied in one
   * interval), so that a cut is found here, not by the consumer.
   */
  private async *laterCheckpoints(): AsyncGenerator<LegacyEvent> {
    const r = this.r
    // A stream the caller ends at the image (a container's, or a toolstack's descriptor) has no checkpoints to read.
    if (this.opts.stopAtImageEnd || (!r.seekable && this.opts.stopAtEnd && !this.opts.checkpointsOnStream)) return
    while (!this.lastCheckpoint) {
      const start = r.offset
      const head = await r.peek(4)
      if (head.length === 0) return
      // After a single image, only what starts like a checkpoint is one (else: trailing bytes, as before).
      if (this.checkpoint === 1 && (head.length < 4 || !startsBody(head.readInt32LE(0)))) return
      this.checkpoint++
      this.compressed = this.compressionEnabled ? new CompressedPages(this.sent) : undefined
      yield {kind: 'checkpoint', offset: start, index: this.checkpoint}
      try {
        yield* this.chunks()
        yield* this.tail()
      } catch (err) {
        if (!(err instanceof TruncatedError)) throw err
        yield {
          kind: 'checkpoint-cut',
          offset: err.offset,
          index: this.checkpoint,
          start,
          message: `${err.message}, inside checkpoint ${this.checkpoint} (from byte ${start}); the receiver fails over from checkpoint ${this.checkpoint - 1}, which ends at byte ${start}`,
        }
        return
      }
    }
  }

  /** A span of a later checkpoint: read now (a cut is the walker's to find), and handed out from memory. */
  private async held(offset: number, length: number, what: string, max: number): Promise<Payload> {
    this.r.checkLength(length, what, max, 'bound', {offset})
    return new HeldPayload(await this.r.read(length, what), offset, what)
  }

  /** Where in the image, for an error in the chunk being read. */
  private chunkWhere(offset: number, name?: string) {
    return {offset, index: this.chunkIndex, indexKind: 'chunk', context: name}
  }

  // ---- PV header -----------------------------------------------------------

  private async p2mFrames(guestWidth: 4 | 8): Promise<LegacyEvent> {
    const r = this.r
    const offset = r.offset
    const perFrame = PAGE_SIZE / guestWidth
    const count = Math.ceil(this.p2mSize / perFrame)
    const bytes = count * this.word.size
    r.checkLength(bytes, 'p2m frame list', MAX_P2M_FRAME_BYTES, 'MAX_P2M_FRAME_BYTES', {offset})
    const raw = await r.read(bytes, 'p2m frame list')
    const frames = new BigUint64Array(count)
    for (let i = 0; i < count; i++) frames[i] = this.word.get(raw, i * this.word.size)
    return {kind: 'p2m-frames', offset, frames}
  }

  // ---- chunks --------------------------------------------------------------

  private async *chunks(): AsyncGenerator<LegacyEvent> {
    const r = this.r
    for (; ; this.chunkIndex++) {
      const offset = r.offset
      const type = await this.r.readLayout(i32le, 'chunk type')
      if (type === Chunk.END) {
        if (this.compressed) {
          const unused = this.compressed.finish(offset)
          if (unused) {
            yield {
              kind: 'warning',
              offset,
              code: 'compressed-data-unused',
              message: `checkpoint ${this.checkpoint}'s compressed data holds ${unused} bytes after its last page's encoding; the restorer never reads them`,
            }
          }
        }
        yield {kind: 'end-of-body', offset, index: this.chunkIndex}
        return
      }
      if (type > 0) {
        yield* this.pageBatch(offset, type)
        continue
      }
      const kind = chunkKind(type)
      if (kind === undefined) {
        throw new FormatError('unknown-chunk', `unknown chunk type ${type}`, {...this.chunkWhere(offset), expected: `a page batch (1..${MAX_BATCH}), 0, or -1..${MIN_CHUNK_ID}`, got: `${type}`})
      }
      const detail = await kind.read({r, word: this.word, guest: this.guest, kind, offset, index: this.chunkIndex})
      if (detail.chunk === 'vcpu_info') this.online = detail.online
      yield {kind: 'chunk', offset, index: this.chunkIndex, type, name: kind.name, size: r.offset - offset, detail}
      if (detail.chunk === 'last_checkpoint') this.lastCheckpoint = true
      else if (detail.chunk === 'enable_compression') {
        // The restorer switches to compressed pages once the first checkpoint is in; it never looks again.
        if (this.checkpoint === 1) this.compressionEnabled = true
        else {
          yield {
            kind: 'warning',
            offset,
            code: 'late-enable-compression',
            message: `enable_compression in checkpoint ${this.checkpoint}: the 4.5 restorer heeds it only in the first checkpoint, so it changes nothing here`,
          }
        }
      } else if (detail.chunk === 'compressed_data') {
        if (!this.compressed) {
          throw new FormatError(
            'compressed-data-unexpected',
            this.compressionEnabled || this.checkpoint > 1
              ? `compressed_data in checkpoint ${this.checkpoint}, whose pages are not compressed${this.checkpoint === 1 ? ' (compression starts with the second checkpoint)' : ''}: the restorer would take it for page contents`
              : 'compressed_data in a stream that never enabled compression (no enable_compression chunk in its first checkpoint): the restorer would take it for page contents',
            {...this.chunkWhere(offset, kind.name), expected: 'page contents inline, after each batch', got: 'compressed_data'},
          )
        }
        const pages = this.compressed.take(detail.data, r.offset - detail.length, offset, this.checkpoint)
        if (pages) yield pages
      }
    }
  }

  private async *pageBatch(offset: number, count: number): AsyncGenerator<LegacyEvent> {
    const r = this.r
    if (count > MAX_BATCH) {
      throw new FormatError('batch-too-large', `page batch of ${count} pages`, {...this.chunkWhere(offset, 'page batch'), expected: `at most ${MAX_BATCH}`, got: `${count}`})
    }
    const entriesAt = r.offset
    // The pfn list, read exactly (nothing of the page data after it) into
    // 32-bit words: a 64-bit entry is two words, low then high.
    const words = (this.pfnWords ??= new Uint32Array(MAX_BATCH * 2))
    await r.readInto(new Uint8Array(words.buffer, 0, count * this.word.size), 0, count * this.word.size, 'page batch pfn list')
    wordsFromLE(words, (count * this.word.size) / 4)
    const step = this.word.size / 4
    if (this.opts.transientBatches) this.slab.reset()
    const pfns = this.slab.u32(count)
    const types = this.slab.u8(count)
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
    const p2mSize = this.p2mSize
    // The batch as savers write it takes the fast path; any other (and
    // every defect) goes through the loop below, which says what it is.
    const fast = scanRun(words, step, count, p2mSize, pfns, types) ?? scanAscending(words, step, count, p2mSize, pfns, types)
    if (fast) {
      kept = fast.kept
      dataPages = fast.dataPages
    }
    for (let i = fast ? count : 0; i < count; i++) {
      const at = entriesAt + i * this.word.size
      const entry = words[i * step]
      if (step === 2 && words[i * 2 + 1] !== 0) {
        throw new FormatError(
          'bad-pfn-entry',
          `page batch entry ${i} has bits above 31 set: the Xen 4.5 restorer keeps them in the pfn, which is then out of range (Xen's converter drops them silently)`,
          {...this.chunkWhere(at, 'page batch'), expected: 'a 28-bit pfn and 4-bit type', got: hex((BigInt(words[i * 2 + 1]) << 32n) | BigInt(entry))},
        )
      }
      if (entry === PFINFO_UNMAPPED) continue
      const type = entry >>> PFINFO_TYPE_SHIFT
      const pfn = entry & PFINFO_PFN_MASK
      const flags = PAGE_TYPE_FLAGS[type]
      if (flags === 0) {
        throw new FormatError('bad-page-type', `page batch entry ${i} (pfn ${hex(pfn)}) has an undefined page type`, {
          ...this.chunkWhere(at, 'page batch'),
          expected: 'a type of 0-4 or 9-15',
          got: `${type}`,
        })
      }
      if (pfn >= p2mSize) {
        throw new FormatError('pfn-out-of-range', `page batch entry ${i} names pfn ${hex(pfn)}, beyond the guest's p2m_size (the Xen 4.5 restorer refuses it: pfn out of range)`, {
          ...this.chunkWhere(at, 'page batch'),
          expected: `a pfn below ${hex(this.p2mSize)}`,
          got: hex(pfn),
        })
      }
      if (pfn <= last && !seen) {
        seen = new Map()
        for (let k = 0; k < kept; k++) seen.set(pfns[k], (seen.get(pfns[k]) ?? 0) | (1 << types[k]))
      }
      if (seen) {
        const typesSeen = seen.get(pfn) ?? 0
        if (typesSeen & (1 << type)) {
          throw new FormatError('duplicate-pfn', `pfn ${hex(pfn)} appears twice in one page batch (entry ${i}), with the same type`, {
            ...this.chunkWhere(at, 'page batch'),
            expected: 'each entry once per batch',
            got: 'a duplicate',
          })
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
      if (flags & HAS_DATA) dataPages++
    }
    if (retyped) {
      const more = retyped.count > 1 ? ` (and ${retyped.count - 1} more)` : ''
      yield {
        kind: 'warning',
        offset: entriesAt + retyped.entry * this.word.size,
        code: 'pfn-retyped-in-batch',
        message: `page batch at byte ${offset} (chunk ${this.chunkIndex}) sends pfn ${hex(retyped.pfn)} again with another page type (entry ${retyped.entry})${more}; both entries were kept, as the Xen 4.5 restorer applies both`,
      }
    }
    const batchPfns = kept === count ? pfns : pfns.subarray(0, kept)
    const batchTypes = kept === count ? types : types.subarray(0, kept)
    // Which pfns the receiver now holds contents of (a compressed page is decoded against one).
    const compressed = this.compressed
    for (let i = 0; i < kept; i++) {
      if (!(PAGE_TYPE_FLAGS[batchTypes[i]] & HAS_DATA)) continue
      if (compressed) compressed.list(batchPfns[i], batchTypes[i], offset)
      else this.sent.add(batchPfns[i])
    }
    const dataAt = r.offset
    // A compressed checkpoint's batches are pfn lists only; its pages come in compressed_data chunks.
    const dataLength = compressed ? 0 : dataPages * PAGE_SIZE
    const data = this.checkpoint > 1 ? await this.held(dataAt, dataLength, 'page data', MAX_BATCH * PAGE_SIZE) : new Payload(r, dataAt, dataLength, 'page data', dataLength)
    yield {
      kind: 'page-batch',
      offset,
      index: this.chunkIndex,
      count,
      pfns: batchPfns,
      types: batchTypes,
      dropped: count - kept,
      dataPages,
      data,
      compressed: compressed !== undefined,
      checkpoint: this.checkpoint,
    }
    await data.finish()
    // Most often another batch follows: its type and pfn list in one read (on a file, when not converting).
    const next = r.prefetch(4 + MAX_BATCH * this.word.size)
    if (next) await next
  }

  // ---- tails ---------------------------------------------------------------

  private async *pvTail(): AsyncGenerator<LegacyEvent> {
    const r = this.r
    const ext = this.ext!
    const unmappedAt = r.offset
    const n = await this.r.readLayout(u32le, 'unmapped pfn count')
    await r.skip(n * this.word.size, 'unmapped pfn list')
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
        const h = await r.readLayout(XsaveHeader, `vcpu ${vcpu} xsave header`)
        const max = Math.max(0, ext.xsaveLength - XsaveHeader.size)
        if (h.size > BigInt(max)) {
          throw new FormatError('bad-xsave-size', `vcpu ${vcpu} xsave area is larger than the xcnt block allows`, {
            offset: at + 8,
            context: 'xsave',
            expected: `at most ${max}`,
            got: h.size.toString(),
          })
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
    const m = await r.readLayout(HvmMagicPfns, 'HVM magic pfns')
    yield {kind: 'hvm-magic-pfns', offset: pfnsAt, ioreq: m.ioreq, bufioreq: m.bufioreq, store: m.store}

    const ctxAt = r.offset
    const len = await this.r.readLayout(u32le, 'HVM context length')
    r.checkLength(len, 'HVM context', MAX_HVM_CONTEXT, 'MAX_HVM_CONTEXT', {offset: ctxAt})
    const ctx = this.checkpoint > 1 ? await this.held(r.offset, len, 'HVM context', MAX_HVM_CONTEXT) : new Payload(r, r.offset, len, 'HVM context', MAX_HVM_CONTEXT)
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
    const data =
      this.checkpoint > 1 && q.length !== undefined
        ? await this.held(q.dataOffset, q.length, 'qemu record', MAX_QEMU_IN_MEMORY)
        : new Payload(r, q.dataOffset, q.length, 'qemu record', MAX_QEMU_IN_MEMORY)
    yield {kind: 'qemu-record', offset: qemuAt, signature: q.variant.signature, length: q.length, header: q.header, data}
    await data.finish()
  }
}

/** Whether a chunk type can start a body: a page batch, a metadata chunk, or the end of an empty one. */
function startsBody(type: number): boolean {
  return (type >= 0 && type <= MAX_BATCH) || chunkKind(type) !== undefined
}
