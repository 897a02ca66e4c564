// Running one shell command line and measuring it: wall time from spawn to
// exit, and the peak RSS of every node process in it (reported by
// rss-hook.cjs through NODE_OPTIONS) and, when GNU time is installed, of the
// other programs the line wraps in `time` (cat).
import {spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

export interface RunResult {
  seconds: number
  /** Peak RSS in bytes of the largest measured process, when any reported. */
  rss: number | undefined
  /** User + system CPU seconds of the node processes, when any reported. */
  cpu: number | undefined
  code: number | null
  stderr: string
}

// Not compiled: bench/rss-hook.cjs beside this file's source (this runs from dist-bench/bench/).
const HOOK = fileURLToPath(new URL('../../bench/rss-hook.cjs', import.meta.url))

let gnuTime: string | null | undefined

/** `/usr/bin/time` when it is GNU time (it takes -f and -o); null otherwise. */
export function findGnuTime(): string | null {
  if (gnuTime !== undefined) return gnuTime
  gnuTime = null
  for (const p of ['/usr/bin/time', '/bin/time']) {
    if (!fs.existsSync(p)) continue
    const r = spawnSync(p, ['-f', '%M', 'true'], {encoding: 'utf8'})
    if (r.status === 0 && /^\d+\s*$/m.test(r.stderr)) {
      gnuTime = p
      break
    }
  }
  return gnuTime
}

export class Runner {
  private readonly tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xst-bench-rss-'))
  private readonly nodeRss = path.join(this.tmp, 'node')
  private readonly otherRss = path.join(this.tmp, 'other')

  /**
   * Prefix for a non-node program whose RSS should be measured too (empty
   * when GNU time is missing: the program then runs bare).
   */
  get timePrefix(): string {
    const t = findGnuTime()
    return t ? `${t} -f %M -a -o ${sh(this.otherRss)} ` : ''
  }

  /** Run `line` with /bin/sh, stdout and stdin as the line redirects them (else /dev/null). */
  run(line: string, env: Record<string, string> = {}): Promise<RunResult> {
    for (const f of [this.nodeRss, this.otherRss]) fs.rmSync(f, {force: true})
    const nodeOptions = [process.env.NODE_OPTIONS ?? '', `--require=${JSON.stringify(HOOK)}`].join(' ').trim()
    return new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint()
      const child = spawn('/bin/sh', ['-c', line], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {...process.env, ...env, NODE_OPTIONS: nodeOptions, XST_BENCH_RSS: this.nodeRss},
      })
      const err: Buffer[] = []
      child.stderr.on('data', (d) => err.push(d))
      child.on('error', reject)
      let seconds = 0
      child.on('exit', () => {
        seconds = Number(process.hrtime.bigint() - t0) / 1e9
      })
      // 'close' comes after 'exit' and after stderr has ended.
      child.on('close', (code) => {
        resolve({seconds, ...this.usage(), code, stderr: Buffer.concat(err).toString('utf8')})
      })
    })
  }

  private usage(): {rss: number | undefined; cpu: number | undefined} {
    let peak: number | undefined
    let cpu: number | undefined
    const take = (n: number) => {
      if (Number.isFinite(n) && n > 0) peak = Math.max(peak ?? 0, n)
    }
    try {
      for (const l of fs.readFileSync(this.nodeRss, 'utf8').split('\n')) {
        if (!l) continue
        const [, rss, us] = l.split(' ').map(Number)
        take(rss)
        if (Number.isFinite(us)) cpu = (cpu ?? 0) + us / 1e6
      }
    } catch {}
    try {
      // GNU time writes KiB, one line per run, possibly after a "Command exited" line.
      for (const l of fs.readFileSync(this.otherRss, 'utf8').split('\n')) if (/^\d+$/.test(l.trim())) take(Number(l.trim()) * 1024)
    } catch {}
    return {rss: peak, cpu}
  }

  close(): void {
    fs.rmSync(this.tmp, {recursive: true, force: true})
  }
}

/** Quote for /bin/sh. */
export function sh(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
