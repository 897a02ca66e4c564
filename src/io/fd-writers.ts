// How FdSink's buffers reach its descriptor: writev through the thread pool
// (FsWriter: files, terminals, devices), the native addon (NativeWriter:
// pipes) or the event loop (SocketWriter: sockets). FdSink.open picks one;
// they are kept here, apart from the gathering and ordering of sink.ts.
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import {errnoError, type Native, PIPE_SIZE} from './native.js'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** How buffers reach the descriptor. */
export interface Writer {
  /** Write all of `bufs`, in order. */
  write(bufs: Uint8Array[]): Promise<void>
  /** Wait for any background work on what was written (rejects with its error). */
  drain?(): Promise<void>
  /** What the descriptor is, for kernel transfers (see FdSink.transferFrom); absent: none. */
  readonly kind?: 'file' | 'pipe'
  /** Bytes that reached the descriptor other than through write() (a transfer). */
  moved?(n: number): void
}

/** A regular file is pushed to its disk every this many bytes (see FsWriter). */
const WRITE_BEHIND = 64 << 20

/** At most this long between turns of the event loop when writing on the main thread. */
const TURN_MS = 20

/** A write error that says how many bytes of the failed call went out first (they are on the device). */
export interface PartialWriteError extends NodeJS.ErrnoException {
  written?: number
}

function withWritten(err: unknown, written: number): unknown {
  if (err && typeof err === 'object') (err as PartialWriteError).written = written
  return err
}

/**
 * Regular files, terminals, devices: writev through the thread pool.
 *
 * On a regular file, every WRITE_BEHIND bytes an fdatasync starts in the
 * background (never more than one at a time, and writing does not wait for
 * it). The data goes to the disk while the conversion runs instead of
 * piling up as dirty pages, so the fsync before an output is renamed into
 * place has little left to do (on a 2 GiB image, ~1 s less) and memory is
 * not filled with dirty pages. Its errors are write errors: an fsync
 * reports a failed writeback only once, so none may be dropped.
 */
export class FsWriter implements Writer {
  private unsynced = 0
  private syncing: Promise<void> | undefined
  private syncError: unknown
  readonly kind: 'file' | undefined

  constructor(
    private readonly fd: number,
    private readonly writeBehind: boolean,
  ) {
    this.kind = writeBehind ? 'file' : undefined
  }

  moved(n: number): void {
    this.unsynced += n
    this.syncBehind()
  }

  /** Write on the main thread (see FdSink.open): for a device that never makes a writer wait. */
  sync = false
  private turned = Date.now()

  async write(bufs: Uint8Array[]): Promise<void> {
    if (this.syncError !== undefined) throw this.syncError
    let done = 0
    try {
      await this.writeAll(bufs, (n) => {
        done += n
      })
    } catch (err) {
      throw withWritten(err, done)
    }
  }

  private async writeAll(bufs: Uint8Array[], wrote: (n: number) => void): Promise<void> {
    let left = bufs
    if (this.sync && Date.now() - this.turned >= TURN_MS) {
      // Reads from a file are synchronous too, so without this the event
      // loop would not turn until the end: SIGINT/SIGTERM (handled on the
      // loop) went unanswered for a whole conversion (59 s for a sparse
      // 64 GiB image to /dev/null).
      await new Promise(setImmediate)
      this.turned = Date.now()
    }
    while (this.sync && left.length) {
      let n: number
      try {
        n = fs.writevSync(this.fd, left)
      } catch (err) {
        // A device in non-blocking mode that is full after all: the pool path below waits for it.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
        this.sync = false
        break
      }
      left = after(left, n)
      this.unsynced += n
      wrote(n)
    }
    while (left.length) {
      let n: number
      try {
        n = await new Promise<number>((resolve, reject) => fs.writev(this.fd, left, null, (err, k) => (err ? reject(err) : resolve(k))))
      } catch (err) {
        // A terminal or device in non-blocking mode: wait for room rather than fail.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          await sleep(2)
          continue
        }
        throw err
      }
      left = after(left, n)
      this.unsynced += n
      wrote(n)
    }
    this.syncBehind()
  }

  private syncBehind(): void {
    if (this.writeBehind && this.unsynced >= WRITE_BEHIND && !this.syncing) {
      this.unsynced = 0
      this.syncing = new Promise<void>((resolve) =>
        fs.fdatasync(this.fd, (err) => {
          if (err) this.syncError ??= err
          this.syncing = undefined
          resolve()
        }),
      )
    }
  }

  async drain(): Promise<void> {
    await this.syncing
    if (this.syncError !== undefined) throw this.syncError
  }
}

/** The buffers left after the first `n` bytes of `bufs`. */
function after(bufs: Uint8Array[], n: number): Uint8Array[] {
  let i = 0
  while (i < bufs.length && n >= bufs[i].length) n -= bufs[i++].length
  const rest = bufs.slice(i)
  if (n > 0) rest[0] = rest[0].subarray(n)
  return rest.filter((b) => b.length > 0)
}

/**
 * A pipe, with the native addon: each write waits on a pool thread until the
 * pipe took all of it (poll, then write; O_NONBLOCK set, so the thread never
 * blocks where it cannot be cancelled), as a blocking write would, instead
 * of a wake-up of the event loop per 64 KiB. The pipe is made 1 MiB
 * (F_SETPIPE_SZ).
 */
const EAGAIN = os.constants.errno.EAGAIN

export class NativeWriter implements Writer {
  readonly kind = 'pipe'
  constructor(
    private readonly native: Native,
    private readonly fd: number,
  ) {
    native.setNonBlocking(fd)
    native.setPipeSize(fd, PIPE_SIZE)
  }

  async write(bufs: Uint8Array[]): Promise<void> {
    let done = 0
    for (let i = 0; i < bufs.length; i += 64) {
      let group = bufs.slice(i, i + 64)
      // What the pipe takes now goes at once; only the rest waits on a pool thread.
      const r = this.native.tryWrite(this.fd, group)
      if (r < 0 && r !== -EAGAIN) throw withWritten(errnoError(-r, 'write'), done)
      if (r > 0) {
        group = after(group, r)
        done += r
      }
      if (group.length === 0) continue
      const [n, errno] = await this.native.write(this.fd, group)
      done += n
      if (errno) throw withWritten(errnoError(errno, 'write'), done)
    }
  }
}

/**
 * Pipes and sockets: written on the event loop through a net.Socket, which
 * waits for room without polling and without a thread blocked on a full pipe
 * (that would hold up process exit). stdout uses node's own stream for fd 1.
 */
export class SocketWriter implements Writer {
  private readonly socket: net.Socket
  private failed: unknown

  /** `target`: a descriptor, or a socket already connected. */
  constructor(target: number | net.Socket) {
    this.socket = typeof target !== 'number' ? target : target === 1 && process.stdout instanceof net.Socket ? process.stdout : new net.Socket({fd: target, readable: false, writable: true})
    this.socket.on('error', (err) => {
      this.failed ??= err
    })
  }

  /** End the stream and close the socket (not stdout's). */
  async close(): Promise<void> {
    if (this.socket === process.stdout) return
    await new Promise<void>((resolve) => this.socket.end(() => resolve()))
    this.socket.destroy()
  }

  destroy(): void {
    if (this.socket !== process.stdout) this.socket.destroy()
  }

  write(bufs: Uint8Array[]): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed)
    return new Promise((resolve, reject) => {
      const s = this.socket
      s.cork()
      bufs.forEach((b, i) => {
        if (i < bufs.length - 1) s.write(b)
        else s.write(b, (err) => (err ? reject(err) : this.failed !== undefined ? reject(this.failed) : resolve()))
      })
      s.uncork()
    })
  }
}
