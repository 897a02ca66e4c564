// Where a conversion writes. A file target is written to a temporary file in
// the same directory (so the final rename is atomic) and renamed into place
// only on success; any failure or signal removes the temporary file and
// leaves the target as it was.
import * as fs from 'node:fs'
import * as path from 'node:path'
import tmp from 'tmp'
import {outputSystemError, UsageError} from '../errors.js'
import {FdSink} from './sink.js'

export interface Output {
  readonly name: string
  readonly sink: FdSink
  /** Nothing is visible until commit() (a file renamed into place); false for a descriptor, whose bytes are out once written. */
  readonly atomic: boolean
  /** Make the result visible (rename into place); after this, abort() does nothing. */
  commit(): Promise<void>
  /** Throw the result away. Synchronous, idempotent, safe from a signal handler. */
  abort(): void
}

/** Writes straight to an open descriptor (stdout, or one a toolstack handed over). */
class FdOutput implements Output {
  readonly sink: FdSink
  readonly atomic = false
  constructor(readonly name: string, fd: number) {
    this.sink = new FdSink(fd, name)
  }
  async commit(): Promise<void> {
    await this.sink.flush()
  }
  abort(): void {}
}

class AtomicFileOutput implements Output {
  readonly sink: FdSink
  readonly atomic = true
  private done = false

  constructor(readonly name: string, private readonly target: string, private readonly tmpPath: string, private readonly fd: number) {
    this.sink = new FdSink(fd, name)
  }

  async commit(): Promise<void> {
    await this.sink.flush()
    try {
      fs.fsyncSync(this.fd)
      fs.closeSync(this.fd)
      fs.renameSync(this.tmpPath, this.target)
      this.done = true
    } catch (err) {
      this.abort()
      throw outputSystemError(err, this.name)
    }
  }

  abort(): void {
    if (this.done) return
    this.done = true
    try {
      fs.closeSync(this.fd)
    } catch {}
    try {
      fs.unlinkSync(this.tmpPath)
    } catch {}
  }
}

export interface OpenOutputOptions {
  /** Replace an existing target. */
  force?: boolean
  /** The input's identity, so the output can never be the input. */
  input?: {dev: number; ino: number}
  /** Accept a decimal number as an inherited descriptor. */
  fdNumbers?: boolean
}

export function openOutput(spec: string, opts: OpenOutputOptions = {}): Output {
  if (spec === '-') return new FdOutput('stdout', 1)
  if (opts.fdNumbers && /^\d+$/.test(spec)) {
    const fd = Number(spec)
    let st: fs.Stats
    try {
      st = fs.fstatSync(fd)
    } catch {
      throw new UsageError(`--out ${spec}: not an open file descriptor`, 'bad-fd')
    }
    if (opts.input && sameFile(st, opts.input)) throw new UsageError(`--out ${spec}: is the input file; refusing to overwrite the input`, 'output-is-input')
    return new FdOutput(`fd ${fd}`, fd)
  }
  const target = path.resolve(spec)
  let existing: fs.Stats | undefined
  try {
    existing = fs.statSync(target)
  } catch {}
  if (existing) {
    if (opts.input && sameFile(existing, opts.input)) throw new UsageError(`${spec}: is the input file; refusing to overwrite the input`, 'output-is-input')
    if (existing.isDirectory()) throw new UsageError(`${spec}: is a directory`, 'is-directory')
    if (!opts.force) throw new UsageError(`${spec}: already exists; use --force to replace it`, 'output-exists')
  }
  const dir = path.dirname(target)
  let tmpFile: {name: string; fd: number}
  try {
    tmpFile = tmp.fileSync({tmpdir: dir, prefix: `.${path.basename(target)}.`, postfix: '.xst-partial', mode: existing ? existing.mode & 0o7777 : 0o600})
  } catch (err) {
    throw outputSystemError(err, spec)
  }
  return new AtomicFileOutput(spec, target, tmpFile.name, tmpFile.fd)
}

function sameFile(a: {dev: number; ino: number}, b: {dev: number; ino: number}): boolean {
  return a.dev === b.dev && a.ino === b.ino
}
