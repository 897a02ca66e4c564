// A byte source that reads another one through gzip (operators keep save
// files compressed; see docs/containers.md). Decompressed as
// a stream with Node's zlib, in constant memory and with no temporary file:
// compressed input is fed one piece at a time, and only when the reader has
// used up what the previous piece gave (zlib itself stops inflating while
// its output is not taken). Not seekable, size unknown: the ByteReader reads
// and discards to skip.
//
// Concatenated gzip members are read as one stream, as gunzip does.
import {Buffer} from 'node:buffer'
import * as zlib from 'node:zlib'
import {FormatError} from '../errors.js'
import type {ByteReader} from './reader.js'
import type {ByteSource} from './source.js'

/** Compressed bytes fed to zlib at a time. */
const INPUT_PIECE = 64 << 10
/** zlib's output chunk. */
const OUTPUT_CHUNK = 64 << 10
/** Inflated bytes zlib may hold ahead of the reader before it stops inflating. */
const INFLATED_AHEAD = 1 << 20

/** True when `head` starts like a gzip member: magic 1f 8b, method 8 (deflate), no reserved flag bits. */
export function isGzip(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 8 && (head[3] & 0xe0) === 0
}

export class GzipSource implements ByteSource {
  readonly seekable = false
  readonly size = undefined
  readonly name: string
  private readonly inflater: zlib.Gunzip
  /** Inflated bytes taken from zlib and not yet handed out. */
  private pending: Buffer | undefined
  /** Compressed bytes read from the inner source (and handed to zlib). */
  private fed = 0
  /** Where the piece zlib is working on starts. */
  private pieceStart = 0
  private writing = false
  private inputDone = false
  private ended = false
  /** A gzip error, or the inner source's own read error (passed on as it is). */
  private failed: unknown
  /** Wakes a read waiting for zlib. */
  private wake: (() => void) | undefined
  private readonly inputPiece: number

  constructor(
    private readonly inner: ByteSource,
    opts: {name?: string; inputPiece?: number} = {},
  ) {
    this.name = opts.name ?? inner.name
    this.inputPiece = opts.inputPiece ?? INPUT_PIECE
    // zlib hands its options on to the stream it is, so highWaterMark applies (@types/node leaves it out).
    this.inflater = zlib.createGunzip({chunkSize: OUTPUT_CHUNK, highWaterMark: INFLATED_AHEAD} as zlib.ZlibOptions)
    const poke = () => {
      const w = this.wake
      this.wake = undefined
      w?.()
    }
    this.inflater.on('readable', poke)
    this.inflater.on('end', () => {
      this.ended = true
      poke()
    })
    this.inflater.on('error', (err: NodeJS.ErrnoException) => {
      this.failed = this.translate(err)
      poke()
    })
  }

  /** Compressed bytes read so far. */
  get compressedOffset(): number {
    return this.fed
  }

  private translate(err: NodeJS.ErrnoException): FormatError {
    if (err.code === 'Z_BUF_ERROR' && this.inputDone) {
      return new FormatError('gzip-truncated', `gzip stream ends at compressed byte ${this.fed} before its end`, {offset: this.fed, context: 'gzip'})
    }
    // zlib finds damage when it decodes it: at or after the damaged byte
    // (damage in stored data shows only in the check at the member's end).
    const at = Math.max(this.inflater.bytesWritten, this.pieceStart)
    return new FormatError('gzip-corrupt', `gzip data is corrupt at compressed byte ${at} (${err.message})`, {offset: at, context: 'gzip'})
  }

  /** Hand the next compressed piece to zlib (or end its input). */
  private async feed(): Promise<void> {
    this.writing = true
    try {
      const piece = Buffer.allocUnsafe(this.inputPiece)
      // A whole piece when the source has it (fewer, larger steps for zlib).
      const n = await this.inner.read(piece, 0, piece.length, this.fed, piece.length)
      if (n === 0) {
        this.inputDone = true
        this.inflater.end()
        return
      }
      this.pieceStart = this.fed
      this.fed += n
      await new Promise<void>((resolve) => this.inflater.write(piece.subarray(0, n), () => resolve()))
    } finally {
      this.writing = false
      const w = this.wake
      this.wake = undefined
      w?.()
    }
  }

  /** The next inflated bytes; undefined at the end. */
  private async next(): Promise<Buffer | undefined> {
    for (;;) {
      if (this.pending) {
        const p = this.pending
        this.pending = undefined
        return p
      }
      const chunk = this.inflater.read() as Buffer | null
      if (chunk) return chunk
      if (this.failed !== undefined) throw this.failed
      if (this.ended) return undefined
      const waiting = new Promise<void>((resolve) => (this.wake = resolve))
      if (!this.writing && !this.inputDone) {
        this.feed().catch((err) => {
          this.failed ??= err
          const w = this.wake
          this.wake = undefined
          w?.()
        })
      }
      await waiting
    }
  }

  /** Inflated bytes at hand without waiting, if any. */
  private ready(): Buffer | undefined {
    const p = this.pending
    this.pending = undefined
    return p ?? (this.inflater.read() as Buffer | null) ?? undefined
  }

  async read(buf: Uint8Array, offset: number, length: number, _position: number, min = 1): Promise<number> {
    if (length === 0) return 0
    let got = 0
    const want = Math.max(1, Math.min(min, length))
    while (got < length) {
      // Wait for zlib until `min` bytes are in; after that, take only what is at hand.
      const chunk = got < want ? await this.next() : this.ready()
      if (!chunk) break
      const k = Math.min(chunk.length, length - got)
      buf.set(chunk.subarray(0, k), offset + got)
      got += k
      if (k < chunk.length) this.pending = chunk.subarray(k)
    }
    return got
  }

  async close(): Promise<void> {
    this.inflater.destroy()
    await this.inner.close()
  }
}

/** Largest piece ReaderSource asks its reader for at a time (the reader's window). */
const READER_PIECE = 1 << 20

/**
 * A ByteReader seen as a sequential ByteSource, from the reader's current
 * position on. Sniffing an input peeks its first bytes into the reader's
 * window (on a pipe they cannot be read again from the descriptor); a
 * GzipSource put on top of this adapter gets those bytes too.
 */
export class ReaderSource implements ByteSource {
  readonly seekable = false
  readonly size = undefined
  readonly name: string

  constructor(
    private readonly reader: ByteReader,
    name?: string,
  ) {
    this.name = name ?? reader.source.name
  }

  async read(buf: Uint8Array, offset: number, length: number): Promise<number> {
    const head = await this.reader.peek(Math.min(length, READER_PIECE))
    const n = head.length
    buf.set(head, offset)
    await this.reader.skip(n, 'input')
    return n
  }

  async close(): Promise<void> {
    await this.reader.close()
  }
}
