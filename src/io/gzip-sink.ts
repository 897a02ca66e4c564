// A sink that gzips what is written to it and hands the compressed bytes
// to another sink (convert --gzip). One gzip member, streamed: each write
// waits until zlib has taken the piece and what it made of it is written
// on, so memory stays flat whatever the size.
import * as zlib from 'node:zlib'
import type {ByteSink} from './sink.js'

export class GzipSink implements ByteSink {
  private readonly deflater: zlib.Gzip
  /** Compressed pieces zlib produced that are not yet written on. */
  private made: Buffer[] = []
  private n = 0
  private failed: unknown
  private ended: Promise<void> | undefined

  constructor(
    private readonly inner: ByteSink,
    level = zlib.constants.Z_DEFAULT_COMPRESSION,
  ) {
    this.deflater = zlib.createGzip({level})
    this.deflater.on('data', (piece: Buffer) => this.made.push(piece))
    this.deflater.on('error', (err) => (this.failed ??= err))
  }

  /** Uncompressed bytes accepted. */
  get bytesWritten(): number {
    return this.n
  }

  /** Compressed bytes handed on so far. */
  get compressedBytes(): number {
    return this.inner.bytesWritten
  }

  async write(buf: Uint8Array, release?: () => void): Promise<void> {
    if (this.failed) throw this.failed
    this.n += buf.length
    // zlib is done with `buf` once its write callback runs.
    await new Promise<void>((resolve) => this.deflater.write(buf, () => resolve()))
    release?.()
    await this.pass()
  }

  private async pass(): Promise<void> {
    while (this.made.length) {
      const piece = this.made.shift()!
      await this.inner.write(piece)
    }
    if (this.failed) throw this.failed
  }

  /** Hand on what is compressed so far and flush the inner sink (the gzip member stays open). */
  async flush(): Promise<void> {
    await this.pass()
    await this.inner.flush()
  }

  /** End the gzip member (its trailer holds the CRC and length) and flush it all. */
  async finish(): Promise<void> {
    this.ended ??= new Promise<void>((resolve) => {
      this.deflater.once('end', () => resolve())
      this.deflater.end()
    })
    await this.ended
    await this.pass()
    await this.inner.flush()
  }
}
