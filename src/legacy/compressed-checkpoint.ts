// The pages of a compressed Remus checkpoint (FORMAT.md §7), as the 4.5
// restorer takes them: the checkpoint's page batches list pfns only; the
// compressed_data chunks that follow (one or more) are joined into one
// buffer, which holds, in the order the batches listed them, one encoding
// per page that has contents (xc_domain_restore.c: pagebuf_get_one() reads
// the lists and the buffer, apply_batch() decodes page after page with
// xc_compression_uncompress_page()). The walker feeds each list and chunk
// in here and gets back the pages whose encodings are complete, checked by
// what the restorer refuses: an encoding that does not decode, a page
// listed with no encoding left for it, and (what no saver writes: it sends
// a page it never sent before whole) a page encoded against a copy the
// receiver does not have.
import {FormatError} from '../errors.js'
import {hex} from '../text.js'
import {CompressedPageError, measureCompressedPage} from './compression.js'
import type {CompressedPagesEvent} from './events.js'
import type {PfnSet} from './pfn-set.js'

/** Pages listed in one compressed checkpoint and not yet matched with their encodings (16 GiB of dirtied memory, 36 MiB of lists). */
export const MAX_PENDING_COMPRESSED = 4 << 20

/**
 * Compressed bytes held for pages not listed yet: the saver lists a
 * checkpoint's pages before their compressed data, so what runs ahead is
 * at most one chunk (MAX_COMPRESSED_CHUNK); past this, the data is not
 * waiting for pages, and memory would follow it.
 */
export const MAX_CARRIED_COMPRESSED = 64 << 20

export class CompressedPages {
  private pfns = new Uint32Array(1024)
  private types = new Uint8Array(1024)
  /** Where each listed page's batch starts, for messages. */
  private batchAt = new Float64Array(1024)
  private head = 0
  private tail = 0
  /** Compressed bytes not yet matched with a page (an encoding cut by the end of its chunk), and where they began. */
  private carry: Buffer = Buffer.alloc(0)
  private carryAt = 0

  constructor(
    /** The pfns the receiver holds a copy of: every page with contents sent so far. */
    private readonly sent: PfnSet,
  ) {}

  /** A page of a batch at `batchAt` whose contents come compressed. */
  list(pfn: number, type: number, batchAt: number): void {
    if (this.tail === this.pfns.length) this.grow()
    this.pfns[this.tail] = pfn
    this.types[this.tail] = type
    this.batchAt[this.tail] = batchAt
    this.tail++
  }

  /** The pages listed and not yet matched. */
  get waiting(): number {
    return this.tail - this.head
  }

  /**
   * The bytes of a compressed_data chunk whose data starts at `dataAt`:
   * the pages they complete, or undefined when they complete none.
   */
  take(data: Buffer, dataAt: number, chunkAt: number, checkpoint: number): CompressedPagesEvent | undefined {
    const buf = this.carry.length ? Buffer.concat([this.carry, data]) : data
    const at = (pos: number) => (pos < this.carry.length ? this.carryAt + pos : dataAt + pos - this.carry.length)
    const first = this.head
    const starts: number[] = []
    let pos = 0
    let unchanged = 0
    let whole = 0
    let runs = 0
    while (this.head < this.tail) {
      const pfn = this.pfns[this.head]
      let m: ReturnType<typeof measureCompressedPage>
      try {
        m = measureCompressedPage(buf, pos)
      } catch (err) {
        if (!(err instanceof CompressedPageError)) throw err
        throw this.badPage(this.head, at(err.at), err.message)
      }
      if (!m) break
      if (m.form !== 'whole' && !this.sent.has(pfn)) {
        throw new FormatError(
          'compressed-page-unsent',
          `pfn ${hex(pfn)} of the page batch at byte ${this.batchAt[this.head]} comes ${m.form === 'unchanged' ? 'as unchanged' : 'as runs over its old contents'}, but no earlier checkpoint sent it: the receiver has no copy to decode it against`,
          {offset: at(pos), context: 'compressed_data', expected: 'a page the receiver holds, or one sent whole (0x80)', got: `a page never sent (pfn ${hex(pfn)})`},
        )
      }
      starts.push(pos)
      if (m.form === 'unchanged') unchanged++
      else if (m.form === 'whole') whole++
      else runs++
      this.sent.add(pfn)
      pos = m.end
      this.head++
    }
    // What is left waits for the next chunk (or, with no page left to match, is what the restorer never reads).
    const rest = buf.subarray(pos)
    if (rest.length > MAX_CARRIED_COMPRESSED) {
      throw new FormatError('length-too-large', `${rest.length} bytes of compressed data run ahead of the pages listed for them, more than xst holds (${MAX_CARRIED_COMPRESSED})`, {
        offset: at(pos),
        context: 'compressed_data',
      })
    }
    this.carryAt = at(pos)
    this.carry = rest.length ? Buffer.from(rest) : Buffer.alloc(0)
    const n = this.head - first
    if (n === 0) return undefined
    starts.push(pos)
    const event: CompressedPagesEvent = {
      kind: 'compressed-pages',
      offset: chunkAt,
      checkpoint,
      pfns: this.pfns.slice(first, this.head),
      types: this.types.slice(first, this.head),
      encodings: buf.subarray(0, pos),
      starts: Uint32Array.from(starts),
      unchanged,
      whole,
      runs,
    }
    if (this.head === this.tail) this.head = this.tail = 0
    return event
  }

  /**
   * The checkpoint's end (its 0 chunk at `endAt`): a listed page with no
   * encoding fails the restore; compressed bytes no page took are
   * returned, for a warning (the restorer never reads them).
   */
  finish(endAt: number): number {
    if (this.head < this.tail) {
      const carried = this.carry.length
      // What is carried is the start of an encoding that never finished (take() refused any that cannot).
      const detail = carried ? `the compressed data ends inside its encoding (${carried} bytes of it, from byte ${this.carryAt})` : 'the compressed data ends before its encoding starts'
      const more = this.tail - this.head - 1
      throw this.badPage(this.head, carried ? this.carryAt : endAt, `${detail}${more ? `; ${more} more listed page${more === 1 ? '' : 's'} after it have none either` : ''}`)
    }
    const unused = this.carry.length
    this.carry = Buffer.alloc(0)
    this.head = this.tail = 0
    return unused
  }

  private badPage(i: number, offset: number, message: string): FormatError {
    const pfn = this.pfns[i]
    return new FormatError(
      'bad-compressed-data',
      `compressed page pfn ${hex(pfn)} (listed by the page batch at byte ${this.batchAt[i]}) cannot be decoded: ${message} (the restorer fails: "Failed to uncompress page")`,
      {
        offset,
        context: 'compressed_data',
      },
    )
  }

  private grow(): void {
    if (this.head > 0) {
      // Matched pages leave room at the front.
      this.pfns.copyWithin(0, this.head, this.tail)
      this.types.copyWithin(0, this.head, this.tail)
      this.batchAt.copyWithin(0, this.head, this.tail)
      this.tail -= this.head
      this.head = 0
      if (this.tail < this.pfns.length) return
    }
    if (this.pfns.length >= MAX_PENDING_COMPRESSED) {
      throw new FormatError('length-too-large', `a compressed checkpoint lists more than ${MAX_PENDING_COMPRESSED} pages before their compressed data, more than xst holds`, {
        context: 'compressed checkpoint',
      })
    }
    const size = this.pfns.length * 2
    const pfns = new Uint32Array(size)
    pfns.set(this.pfns)
    const types = new Uint8Array(size)
    types.set(this.types)
    const batchAt = new Float64Array(size)
    batchAt.set(this.batchAt)
    this.pfns = pfns
    this.types = types
    this.batchAt = batchAt
  }
}
