// Output side: an fd written in order. Small writes are gathered into one
// buffer; large ones (page data) go straight to the kernel, so page bytes
// are never copied between reading and writing.
//
// One write is kept in flight while the caller goes on (reads the next
// batch): write() returns once the previous write has finished and the new
// one has started, so input and output overlap and at most one large buffer
// waits. The gathered bytes and the large buffer go out in one writev.
import * as fs from 'node:fs'
import * as net from 'node:net'
import {outputSystemError} from '../errors.js'

const GATHER = 1 << 20

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export interface ByteSink {
  /**
   * Queue `buf` for writing, in order. The sink may still be reading `buf`
   * when this resolves, so the caller must not change it afterwards; when
   * `release` is given, the sink calls it once it no longer needs `buf`
   * (written, copied, or failed), and the caller may reuse it from then on.
   */
  write(buf: Uint8Array, release?: () => void): Promise<void>
  /** Resolves when every byte is written; rejects with the first write error. */
  flush(): Promise<void>
  /** Bytes accepted so far. */
  readonly bytesWritten: number
}

/** How buffers reach the descriptor. */
interface Writer {
  /** Write all of `bufs`, in order. */
  write(bufs: Uint8Array[]): Promise<void>
  /** Wait for any background work on what was written (rejects with its error). */
  drain?(): Promise<void>
}

/** A regular file is pushed to its disk every this many bytes (see FsWriter). */
const WRITE_BEHIND = 64 << 20

const noop = () => {}

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
class FsWriter implements Writer {
  private unsynced = 0
  private syncing: Promise<void> | undefined
  private syncError: unknown

  constructor(private readonly fd: number, private readonly writeBehind: boolean) {}

  async write(bufs: Uint8Array[]): Promise<void> {
    if (this.syncError !== undefined) throw this.syncError
    let left = bufs
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
    }
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
 * Pipes and sockets: written on the event loop through a net.Socket, which
 * waits for room without polling and without a thread blocked on a full pipe
 * (that would hold up process exit). stdout uses node's own stream for fd 1.
 */
class SocketWriter implements Writer {
  private readonly socket: net.Socket
  private failed: unknown

  constructor(fd: number) {
    this.socket = fd === 1 && process.stdout instanceof net.Socket ? process.stdout : new net.Socket({fd, readable: false, writable: true})
    this.socket.on('error', (err) => {
      this.failed ??= err
    })
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

export class FdSink implements ByteSink {
  /** Two gather buffers: one may be in flight while the other fills. */
  private gathers: Buffer[] = [Buffer.allocUnsafe(GATHER)]
  private cur = 0
  private used = 0
  private accepted = 0
  private writer: Writer | undefined
  private inFlight: Promise<void> | undefined
  private failed: Error | undefined

  constructor(readonly fd: number, readonly name: string) {}

  get bytesWritten(): number {
    return this.accepted
  }

  async write(buf: Uint8Array, release?: () => void): Promise<void> {
    this.accepted += buf.length
    if (buf.length < GATHER / 4) {
      if (this.used + buf.length > GATHER) await this.submit()
      this.gathers[this.cur].set(buf, this.used)
      this.used += buf.length
      release?.()
      return
    }
    await this.submit(buf, release)
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
   * Wait for the write in flight, then start writing the gathered bytes and
   * `bulk` without waiting for that write.
   */
  private async submit(bulk?: Uint8Array, release = noop): Promise<void> {
    try {
      await this.settle()
    } catch (err) {
      release()
      throw err
    }
    const bufs: Uint8Array[] = []
    if (this.used > 0) {
      bufs.push(this.gathers[this.cur].subarray(0, this.used))
      this.cur ^= 1
      this.gathers[this.cur] ??= Buffer.allocUnsafe(GATHER)
      this.used = 0
    }
    if (bulk) bufs.push(bulk)
    if (bufs.length === 0) return
    this.writer ??= this.open()
    this.inFlight = this.writer.write(bufs).then(release, (err) => {
      this.failed = outputSystemError(err, this.name)
      release()
    })
  }

  /** Wait for the write in flight; throw if any write failed. */
  private async settle(): Promise<void> {
    const p = this.inFlight
    this.inFlight = undefined
    if (p) await p
    if (this.failed) throw this.failed
  }

  private open(): Writer {
    let st: fs.Stats | undefined
    try {
      st = fs.fstatSync(this.fd)
    } catch {}
    if (st && (st.isFIFO() || st.isSocket())) {
      try {
        return new SocketWriter(this.fd)
      } catch {}
    }
    return new FsWriter(this.fd, st?.isFile() ?? false)
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
