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

/**
 * The environment a terminal run gets: this process's, as a person's
 * terminal would have it whatever runs the tests (a CI job's CI, a
 * NO_COLOR, a dumb TERM change which progress xst shows: progress-mode.ts),
 * then `env` (where undefined removes a variable).
 */
function ttyEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {...process.env, TERM: 'xterm'}
  delete out.CI
  delete out.NO_COLOR
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete out[k]
    else out[k] = v
  }
  return out
}

/** Start a shell command line on a new terminal. */
export function startTty(line: string, opts: {cwd?: string; env?: Record<string, string | undefined>} = {}): TtyRun {
  const child = spawn('script', ['-qec', line, '/dev/null'], {cwd: opts.cwd ?? ROOT, env: ttyEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe']})
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
export function runTty(line: string, opts: {cwd?: string; env?: Record<string, string | undefined>} = {}): Promise<TtyResult> {
  return startTty(line, opts).done
}

/** A Node stack trace, or a source line Node prints above an uncaught error. */
export function hasStackTrace(s: string): boolean {
  return /^\s+at /m.test(s) || /\.js:\d+/.test(s) || /^Node\.js v/m.test(s)
}

/**
 * What a terminal shows at the end of `raw`, line by line: printable
 * characters overwrite the cell under the cursor, \r goes to the start of
 * the line, \n down one (a new line at the bottom), ESC[nA/B/C/D/G/K/J and
 * ESC[H move the cursor or erase as a VT100 does; other sequences are
 * dropped. Lines never wrap (script gives a terminal no width). Enough to
 * see whether a program's redraw left another program's lines on screen.
 */
export function screen(raw: string): string[] {
  const rows: string[][] = [[]]
  let row = 0
  let col = 0
  const at = () => rows[row] ?? (rows[row] = [])
  // eslint-disable-next-line no-control-regex
  const token = /\x1b\[([0-9;?]*)([ -/]*[@-~])|\x1b[()][0-9A-Za-z]|\x1b[=>78]|[\s\S]/gu
  for (const m of raw.matchAll(token)) {
    const t = m[0]
    if (m[2] !== undefined) {
      const n = Number.parseInt(m[1] || '1', 10) || 1
      const p0 = Number.parseInt(m[1] || '0', 10) || 0
      switch (m[2]) {
        case 'A':
          row = Math.max(0, row - n)
          break
        case 'B':
          row += n
          break
        case 'C':
          col += n
          break
        case 'D':
          col = Math.max(0, col - n)
          break
        case 'G':
          col = n - 1
          break
        case 'K':
          if (p0 === 0) at().length = Math.min(at().length, col)
          else if (p0 === 1) for (let i = 0; i <= col && i < at().length; i++) at()[i] = ' '
          else rows[row] = []
          break
        case 'J':
          if (p0 === 0) {
            at().length = Math.min(at().length, col)
            rows.length = row + 1
          } else if (p0 === 2) for (let i = 0; i < rows.length; i++) rows[i] = []
          break
        case 'H':
          row = 0
          col = 0
          break
      }
      continue
    }
    if (t.startsWith('\x1b')) continue
    if (t === '\r') col = 0
    else if (t === '\n') row++
    else if (t === '\b') col = Math.max(0, col - 1)
    else if (t >= ' ' || t.codePointAt(0)! > 0x7f) {
      const line = at()
      while (line.length < col) line.push(' ')
      line[col++] = t
    }
  }
  for (let i = 0; i <= row; i++) rows[i] ??= []
  return rows.map((r) =>
    Array.from(r, (c) => c ?? ' ')
      .join('')
      .trimEnd(),
  )
}

/** A cursor-up sequence (ESC[A, ESC[1A, ESC[12A): what redraws over lines above. */
export const CURSOR_UP = /\x1b\[\d*A/
