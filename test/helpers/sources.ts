// Byte sources for tests.
import type {ByteSource} from '../../src/io/source.js'

/** Wraps a source and counts what is asked of it: bytes read, read calls, whether it was closed. */
export class CountingSource implements ByteSource {
  bytesRead = 0
  calls = 0
  closed = false
  constructor(
    private readonly inner: ByteSource,
    readonly name = inner.name,
  ) {}
  get seekable(): boolean {
    return this.inner.seekable
  }
  get size(): number | undefined {
    return this.inner.size
  }
  async read(buf: Uint8Array, offset: number, length: number, position: number, min?: number): Promise<number> {
    const n = await this.inner.read(buf, offset, length, position, min)
    this.bytesRead += n
    this.calls++
    return n
  }
  async close(): Promise<void> {
    this.closed = true
    await this.inner.close()
  }
}
