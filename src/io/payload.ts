// A span of bytes a reader found but does not read itself (the legacy walker's
// page data and qemu state, a XenServer section's body). The consumer
// may read it (in one piece or streamed) before asking for the next event;
// otherwise the walker skips it (seeking, on a file).
import {FormatError} from '../errors.js'
import type {ByteReader} from './reader.js'
import type {ByteSink} from './sink.js'

export class Payload {
  private used = false

  constructor(
    private readonly reader: ByteReader,
    /** Absolute offset of the first byte. */
    readonly offset: number,
    /** Length in bytes; undefined means "to the end of the stream" on a pipe. */
    readonly length: number | undefined,
    /** What the bytes are, for messages. */
    readonly what: string,
    /** Most bytes `read()` may hold in memory at once. */
    private readonly maxInMemory: number,
  ) {}

  /** All the bytes, in one buffer. */
  async read(): Promise<Buffer> {
    this.take()
    if (this.length !== undefined) return this.reader.read(this.length, this.what)
    const pieces: Buffer[] = []
    let total = 0
    await this.reader.pipeToEnd((p) => {
      total += p.length
      if (total > this.maxInMemory) {
        throw new FormatError('length-too-large', `${this.what} is larger than the ${this.maxInMemory} bytes xst holds in memory`, {offset: this.offset, context: this.what})
      }
      pieces.push(p)
    })
    return Buffer.concat(pieces)
  }

  /** Stream the bytes to `sink` in pieces; returns the byte count. */
  async pipe(sink: (piece: Buffer) => Promise<void> | void): Promise<number> {
    this.take()
    if (this.length === undefined) return this.reader.pipeToEnd(sink)
    await this.reader.pipe(this.length, this.what, sink)
    return this.length
  }

  /** Whether transferTo(sink) can move the bytes in the kernel (the native addon). */
  canTransferTo(sink: ByteSink): boolean {
    return !this.used && this.length !== undefined && this.reader.offset === this.offset && this.reader.canTransferTo(sink)
  }

  /** All the bytes to `sink` without bringing them into JavaScript (after canTransferTo said yes). */
  async transferTo(sink: ByteSink): Promise<void> {
    this.take()
    if (!(await this.reader.transferTo(sink, this.length!, this.what))) throw new Error(`internal: ${this.what} could not be transferred`)
  }

  /** Hand back a buffer read() returned, once it is written: the reader fills it again for the next batch. */
  recycle(buf: Buffer): void {
    this.reader.recycle(buf)
  }

  /** Called by the walker: skip whatever the consumer did not take. */
  async finish(): Promise<void> {
    if (this.used) return
    this.used = true
    if (this.length === undefined) await this.reader.skipToEnd()
    else await this.reader.skip(this.length, this.what)
  }

  private take(): void {
    if (this.used) throw new Error(`internal: ${this.what} consumed twice`)
    if (this.reader.offset !== this.offset) throw new Error(`internal: ${this.what} read out of order`)
    this.used = true
  }
}

/**
 * A span already read into memory (a later Remus checkpoint's pages and
 * context: the walker reads them itself, so that a stream cut inside them
 * is its to find). The same interface; nothing is left to skip.
 */
export class HeldPayload extends Payload {
  private held: Buffer | undefined

  constructor(bytes: Buffer, offset: number, what: string) {
    super(undefined as unknown as ByteReader, offset, bytes.length, what, bytes.length)
    this.held = bytes
  }

  override async read(): Promise<Buffer> {
    return this.takeHeld()
  }

  override async pipe(sink: (piece: Buffer) => Promise<void> | void): Promise<number> {
    const bytes = this.takeHeld()
    if (bytes.length) await sink(bytes)
    return bytes.length
  }

  override canTransferTo(): boolean {
    return false
  }

  override async transferTo(): Promise<void> {
    throw new Error(`internal: ${this.what} is held in memory, not transferred`)
  }

  override recycle(): void {}

  override async finish(): Promise<void> {
    this.held = undefined
  }

  private takeHeld(): Buffer {
    if (!this.held) throw new Error(`internal: ${this.what} consumed twice`)
    const bytes = this.held
    this.held = undefined
    return bytes
  }
}
