// Run the built CLI under a real pseudo-terminal, with util-linux `script`:
// the command's stdin, stdout and stderr are the terminal unless the shell
// command line redirects them.
import {spawn, spawnSync} from 'node:child_process'
import {BIN} from './cli.js'
import {ROOT} from './fixtures.js'

/** util-linux `script` is there (and is the util-linux one, which takes -q -e -c). */
export const hasScript = (() => {
  const r = spawnSync('script', ['-qec', 'true', '/dev/null'], {stdio: 'ignore'})
  return r.status === 0
})()

/** Quote one word for sh. */
export function sh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

/** `xst ARGS...` as a shell command line. */
export function xstLine(args: string[]): string {
  return [process.execPath, BIN, ...args].map(sh).join(' ')
}

export interface TtyResult {
  code: number | null
  /** Everything the terminal showed, as written (escape sequences included). */
  raw: string
  /** The same without escape sequences and carriage returns. */
  text: string
}

/** Drop terminal escape sequences and carriage returns. */
export function plain(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b[()][0-9A-Za-z]/g, '')
    .replace(/\r/g, '')
}

export interface TtyRun {
  /** Type into the terminal (e.g. '\x03' for Ctrl-C). */
  type(s: string): void
  /** What the terminal has shown so far. */
  shown(): string
  done: Promise<TtyResult>
}

/** Start a shell command line on a new terminal. */
export function startTty(line: string, opts: {cwd?: string; env?: Record<string, string>} = {}): TtyRun {
  const child = spawn('script', ['-qec', line, '/dev/null'], {cwd: opts.cwd ?? ROOT, env: {...process.env, ...opts.env}, stdio: ['pipe', 'pipe', 'pipe']})
  const out: Buffer[] = []
  child.stdout.on('data', (d) => out.push(d))
  child.stderr.on('data', (d) => out.push(d))
  child.stdin.on('error', () => {})
  const done = new Promise<TtyResult>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      child.stdin.end()
      const raw = Buffer.concat(out).toString('utf8')
      resolve({code, raw, text: plain(raw)})
    })
  })
  return {type: (s) => child.stdin.write(s), shown: () => Buffer.concat(out).toString('utf8'), done}
}

/** Run a shell command line on a new terminal and wait for it. */
export function runTty(line: string, opts: {cwd?: string; env?: Record<string, string>} = {}): Promise<TtyResult> {
  return startTty(line, opts).done
}

/** A Node stack trace, or a source line Node prints above an uncaught error. */
export function hasStackTrace(s: string): boolean {
  return /^\s+at /m.test(s) || /\.js:\d+/.test(s) || /^Node\.js v/m.test(s)
}
