// Where a conversion writes. A file target is written to a temporary file in
// the same directory (so the final rename is atomic) and renamed into place
// only on success; any failure or signal removes the temporary file and
// leaves the target as it was. A symlink is followed: the file it names is
// the one replaced, and the link stays. A device, FIFO or socket is not a
// file to replace: it is opened and written as it is.
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import * as tty from 'node:tty'
import {OutputError, outputSystemError, UsageError} from '../errors.js'
import {forTerminal} from '../text.js'
import {checkGivenDescriptor, closedAtStart} from './descriptors.js'
import {descriptorPath, parseSpec, stdDescriptor} from './spec.js'
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
  constructor(
    readonly name: string,
    fd: number,
  ) {
    this.sink = new FdSink(fd, name)
  }
  async commit(): Promise<void> {
    await this.sink.flush()
  }
  abort(): void {}
}

/**
 * A device, FIFO or socket named by a path: written in place (there is
 * nothing to rename over), closed when done, never removed.
 */
class SpecialFileOutput implements Output {
  readonly atomic = false
  readonly sink: FdSink
  private done = false

  constructor(
    readonly name: string,
    fd: number,
    private readonly syncOnCommit: boolean,
    socket?: net.Socket,
  ) {
    this.sink = new FdSink(fd, name, socket)
  }

  async commit(): Promise<void> {
    await this.sink.flush()
    this.done = true
    try {
      // A block device holds what was written: push it to the disk.
      if (this.syncOnCommit) fs.fsyncSync(this.sink.fd)
    } catch (err) {
      this.sink.destroy()
      throw outputSystemError(err, this.name)
    }
    await this.sink.close()
  }

  abort(): void {
    if (this.done) return
    this.done = true
    this.sink.destroy()
  }
}

/** Errors of link(2) that say the filesystem cannot make a hard link (not that the name is taken). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK'])

class AtomicFileOutput implements Output {
  readonly sink: FdSink
  readonly atomic = true
  private done = false

  constructor(
    readonly name: string,
    private readonly target: string,
    private readonly tmpPath: string,
    private readonly fd: number,
    /** Replace what is at the target: without it, the commit itself refuses a name that was taken meanwhile. */
    private readonly replace: boolean,
    private readonly warn: (line: string) => void,
  ) {
    this.sink = new FdSink(fd, name)
  }

  async commit(): Promise<void> {
    await this.sink.flush()
    try {
      // Off the main thread: a large output takes seconds to reach the disk,
      // and a signal meanwhile is acted on at once (abort() removes the file).
      await new Promise<void>((resolve, reject) => fs.fsync(this.fd, (err) => (err ? reject(err) : resolve())))
      if (this.done) throw new OutputError(`${this.name}: abandoned before it was complete`, 'write-failed')
      fs.closeSync(this.fd)
      if (this.replace) fs.renameSync(this.tmpPath, this.target)
      else this.linkIntoPlace()
      this.done = true
    } catch (err) {
      this.abort()
      if (err instanceof UsageError || err instanceof OutputError) throw err
      throw outputSystemError(err, this.name)
    }
  }

  /**
   * Without --force the check that the target is free is made when the file
   * appears, not only when xst started: link(2) fails if the name is taken
   * (another job wrote it meanwhile), where a rename would replace it. A
   * filesystem without hard links gets the check and the rename.
   */
  private linkIntoPlace(): void {
    try {
      fs.linkSync(this.tmpPath, this.target)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? ''
      if (code !== 'EEXIST' && !NO_HARD_LINKS.has(code)) throw err
      if (code === 'EEXIST' || fs.existsSync(this.target))
        throw new UsageError(`${this.name}: already exists (it appeared while xst was writing; it was left as it is, and nothing was written); use --force to replace it`, 'output-exists')
      fs.renameSync(this.tmpPath, this.target)
      return
    }
    try {
      fs.unlinkSync(this.tmpPath)
    } catch {}
  }

  abort(): void {
    if (this.done) return
    this.done = true
    try {
      fs.closeSync(this.fd)
    } catch {}
    try {
      fs.unlinkSync(this.tmpPath)
    } catch (err) {
      // Gone already is what was wanted; anything else leaves a file the user must know of.
      const e = err as NodeJS.ErrnoException
      if (e.code !== 'ENOENT')
        this.warn(`warning: ${forTerminal(this.name)}: the temporary file ${forTerminal(this.tmpPath)} could not be removed (${e.code ?? e.message}); it holds an unfinished output: remove it`)
    }
  }
}

/** A line on stderr, written at once: abort() may run in a signal handler just before the exit. */
function warnNow(line: string): void {
  try {
    fs.writeSync(2, `${line}\n`)
  } catch {}
}

export interface OpenOutputOptions {
  /** Replace an existing target; write a binary stream to a terminal. */
  force?: boolean
  /** The input's identity, so the output can never be the input; its mode, when a regular file, is what a new output gets. */
  input?: {dev: number; ino: number; mode?: number}
  /** Accept a decimal number as a descriptor the caller passed (see descriptors.ts). */
  fdNumbers?: boolean
  /** Where a warning goes that a temporary file could not be removed (stderr, at once, by default). */
  warn?: (line: string) => void
}

/** Symlinks followed before giving up (Linux's own limit is 40). */
const MAX_LINKS = 40

/** How often to look for a reader of a FIFO that has none yet. */
const FIFO_POLL_MS = 50

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

function refuseTerminal(fd: number, force: boolean | undefined): void {
  if (!force && tty.isatty(fd)) throw new UsageError('refusing to write a binary stream to a terminal; use --force', 'output-is-terminal')
}

export async function openOutput(spec: string, opts: OpenOutputOptions = {}): Promise<Output> {
  const named = descriptorPath(spec)
  if (named !== undefined && named !== 1) return openDescriptorOutput(named, spec, opts)
  const given = named === 1 ? ({kind: 'std'} as const) : parseSpec(spec, opts)
  if (given.kind === 'std') {
    const fd = stdDescriptor('output')
    if (fd === 1 && closedAtStart(1)) throw new OutputError('stdout: not open (it was closed when xst started), so the stream would go nowhere', 'output-closed')
    refuseTerminal(fd, opts.force)
    return new FdOutput('stdout', fd)
  }
  if (given.kind === 'fd') return openDescriptorOutput(given.fd, `--out ${spec}`, opts, `fd ${given.fd}`)
  const target = resolveTarget(spec)
  let existing: fs.Stats | undefined
  try {
    existing = fs.statSync(target)
  } catch {}
  if (existing) {
    if (opts.input && sameFile(existing, opts.input)) throw new UsageError(`${spec}: is the input file; refusing to overwrite the input`, 'output-is-input')
    if (existing.isDirectory()) throw new UsageError(`${spec}: is a directory`, 'is-directory')
    // Writing into a FIFO, socket or character device replaces nothing; a
    // block device holds data like a file does, so it takes --force.
    if (existing.isFIFO() || existing.isSocket() || existing.isCharacterDevice()) return openSpecial(spec, target, existing, opts)
    if (!opts.force) throw new UsageError(`${spec}: already exists; use --force to replace it`, 'output-exists')
    if (existing.isBlockDevice()) return openSpecial(spec, target, existing, opts)
  }
  const dir = path.dirname(target)
  let tmpFile: {name: string; fd: number}
  try {
    // Loaded only when a temporary file is made.
    const {default: tmp} = await import('tmp')
    // The output holds the same guest memory as the input, so a new file is
    // never more readable than the input: it gets the input file's read and
    // write bits less the umask (as cp gives a copy), and owner-only when
    // the input is a pipe (nothing says who may read it). A file replaced
    // with --force keeps its own mode, umask or not.
    const mode = existing ? existing.mode & 0o7777 : (opts.input?.mode ?? 0o600) & 0o666
    // The temporary name is the target's, cut short so that a target name of
    // up to NAME_MAX (255) bytes still leaves room for tmp's pid, random
    // part and suffix.
    tmpFile = tmp.fileSync({tmpdir: dir, prefix: `.${truncateName(path.basename(target), MAX_TMP_BASE)}.`, postfix: '.xst-partial', mode})
    if (existing) fs.fchmodSync(tmpFile.fd, mode)
  } catch (err) {
    throw outputSystemError(err, spec)
  }
  return new AtomicFileOutput(spec, target, tmpFile.name, tmpFile.fd, opts.force === true, opts.warn ?? warnNow)
}

/** An open descriptor as the output (--out N, /dev/fd/N): written as it is, never replaced. */
function openDescriptorOutput(fd: number, said: string, opts: OpenOutputOptions, name = said): Output {
  checkGivenDescriptor(fd)
  let st: fs.Stats
  try {
    st = fs.fstatSync(fd)
  } catch {
    throw new UsageError(`${said}: not an open file descriptor`, 'bad-fd')
  }
  if (opts.input && sameFile(st, opts.input)) throw new UsageError(`${said}: is the input file; refusing to overwrite the input`, 'output-is-input')
  refuseTerminal(fd, opts.force)
  return new FdOutput(name, fd)
}

/** Bytes of the target's name a temporary name keeps (tmp adds "-PID-" 12 random characters and "-.xst-partial"). */
const MAX_TMP_BASE = 200

/** `name` cut to at most `max` bytes of UTF-8, never inside a character. */
function truncateName(name: string, max: number): string {
  if (Buffer.byteLength(name) <= max) return name
  let out = ''
  for (const ch of name) {
    if (Buffer.byteLength(out + ch) > max) break
    out += ch
  }
  return out
}

/**
 * The absolute path of the file `spec` names once every symlink is followed,
 * whether that file exists yet or not (a dangling link names the file it
 * would create, as the shell's `>` does). Its directory must exist.
 */
export function resolveTarget(spec: string): string {
  let p = path.resolve(spec)
  for (let hops = 0; ; hops++) {
    let st: fs.Stats
    try {
      st = fs.lstatSync(p)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT') throw outputSystemError(err, spec)
      // Not there yet: the file to create, in its directory's real place.
      try {
        return path.join(fs.realpathSync(path.dirname(p)), path.basename(p))
      } catch (e) {
        throw outputSystemError(e, spec)
      }
    }
    if (!st.isSymbolicLink()) {
      try {
        return fs.realpathSync(p)
      } catch (e) {
        throw outputSystemError(e, spec)
      }
    }
    if (hops >= MAX_LINKS) throw new UsageError(`${spec}: too many levels of symbolic links`, 'symlink-loop')
    p = path.resolve(path.dirname(p), fs.readlinkSync(p))
  }
}

/** Open a device, FIFO or socket to write the stream into it. */
async function openSpecial(spec: string, target: string, st: fs.Stats, opts: OpenOutputOptions): Promise<Output> {
  if (st.isSocket()) {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.createConnection({path: target})
      s.once('connect', () => resolve(s))
      s.once('error', reject)
    }).catch((err) => {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ECONNREFUSED') throw new OutputError(`${spec}: nothing is listening on this socket`, 'socket-refused')
      throw outputSystemError(err, spec)
    })
    const fd = (socket as unknown as {_handle?: {fd?: number}})._handle?.fd ?? -1
    return new SpecialFileOutput(spec, fd, false, socket)
  }
  // No O_CREAT: if the node went away since it was looked at, fail rather
  // than create a regular file in its place.
  const {O_WRONLY, O_NONBLOCK} = fs.constants
  let fd: number
  if (st.isFIFO()) {
    // Opening a FIFO blocks until it has a reader, and a blocked open would
    // not let Ctrl-C through: open without blocking, and wait for a reader.
    for (;;) {
      try {
        fd = fs.openSync(target, O_WRONLY | O_NONBLOCK)
        break
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw outputSystemError(err, spec)
      }
      await sleep(FIFO_POLL_MS)
    }
  } else {
    try {
      fd = fs.openSync(target, O_WRONLY)
    } catch (err) {
      throw outputSystemError(err, spec)
    }
  }
  try {
    const now = fs.fstatSync(fd)
    if (opts.input && sameFile(now, opts.input)) throw new UsageError(`${spec}: is the input file; refusing to overwrite the input`, 'output-is-input')
    refuseTerminal(fd, opts.force)
  } catch (err) {
    fs.closeSync(fd)
    throw err
  }
  return new SpecialFileOutput(spec, fd, st.isBlockDevice())
}

function sameFile(a: {dev: number; ino: number}, b: {dev: number; ino: number}): boolean {
  return a.dev === b.dev && a.ino === b.ino
}
