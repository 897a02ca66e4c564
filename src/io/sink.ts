// Output side: an fd written in order. The sink copies nothing: small
// writes wait, by reference, until a large one (page data) arrives or they
// add up, and then all go to the kernel in one writev.
//
// One write is kept in flight while the caller goes on (reads the next
// batch): write() returns once the previous write has finished and the new
// one has started, so input and output overlap and at most one large buffer
// waits.
import * as fs from 'node:fs'
import type * as net from 'node:net'
import * as tty from 'node:tty'
import {outputSystemError} from '../errors.js'
import {FsWriter, NativeWriter, type PartialWriteError, SocketWriter, type Writer} from './fd-writers.js'
import {errnoError, loadNative, TRANSFER_COPY, TRANSFER_SPLICE} from './native.js'
import type {TransferFrom} from './source.js'

/** Pending small pieces are written once they add up to this... */
const GATHER = 1 << 20
/** ...or number this many (well below IOV_MAX)... */
const MAX_PIECES = 256
/** ...or a piece this large arrives. */
const BULK = 256 << 10

export interface ByteSink {
  /** See FdSink.canTransferFrom: the kernel can move bytes from `from` into this sink. */
  canTransferFrom?(from: TransferFrom): boolean
  /** See FdSink.transferFrom. */
  transferFrom?(from: TransferFrom, n: number): Promise<number>
  /**
   * Queue `buf` for writing, in order. The sink may hold on to `buf`
   * (without copying it) after this resolves, so the caller must not change
   * it afterwards; when `release` is given, the sink calls it once it no
   * longer needs `buf` (written, copied, or failed), and the caller may
   * reuse it from then on.
   */
  write(buf: Uint8Array, release?: () => void): Promise<void>
  /** Resolves when every byte is written; rejects with the first write error. */
  flush(): Promise<void>
  /** Bytes accepted so far. */
  readonly bytesWritten: number
}

export class FdSink implements ByteSink {
  /**
   * Written but not yet handed to the kernel: the caller's own buffers, by
   * reference (they may not change once written), so the sink copies
   * nothing; they go out together in one writev.
   */
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private releases: Array<() => void> = []
  private accepted = 0
  private delivered = 0
  private writer: Writer | undefined
  private inFlight: Promise<void> | undefined
  private failed: Error | undefined

  /**
   * `fd` is written; or, when `socket` is given (a connection the caller
   * made), that socket, and `fd` is only its descriptor number.
   */
  constructor(
    readonly fd: number,
    readonly name: string,
    private readonly socket?: net.Socket,
  ) {}

  get bytesWritten(): number {
    return this.accepted
  }

  /**
   * Stop writing: what is pending is dropped (never written), the write in
   * flight is waited for, and the number of bytes the descriptor took is
   * returned. For an output that cannot be taken back (a pipe, a
   * descriptor), so the caller can say how much of a bad stream went out.
   */
  async abandon(): Promise<number> {
    const releases = this.releases
    this.pending = []
    this.pendingBytes = 0
    this.releases = []
    for (const r of releases) r()
    try {
      await this.settle()
    } catch {}
    return this.delivered
  }

  async write(buf: Uint8Array, release?: () => void): Promise<void> {
    this.accepted += buf.length
    if (this.failed) {
      release?.()
      throw this.failed
    }
    if (buf.length > 0) {
      this.pending.push(buf)
      this.pendingBytes += buf.length
    }
    if (release) this.releases.push(release)
    // Small pieces (record headers, pfn lists) wait for more; a large one
    // (page data) goes out at once with the small ones before it.
    if (buf.length >= BULK || this.pendingBytes >= GATHER || this.pending.length >= MAX_PIECES) await this.submit()
  }

  async flush(): Promise<void> {
    await this.submit()
    await this.settle()
    try {
      await this.writer?.drain?.()
    } catch (err) {
      this.failed = outputSystemError(err, this.name)
      throw this.failed
    }
  }

  /**
   * Wait for the write in flight, then start writing what is pending
   * without waiting for that write.
   */
  private async submit(): Promise<void> {
    const bufs = this.pending
    const releases = this.releases
    this.pending = []
    this.pendingBytes = 0
    this.releases = []
    const done = () => {
      for (const r of releases) r()
    }
    try {
      await this.settle()
    } catch (err) {
      done()
      throw err
    }
    if (bufs.length === 0) {
      done()
      return
    }
    this.writer ??= this.open()
    const bytes = bufs.reduce((n, b) => n + b.length, 0)
    this.inFlight = this.writer.write(bufs).then(
      () => {
        this.delivered += bytes
        done()
      },
      (err) => {
        // What went out before the failure is on the output (a device keeps it).
        this.delivered += (err as PartialWriteError)?.written ?? 0
        this.failed = outputSystemError(err, this.name)
        done()
      },
    )
  }

  /** Wait for the write in flight; throw if any write failed. */
  private async settle(): Promise<void> {
    const p = this.inFlight
    this.inFlight = undefined
    if (p) await p
    if (this.failed) throw this.failed
  }

  /**
   * After flush(): close a descriptor the caller opened for this sink, so a
   * reader at the other end sees the end of the stream.
   */
  async close(): Promise<void> {
    const w = (this.writer ??= this.open())
    if (w instanceof SocketWriter) await w.close()
    else await new Promise<void>((resolve) => fs.close(this.fd, () => resolve()))
  }

  /** Close at once, without waiting for anything (a failure or a signal). */
  destroy(): void {
    const w = this.writer
    if (w instanceof SocketWriter) {
      w.destroy()
      return
    }
    if (this.socket) {
      this.socket.destroy()
      return
    }
    try {
      fs.closeSync(this.fd)
    } catch {}
  }

  /** Whether bytes from `from` can be moved into this sink by the kernel (see ByteReader.transferTo). */
  canTransferFrom(from: TransferFrom): boolean {
    if (!loadNative()) return false
    const w = (this.writer ??= this.open())
    // splice: one side a pipe. (copy_file_range, file to file, is in the
    // addon but not used: on ext4 without reflinks it copied a 1 GiB image
    // in 1.29x Xen's time against 0.85x for read/write, in the same bench.)
    return (w.kind === 'pipe' && from.kind !== 'socket') || (w.kind === 'file' && from.kind === 'pipe')
  }

  /**
   * Move `n` bytes from `from` to the descriptor, after everything written
   * before: the count moved (fewer only at the end of the input).
   */
  async transferFrom(from: TransferFrom, n: number): Promise<number> {
    const native = loadNative()!
    await this.submit()
    await this.settle()
    const w = (this.writer ??= this.open())
    const op = w.kind === 'file' && from.kind === 'file' ? TRANSFER_COPY : TRANSFER_SPLICE
    let [moved, errno] = await native.transfer(op, from.fd, from.offset, this.fd, n)
    if (errno && op === TRANSFER_COPY && moved === 0 && ['EXDEV', 'EINVAL', 'ENOSYS', 'EOPNOTSUPP'].includes(errnoError(errno, '').code!)) {
      // copy_file_range between these two files is not possible: copy through a buffer.
      ;[moved, errno] = await this.copyThrough(from, n)
    }
    this.accepted += moved
    this.delivered += moved
    w.moved?.(moved)
    if (errno) {
      const err = errnoError(errno, op === TRANSFER_COPY ? 'copy_file_range' : 'splice')
      // A read error is the input's; anything else is the output's.
      this.failed = outputSystemError(err, this.name)
      throw this.failed
    }
    return moved
  }

  /** copy_file_range's stand-in: pread/read into a buffer, write. */
  private async copyThrough(from: TransferFrom, n: number): Promise<[number, number]> {
    const buf = Buffer.allocUnsafe(Math.min(n, 4 << 20))
    let moved = 0
    while (moved < n) {
      const k = fs.readSync(from.fd, buf, 0, Math.min(buf.length, n - moved), from.offset < 0 ? null : from.offset + moved)
      if (k === 0) break
      try {
        await this.writer!.write([buf.subarray(0, k)])
      } catch (err) {
        return [moved, -(err as NodeJS.ErrnoException).errno! || 5]
      }
      moved += k
    }
    return [moved, 0]
  }

  private open(): Writer {
    if (this.socket) return new SocketWriter(this.socket)
    let st: fs.Stats | undefined
    try {
      st = fs.fstatSync(this.fd)
    } catch {}
    const native = st?.isFIFO() ? loadNative() : undefined
    if (native) return new NativeWriter(native, this.fd)
    if (st && (st.isFIFO() || st.isSocket())) {
      try {
        return new SocketWriter(this.fd)
      } catch {}
    }
    const w = new FsWriter(this.fd, st?.isFile() ?? false)
    // A character device that is not a terminal (/dev/null) takes a write at
    // once: written on the main thread, without a thread-pool round trip per
    // batch (1 GiB to /dev/null: 0.88x -> 0.80x Xen's time). A terminal can
    // stop its output (^S) and a file is slower to take 4 MiB: those stay
    // on the pool, overlapping the next read (file -> file measured 0.83x
    // async against 0.88x on the main thread).
    if (st?.isCharacterDevice() && !tty.isatty(this.fd)) w.sync = true
    return w
  }
}

/**
 * Holds what is written, by reference, until open(); then passes it on and
 * writes straight through. A writer holds back a stream's first bytes until
 * it knows the stream is worth starting: nothing held reaches the inner sink
 * if open() is never called.
 */
export class HoldingSink implements ByteSink {
  private held: Array<{buf: Uint8Array; release?: () => void}> | undefined = []
  private n = 0

  constructor(private readonly inner: ByteSink) {}

  get bytesWritten(): number {
    return this.n
  }

  async write(buf: Uint8Array, release?: () => void): Promise<void> {
    this.n += buf.length
    if (this.held) this.held.push({buf, release})
    else await this.inner.write(buf, release)
  }

  /** True once open() was called: writes go through. */
  get opened(): boolean {
    return this.held === undefined
  }

  canTransferFrom(from: TransferFrom): boolean {
    return this.opened && (this.inner.canTransferFrom?.(from) ?? false)
  }

  async transferFrom(from: TransferFrom, n: number): Promise<number> {
    if (!this.opened || !this.inner.transferFrom) throw new Error('internal: transfer into a sink that cannot take one')
    const moved = await this.inner.transferFrom(from, n)
    this.n += moved
    return moved
  }

  /** Pass on what is held; write through from now on. */
  async open(): Promise<void> {
    const held = this.held
    if (!held) return
    this.held = undefined
    for (const h of held) await this.inner.write(h.buf, h.release)
  }

  async flush(): Promise<void> {
    await this.open()
    await this.inner.flush()
  }
}

/** Collects everything in memory (tests, small outputs). */
export class MemorySink implements ByteSink {
  private parts: Buffer[] = []
  private n = 0
  get bytesWritten(): number {
    return this.n
  }
  async write(buf: Uint8Array, release?: () => void): Promise<void> {
    this.parts.push(Buffer.from(buf))
    this.n += buf.length
    release?.()
  }
  async flush(): Promise<void> {}
  get data(): Buffer {
    return Buffer.concat(this.parts)
  }
}
