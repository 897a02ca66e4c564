// Byte sources: where the reader's bytes come from. A regular file is read
// with positional reads (so skipping is just moving the position); pipes,
// terminals, character devices and sockets are read sequentially. A regular
// file a caller handed over as a descriptor, when the image must be read
// exactly (convert), is read at and through its own offset (see
// FdSource.read).
import * as fs from 'node:fs'
import {inputSystemError, UsageError} from '../errors.js'
import {checkGivenDescriptor} from './descriptors.js'
import {loadNative} from './native.js'
import {NativeStreamReader, SPARE, StreamReader} from './stream-readers.js'
import {parseSpec, stdDescriptor} from './spec.js'

export interface ByteSource {
  /** Name for messages: a path, "stdin" or "fd N". */
  readonly name: string
  /** True when reads may jump forward without reading the bytes between. */
  readonly seekable: boolean
  /** Total bytes the stream holds from where reading starts, when known. */
  readonly size: number | undefined
  /** Take no byte from a stream that was not asked for (see FdSource.exact). */
  readonly exact?: boolean
  /**
   * Read up to `length` bytes into `buf` at `offset`, taken from stream
   * position `position` (relative to where the stream starts). Sequential
   * sources ignore `position`: the caller only ever asks for the next bytes.
   * Resolves to 0 at the end of the stream. `min` (default 1) is a hint: the
   * caller is going to wait for that many bytes anyway, so a source may
   * gather them before resolving rather than return each piece as it comes.
   */
  read(buf: Uint8Array, offset: number, length: number, position: number, min?: number): Promise<number>
  /**
   * read(), for a source whose reads complete at once (a regular file,
   * memory): present only there. ByteReader then reads without awaiting.
   */
  readSync?(buf: Uint8Array, offset: number, length: number, position: number): number
  /**
   * Where the kernel can take bytes from directly (see ByteReader.transferTo):
   * the descriptor, the file offset of stream position `position` (-1: the
   * descriptor's own offset, or a pipe), and what it is. Only where the
   * native addon can move them and no byte of the span was read already.
   */
  transferFrom?(position: number): TransferFrom | undefined
  close(): Promise<void>
}

export interface TransferFrom {
  fd: number
  offset: number
  kind: 'file' | 'pipe' | 'socket'
}

function readAsync(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)))
  })
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * How a descriptor is read:
 * - `positional`: a regular file, by pread from `base` (skips are free);
 * - `offset`: a regular file handed over by a caller, by read(2) at and
 *   through the descriptor's own offset, so the offset ends exactly where
 *   the image ends (see FdSource.read);
 * - `stream`: a pipe or socket, on the event loop (see StreamReader);
 * - `sequential`: anything else (terminals, devices), by read(2).
 */
export type FdAccess = {kind: 'positional'; base: number; fileSize: number} | {kind: 'offset'; size: number | undefined} | {kind: 'stream'} | {kind: 'sequential'}

export class FdSource implements ByteSource {
  readonly seekable: boolean
  readonly size: number | undefined
  /** Device and inode, so an output can be checked against the input. */
  /** Which file this is (a regular file also gives its permission bits, which a new output takes). */
  identity?: {dev: number; ino: number; mode?: number}
  private closed = false
  private stream: StreamReader | undefined
  private nativeStream: NativeStreamReader | undefined
  /** Set by the openers: a pipe (FIFO) rather than a socket. */
  fifo = false
  /**
   * Take no byte from a pipe or socket that was not asked for, so whatever
   * follows the image stays there for the next reader (a toolstack's
   * migration protocol). ByteReader then reads ahead nothing either.
   * Always true for `offset` access.
   */
  exact = false

  constructor(
    readonly name: string,
    private readonly fd: number,
    private readonly ownsFd: boolean,
    private readonly access: FdAccess,
  ) {
    this.seekable = access.kind === 'positional'
    this.size = access.kind === 'positional' ? Math.max(0, access.fileSize - access.base) : access.kind === 'offset' ? access.size : undefined
    if (access.kind === 'offset') this.exact = true
    if (access.kind === 'positional' || access.kind === 'offset') this.readSync = this.fileRead
  }

  /** Set for a regular file (positional or offset access): see ByteSource.readSync. */
  readonly readSync?: (buf: Uint8Array, offset: number, length: number, position: number) => number

  private fileRead(buf: Uint8Array, offset: number, length: number, position: number): number {
    const a = this.access
    try {
      return fs.readSync(this.fd, buf, offset, length, a.kind === 'positional' ? a.base + position : null)
    } catch (err) {
      throw inputSystemError(err, this.name)
    }
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number, min = 1): Promise<number> {
    const a = this.access
    if (a.kind === 'positional' || a.kind === 'offset') {
      // A regular file: a synchronous read costs a few microseconds; a
      // thread-pool round trip costs 50-200 (most of a seek-heavy walk).
      //
      // With `offset` access the read goes through the descriptor's own file
      // offset (position null), which the caller shares: xl has read its
      // header from it, so the image starts there, and xenopsd reads the
      // qemu record that follows the image from it once we exit. Node can
      // neither lseek nor read the offset back after a pread, so the offset
      // is only ever moved by reading, and the reader asks for exactly the
      // bytes the image holds (no read-ahead: the source is exact and not
      // seekable; skips read into a scratch buffer). A conversion reads
      // every byte of the image anyway, so this costs no more than pread;
      // the few extra small reads (no 64 KiB read-ahead for headers) are a
      // handful per 4 MiB page batch: 1645 read calls against 561 preads
      // for a 1 GiB HVM image. Measured on that image, from the page cache,
      // output to /dev/null, 6 runs each on a busy 2-core VM: median 1.43 s
      // (best 0.86) against 1.31 s (best 1.04) positional, 0.63 against
      // 0.61 CPU seconds: the same within noise.
      return this.fileRead(buf, offset, length, position)
    }
    if (a.kind === 'stream') {
      try {
        if (!this.stream && !this.nativeStream) {
          const native = loadNative()
          if (native) this.nativeStream = new NativeStreamReader(native, this.fd, this.fifo)
        }
        if (this.nativeStream) return await this.nativeStream.read(buf, offset, length, min)
        this.stream ??= new StreamReader(this.fd, this.exact ? 1 : SPARE)
        return await this.stream.read(buf, offset, length, min)
      } catch (err) {
        throw inputSystemError(err, this.name)
      }
    }
    for (;;) {
      try {
        return await readAsync(this.fd, buf, offset, length, null)
      } catch (err) {
        // A terminal or device in non-blocking mode: wait for data rather than fail.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          await sleep(2)
          continue
        }
        throw inputSystemError(err, this.name)
      }
    }
  }

  transferFrom(position: number): TransferFrom | undefined {
    const a = this.access
    if (!loadNative()) return undefined
    if (a.kind === 'positional') return {fd: this.fd, offset: a.base + position, kind: 'file'}
    if (a.kind === 'offset') return {fd: this.fd, offset: -1, kind: 'file'}
    // A stream only when nothing of it waits in JavaScript (the native reader takes nothing ahead).
    if (a.kind === 'stream' && !this.stream) {
      this.nativeStream ??= new NativeStreamReader(loadNative()!, this.fd, this.fifo)
      return {fd: this.fd, offset: -1, kind: this.fifo ? 'pipe' : 'socket'}
    }
    return undefined
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.nativeStream?.close()
    if (this.stream) {
      // The socket owns the descriptor now: it closes it, or nobody does.
      this.stream.close(this.ownsFd)
      return
    }
    if (this.ownsFd) await new Promise<void>((r) => fs.close(this.fd, () => r()))
  }
}

/** Pipes and sockets; anything else sequential (terminals, devices) is read with fs.read. */
function isStreamStat(st: fs.Stats): boolean {
  return st.isFIFO() || st.isSocket()
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
  const src = new FdSource(path, fd, true, st.isFile() ? {kind: 'positional', base: 0, fileSize: st.size} : {kind: isStreamStat(st) ? 'stream' : 'sequential'})
  src.identity = {dev: st.dev, ino: st.ino, mode: st.isFile() ? st.mode & 0o7777 : undefined}
  src.fifo = st.isFIFO()
  return src
}

/**
 * Use an already open descriptor (stdin, or one handed over by a toolstack).
 * Reading starts at the descriptor's current offset. With `exact`, a
 * regular file is read through that offset and left exactly at the end of
 * what was read; otherwise it is read positionally and its offset is left
 * alone.
 */
export function openFdSource(fd: number, name = fd === 0 ? 'stdin' : `fd ${fd}`, opts: {exact?: boolean} = {}): FdSource {
  let st: fs.Stats
  try {
    st = fs.fstatSync(fd)
  } catch (err) {
    throw inputSystemError(err, name)
  }
  if (st.isDirectory()) throw new UsageError(`${name}: is a directory, not an image`, 'is-directory')
  let access: FdAccess
  if (st.isFile()) {
    const pos = currentOffset(fd)
    if (opts.exact) access = {kind: 'offset', size: pos !== undefined ? Math.max(0, st.size - pos) : undefined}
    else access = pos !== undefined ? {kind: 'positional', base: pos, fileSize: st.size} : {kind: 'sequential'}
  } else access = {kind: isStreamStat(st) ? 'stream' : 'sequential'}
  const src = new FdSource(name, fd, false, access)
  if (st.isFile()) src.identity = {dev: st.dev, ino: st.ino, mode: st.mode & 0o7777}
  src.fifo = st.isFIFO()
  return src
}

/**
 * What `spec` names (spec.ts): stdin, a descriptor the caller must have
 * passed (see descriptors.ts), or a path. `exact`: read no byte past the image from a descriptor, and leave a
 * file descriptor's offset right after it.
 */
export function openInput(spec: string, opts: {fdNumbers?: boolean; exact?: boolean} = {}): FdSource {
  let src: FdSource
  const given = parseSpec(spec, opts)
  if (given.kind === 'std') src = openFdSource(stdDescriptor('input'), 'stdin', {exact: opts.exact})
  else if (given.kind === 'fd') {
    const fd = given.fd
    checkGivenDescriptor(fd)
    src = openFdSource(fd, undefined, {exact: opts.exact})
  } else src = openPathSource(spec)
  if (opts.exact) src.exact = true
  return src
}

/** An in-memory source, for tests and for feeding the verifier from a buffer. */
export class BufferSource implements ByteSource {
  readonly seekable = true
  readonly size: number
  constructor(
    private readonly data: Uint8Array,
    readonly name = 'buffer',
  ) {
    this.size = data.length
  }
  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.readSync(buf, offset, length, position)
  }
  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
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
  constructor(
    private readonly data: Uint8Array,
    private readonly maxRead = 4093,
    readonly name = 'pipe',
  ) {}
  async read(buf: Uint8Array, offset: number, length: number): Promise<number> {
    const n = Math.max(0, Math.min(length, this.maxRead, this.data.length - this.pos))
    buf.set(this.data.subarray(this.pos, this.pos + n), offset)
    this.pos += n
    return n
  }
  async close(): Promise<void> {}
}

/**
 * The first `limit` bytes of a seekable source, read as if they were all of
 * it: a replication stream cut back to the end of the checkpoint a dump
 * takes (dump-core), so that every pass sees that checkpoint as the end.
 */
export class BoundedSource implements ByteSource {
  readonly seekable = true
  readonly size: number
  readonly name: string
  constructor(
    private readonly inner: ByteSource,
    limit: number,
  ) {
    if (!inner.seekable) throw new Error('internal: a bound on a source that cannot seek')
    this.size = inner.size === undefined ? limit : Math.min(limit, inner.size)
    this.name = inner.name
  }
  read(buf: Uint8Array, offset: number, length: number, position: number, min?: number): Promise<number> {
    const n = Math.max(0, Math.min(length, this.size - position))
    return n === 0 ? Promise.resolve(0) : this.inner.read(buf, offset, n, position, min === undefined ? undefined : Math.min(min, n))
  }
  async close(): Promise<void> {}
}
