// Moving pages: placing each page at pfn × 4096 of a file (a raw dump, or
// the spool an ELF dump is built from when the input is a pipe), and
// writing the pages of a dump in pfn order to a sink from wherever their
// last copies are (the input file, or the spool).
import {unlinkedTempFile} from '../io/temp-file.js'
import * as fs from 'node:fs'
import {InputError, outputSystemError} from '../errors.js'
import {PAGE_SIZE} from '../format/x86.js'
import type {ByteSink} from '../io/sink.js'
import type {PfnBitmap} from './pfns.js'

/** Pages moved in one read or write: 1 MiB. */
export const PAGES_PER_IO = 256

/** Where page contents go while a stream is read. */
export interface PagePlacer {
  /** `count` pages for pfns[from ...], packed in `buf` from byte `at`. */
  place(pfns: Float64Array, from: number, count: number, buf: Buffer, at: number): void
}

/** Writes each page at pfn × 4096 of a file, with positional writes: what is never written stays a hole. */
export class FilePlacer implements PagePlacer {
  /** Bytes written. */
  written = 0

  constructor(
    readonly fd: number,
    readonly name: string,
  ) {}

  place(pfns: Float64Array, from: number, count: number, buf: Buffer, at: number): void {
    let i = 0
    while (i < count) {
      // A run of consecutive pfns goes out in one write.
      let j = i + 1
      while (j < count && pfns[from + j] === pfns[from + j - 1] + 1) j++
      this.pwrite(buf, at + i * PAGE_SIZE, (j - i) * PAGE_SIZE, pfns[from + i] * PAGE_SIZE)
      i = j
    }
  }

  pwrite(buf: Buffer, off: number, len: number, position: number): void {
    let done = 0
    try {
      while (done < len) done += fs.writeSync(this.fd, buf, off + done, len - done, position + done)
    } catch (err) {
      throw outputSystemError(err, this.name)
    }
    this.written += len
  }

  /** Set the file's size (the end of the highest page; holes after the last write read as zeros). */
  truncate(size: number): void {
    try {
      fs.ftruncateSync(this.fd, size)
    } catch (err) {
      throw outputSystemError(err, this.name)
    }
  }
}

/**
 * A sparse temporary file in the raw layout, for an ELF dump (or a raw one
 * to a pipe) of an input that cannot be read twice. It is unlinked as soon
 * as it is created, so it disappears with the descriptor however xst ends.
 */
export class Spool extends FilePlacer {
  private closed = false

  private constructor(fd: number, name: string) {
    super(fd, name)
  }

  /** A spool in `dir` (beside the output), or in the temporary directory when the output is not a file. */
  static create(dir: string | undefined): Spool {
    const f = unlinkedTempFile('.xst-dump-', '.xst-spool', dir)
    return new Spool(f.fd, `spool file in ${f.dir}`)
  }

  read(buf: Buffer, off: number, len: number, position: number): number {
    return fs.readSync(this.fd, buf, off, len, position)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    try {
      fs.closeSync(this.fd)
    } catch {}
  }
}

/** Reads `len` bytes at `position` of wherever pages come from. */
export type ReadAt = (buf: Buffer, off: number, len: number, position: number) => Promise<number> | number

/** 1 MiB buffers for page reads, handed back once the sink has written them. */
class BufferPool {
  private free: Buffer[] = []
  get(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(PAGES_PER_IO * PAGE_SIZE)
  }
  put(b: Buffer): void {
    if (this.free.length < 4) this.free.push(b)
  }
}

const ZEROS = Buffer.alloc(PAGES_PER_IO * PAGE_SIZE)

export interface EmitOptions {
  sink: ByteSink
  pages: PfnBitmap
  /** The pfn ranges to write, in order; `prepare` is awaited before each (a window pass). */
  windows: Iterable<[number, number]>
  prepare?: (lo: number, hi: number) => Promise<void>
  /** Where pfn's page is (a byte position for `read`). */
  locate: (pfn: number) => number
  read: ReadAt
  /** Raw to a stream: zeros between pages, from pfn 0. */
  zeroGaps: boolean
  /** A kdump-style core: where the segment holding a run starts (zeros go from there, or from the run before it, to the run). */
  segmentStart?: (pfn: number) => number
  /** Sees every page written: `count` pages of consecutive pfns from `first`, in `buf` from byte 0. */
  look?: (first: number, count: number, buf: Buffer) => void
  /** Changes pages as read, before they are written: `pages` holds those of pfns first, first + 1, ... (the p2m rewrite, src/dump/p2m.ts). */
  rewrite?: (first: number, pages: Buffer) => void
  /** Pages written so far. */
  onPages?: (done: number) => void
}

/** Write the pages of `pages`, ascending, to the sink. Returns the page count. */
export async function emitPages(o: EmitOptions): Promise<number> {
  const pool = new BufferPool()
  let cursor = 0 // next pfn a raw stream is at
  let done = 0
  const zeros = async (to: number) => {
    while (cursor < to) {
      const n = Math.min(to - cursor, PAGES_PER_IO)
      await o.sink.write(ZEROS.subarray(0, n * PAGE_SIZE))
      cursor += n
    }
  }
  for (const [lo, hi] of o.windows) {
    await o.prepare?.(lo, hi)
    for (const [s, e] of o.pages.runs(lo, hi)) {
      if (o.zeroGaps) await zeros(s)
      else if (o.segmentStart) {
        cursor = Math.max(cursor, o.segmentStart(s))
        await zeros(s)
      }
      let p = s
      while (p < e) {
        // Pages whose copies lie one after the other are read together.
        const at = o.locate(p)
        // The first pass found a page the window pass did not: the file changed between the two reads.
        if (at < 0) throw new InputError(`page ${p} was in the image when it was first read but not when it was read again; was it changed while xst read it?`, 'input-changed')
        let n = 1
        while (p + n < e && n < PAGES_PER_IO && o.locate(p + n) === at + n * PAGE_SIZE) n++
        const buf = pool.get()
        const len = n * PAGE_SIZE
        let got = 0
        while (got < len) {
          const k = await o.read(buf, got, len - got, at + got)
          if (k === 0) throw new InputError(`the input ended at byte ${at + got} while page ${p} was read back; was it changed while xst read it?`, 'input-changed')
          got += k
        }
        o.rewrite?.(p, buf.subarray(0, len))
        o.look?.(p, n, buf)
        await o.sink.write(buf.subarray(0, len), () => pool.put(buf))
        p += n
        done += n
        o.onPages?.(done)
      }
      cursor = e
    }
  }
  return done
}
