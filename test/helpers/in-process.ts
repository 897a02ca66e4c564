// Run the CLI in the test's own process: the built bundle (dist/xst.cjs,
// loaded as bin/run.js loads it) and oclif's execute(), as bin/run.js calls
// it, without starting node for each command. For tests of what a command
// says and writes; what only a real process has (signals, descriptors it
// inherits, a terminal, ulimit, a pipe its reader closes, the real binary's
// exit) is tested with runXst (./cli.ts), in test/integration.
//
// What a run sees, for the length of the run (and only code called from it,
// through AsyncLocalStorage; the test's own code sees the real ones):
// - process.stdout and process.stderr: streams that keep what is written,
//   neither of them a terminal (as a spawned child's pipes are not);
// - "-" as the input: a pipe (a FIFO made for the run) that the test writes
//   `input` into and then closes; "-" as the output: a pipe the test reads
//   to its end (the run's stdoutBytes). Their descriptors are put where the
//   CLI looks for "-" (stdDescriptor, src/io/spec.ts). A shell's pipes, as
//   a user has them (a spawned child's stdio are socket pairs);
// - process.stdin: the `input` bytes (or nothing), for oclif's reading of a
//   missing argument from stdin;
// - console: writes to those streams (oclif prints some errors with it);
// - process.exit: notes the code (oclif's error handler calls it) and
//   returns.
// process.exitCode, process.env (`env`) and the working directory (`cwd`)
// belong to the whole process, so runs take turns: one at a time, the next
// when it is done, and what they changed is put back after each. (A test's
// own code running meanwhile, in a describe.concurrent, sees a run's env
// and cwd too; children started with runXst get the variables as they were.)
//
// Not here: a descriptor number as the input or output (--in 3: what the
// process inherited), and what node does before the bundle runs
// (NODE_OPTIONS, wrappers, XST_NO_NATIVE, which is read once per process).
// Those throw: use runXst.
import {AsyncLocalStorage} from 'node:async_hooks'
import {spawnSync} from 'node:child_process'
import {Console} from 'node:console'
import * as fs from 'node:fs'
import {createRequire} from 'node:module'
import * as net from 'node:net'
import {join} from 'node:path'
import {Readable, Writable} from 'node:stream'
import {afterAll} from 'vitest'
import {envShadow, type RunResult, tempDir} from './cli.js'
import {ROOT} from './fixtures.js'

export interface InProcessOptions {
  /** What process.stdin holds (oclif reads it for a missing argument); empty without it. */
  input?: Buffer
  /** The working directory for the run (process.chdir, put back after). */
  cwd?: string
  /** Variables set (or, when undefined, removed) for the run, put back after. */
  env?: Record<string, string | undefined>
  /** Fail the run (the test) if it has not finished after this long: it cannot be killed, but a hang is a failure. */
  timeoutMs?: number
}

class Collect extends Writable {
  readonly chunks: Buffer[] = []
  constructor() {
    super({highWaterMark: 1 << 30})
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk))
    cb()
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks)
  }
}

interface Run {
  stdout: Collect
  stderr: Collect
  stdin: Readable
  console: Console
  /** The code process.exit was called with, first call. */
  exit?: number
}

const als = new AsyncLocalStorage<Run>()

/** Variables whose effect an in-process run cannot have: read before the bundle runs, or once per process. */
const PROCESS_ONLY_ENV = ['NODE_OPTIONS', 'XST_NO_NATIVE']

type Bundle = {execute(o: {loadOptions: object; args: string[]}): Promise<unknown>}
let bundle: Bundle | undefined
/** bin/load.js's LOAD_OPTIONS: how bin/run.js has oclif load xst. */
let loadOptions: object = {}

function load(): Bundle {
  if (bundle) return bundle
  install()
  const load = createRequire(import.meta.url)(join(ROOT, 'bin', 'load.js')) as {loadBundle(): Bundle; LOAD_OPTIONS: object}
  loadOptions = load.LOAD_OPTIONS
  // bin/run.js sets this before loading the bundle (see there).
  process.env.OCLIF_DISABLE_ENGINE_WARNING ??= 'true'
  bundle = load.loadBundle()
  return bundle
}

let installed = false

/** The process's streams, console and exit, made to answer a run with its own (outside a run, the real ones). */
function install(): void {
  if (installed) return
  installed = true
  for (const name of ['stdin', 'stdout', 'stderr'] as const) {
    const real = Object.getOwnPropertyDescriptor(process, name)!
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: real.enumerable,
      get() {
        const run = als.getStore()
        return run ? run[name] : real.get!.call(process)
      },
    })
  }
  const exit = process.exit
  process.exit = function (this: NodeJS.Process, code?: number | string | null) {
    const run = als.getStore()
    if (!run) return exit.call(this, code)
    run.exit ??= Number(code ?? process.exitCode ?? 0)
    return undefined as never
  } as typeof process.exit
}

/** console, for a run: its own; otherwise whatever console is there (vitest's). */
function consoleFor(): void {
  const current = globalThis.console as Console & {[ROUTED]?: true}
  if (current[ROUTED]) return
  globalThis.console = new Proxy(current, {
    get(target, key) {
      if (key === ROUTED) return true
      const run = als.getStore()
      return Reflect.get(run ? run.console : target, key)
    },
  })
}
const ROUTED = Symbol('routed to the in-process run')

/** Flags that take a value (the next argument, unless given as --flag=value). */
const VALUE_FLAGS = new Set(['--format', '-f', '--container', '--config', '--width', '-w', '--guest', '-g', '--guest-type', '--in', '-i', '--out', '-o', '--max-errors'])

/**
 * Whether the run reads "-" (stdin) and writes "-" (stdout: convert's NEW
 * or --out, dump-core's CORE), or why it needs a real process (a
 * descriptor number for --in or --out).
 */
function stdio(args: string[]): {stdin: boolean; stdout: boolean; why?: string} {
  const positional: string[] = []
  let inFlag: string | undefined
  let outFlag: string | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (!a.startsWith('-') || a === '-') {
      positional.push(a)
      continue
    }
    const eq = a.indexOf('=')
    const [flag, value] = eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : VALUE_FLAGS.has(a) ? [a, args[++i]] : [a, undefined]
    if (flag === '--in' || flag === '-i') inFlag = value
    if (flag === '--out' || flag === '-o') outFlag = value
  }
  for (const v of [inFlag, outFlag]) if (v !== undefined && /^\d+$/.test(v)) return {stdin: false, stdout: false, why: `uses descriptor ${v}`}
  const [command, ...rest] = positional
  const twoEnds = command === 'convert' || command === 'dump-core'
  const inputs = twoEnds ? [inFlag ?? rest[0]] : rest
  const output = twoEnds ? (outFlag ?? rest[1]) : undefined
  return {stdin: inputs.includes('-'), stdout: output === '-'}
}

let queue: Promise<unknown> = Promise.resolve()

/**
 * `xst ARGS...`, run in this process: the exit code and what it wrote on
 * stdout and stderr, as runXst gives them (signal null, fd3 empty).
 */
export function runXstInProcess(args: string[], o: InProcessOptions = {}): Promise<RunResult> {
  const {why} = stdio(args)
  if (why) throw new Error(`runXstInProcess: xst ${args.join(' ')} ${why}: run it with runXst`)
  const bad = Object.keys(o.env ?? {}).filter((k) => PROCESS_ONLY_ENV.includes(k))
  if (bad.length) throw new Error(`runXstInProcess: ${bad.join(', ')} take effect only in a new process: run it with runXst`)
  const turn = queue.then(() => runNow(args, o))
  queue = turn.catch(() => {})
  if (o.timeoutMs === undefined) return turn
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`xst ${args.join(' ')} did not finish within ${o.timeoutMs} ms (a hang)`)), o.timeoutMs)
  })
  return Promise.race([turn, late]).finally(() => clearTimeout(timer))
}

async function runNow(args: string[], o: InProcessOptions): Promise<RunResult> {
  const {execute} = load()
  consoleFor()
  const stdout = new Collect()
  const stderr = new Collect()
  const input = o.input
  const stdin = new Readable({
    read() {
      if (input?.length) this.push(input)
      this.push(null)
    },
  })
  const run: Run = {stdout, stderr, stdin, console: new Console({stdout, stderr})}
  closeLeftPipes()
  const ends = stdio(args)
  const pipe = ends.stdin ? await stdinPipe(input) : undefined
  const outPipe = ends.stdout ? await stdoutPipe() : undefined
  const savedCode = process.exitCode
  const savedCwd = process.cwd()
  const env = o.env ?? {}
  for (const key of Object.keys(env)) {
    envShadow.set(key, process.env[key])
    if (env[key] === undefined) delete process.env[key]
    else process.env[key] = env[key]
  }
  // oclif keeps what it read from stdin for the rest of the process.
  const oclifGlobal = (globalThis as {oclif?: {stdinCache?: string}}).oclif
  if (oclifGlobal) delete oclifGlobal.stdinCache
  process.exitCode = undefined
  try {
    if (o.cwd) process.chdir(o.cwd)
    ;(globalThis as {[STD]?: {input?: number; output?: number}})[STD] = {input: pipe?.fd, output: outPipe?.fd}
    await als.run(run, () => execute({loadOptions, args}))
    const code = run.exit ?? Number(process.exitCode ?? 0)
    let stdoutBytes = stdout.bytes()
    if (outPipe) {
      // The run is over and waits for no write: the end of the stream.
      outPipe.close()
      const stream = await outPipe.read
      if (stream.length && stdoutBytes.length)
        throw new Error(`runXstInProcess: xst ${args.join(' ')} wrote to stdout both through process.stdout and as its stream; which came first is not known here: run it with runXst`)
      stdoutBytes = stream.length ? stream : stdoutBytes
    }
    return {code, signal: null, stdout: stdoutBytes.toString('utf8'), stderr: stderr.bytes().toString('utf8'), stdoutBytes, fd3: '', timedOut: false}
  } finally {
    delete (globalThis as {[STD]?: unknown})[STD]
    outPipe?.close()
    if (pipe) {
      // What the run did not read is dropped, and the read end is closed
      // before the next run (a read still waiting sees the end first).
      pipe.writer.destroy()
      leftPipes.push(pipe.fd)
    }
    process.exitCode = savedCode
    if (o.cwd) process.chdir(savedCwd)
    for (const [key, value] of envShadow) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
    envShadow.clear()
  }
}

/** Where src/io/spec.ts's stdDescriptor() looks. */
const STD = Symbol.for('xst.test.std')

const leftPipes: number[] = []
function closeLeftPipes(): void {
  for (const fd of leftPipes.splice(0)) fs.closeSync(fd)
}
afterAll(closeLeftPipes)

let fifos: string[] = []
/** A FIFO not used before (made a batch at a time: one mkfifo for many runs). */
function freshFifo(): string {
  if (!fifos.length) {
    const dir = tempDir('xst-stdin-')
    fifos = Array.from({length: 32}, (_, i) => join(dir, `stdin${i}`))
    const r = spawnSync('mkfifo', fifos, {encoding: 'utf8'})
    if (r.status !== 0) throw new Error(`mkfifo: ${r.stderr || r.error}`)
  }
  return fifos.shift()!
}

/**
 * A pipe holding `input`, then its end: the read end's descriptor (opened
 * blocking, as a shell's pipe is) for the run, and the test's writer.
 */
async function stdinPipe(input: Buffer | undefined): Promise<{fd: number; writer: net.Socket}> {
  const [fd, w] = await fifoEnds()
  const writer = new net.Socket({fd: w, readable: false, writable: true})
  writer.on('error', () => {})
  writer.end(input ?? Buffer.alloc(0))
  return {fd, writer}
}

/** Both ends of a new pipe, [read, write], each opened blocking (each open waits for the other's: both on the thread pool, together). */
async function fifoEnds(): Promise<[number, number]> {
  const path = freshFifo()
  const open = (flags: string) => new Promise<number>((resolve, reject) => fs.open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd))))
  const ends = await Promise.all([open('r'), open('w')])
  fs.unlinkSync(path)
  return ends
}

/** A pipe for the run's stdout: the write end's descriptor for the run, and everything read from the other end until it is closed. */
async function stdoutPipe(): Promise<{fd: number; read: Promise<Buffer>; close(): void}> {
  const [r, fd] = await fifoEnds()
  const reader = new net.Socket({fd: r, readable: true, writable: false})
  const chunks: Buffer[] = []
  reader.on('data', (d: Buffer) => chunks.push(d))
  const read = new Promise<Buffer>((resolve, reject) => {
    reader.on('end', () => resolve(Buffer.concat(chunks)))
    reader.on('error', reject)
  }).finally(() => reader.destroy())
  read.catch(() => {})
  let open = true
  const close = () => {
    if (open) fs.closeSync(fd)
    open = false
  }
  return {fd, read, close}
}
