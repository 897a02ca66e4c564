// The two ways FdSource reads a pipe or socket: on the event loop
// (StreamReader) or, when the native addon is loaded, on a pool thread
// (NativeStreamReader). FdSource.read picks one; they are kept here, apart
// from the file and descriptor handling of source.ts.
import * as net from 'node:net'
import * as os from 'node:os'
import {errnoError, type Native, PIPE_SIZE} from './native.js'

/** Size of the buffer a pipe read lands in when no read is waiting. */
export const SPARE = 64 << 10

/**
 * Reads a pipe or socket on the event loop, straight into the caller's
 * buffer (net.Socket's `onread` option), for as long as the caller waits.
 *
 * Not a thread-pool fs.read: a pool thread blocked on an empty pipe holds up
 * process exit (libuv joins its threads), so an interrupted conversion could
 * not exit. And not a plain fs.read on a non-blocking descriptor (node makes
 * stdin non-blocking as soon as anything touches process.stdin, which
 * oclif's start-up does): that can only poll.
 */
export class StreamReader {
  private readonly socket: net.Socket
  /** The read being served: bytes land in buf[offset + got ...]. */
  private req: {buf: Uint8Array; offset: number; length: number; min: number; got: number; resolve(n: number): void; reject(e: unknown): void} | undefined
  /** What was last handed to libuv to read into. */
  private target: Uint8Array | undefined
  private spare: Buffer | undefined
  /** Bytes that arrived while no read waited (at most one spare's worth). */
  private stash: Buffer | undefined
  private ended = false
  private failed: unknown

  /** spareSize 1 takes nothing from the pipe that no read asked for (see FdSource.exact). */
  constructor(
    fd: number,
    private readonly spareSize = SPARE,
  ) {
    // `onread` is documented for sockets in general; @types/node lists it for connect() only.
    const opts = {
      fd,
      readable: true,
      writable: false,
      allowHalfOpen: true,
      // No read before the first request, so nothing is taken that was not asked for.
      pauseOnCreate: true,
      onread: {buffer: () => this.nextTarget(), callback: (n: number, buf: Uint8Array) => this.arrived(n, buf)},
    }
    this.socket = new net.Socket(opts as net.SocketConstructorOpts)
    this.socket.on('end', () => {
      this.ended = true
      this.settle()
    })
    this.socket.on('error', (err) => {
      this.failed = err
      this.settle()
    })
  }

  /** The buffer libuv reads into next: the waiting read's free space, else a spare. */
  private nextTarget(): Uint8Array {
    const r = this.req
    if (r && r.got < r.length) this.target = r.buf.subarray(r.offset + r.got, r.offset + r.length)
    else this.target = this.spare ??= Buffer.allocUnsafe(this.spareSize)
    return this.target
  }

  /** Returns false to stop reading until the next read() asks for more. */
  private arrived(n: number, buf: Uint8Array): boolean {
    const r = this.req
    if (r && buf === this.target && buf !== this.spare) {
      r.got += n
    } else {
      // Landed in the spare: give the waiting read what fits and keep a copy
      // of the rest, so the spare is free for the next time.
      const data = this.spare!.subarray(0, n)
      const k = r ? Math.min(n, r.length - r.got) : 0
      if (r) {
        r.buf.set(data.subarray(0, k), r.offset + r.got)
        r.got += k
      }
      if (k < n) this.stash = this.stash ? Buffer.concat([this.stash, data.subarray(k)]) : Buffer.from(data.subarray(k))
    }
    if (r && r.got >= r.min) {
      this.req = undefined
      r.resolve(r.got)
    }
    return this.req !== undefined
  }

  private settle(): void {
    const r = this.req
    if (!r) return
    this.req = undefined
    if (this.failed !== undefined && r.got === 0) r.reject(this.failed)
    else r.resolve(r.got)
  }

  read(buf: Uint8Array, offset: number, length: number, min: number): Promise<number> {
    if (length === 0) return Promise.resolve(0)
    if (this.stash) {
      const k = Math.min(length, this.stash.length)
      buf.set(this.stash.subarray(0, k), offset)
      this.stash = k < this.stash.length ? this.stash.subarray(k) : undefined
      return Promise.resolve(k)
    }
    if (this.failed !== undefined) return Promise.reject(this.failed)
    if (this.ended) return Promise.resolve(0)
    return new Promise((resolve, reject) => {
      this.req = {buf, offset, length, min: Math.max(1, Math.min(min, length)), got: 0, resolve, reject}
      this.socket.resume()
    })
  }

  /** Stop reading; closes the descriptor only when asked to. */
  close(closeFd: boolean): void {
    this.socket.pause()
    this.socket.unref()
    if (closeFd) this.socket.destroy()
  }
}

/**
 * A pipe or socket read by the native addon on a pool thread: exactly the
 * bytes asked for (nothing taken ahead), and the descriptor's bytes can be
 * moved by the kernel (splice) since none wait in JavaScript. A pipe is made
 * 1 MiB (F_SETPIPE_SZ): fewer wake-ups, on both sides.
 */
const EAGAIN = os.constants.errno.EAGAIN

export class NativeStreamReader {
  private inFlight: Promise<unknown> | undefined

  constructor(
    private readonly native: Native,
    private readonly fd: number,
    fifo: boolean,
  ) {
    if (fifo) native.setPipeSize(fd, PIPE_SIZE)
  }

  async read(buf: Uint8Array, offset: number, length: number, min: number): Promise<number> {
    if (length === 0) return 0
    min = Math.max(1, Math.min(min, length))
    // What the pipe holds already is taken at once (most small reads: a
    // header, a pfn list); only the rest waits on a pool thread.
    let got = 0
    while (got < min) {
      const r = this.native.tryRead(this.fd, buf, offset + got, length - got)
      if (r === 0) return got
      if (r < 0) {
        if (r === -EAGAIN) break
        throw errnoError(-r, 'read')
      }
      got += r
    }
    if (got >= min) return got
    const p = this.native.read(this.fd, buf, offset + got, length - got, min - got)
    this.inFlight = p
    const [n, errno] = await p
    this.inFlight = undefined
    if (errno) throw errnoError(errno, 'read')
    return got + n
  }

  /** A read still waiting (the stream is closed early) is cancelled, so no pool thread stays blocked. */
  async close(): Promise<void> {
    const p = this.inFlight
    if (!p) return
    this.native.cancelAll()
    await p.catch(() => {})
  }
}
