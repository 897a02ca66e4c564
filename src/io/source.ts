// Byte sources: where the reader's bytes come from. A regular file is read
// with positional reads (so skipping is just moving the position); pipes,
// terminals, character devices and sockets are read sequentially.
import * as fs from 'node:fs'
import {inputSystemError, UsageError} from '../errors.js'

export interface ByteSource {
  /** Name for messages: a path, "stdin" or "fd N". */
  readonly name: string
  /** True when reads may jump forward without reading the bytes between. */
  readonly seekable: boolean
  /** Total bytes the stream holds from where reading starts, when known. */
  readonly size: number | undefined
  /**
   * Read up to `length` bytes into `buf` at `offset`, taken from stream
   * position `position` (relative to where the stream starts). Sequential
   * sources ignore `position`: the caller only ever asks for the next bytes.
   * Resolves to 0 at the end of the stream.
   */
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>
  close(): Promise<void>
}

function readAsync(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)))
  })
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A file descriptor read either positionally (from `base`) or sequentially. */
export class FdSource implements ByteSource {
  readonly seekable: boolean
  readonly size: number | undefined
  /** Device and inode, so an output can be checked against the input. */
  identity?: {dev: number; ino: number}
  private closed = false

  constructor(
    readonly name: string,
    private readonly fd: number,
    private readonly ownsFd: boolean,
    /** For positional sources: the file offset that is stream position 0. */
    private readonly base: number | undefined,
    fileSize: number | undefined,
  ) {
    this.seekable = base !== undefined
    this.size = base !== undefined && fileSize !== undefined ? Math.max(0, fileSize - base) : undefined
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    for (;;) {
      try {
        return await readAsync(this.fd, buf, offset, length, this.base !== undefined ? this.base + position : null)
      } catch (err) {
        // A pipe inherited in non-blocking mode: wait for data rather than fail.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          await sleep(2)
          continue
        }
        throw inputSystemError(err, this.name)
      }
    }
  }

  async close(): Promise<void> {
    if (this.ownsFd && !this.closed) {
      this.closed = true
      await new Promise<void>((r) => fs.close(this.fd, () => r()))
    }
  }
}

/** Current file offset of an inherited descriptor (Linux /proc), if it can be had. */
function currentOffset(fd: number): number | undefined {
  try {
    const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
    const m = /^pos:\s*(\d+)/m.exec(info)
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** Open a path for reading. Directories and missing files are usage errors. */
export function openPathSource(path: string): FdSource {
  let fd: number
  try {
    fd = fs.openSync(path, 'r')
  } catch (err) {
    throw inputSystemError(err, path)
  }
  const st = fs.fstatSync(fd)
  if (st.isDirectory()) {
    fs.closeSync(fd)
    throw new UsageError(`${path}: is a directory, not an image`, 'is-directory')
  }
  const src = st.isFile() ? new FdSource(path, fd, true, 0, st.size) : new FdSource(path, fd, true, undefined, undefined)
  src.identity = {dev: st.dev, ino: st.ino}
  return src
}

/** Use an already open descriptor (stdin, or one handed over by a toolstack). */
export function openFdSource(fd: number, name = fd === 0 ? 'stdin' : `fd ${fd}`): FdSource {
  let st: fs.Stats
  try {
    st = fs.fstatSync(fd)
  } catch (err) {
    throw inputSystemError(err, name)
  }
  if (st.isDirectory()) throw new UsageError(`${name}: is a directory, not an image`, 'is-directory')
  const pos = st.isFile() ? currentOffset(fd) : undefined
  const src = pos !== undefined ? new FdSource(name, fd, false, pos, st.size) : new FdSource(name, fd, false, undefined, undefined)
  if (st.isFile()) src.identity = {dev: st.dev, ino: st.ino}
  return src
}

/** "-" is stdin, a decimal number given as an fd flag is that descriptor, anything else a path. */
export function openInput(spec: string, opts: {fdNumbers?: boolean} = {}): FdSource {
  if (spec === '-') return openFdSource(0)
  if (opts.fdNumbers && /^\d+$/.test(spec)) return openFdSource(Number(spec))
  return openPathSource(spec)
}

/** An in-memory source, for tests and for feeding the verifier from a buffer. */
export class BufferSource implements ByteSource {
  readonly seekable = true
  readonly size: number
  constructor(private readonly data: Uint8Array, readonly name = 'buffer') {
    this.size = data.length
  }
  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const n = Math.max(0, Math.min(length, this.data.length - position))
    buf.set(this.data.subarray(position, position + n), offset)
    return n
  }
  async close(): Promise<void> {}
}

/** Like BufferSource, but behaves as a pipe: no size, no seeking, short reads. */
export class ChunkedSource implements ByteSource {
  readonly seekable = false
  readonly size = undefined
  private pos = 0
  constructor(private readonly data: Uint8Array, private readonly maxRead = 4093, readonly name = 'pipe') {}
  async read(buf: Uint8Array, offset: number, length: number): Promise<number> {
    const n = Math.max(0, Math.min(length, this.maxRead, this.data.length - this.pos))
    buf.set(this.data.subarray(this.pos, this.pos + n), offset)
    this.pos += n
    return n
  }
  async close(): Promise<void> {}
}
