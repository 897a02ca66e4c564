// Inputs that are not image files: a directory, a path through a regular
// file, files that cannot be read (as root too), a FIFO whose writer goes
// away early, /dev/zero and /dev/urandom. Every command gives a clear
// one-line error and exit 1 (2 for a path that names no readable file), and
// none of them hangs: each run has a time limit. (The unprivileged reader,
// a process of its own: integration/unprivileged-read.test.ts.)
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {vectorBytes} from './helpers/fixtures.js'
import {type RunResult, tempDir} from './helpers/cli.js'
import {type InProcessOptions, runXstInProcess} from './helpers/in-process.js'
import {expectOneLine} from './fuzz/procs.js'

const LIMIT = 20_000
const PV = vectorBytes('legacy', 'pv64-xl.legacy.gz')
const V2 = vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')

/** Run a command the way it reads `input`, with a fresh output path for convert. */
function run(cmd: 'inspect-legacy' | 'verify' | 'convert', input: string, o: InProcessOptions = {}): Promise<RunResult> {
  const args = cmd === 'convert' ? [cmd, input, join(tempDir('xst-out-'), 'out.v2')] : [cmd, input]
  return runXstInProcess(args, {timeoutMs: LIMIT, ...o})
}

const COMMANDS = ['inspect-legacy', 'verify', 'convert'] as const

describe.concurrent('paths that name no readable image', () => {
  it.each(COMMANDS)('%s: a directory is a usage error (exit 2)', async (cmd) => {
    const dir = tempDir()
    expectOneLine(await run(cmd, dir), cmd, 2, /is a directory, not an image/)
  })

  it.each(COMMANDS)('%s: a path through a regular file is a missing file (exit 2)', async (cmd) => {
    // Regression: ENOTDIR was "cannot read: ENOTDIR: not a directory, open ..." with exit 1.
    const file = join(tempDir(), 'plain')
    writeFileSync(file, PV)
    expectOneLine(await run(cmd, join(file, 'image')), cmd, 2, /plain\/image: no such file$/)
  })

  // Where the kernel has no such entry, the next test covers permission denied.
  it.skipIf(!existsSync('/proc/sys/vm/compact_memory'))('a file root cannot read (a write-only /proc/sys entry) is refused: permission denied (exit 2)', async () => {
    const f = '/proc/sys/vm/compact_memory'
    expectOneLine(await run('inspect-legacy', f), 'inspect-legacy', 2, /permission denied/)
  })

  it.skipIf(!existsSync('/proc/self/mem'))('a read that fails (EIO from /proc/self/mem) is a one-line read error (exit 1)', async () => {
    expectOneLine(await run('inspect-legacy', '/proc/self/mem'), 'inspect-legacy', 1, /\/proc\/self\/mem: cannot read: EIO/)
  })
})

describe.concurrent('endless and random devices', () => {
  it.each(COMMANDS)('%s /dev/zero: a clear error, exit 1, no hang', async (cmd) => {
    const r = await run(cmd, '/dev/zero')
    // All zeros read as a legacy image whose p2m_size is 0: refused at byte 0.
    expectOneLine(r, cmd, 1, cmd === 'verify' ? /legacy image/ : /byte 0: p2m_size is 0/)
  })

  it.each(COMMANDS)('%s /dev/urandom: a clear error, exit 1, no hang', async (cmd) => {
    const r = await run(cmd, '/dev/urandom')
    // Random bytes are (almost surely) not a legacy layout, and never a v2 stream:
    // verify must not send them to convert.
    expectOneLine(r, cmd, 1, cmd === 'verify' ? /not a Xen save image/ : /cannot tell what this image is|byte \d+/)
  })

  it.each(COMMANDS)('%s - with /dev/null on stdin: the stream ends at byte 0', async (cmd) => {
    const args = cmd === 'convert' ? [cmd, '-', join(tempDir('xst-out-'), 'out.v2')] : [cmd, '-']
    const r = await runXstInProcess(args, {timeoutMs: LIMIT, input: Buffer.alloc(0)})
    expectOneLine(r, cmd, 1, cmd === 'verify' ? /the input is empty/ : /stream ends at byte 0 inside/)
  })
})

describe.concurrent('a FIFO whose writer goes away early', () => {
  /** Start `xst args` on a new FIFO, then write `bytes` into it and close it. */
  async function throughFifo(args: (fifo: string) => string[], bytes: Buffer): Promise<RunResult> {
    const dir = tempDir()
    const fifo = join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    const result = runXstInProcess(args(fifo), {timeoutMs: LIMIT})
    // The writer: a child (opening a FIFO blocks until the reader opens it).
    const writer = spawn('sh', ['-c', 'cat > "$1"', 'sh', fifo], {stdio: ['pipe', 'ignore', 'ignore']})
    writer.stdin.on('error', () => {})
    writer.stdin.end(bytes)
    return result
  }

  it('inspect-legacy: a legacy image cut at 3000 bytes', async () => {
    const r = await throughFifo((f) => ['inspect-legacy', f], PV.subarray(0, 3000))
    expectOneLine(r, 'inspect-legacy', 1, /stream ends at byte 3000 inside /)
  })

  it('convert: a legacy image cut inside its pages; no output is left', async () => {
    const out = join(tempDir(), 'out')
    mkdirSync(out)
    const r = await throughFifo((f) => ['convert', f, join(out, 'new.v2')], PV.subarray(0, 200_000))
    expectOneLine(r, 'convert', 1, /stream ends at byte 200000 inside page data/)
    expect(readdirSync(out)).toEqual([])
  })

  it('verify: a v2 stream cut inside a record', async () => {
    const r = await throughFifo((f) => ['verify', f], V2.subarray(0, 100_001))
    expectOneLine(r, 'verify', 1, /stream ends at byte 100001 inside /)
  })

  it('a writer that opens and closes without writing: the stream ends at byte 0', async () => {
    const r = await throughFifo((f) => ['inspect-legacy', f], Buffer.alloc(0))
    expectOneLine(r, 'inspect-legacy', 1, /stream ends at byte 0 inside /)
  })
})
