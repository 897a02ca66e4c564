// A source that hands a copy of every byte read through it to a callback
// (a v2 stream copied while the verifier reads it; a pipe spooled to a file).
import type {ByteSource} from '../io/source.js'

/** Hands every byte read from `inner` to `copy` too, in order. */
export class TeeSource implements ByteSource {
  readonly seekable = false
  readonly size = undefined
  readonly name: string

  constructor(
    private readonly inner: ByteSource,
    private readonly copy: (piece: Buffer) => Promise<void>,
  ) {
    this.name = inner.name
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number, min?: number): Promise<number> {
    const n = await this.inner.read(buf, offset, length, position, min)
    if (n > 0) await this.copy(Buffer.from(buf.subarray(offset, offset + n)))
    return n
  }

  async close(): Promise<void> {}
}
