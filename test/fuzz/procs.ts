// Child processes for the hostile-input and fault tests: the CLI run with a
// time limit, the CLI run inside a small wrapper that reports its peak
// memory, and a batch of library calls run in a fresh node whose peak memory
// is the measure of "nothing was allocated for a length that lies".
import {spawnSync, spawn} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {ROOT} from '../helpers/fixtures.js'
import {BIN} from '../helpers/cli.js'

export interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** What the child wrote on descriptor 3 (the wrapper's report). */
  fd3: string
  timedOut: boolean
}

/**
 * Run `node args...`; the child is killed (SIGKILL) after `timeoutMs`, and
 * `timedOut` says so. `input` is written to stdin, or stdin is given as is.
 */
export function runNode(args: string[], o: {input?: Buffer; stdin?: 'pipe' | 'ignore' | number; env?: Record<string, string>; cwd?: string; timeoutMs?: number; fd3?: boolean; argv0?: string[]} = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const stdio: any[] = [o.stdin ?? 'pipe', 'pipe', 'pipe']
    if (o.fd3) stdio.push('pipe')
    const cmd = o.argv0 ?? [process.execPath]
    const child = spawn(cmd[0], [...cmd.slice(1), ...args], {cwd: o.cwd ?? ROOT, env: {...process.env, ...o.env}, stdio})
    const out: Buffer[] = []
    const err: Buffer[] = []
    const three: Buffer[] = []
    child.stdout!.on('data', (d) => out.push(d))
    child.stderr!.on('data', (d) => err.push(d))
    if (o.fd3) (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => three.push(d))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, o.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), fd3: Buffer.concat(three).toString('utf8'), timedOut})
    })
    if (child.stdin) {
      child.stdin.on('error', () => {})
      if (o.input) child.stdin.end(o.input)
      else child.stdin.end()
    }
  })
}

/** The CLI, as a user runs it, with a time limit. */
export function runCli(args: string[], o: Parameters<typeof runNode>[1] = {}): Promise<ChildResult> {
  return runNode([BIN, ...args], o)
}

let wrapperPath: string | undefined
const scratch: string[] = []

/** A directory removed when the test file ends (call removeScratch in afterAll). */
export function scratchDir(prefix = 'xst-hostile-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  scratch.push(d)
  return d
}

export function removeScratch(): void {
  for (const d of scratch.splice(0)) rmSync(d, {recursive: true, force: true})
}

/**
 * The CLI, as bin/run.js runs it, with a hook (node --import) that writes
 * `{"maxRSS": kilobytes}` on descriptor 3 as the process exits, so a test
 * can bound the memory one command used.
 */
export async function runCliMeasured(args: string[], o: Parameters<typeof runNode>[1] = {}): Promise<ChildResult & {maxRssMiB: number}> {
  if (!wrapperPath) {
    wrapperPath = join(scratchDir('xst-wrapper-'), 'measured.mjs')
    writeFileSync(
      wrapperPath,
      `import {writeSync} from 'node:fs'
process.on('exit', () => {
  try { writeSync(3, JSON.stringify({maxRSS: process.resourceUsage().maxRSS})) } catch {}
})
`,
    )
  }
  const r = await runNode(['--import', pathToFileURL(wrapperPath).href, BIN, ...args], {...o, fd3: true})
  let maxRssMiB = NaN
  try {
    maxRssMiB = JSON.parse(r.fd3).maxRSS / 1024
  } catch {}
  return {...r, maxRssMiB}
}

/** A stack trace in CLI output: a bad image must never produce one. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+(\(|:\d+:\d+)/m.test(text) || /\b(TypeError|RangeError|ReferenceError|AssertionError)\b/.test(text) || text.includes('internal error')
}

/** stderr without warning lines: what is left must be one line naming the problem. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '' && !l.startsWith('warning: '))
}

let nobody: string[] | null | undefined

/**
 * How to run node as an unprivileged user when the tests run as root:
 * setpriv to uid/gid 65534, if that exists and such a process can run the
 * CLI from where the repository is. [] when not root; null when there is no
 * way (callers skip what needs it).
 */
export function unprivileged(home: string): string[] | null {
  if (process.getuid?.() !== 0) return []
  if (nobody !== undefined) return nobody
  const prefix = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath]
  const probe = spawnSync(prefix[0], [...prefix.slice(1), BIN, '--version'], {env: {...process.env, HOME: home}, stdio: 'ignore', timeout: 20_000})
  nobody = probe.status === 0 ? prefix : null
  return nobody
}
