// Faults while `xst convert` writes: the disk fills (a file size limit, a
// small tmpfs), the process is interrupted half way through a large image,
// the output directory cannot be written, the output is on another
// filesystem than the temp dir, and the reader of stdout goes away. In each
// case: the documented exit code, one line and no stack trace, no temporary
// file left, and an existing target untouched.
import {execFileSync, spawn} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {once} from 'node:events'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {nativeBytes, vectorBytes} from '../helpers/fixtures.js'
import {BIN, runNode, type RunResult, runXst, tempDir} from '../helpers/cli.js'
import {largeImageSpec, legacyPieces} from '../builders/legacy.js'
import {errorLines, hasStackTrace, unprivileged} from '../fuzz/procs.js'

const LIMIT = 30_000
const MULTIPASS = vectorBytes('legacy', 'pv64-multipass.legacy.gz') // 2.4 MB in, 2.4 MB out
const MULTIPASS_LIBXL = vectorBytes('legacy', 'pv64-multipass.libxl.v2.gz')

const mounts: string[] = []
afterAll(() => {
  for (const m of mounts.splice(0)) {
    try {
      execFileSync('umount', [m], {stdio: 'ignore'})
      rmdirSync(m)
    } catch {}
  }
})

/** A tmpfs mounted at a new directory, or undefined where mounting is not allowed. */
function mountTmpfs(options: string): string | undefined {
  const dir = tempDir('xst-mnt-')
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], {stdio: 'ignore'})
  } catch {
    return undefined
  }
  mounts.push(dir)
  return dir
}

function expectFailure(r: RunResult, code: number, text: RegExp): void {
  expect(r.timedOut).toBe(false)
  expect(r.code, r.stderr).toBe(code)
  expect(hasStackTrace(r.stderr)).toBe(false)
  const lines = errorLines(r.stderr)
  expect(lines, r.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^xst convert: /)
  expect(lines[0]).toMatch(text)
}

/** A directory holding the input and, optionally, an existing target. */
function setup(existing?: string): {dir: string; input: string; out: string} {
  const dir = tempDir()
  const input = join(dir, 'in.legacy')
  writeFileSync(input, MULTIPASS)
  const out = join(dir, 'out.v2')
  if (existing !== undefined) writeFileSync(out, existing)
  return {dir, input, out}
}

describe.concurrent('disk full', () => {
  it('a file size limit (ulimit -f 1024): exit 1, "no space", no temp file, no target', async () => {
    // Node ignores SIGXFSZ, so the write fails with EFBIG instead of the signal killing the process.
    const {dir, input, out} = setup()
    const r = await runNode(['-c', `ulimit -f 1024; exec "$0" "$@"`, process.execPath, BIN, 'convert', input, out], {argv0: ['bash'], timeoutMs: LIMIT})
    expectFailure(r, 1, /no space left/)
    expect(readdirSync(dir)).toEqual(['in.legacy'])
  })

  it('a file size limit with --force: the existing target keeps its contents', async () => {
    const {dir, input, out} = setup('the old image')
    const r = await runNode(['-c', `ulimit -f 1024; exec "$0" "$@"`, process.execPath, BIN, 'convert', '--force', '--format', 'libxc', input, out], {argv0: ['bash'], timeoutMs: LIMIT})
    expectFailure(r, 1, /no space left/)
    expect(readFileSync(out, 'utf8')).toBe('the old image')
    expect(readdirSync(dir).sort()).toEqual(['in.legacy', 'out.v2'])
  })

  it('a file size limit on stdout redirected to a file: exit 1, "no space"', async () => {
    const {dir, input} = setup()
    const r = await runNode(['-c', `ulimit -f 1024; exec "$0" "$@" > "${join(dir, 'stdout.v2')}"`, process.execPath, BIN, 'convert', input, '-'], {argv0: ['bash'], timeoutMs: LIMIT})
    expectFailure(r, 1, /stdout: no space left/)
  })

  it('a full filesystem (a 1 MiB tmpfs): exit 1, "no space left on device", nothing left on it', async ({skip}) => {
    const mnt = mountTmpfs('size=1m')
    if (!mnt) return skip('mounting a tmpfs needs CAP_SYS_ADMIN; the file size limit above covers the path')
    const {input} = setup()
    const r = await runXst(['convert', input, join(mnt, 'out.v2')], {timeoutMs: LIMIT})
    expectFailure(r, 1, /no space left on device/)
    expect(readdirSync(mnt)).toEqual([])
  })
})

describe.concurrent('output directory not writable', () => {
  it('its parent is a regular file: exit 2, nothing written', async () => {
    // Regression: ENOTDIR was "write failed: ENOTDIR ... .out.v2.<random>.xst-partial" with exit 1.
    const {dir, input} = setup()
    const r = await runXst(['convert', input, join(input, 'out.v2')], {timeoutMs: LIMIT})
    expectFailure(r, 2, /in\.legacy\/out\.v2: the directory does not exist$/)
    expect(r.stderr).not.toContain('xst-partial')
    expect(readdirSync(dir)).toEqual(['in.legacy'])
  })

  it('an immutable directory (chattr +i, which binds root too): exit 2, permission denied', async ({skip}) => {
    const {dir, input} = setup()
    const target = join(dir, 'locked')
    mkdirSync(target)
    try {
      execFileSync('chattr', ['+i', target], {stdio: 'ignore'})
    } catch {
      skip('no chattr, or a filesystem without the immutable attribute')
    }
    try {
      const r = await runXst(['convert', input, join(target, 'out.v2')], {timeoutMs: LIMIT})
      expectFailure(r, 2, /locked\/out\.v2: cannot write here: permission denied$/)
      expect(readdirSync(target)).toEqual([])
    } finally {
      execFileSync('chattr', ['-i', target], {stdio: 'ignore'})
    }
  })

  it('a directory the user may not write (as nobody when running as root): exit 2, permission denied', async ({skip}) => {
    const {dir, input} = setup()
    chmodSync(dir, 0o755)
    chmodSync(input, 0o644)
    const home = tempDir()
    chmodSync(home, 0o777)
    const prefix = unprivileged(home)
    if (prefix === null) return skip('root, and no way to drop privileges here: chattr +i and the ro mount stand in')
    if (prefix.length === 0) chmodSync(dir, 0o555)
    const r = await runXst(['convert', input, join(dir, 'out.v2')], {timeoutMs: LIMIT, argv0: prefix.length ? prefix : undefined, env: {HOME: home}})
    expectFailure(r, 2, /out\.v2: cannot write here: permission denied$/)
    expect(readdirSync(dir)).toEqual(['in.legacy'])
  })

  it('a read-only filesystem (a tmpfs mounted ro): exit 2, permission denied', async ({skip}) => {
    const mnt = mountTmpfs('ro,size=1m')
    if (!mnt) return skip('mounting a tmpfs needs CAP_SYS_ADMIN')
    const {input} = setup()
    const r = await runXst(['convert', input, join(mnt, 'out.v2')], {timeoutMs: LIMIT})
    expectFailure(r, 2, /cannot write here: permission denied$/)
  })
})

describe('the output on another filesystem than the temp dir', () => {
  it('the temporary file is written beside the target (so the rename is atomic), not in TMPDIR', async ({skip}) => {
    const shm = '/dev/shm'
    const tmp = tempDir()
    if (!existsSync(shm) || statSync(shm).dev === statSync(tmp).dev) return skip(`no second filesystem here (${shm} is the temp dir's)`)
    // The target directory on /dev/shm (scratch directories live in the OS temp dir).
    const target = join(shm, `xst-test-${process.pid}-${Date.now()}`)
    mkdirSync(target)
    try {
      expect(statSync(target).dev).not.toBe(statSync(tmp).dev)
      const out = join(target, 'out.v2')
      const child = spawn(process.execPath, [BIN, 'convert', '-', out], {stdio: ['pipe', 'pipe', 'pipe'], env: {...process.env, TMPDIR: tmp, TMP: tmp, TEMP: tmp}})
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      child.stdin.on('error', () => {})
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
      // Half the image, then look for the partial output while the rest is held back.
      child.stdin.write(MULTIPASS.subarray(0, MULTIPASS.length >> 1))
      const deadline = Date.now() + LIMIT
      const partial = () => readdirSync(target).filter((f) => f.endsWith('.xst-partial'))
      while (partial().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      expect(partial()).toHaveLength(1)
      expect(partial()[0]).toMatch(/^\.out\.v2\..*\.xst-partial$/)
      expect(readdirSync(tmp)).toEqual([])
      expect(existsSync(out)).toBe(false)
      child.stdin.end(MULTIPASS.subarray(MULTIPASS.length >> 1))
      expect(await closed, stderr).toBe(0)
      expect(readdirSync(target)).toEqual(['out.v2'])
      expect(readFileSync(out).equals(MULTIPASS_LIBXL)).toBe(true)
      expect(statSync(out).mode & 0o777).toBe(0o600)
      expect(readdirSync(tmp)).toEqual([])
    } finally {
      execFileSync('rm', ['-rf', target])
    }
  })
})

describe.concurrent('stdout closed early by its reader', () => {
  it.each(['libxl', 'libxc'])('convert --format %s to a pipe that is closed after 100 bytes: ends quietly, as cat does (status 141)', async (format) => {
    const child = spawn(process.execPath, [BIN, 'convert', '--format', format, '-', '-'], {stdio: ['pipe', 'pipe', 'pipe']})
    let stderr = ''
    let got = 0
    child.stderr.on('data', (d) => (stderr += d))
    child.stdout.on('data', (d: Buffer) => {
      got += d.length
      if (got >= 100) child.stdout.destroy()
    })
    child.stdin.on('error', () => {})
    child.stdin.end(MULTIPASS)
    const timer = setTimeout(() => child.kill('SIGKILL'), LIMIT)
    const [code] = (await once(child, 'close')) as [number | null]
    clearTimeout(timer)
    expect(code, stderr).toBe(141)
    expect(stderr).toBe('')
  })

  // What cat does in the same place: killed by SIGPIPE, which the shell reports as 141, and nothing said.
  it.each([
    ['convert', []],
    ['convert', ['--format', 'libxc']],
    ['dump-core', ['-f', 'raw']],
    ['cat', null],
  ] as const)('%s %j IMG - | head -c 100 in a shell: status 141, nothing on stderr', async (cmd, flags) => {
    const {input: legacy, dir} = setup()
    // dump-core: 4 GiB of address space, raw: far more than a pipe holds.
    const input = cmd === 'dump-core' ? join(dir, 'fullspan.img') : legacy
    if (cmd === 'dump-core') writeFileSync(input, nativeBytes('libxc-hvm3-fullspan.gz.gz'))
    const argv = flags === null ? [cmd, input] : [process.execPath, BIN, cmd, ...flags, input, '-']
    // The reader is slow to start, so the pipe is full when it leaves (a pipe may hold the whole output otherwise).
    const r = await runNode(['-c', `"$@" | { sleep 0.2; head -c 100 > /dev/null; }; exit "\${PIPESTATUS[0]}"`, 'sh', ...argv], {argv0: ['bash'], timeoutMs: LIMIT})
    expect(r.timedOut).toBe(false)
    expect(r.code, r.stderr).toBe(141)
    expect(r.stderr).toBe('')
  })

  it('a full disk still gets its line (exit 1)', async () => {
    const {input} = setup()
    for (const cmd of ['convert', 'dump-core']) {
      const r = await runNode(['-c', `"$@" > /dev/full`, 'sh', process.execPath, BIN, cmd, input, '-'], {argv0: ['bash'], timeoutMs: LIMIT})
      expect(r.code, cmd).toBe(1)
      expect(hasStackTrace(r.stderr)).toBe(false)
      expect(errorLines(r.stderr)).toEqual([`xst ${cmd}: stdout: no space left on device`])
    }
  })

  it.each([
    ['inspect-legacy', '--verbose'],
    ['verify', '--verbose'],
  ])('%s %s | head -c 100: no stack trace, no hang', async (cmd, flag) => {
    const dir = tempDir()
    // Many small batches, so the listing is longer than a pipe buffer.
    const input = join(dir, cmd === 'verify' ? 'in.v2' : 'in.legacy')
    writeFileSync(input, cmd === 'verify' ? vectorBytes('legacy', 'pv64-many-vcpus.libxl.v2.gz') : MULTIPASS)
    const r = await runNode(['-c', `"$0" "$@" | head -c 100 > /dev/null; exit "\${PIPESTATUS[0]}"`, process.execPath, BIN, cmd, flag, input], {argv0: ['bash'], timeoutMs: LIMIT})
    expect(r.timedOut).toBe(false)
    expect([0, 1]).toContain(r.code)
    expect(hasStackTrace(r.stderr)).toBe(false)
    expect(errorLines(r.stderr).length).toBeLessThanOrEqual(1)
  })
})

describe('interrupted half way through a large image', () => {
  // A 256 MiB PV image from the builder, fed through a pipe: the first 160 MiB,
  // then nothing, so the conversion is certainly under way when the signal comes.
  const SIZE = 256 << 20
  const FED = 160 << 20
  let pieces: () => Generator<Buffer>
  beforeAll(() => {
    pieces = () => legacyPieces(largeImageSpec({guest: 'pv', bytes: SIZE}))
  })

  for (const [signal, exit, existing] of [
    ['SIGINT', 130, 'the previous image'],
    ['SIGTERM', 143, undefined],
  ] as const) {
    it(`${signal}: exit ${exit}, the large partial file removed, ${existing ? 'the existing target untouched' : 'no target'}`, async () => {
      const dir = tempDir()
      const out = join(dir, 'out.v2')
      if (existing) writeFileSync(out, existing)
      const child = spawn(process.execPath, [BIN, 'convert', ...(existing ? ['--force'] : []), '-', out], {stdio: ['pipe', 'pipe', 'pipe']})
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      child.stdin.on('error', () => {})
      const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>
      let fed = 0
      for (const p of pieces()) {
        if (fed >= FED) break
        fed += p.length
        if (!child.stdin.write(p)) await once(child.stdin, 'drain')
      }
      // Wait until most of what was fed has been written to the partial file.
      const partial = () => readdirSync(dir).filter((f) => f.endsWith('.xst-partial'))
      const size = () => (partial().length ? statSync(join(dir, partial()[0])).size : 0)
      const deadline = Date.now() + LIMIT
      while (size() < FED - (32 << 20) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(size()).toBeGreaterThan(100 << 20)
      child.kill(signal)
      const [code] = await closed
      expect(code, stderr).toBe(exit)
      expect(stderr).toContain(`interrupted by ${signal}`)
      expect(hasStackTrace(stderr)).toBe(false)
      expect(readdirSync(dir)).toEqual(existing ? ['out.v2'] : [])
      if (existing) expect(readFileSync(out, 'utf8')).toBe(existing)
    }, 60_000)
  }
})
