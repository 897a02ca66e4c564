// Run the built binary the way a user does, and give tests temporary
// directories that are removed when the test file is done.
import {spawn, type StdioOptions} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll} from 'vitest'
import {ROOT, vectorBytes} from './fixtures.js'

export const BIN = join(ROOT, 'bin', 'run.js')

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  stdoutBytes: Buffer
  /** What the child wrote on descriptor 3, when `fd3` was asked for. */
  fd3: string
  /** The child outlived `timeoutMs` and was killed. */
  timedOut: boolean
}

export interface RunOptions {
  /** Written to stdin, which is then closed (an empty stdin without it). */
  input?: Buffer
  /** What stdin is, when not a pipe: 'ignore' or a descriptor. */
  stdin?: 'pipe' | 'ignore' | number
  /** The whole stdio array, for descriptors beyond 2 (the caller's own; overrides stdin and fd3). */
  stdio?: StdioOptions
  cwd?: string
  env?: Record<string, string>
  /** Kill the child (SIGKILL) after this long, and say so in `timedOut`. */
  timeoutMs?: number
  /** Collect what the child writes on descriptor 3. */
  fd3?: boolean
  /** Run this command in place of `node` (a wrapper such as setpriv or bash). */
  argv0?: string[]
}

/**
 * What the variables an in-process run has set (runXstInProcess's env) were
 * before it: a child started meanwhile gets these, not the run's.
 */
export const envShadow = new Map<string, string | undefined>()

function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env = {...process.env}
  for (const [key, value] of envShadow) {
    if (value === undefined) delete env[key]
    else env[key] = value
  }
  return {...env, ...extra}
}

/** Run `node args...` (or `argv0 args...`). */
export function runNode(args: string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions = o.stdio ?? [o.stdin ?? 'pipe', 'pipe', 'pipe', ...(o.fd3 ? ['pipe' as const] : [])]
    const cmd = o.argv0 ?? [process.execPath]
    const child = spawn(cmd[0], [...cmd.slice(1), ...args], {cwd: o.cwd ?? ROOT, env: childEnv(o.env), stdio})
    const out: Buffer[] = []
    const err: Buffer[] = []
    const three: Buffer[] = []
    child.stdout?.on('data', (d) => out.push(d))
    child.stderr?.on('data', (d) => err.push(d))
    if (o.fd3) (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => three.push(d))
    let timedOut = false
    const timer =
      o.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true
            child.kill('SIGKILL')
          }, o.timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const stdoutBytes = Buffer.concat(out)
      resolve({code, signal, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes, fd3: Buffer.concat(three).toString('utf8'), timedOut})
    })
    if (child.stdin) {
      child.stdin.on('error', () => {})
      if (o.input) child.stdin.end(o.input)
      else child.stdin.end()
    }
  })
}

/** The CLI, as a user runs it. */
export function runXst(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runNode([BIN, ...args], opts)
}

const made: string[] = []

// Every directory tempDir made goes when the test file is done (a test that
// has made one read-only, or mounted something on it, undoes that first).
afterAll(() => {
  for (const dir of made.splice(0)) {
    try {
      rmSync(dir, {recursive: true, force: true})
    } catch {}
  }
})

/** A fresh temp directory, removed when the test file is done. */
export function tempDir(prefix = 'xst-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

/** Write bytes to a file in a fresh temp dir and return its path. */
export function tempFile(name: string, data: Buffer): string {
  const p = join(tempDir(), name)
  writeFileSync(p, data)
  return p
}

/** A temp dir holding in.legacy (pv64-xl) and cut.legacy (an image that ends half way), for tests of where outputs go. */
export function inputsDir(): string {
  const dir = tempDir('xst-special-')
  writeFileSync(join(dir, 'in.legacy'), vectorBytes('legacy', 'pv64-xl.legacy.gz'))
  writeFileSync(join(dir, 'cut.legacy'), vectorBytes('legacy', 'pv64-multipass.legacy.gz').subarray(0, 1_200_000))
  return dir
}
