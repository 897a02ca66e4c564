// One image converted by the CLI two ways: to a file (`xst convert IN OUT`)
// and through pipes (`xst convert - -`); and the rule both must follow: the
// same verdict whatever the output.
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {expect} from 'vitest'
import {verifyBytes} from '../builders/v2.js'
import {type RunResult, tempDir} from './cli.js'
import {runXstInProcess} from './in-process.js'

export interface BothWays {
  /** The file run, with what it left: the output (if kept) and the directory's entries. */
  file: RunResult & {out: Buffer | undefined; left: string[]}
  pipe: RunResult
}

/** `xst convert ARGS IN OUT` on a file in a fresh directory, and `xst convert ARGS - -` through pipes, side by side. */
export async function bothWays(bytes: Buffer, args: string[] = [], name = 'in.legacy'): Promise<BothWays> {
  const dir = tempDir('xst-parity-')
  const input = join(dir, name)
  writeFileSync(input, bytes)
  const out = join(dir, 'out.v2')
  const [file, pipe] = await Promise.all([runXstInProcess(['convert', ...args, input, out]), runXstInProcess(['convert', ...args, '-', '-'], {input: bytes})])
  return {file: {...file, out: existsSync(out) ? readFileSync(out) : undefined, left: readdirSync(dir)}, pipe}
}

/** The error line of a failed run (warnings come before it). */
export const errorLine = (r: RunResult) =>
  r.stderr
    .trim()
    .split('\n')
    .find((l) => l.startsWith('xst convert: ')) ?? ''

/** How a run that stopped on a stream says what it had already written. */
export const WRITTEN = /; (\d+) bytes? (?:were|was) written to (stdout|fd \d+) before the defect was found; the stream is invalid: discard it$/

/** What an error line says about the image, without what it says about the output. */
export const defectOf = (line: string) => line.replace(WRITTEN, '').replace(/; nothing was written$/, '')

/**
 * The same verdict both ways: the same exit code; on success the same bytes,
 * which verify; on failure the same defect, nothing left beside the input
 * file, and on the pipe either nothing written or the exact count of what was.
 */
export async function expectSameVerdict(r: BothWays, name = 'in.legacy'): Promise<void> {
  const {file, pipe} = r
  expect(pipe.code, `file: ${file.stderr}\npipe: ${pipe.stderr}`).toBe(file.code)
  if (file.code === 0) {
    expect(file.out).toBeDefined()
    expect(pipe.stdoutBytes.equals(file.out!)).toBe(true)
    const report = await verifyBytes(file.out!)
    expect(report.errors).toEqual([])
    return
  }
  expect(file.code).toBe(1)
  expect(file.left).toEqual([name])
  expect(file.stderr).not.toMatch(/\n\s+at /)
  expect(defectOf(errorLine(pipe))).toBe(defectOf(errorLine(file)))
  const n = pipe.stdoutBytes.length
  if (n === 0) expect(errorLine(pipe)).not.toMatch(WRITTEN)
  else expect(errorLine(pipe)).toMatch(new RegExp(`; ${n} bytes were written to stdout before the defect was found; the stream is invalid: discard it$`))
}
