// Run the built binary the way a user does.
import {spawn} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {ROOT} from './fixtures.js'

export const BIN = join(ROOT, 'bin', 'run.js')

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  stdoutBytes: Buffer
}

export function runXst(args: string[], opts: {input?: Buffer; cwd?: string; env?: Record<string, string>; stdio?: any[]} = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: {...process.env, ...opts.env},
      stdio: opts.stdio ?? ['pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout?.on('data', (d) => out.push(d))
    child.stderr?.on('data', (d) => err.push(d))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out)
      resolve({code, signal, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes})
    })
    if (child.stdin) {
      child.stdin.on('error', () => {})
      if (opts.input) child.stdin.end(opts.input)
      else child.stdin.end()
    }
  })
}

/** A fresh temp directory for one test. */
export function tempDir(prefix = 'xst-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

/** Write bytes to a file in a fresh temp dir and return its path. */
export function tempFile(name: string, data: Buffer): string {
  const p = join(tempDir(), name)
  writeFileSync(p, data)
  return p
}
