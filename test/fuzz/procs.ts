// For the hostile-input and fault tests: the CLI run inside a small wrapper
// that reports its peak memory (the measure of "nothing was allocated for a
// length that lies"), what a failing command's output must look like, and
// how to run as an unprivileged user. Running the CLI or node itself:
// ../helpers/cli.ts.
import {spawnSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {expect} from 'vitest'
import {BIN, type RunOptions, type RunResult, runNode, tempDir} from '../helpers/cli.js'
import {ROOT} from '../helpers/fixtures.js'

let wrapperPath: string | undefined

/**
 * The CLI, as bin/run.js runs it, with a hook (node --import) that writes
 * `{"maxRSS": kilobytes}` on descriptor 3 as the process exits, so a test
 * can bound the memory one command used.
 */
export async function runCliMeasured(args: string[], o: RunOptions = {}): Promise<RunResult & {maxRssMiB: number}> {
  if (!wrapperPath) {
    wrapperPath = join(tempDir('xst-wrapper-'), 'measured.mjs')
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

/** The one line a failing command prints (hostile-inputs.test.ts) (verify prints its problems on stderr and a verdict on stdout). */
export function expectOneLine(r: RunResult, cmd: string, code: number, text: RegExp): void {
  expect(r.timedOut, `xst ${cmd} did not finish`).toBe(false)
  expect(r.code, r.stderr + r.stdout).toBe(code)
  expect(hasStackTrace(r.stderr + r.stdout)).toBe(false)
  const lines = errorLines(r.stderr)
  if (cmd === 'verify' && code === 1) {
    expect(lines, r.stderr).toHaveLength(1)
    expect(lines[0]).toMatch(text)
    expect(r.stdout).toMatch(/INVALID/)
    return
  }
  expect(lines, r.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(new RegExp(`^xst ${cmd}: `))
  expect(lines[0]).toMatch(text)
}

/** stderr without warning lines: what is left must be one line naming the problem. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '' && !l.startsWith('warning: '))
}

/**
 * What every command run on a mutated image must show, whatever the bytes:
 * exit 0 or 1 (never 2: the paths are fine), no hang, no stack trace.
 * --json: one document whose `ok` says the exit (verify's verdict too; a
 * failure's error has a message). Text: a failure is one line `xst CMD: ...`
 * (verify: its verdict says INVALID); identify gives one line per image.
 */
export function expectCleanRun(cmd: 'identify' | 'inspect-legacy' | 'verify' | 'convert', r: RunResult, json: boolean, label: string): void {
  const what = `${label}: xst ${cmd}${json ? ' --json' : ''}`
  expect(r.timedOut, `${what}: hung`).toBe(false)
  expect([0, 1], `${what}: exit ${r.code}: ${r.stderr}`).toContain(r.code)
  expect(hasStackTrace(r.stdout + r.stderr), `${what}: ${r.stderr}`).toBe(false)
  if (json) {
    // stdout is one JSON document, success or not.
    const doc = JSON.parse(r.stdout)
    expect(doc.ok, what).toBe(r.code === 0)
    if (cmd === 'verify') {
      // {ok, images: [report]}, the one image's verdict the exit's.
      expect(doc.images, what).toHaveLength(1)
      expect(doc.images[0].verdict, what).toBe(r.code === 0 ? 'valid' : 'invalid')
    } else if (r.code === 1 && cmd !== 'identify') expect(typeof doc.error.message, what).toBe('string')
  } else if (cmd === 'identify') {
    // One line (a restore block under it is indented).
    expect(
      r.stdout
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith(' ')),
      what,
    ).toHaveLength(1)
  } else if (r.code === 1 && cmd === 'verify') {
    expect(r.stdout, what).toMatch(/INVALID/)
  } else if (r.code === 1) {
    const lines = errorLines(r.stderr)
    expect(lines, `${what}: ${r.stderr}`).toHaveLength(1)
    expect(lines[0].startsWith(`xst ${cmd}: `), what).toBe(true)
  }
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

/**
 * Run `child` (the source of an ES module) in a node process of its own,
 * given the URL of dist/ and the path of `cases` written as JSON in `dir`;
 * it prints {results, maxRssMiB}. The cases are read in that process so its
 * peak memory is theirs alone.
 */
export async function runMeasuringChild<R>(dir: string, child: string, cases: unknown): Promise<{results: R[]; maxRssMiB: number}> {
  writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases))
  writeFileSync(join(dir, 'child.mjs'), child)
  const r = await runNode([join(dir, 'child.mjs'), pathToFileURL(join(ROOT, 'dist') + '/').href, join(dir, 'cases.json')], {timeoutMs: 50_000})
  if (r.code !== 0) throw new Error(`the measuring child failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${r.stderr}`)
  return JSON.parse(r.stdout)
}
