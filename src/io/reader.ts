// The one byte reader every command uses. Pull-based: callers ask for exactly
// the bytes they need; the reader knows the absolute offset at all times and
// turns a short stream into a TruncatedError naming what was being read.
import {FormatError, TruncatedError} from '../errors.js'
import type {ByteSource, TransferFrom} from './source.js'

/** A sink the kernel can move bytes into from a descriptor (see ByteReader.transferTo). */
export interface TransferSink {
  /** Whether the kernel can move bytes from `from` into this sink (see transferFrom). */
  canTransferFrom?(from: TransferFrom): boolean
  /**
   * Move `n` bytes from `from` into the sink, in order after what was
   * written: the count moved, fewer only at the end of the input.
   */
  transferFrom?(from: TransferFrom, n: number): Promise<number>
  write(buf: Uint8Array, release?: () => void): Promise<void>
}

/** Something of a fixed size the reader can decode: a layout, or a token (format/layout.ts). */
export interface Decodable<T> {
  readonly size: number
  get(buf: Buffer, off: number): T
}

/** Size of the read-ahead window used for small reads from a stream. */
const WINDOW = 1 << 20
/** Least bytes read at once from a seekable source (see fill). */
const SMALL_READ = 16
/** Reads at least this large bypass the window and go straight into the caller's buffer. */
const DIRECT_READ = 64 << 10
/** Chunk size used when a skip has to read and discard (pipes). */
const DISCARD_CHUNK = 4 << 20
/**
 * Large buffers kept for reuse (see recycle): one being written while the
 * next batch is read into the other.
 */
const SPARE_BUFFERS = 2

export class ByteReader {
  private window: Buffer = Buffer.allocUnsafe(WINDOW)
  private start = 0 // first unread byte in window
  private end = 0 // one past the last valid byte in window
  private pos = 0 // stream offset of window[start]
  private eof = false
  /** Large buffers handed back by their users, reused by the next large reads. */
  private spares: Buffer[] = []

  constructor(readonly source: ByteSource) {}

  /**
   * Hand back a buffer a large read() returned, once nothing uses it any
   * more (the sink has written it): the next large read fills it again
   * instead of allocating. Reusing a few warm buffers rather than a fresh
   * 4 MiB one per page batch saves the page faults and cache misses of
   * touching new memory, and keeps the resident size flat.
   */
  recycle(buf: Buffer): void {
    if (buf.byteOffset !== 0 || buf.buffer.byteLength < DIRECT_READ || this.spares.length >= SPARE_BUFFERS) return
    this.spares.push(Buffer.from(buf.buffer, 0, buf.buffer.byteLength))
  }

  /** A buffer of exactly `n` bytes for a large read: a recycled one when one is big enough. */
  private bufferFor(n: number): Buffer {
    const i = this.spares.findIndex((b) => b.length >= n)
    if (i < 0) return Buffer.allocUnsafe(n)
    const [b] = this.spares.splice(i, 1)
    return b.length === n ? b : b.subarray(0, n)
  }

  /**
   * Go back (or on) to `offset` of a seekable source, for another pass over
   * it: the window and the spare buffers are kept, so a pass costs no new
   * memory.
   */
  seekTo(offset: number): void {
    if (!this.source.seekable) throw new Error('internal: seekTo on a source that cannot seek')
    this.start = this.end = 0
    this.pos = offset
    this.eof = false
  }

  /** Absolute offset of the next unread byte. */
  get offset(): number {
    return this.pos
  }

  get seekable(): boolean {
    return this.source.seekable
  }

  /** Bytes left in the stream, when the source knows its size. */
  get remaining(): number | undefined {
    return this.source.size === undefined ? undefined : Math.max(0, this.source.size - this.pos)
  }

  private get buffered(): number {
    return this.end - this.start
  }

  /**
   * Fill the window until it holds `n` bytes or the stream ends. Returns a
   * promise only when it has to wait: a source that reads synchronously (a
   * file) is read at once, without a trip through the microtask queue per
   * call (a 64 GiB image is ~50,000 small reads).
   */
  private fill(n: number): Promise<void> | undefined {
    if (n > WINDOW) throw new Error(`internal: window fill of ${n} bytes`)
    if (this.buffered >= n || this.eof) return
    if (this.start > 0 && this.start + n > WINDOW) {
      this.window.copy(this.window, 0, this.start, this.end)
      this.end -= this.start
      this.start = 0
    }
    if (!this.source.readSync) return this.fillAsync(n)
    while (this.buffered < n) {
      const got = this.source.readSync(this.window, this.end, this.readSize(n), this.pos + this.buffered)
      if (got === 0) {
        this.eof = true
        return
      }
      this.end += got
    }
  }

  /** How much fill() asks the source for when the window needs `n` bytes. */
  private readSize(n: number): number {
    const room = WINDOW - this.end
    // A seekable source is read almost exactly: what follows a header is
    // often skipped (page data, on a file), and reading ahead into it would
    // cost more than the extra read calls (a 64 KiB read-ahead read 1 GiB
    // of a 64 GiB image's page data to check its 128 MiB of pfn lists).
    // At least SMALL_READ bytes, though: a v2 record header and a PAGE_DATA
    // header come in one read. An exact stream must leave whatever follows
    // the image unread. Only a pipe or socket fills the window (each read
    // there is a wake-up).
    return this.source.exact ? n - this.buffered : this.source.seekable ? Math.min(room, Math.max(n - this.buffered, SMALL_READ)) : room
  }

  private async fillAsync(n: number): Promise<void> {
    while (this.buffered < n) {
      const got = await this.source.read(this.window, this.end, this.readSize(n), this.pos + this.buffered, n - this.buffered)
      if (got === 0) {
        this.eof = true
        return
      }
      this.end += got
    }
  }

  /**
   * A hint that the next reads will probably take up to `n` bytes from
   * here: on a seekable source whose window is empty, they come in one read
   * now (the next page batch's type and pfn list after a batch's page data
   * was skipped: one read call a batch instead of two). Does nothing
   * elsewhere: an exact source never reads what it was not asked for, and a
   * stream fills its window anyway.
   */
  prefetch(n: number): Promise<void> | undefined {
    if (!this.source.seekable || this.source.exact || this.buffered > 0 || this.eof) return
    const left = this.remaining
    return this.fill(Math.min(n, WINDOW, left ?? n))
  }

  /**
   * Up to `n` next bytes without consuming them (fewer only at the end of
   * the stream). The buffer is a view of the reader's window, not a copy:
   * the next read, skip or peek may overwrite it, so copy what must outlive
   * that (or decode it with peekLayout).
   */
  async peek(n: number): Promise<Buffer> {
    const wait = this.fill(n)
    if (wait) await wait
    return this.window.subarray(this.start, this.start + Math.min(n, this.buffered))
  }

  /** The next `l.size` bytes decoded by `l`, without consuming them; undefined when the stream ends first. */
  async peekLayout<T>(l: Decodable<T>): Promise<T | undefined> {
    const head = await this.peek(l.size)
    return head.length < l.size ? undefined : l.get(head, 0)
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    return (await this.peek(1)).length === 0
  }

  /**
   * Exactly `n` bytes, in a buffer the caller owns. `what` names the thing
   * being read for the truncation message.
   */
  async read(n: number, what: string): Promise<Buffer> {
    if (n <= this.buffered || n < DIRECT_READ) {
      const wait = this.fill(n)
      if (wait) await wait
      if (this.buffered < n) this.truncated(what, n - this.buffered)
      const out = Buffer.from(this.window.subarray(this.start, this.start + n))
      this.consume(n)
      return out
    }
    // Large read: copy what the window holds, then read the rest in place.
    const out = this.bufferFor(n)
    await this.readInto(out, 0, n, what)
    return out
  }

  /**
   * The next `l.size` bytes, decoded by `l` (a layout, or a token such as
   * the toolstack's `ulong`). `what` names them for the truncation message,
   * as for read().
   */
  async readLayout<T>(l: Decodable<T>, what: string): Promise<T> {
    // Decoded where they are in the window: the tokens copy what they
    // return (numbers, strings, copied bytes), so nothing refers to it after.
    if (l.size >= DIRECT_READ) return l.get(await this.read(l.size, what), 0)
    const wait = this.fill(l.size)
    if (wait) await wait
    if (this.buffered < l.size) this.truncated(what, l.size - this.buffered)
    const value = l.get(this.window, this.start)
    this.consume(l.size)
    return value
  }

  /**
   * Exactly `n` bytes into `buf` at `offset`: what the window holds is
   * copied, the rest is read from the source straight into `buf` (one read
   * call on a file, no copy).
   */
  async readInto(buf: Uint8Array, offset: number, n: number, what: string): Promise<void> {
    const fromWindow = Math.min(n, this.buffered)
    if (fromWindow > 0) {
      buf.set(this.window.subarray(this.start, this.start + fromWindow), offset)
      this.consume(fromWindow)
    }
    let have = fromWindow
    const startPos = this.pos - fromWindow
    const readSync = this.source.readSync
    while (have < n) {
      if (this.eof) break
      const got = readSync ? readSync.call(this.source, buf, offset + have, n - have, startPos + have) : await this.source.read(buf, offset + have, n - have, startPos + have, n - have)
      if (got === 0) {
        this.eof = true
        break
      }
      have += got
    }
    this.pos = startPos + have
    if (have < n) this.truncated(what, n - have)
  }

  /** Whether transferTo(sink, ...) would move bytes in the kernel (else it returns false at once). */
  canTransferTo(sink: TransferSink): boolean {
    if (!sink.transferFrom || !sink.canTransferFrom || !this.source.transferFrom) return false
    const from = this.source.transferFrom(this.pos + this.buffered)
    return from !== undefined && sink.canTransferFrom(from)
  }

  /**
   * Hand the next `n` bytes to `sink` without bringing them into JavaScript,
   * where the source and sink can (the native addon: splice between a pipe
   * and anything, copy_file_range between files). False when they cannot:
   * nothing was consumed, and the caller reads and writes instead. What the
   * window holds is written first; a stream that ends early is a
   * TruncatedError, after what was there went to the sink.
   */
  async transferTo(sink: TransferSink, n: number, what: string): Promise<boolean> {
    if (n <= 0 || !this.canTransferTo(sink)) return false
    const fromWindow = Math.min(n, this.buffered)
    const from = this.source.transferFrom!(this.pos + this.buffered)!
    const startPos = this.pos
    if (fromWindow > 0) {
      const head = Buffer.from(this.window.subarray(this.start, this.start + fromWindow))
      this.consume(fromWindow)
      await sink.write(head)
      if (fromWindow === n) return true
    }
    const moved = await sink.transferFrom!(from, n - fromWindow)
    this.pos = startPos + fromWindow + moved
    if (fromWindow + moved < n) {
      this.eof = true
      this.truncated(what, n - fromWindow - moved)
    }
    return true
  }

  /** Skip `n` bytes: by moving the position on a seekable source, by reading otherwise. */
  async skip(n: number, what: string): Promise<void> {
    if (n <= this.buffered) {
      this.consume(n)
      return
    }
    if (this.source.seekable && this.source.size !== undefined) {
      const left = this.source.size - this.pos
      if (n > left) {
        this.start = this.end = 0
        this.pos = this.source.size
        this.eof = true
        throw new TruncatedError(this.pos, what, n - left)
      }
      this.pos += n
      this.start = this.end = 0
      return
    }
    let todo = n
    while (todo > 0) {
      if (this.buffered === 0) {
        const wait = this.fill(Math.min(todo, WINDOW))
        if (wait) await wait
        if (this.buffered === 0) this.truncated(what, todo)
      }
      const k = Math.min(todo, this.buffered)
      this.consume(k)
      todo -= k
    }
  }

  /**
   * Hand the next `n` bytes to `sink` in pieces of at most `chunk` bytes,
   * without holding them all at once.
   */
  async pipe(n: number, what: string, sink: (piece: Buffer) => Promise<void> | void, chunk = DISCARD_CHUNK): Promise<void> {
    let todo = n
    const end = this.pos + n
    while (todo > 0) {
      const k = Math.min(todo, chunk)
      let piece: Buffer
      try {
        piece = await this.read(k, what)
      } catch (err) {
        // Say how much of the whole span is missing, not of this piece.
        if (err instanceof TruncatedError) throw new TruncatedError(err.offset, what, end - err.offset)
        throw err
      }
      await sink(piece)
      todo -= k
    }
  }

  /** Hand every remaining byte to `sink`; returns how many there were. */
  async pipeToEnd(sink: (piece: Buffer) => Promise<void> | void, chunk = DISCARD_CHUNK): Promise<number> {
    let total = 0
    for (;;) {
      let piece: Buffer
      if (this.buffered > 0) {
        piece = Buffer.from(this.window.subarray(this.start, this.end))
        this.consume(piece.length)
      } else {
        if (this.eof) return total
        const buf = Buffer.allocUnsafe(chunk)
        const got = await this.source.read(buf, 0, chunk, this.pos)
        if (got === 0) {
          this.eof = true
          return total
        }
        this.pos += got
        piece = buf.subarray(0, got)
      }
      total += piece.length
      await sink(piece)
    }
  }

  /** Skip to the end of the stream; returns how many bytes were skipped. */
  async skipToEnd(): Promise<number> {
    if (this.source.seekable && this.source.size !== undefined) {
      const n = this.source.size - this.pos
      this.pos = this.source.size
      this.start = this.end = 0
      this.eof = true
      return n
    }
    return this.pipeToEnd(() => {})
  }

  /**
   * Check a length read from the stream against the bytes left (when known)
   * and a named maximum, before anything is allocated for it.
   */
  checkLength(n: number, what: string, max: number, maxName: string, where: {offset: number; index?: number; indexKind?: string}): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new FormatError('bad-length', `${what} length is not a usable number`, {...where, context: what, expected: 'a length', got: String(n)})
    }
    if (n > max) {
      throw new FormatError('length-too-large', `${what} length ${n} exceeds ${maxName} (${max})`, {...where, context: what, expected: `at most ${max}`, got: String(n)})
    }
    const left = this.remaining
    if (left !== undefined && n > left) {
      throw new TruncatedError(this.pos + left, what, n - left)
    }
  }

  private consume(n: number): void {
    this.start += n
    this.pos += n
    if (this.start === this.end) this.start = this.end = 0
  }

  private truncated(what: string, missing: number): never {
    throw new TruncatedError(this.pos + this.buffered, what, missing)
  }

  async close(): Promise<void> {
    await this.source.close()
  }
}
