// A list that grows with the image but not with memory: the first rows are
// kept as they are; past that, every row goes to a temporary file as a line
// of JSON (unlinked at once, so it vanishes with the descriptor however xst
// ends) and is read back, one buffer at a time, each time the list is
// iterated. inspect-legacy --verbose keeps its one line per chunk in one:
// 16,417 rows for a 64 GiB image, 262,000 for 1 TiB.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

/** Rows kept in memory before the list spills: XST_SPILL_ROWS (tests spill small lists), else 2048. */
export function spillRows(): number {
  const env = Number(process.env.XST_SPILL_ROWS)
  return Number.isSafeInteger(env) && env >= 0 ? env : 2048
}

const PIECE = 64 << 10
const READ_CHUNK = 64 << 10

/**
 * Texts packed into 64 KiB buffers, each handed to `emit` once full (a text
 * longer than that goes alone, as it is): what SpillList writes to its file
 * and what cli/json.ts writes to stdout.
 */
export class TextPacker {
  private readonly buf = Buffer.allocUnsafe(PIECE)
  private used = 0

  constructor(private readonly emit: (piece: Buffer | string) => void) {}

  add(text: string): void {
    const n = Buffer.byteLength(text)
    if (this.used + n > PIECE) this.flush()
    if (n > PIECE) this.emit(text)
    else this.used += this.buf.write(text, this.used)
  }

  /** Hand over what is packed, as a copy: the buffer is filled again while the piece is written. */
  flush(): void {
    if (this.used === 0) return
    this.emit(Buffer.from(this.buf.subarray(0, this.used)))
    this.used = 0
  }
}

export class SpillList<T> implements Iterable<T> {
  private readonly kept: T[] = []
  private fd: number | undefined
  /** Set when no temporary file could be made: every row stays in memory. */
  private memoryOnly = false
  /** Rows on their way to the file. */
  private pending: TextPacker | undefined
  private spilled = 0
  private n = 0
  private closed = false

  constructor(private readonly memoryRows = spillRows()) {}

  get length(): number {
    return this.n
  }

  /** Whether rows went to the temporary file. */
  get onDisk(): boolean {
    return this.fd !== undefined
  }

  push(row: T): void {
    this.n++
    if (this.fd === undefined && (this.kept.length < this.memoryRows || this.memoryOnly || !this.open())) {
      this.kept.push(row)
      return
    }
    this.pending ??= new TextPacker((piece) => this.writeAll(typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece))
    this.pending.add(JSON.stringify(row) + '\n')
    this.spilled++
  }

  private open(): boolean {
    // Made here rather than with the tmp package, which the CLI loads only when it writes an output beside its target.
    for (let attempt = 0; attempt < 5; attempt++) {
      const name = path.join(os.tmpdir(), `.xst-rows-${process.pid}-${Math.random().toString(36).slice(2)}`)
      try {
        this.fd = fs.openSync(name, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue
        break
      }
      try {
        fs.unlinkSync(name)
      } catch {}
      return true
    }
    this.memoryOnly = true
    return false
  }

  private writeAll(buf: Buffer): void {
    let done = 0
    while (done < buf.length) done += fs.writeSync(this.fd!, buf, done, buf.length - done, null)
  }

  *[Symbol.iterator](): Iterator<T> {
    if (this.closed) throw new Error('internal: a spill list read after it was closed')
    yield* this.kept
    if (this.fd === undefined) return
    this.pending?.flush()
    const buf = Buffer.allocUnsafe(READ_CHUNK)
    // The bytes of a row whose newline has not come yet (copied: buf is read into again).
    let carry: Buffer[] = []
    let position = 0
    let read = 0
    for (;;) {
      const k = fs.readSync(this.fd, buf, 0, buf.length, position)
      if (k === 0) break
      position += k
      const view = buf.subarray(0, k)
      let start = 0
      for (let nl = view.indexOf(10); nl >= 0; nl = view.indexOf(10, start)) {
        const piece = view.subarray(start, nl)
        const text = carry.length ? Buffer.concat([...carry, piece]).toString('utf8') : piece.toString('utf8')
        carry = []
        start = nl + 1
        read++
        yield JSON.parse(text) as T
      }
      if (start < k) carry.push(Buffer.from(view.subarray(start)))
    }
    if (read !== this.spilled || carry.length) throw new Error(`internal: read back ${read} of ${this.spilled} spilled rows`)
  }

  /**
   * Set by cli/json.ts while it lays out a document: what stands in the text
   * for a list whose rows it then streams. (JSON.stringify calls toJSON
   * before any replacer sees the value, so a replacer cannot stop a list
   * from being read whole: for a million rows, 150 MB of garbage.)
   */
  static placeholder: ((list: SpillList<unknown>) => string) | undefined

  /** For JSON.stringify: the rows as an array, or the placeholder (see above). */
  toJSON(): T[] | string {
    return SpillList.placeholder ? SpillList.placeholder(this) : [...this]
  }

  /** Close the temporary file (it is already unlinked). */
  close(): void {
    this.closed = true
    if (this.fd === undefined) return
    try {
      fs.closeSync(this.fd)
    } catch {}
    this.fd = undefined
  }
}
