// Writes v2 streams (libxc and libxl records) with the layouts in
// libxc/ and libxl/. Every record written can also be shown to an observer (the
// verifier), so a conversion is checked as it is produced.
import type {ByteSink} from '../io/sink.js'
import type {XlHeaderInfo} from '../xl/header.js'
import {CONVERTED_LIBXC_VERSION, CONVERTER_XEN_MAJOR, CONVERTER_XEN_MINOR, DomainHeader, IHDR_IDENT, IHDR_MARKER, ImageHeader} from './libxc/layout.js'
import {LIBXL_IDENT, LIBXL_VERSION, LibxlHeader} from './libxl/layout.js'
import {type Layer, paddingOf, RecordHeader, type RecordInfo} from './record.js'

export interface StreamObserver {
  /** The xl header in front of the stream, as written. */
  xlHeader?(info: XlHeaderInfo): void
  libxlHeader?(header: Buffer, offset: number): void
  libxcHeaders?(imageHeader: Buffer, domainHeader: Buffer, offset: number): void
  record?(rec: RecordInfo): void
  /**
   * Bytes the stream carries outside records (a qemu record after a bare
   * libxc stream), possibly in several pieces; `bytes` are the piece's bytes.
   */
  tail?(offset: number, length: number, bytes?: Buffer): void
}

const ZERO_PAD = Buffer.alloc(8)

/** Bytes of known length from the input (a legacy Payload). */
export interface BulkSource {
  readonly length: number | undefined
  /** Whether transferTo can move them into `sink` in the kernel. */
  canTransferTo(sink: ByteSink): boolean
  transferTo(sink: ByteSink): Promise<void>
  read(): Promise<Buffer>
  /** Hand back a buffer read() returned, once written. */
  recycle(buf: Buffer): void
}

export class V2Writer {
  private indexByLayer: Record<Layer, number> = {libxc: 0, libxl: 0}
  /** Records written, by layer and name-independent type number. */
  readonly counts: {libxc: Map<number, number>; libxl: Map<number, number>} = {libxc: new Map(), libxl: new Map()}
  private readonly base: number

  constructor(
    private readonly sink: ByteSink,
    private readonly observer?: StreamObserver,
  ) {
    this.base = sink.bytesWritten
  }

  /** Bytes written so far by this writer. */
  get offset(): number {
    return this.sink.bytesWritten - this.base
  }

  async raw(buf: Buffer): Promise<void> {
    await this.sink.write(buf)
  }

  /** Bytes after the last record that belong to no record (shown to the observer as such). */
  async tail(buf: Buffer): Promise<void> {
    this.observer?.tail?.(this.offset, buf.length, buf)
    await this.sink.write(buf)
  }

  async libxlHeader(options: number): Promise<void> {
    const buf = LibxlHeader.encode({ident: LIBXL_IDENT, version: LIBXL_VERSION, options})
    this.observer?.libxlHeader?.(buf, this.offset)
    await this.sink.write(buf)
  }

  async libxcHeaders(domainType: number, version = CONVERTED_LIBXC_VERSION): Promise<void> {
    const ihdr = ImageHeader.encode({marker: IHDR_MARKER, id: IHDR_IDENT, version, options: 0, reserved1: 0, reserved2: 0})
    const dhdr = DomainHeader.encode({
      type: domainType,
      pageShift: 12,
      reserved: 0,
      xenMajor: CONVERTER_XEN_MAJOR,
      xenMinor: CONVERTER_XEN_MINOR,
    })
    this.observer?.libxcHeaders?.(ihdr, dhdr, this.offset)
    await this.sink.write(Buffer.concat([ihdr, dhdr]))
  }

  /**
   * One record. `head` is written first, then `bulk` (page contents or an
   * emulator blob) as its own write so it is not copied; `bulk` may also be a
   * list of pieces. `release` is called once the sink is done with `bulk`
   * (see ByteSink.write), so its buffer can be reused.
   */
  async record(layer: Layer, type: number, head: Buffer, bulk?: Buffer | Buffer[], release?: () => void): Promise<void> {
    const pieces = bulk === undefined ? [] : Array.isArray(bulk) ? bulk : [bulk]
    const length = head.length + pieces.reduce((n, p) => n + p.length, 0)
    const offset = this.offset
    this.observer?.record?.({layer, index: this.indexByLayer[layer]++, offset, type, length, head})
    const counts = this.counts[layer]
    counts.set(type, (counts.get(type) ?? 0) + 1)
    const pad = paddingOf(length)
    // Written piece by piece: the sink gathers small pieces itself, so
    // concatenating them here would only copy them once more.
    await this.sink.write(RecordHeader.encode({type, length}))
    if (head.length) await this.sink.write(head)
    for (let i = 0; i < pieces.length; i++) await this.sink.write(pieces[i], i === pieces.length - 1 ? release : undefined)
    if (pieces.length === 0) release?.()
    if (pad) await this.sink.write(ZERO_PAD.subarray(0, pad))
  }

  /**
   * A record whose bulk comes from the input (page contents): `head`, then
   * the bulk's bytes, moved from the input to the sink by the kernel where
   * the two allow (the native addon), else read first (so a bulk cut short
   * stops the record before any of it is written) and written.
   */
  async recordFrom(layer: Layer, type: number, head: Buffer, bulk: BulkSource | undefined): Promise<void> {
    if (!bulk || bulk.canTransferTo(this.sink)) {
      const length = head.length + (bulk?.length ?? 0)
      this.observer?.record?.({layer, index: this.indexByLayer[layer]++, offset: this.offset, type, length, head})
      const counts = this.counts[layer]
      counts.set(type, (counts.get(type) ?? 0) + 1)
      await this.sink.write(RecordHeader.encode({type, length}))
      if (head.length) await this.sink.write(head)
      if (bulk) await bulk.transferTo(this.sink)
      const pad = paddingOf(length)
      if (pad) await this.sink.write(ZERO_PAD.subarray(0, pad))
      return
    }
    const data = await bulk.read()
    await this.record(layer, type, head, data, () => bulk.recycle(data))
  }

  /**
   * A record whose body arrives in pieces after its length is known (an
   * emulator blob streamed from the input). `head` is shown to the observer.
   */
  async recordStreamed(layer: Layer, type: number, head: Buffer, bulkLength: number, produce: (write: (piece: Buffer) => Promise<void>) => Promise<void>): Promise<void> {
    const length = head.length + bulkLength
    this.observer?.record?.({layer, index: this.indexByLayer[layer]++, offset: this.offset, type, length, head})
    const counts = this.counts[layer]
    counts.set(type, (counts.get(type) ?? 0) + 1)
    await this.sink.write(Buffer.concat([RecordHeader.encode({type, length}), head]))
    let sent = 0
    await produce(async (piece) => {
      sent += piece.length
      await this.sink.write(piece)
    })
    if (sent !== bulkLength) throw new Error(`internal: streamed record promised ${bulkLength} bytes, wrote ${sent}`)
    const pad = paddingOf(length)
    if (pad) await this.sink.write(ZERO_PAD.subarray(0, pad))
  }

  async flush(): Promise<void> {
    await this.sink.flush()
  }
}
