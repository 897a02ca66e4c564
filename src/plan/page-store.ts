// Pages of a Remus stream's later checkpoints that cannot be read back
// from the input when their checkpoint is complete: from a pipe or through
// gzip, and those decoded from compressed data (which exist nowhere else),
// with the copies compressed pages are decoded against. (From a file, an
// uncompressed checkpoint's pages are read back from the input instead.)
// One page per pfn, at pfn x 4096 in a sparse temporary file that is
// unlinked as soon as it is made, so it goes with its descriptor however
// xst ends; memory holds only which pfns it has.
import {unlinkedTempFile} from '../io/temp-file.js'
import * as fs from 'node:fs'
import {PAGE_SIZE} from '../format/x86.js'
import {PfnSet} from '../legacy/pfn-set.js'
import {FormatError, outputSystemError} from '../errors.js'

export class PageStore {
  private readonly has = new PfnSet()
  private closed = false

  private constructor(
    private readonly fd: number,
    /** For messages: where the store is (a full disk there fails the job as an output would). */
    private readonly name: string,
  ) {}

  static create(): PageStore {
    const f = unlinkedTempFile('.xst-checkpoint-', '.pages')
    return new PageStore(f.fd, `checkpoint page store in ${f.dir}`)
  }

  holds(pfn: number): boolean {
    return this.has.has(pfn)
  }

  /** `page` (4096 bytes) as pfn's contents. */
  put(pfn: number, page: Uint8Array): void {
    let done = 0
    try {
      while (done < PAGE_SIZE) done += fs.writeSync(this.fd, page, done, PAGE_SIZE - done, pfn * PAGE_SIZE + done)
    } catch (err) {
      throw outputSystemError(err, this.name)
    }
    this.has.add(pfn)
  }

  /** pfn's contents into `into` at `at` (zeros for a pfn never put). */
  get(pfn: number, into: Uint8Array, at = 0): void {
    if (!this.has.has(pfn)) {
      into.fill(0, at, at + PAGE_SIZE)
      return
    }
    let done = 0
    while (done < PAGE_SIZE) {
      const n = fs.readSync(this.fd, into, at + done, PAGE_SIZE - done, pfn * PAGE_SIZE + done)
      if (n === 0) throw new Error(`internal: page store short read at pfn ${pfn}`)
      done += n
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    try {
      fs.closeSync(this.fd)
    } catch {}
  }
}

/** Most page entries one later checkpoint may list (16 GiB of dirtied memory). */
export const MAX_CHECKPOINT_PAGES = 4 << 20

/** The page entries a later checkpoint listed, in order: pfn and type each. */
export class PageList {
  pfns = new Uint32Array(1024)
  types = new Uint8Array(1024)
  length = 0

  push(pfn: number, type: number): void {
    if (this.length === this.pfns.length) {
      if (this.length >= MAX_CHECKPOINT_PAGES) {
        throw new FormatError('length-too-large', `a Remus checkpoint lists more than ${MAX_CHECKPOINT_PAGES} pages, more than xst holds until the checkpoint is complete`, {context: 'checkpoint'})
      }
      const pfns = new Uint32Array(this.length * 2)
      pfns.set(this.pfns)
      const types = new Uint8Array(this.length * 2)
      types.set(this.types)
      this.pfns = pfns
      this.types = types
    }
    this.pfns[this.length] = pfn
    this.types[this.length] = type
    this.length++
  }
}
