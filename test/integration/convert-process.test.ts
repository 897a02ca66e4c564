// `xst convert` as a process: descriptors it inherits (--in FD --out FD),
// signals midway, and a stream that stays open or goes on after the image
// (from convert-cli.test.ts and fidelity.test.ts, whose other tests run the
// commands in process).
import {spawn} from 'node:child_process'
import {constants} from 'node:os'
import {closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {vectorBytes} from '../helpers/fixtures.js'
import {BIN, tempDir} from '../helpers/cli.js'
import {buildLegacy, type LegacySpec, smallSpec} from '../builders/legacy.js'

const PV = () => vectorBytes('legacy', 'pv64-xl.legacy.gz')
const PV_LIBXL = () => vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')
const PV_LIBXC = () => vectorBytes('legacy', 'pv64-xl.libxc.v2.gz')

/** fidelity.test.ts's defect "vcpu 0 offline, after 1.2 MiB of pages": found after part of the stream went out. */
const VCPU0_OFFLINE_AFTER_PAGES: LegacySpec = smallSpec('pv', 64, {p2mSize: 512, chunks: [{kind: 'tsc_info'}, {kind: 'pages', range: {start: 0, count: 300}}, {kind: 'vcpu_info', online: [1, 2]}]})

describe('convert: inputs and outputs', () => {
  it("takes descriptor numbers as Xen's helper is run (--in FD --out FD --width --guest --format)", async () => {
    const dir = tempDir()
    const inPath = join(dir, 'in.legacy')
    writeFileSync(inPath, vectorBytes('legacy', 'hvm64-shuffled.legacy.gz'))
    const outPath = join(dir, 'out.v2')
    const inFd = openSync(inPath, 'r')
    const outFd = openSync(outPath, 'w')
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'convert', '--in', '3', '--out', '4', '--width', '64', '--guest', 'hvm', '--format', 'libxl'], {
        stdio: ['ignore', 'ignore', 'inherit', inFd, outFd],
      })
      child.on('close', resolve)
    })
    closeSync(inFd)
    closeSync(outFd)
    expect(code).toBe(0)
    expect(readFileSync(outPath).equals(vectorBytes('legacy', 'hvm64-shuffled.libxl.v2.gz'))).toBe(true)
  })
})

describe('convert: nothing lost', () => {
  // Ctrl-C, SIGTERM, and every other signal whose default would end xst and that Node lets it handle.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGALRM', 'SIGXCPU'] as const) {
    const exit = 128 + constants.signals[signal]
    it(`${signal} midway removes the partial output, says so in one line and exits ${exit}`, async () => {
      const dir = tempDir()
      const out = join(dir, 'out.v2')
      const image = vectorBytes('legacy', 'pv64-multipass.legacy.gz')
      const child = spawn(process.execPath, [BIN, 'convert', '-', out], {stdio: ['pipe', 'pipe', 'pipe']})
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      child.stdin.on('error', () => {})
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
      // Feed half the image, then wait until the partial output exists.
      child.stdin.write(image.subarray(0, image.length >> 1))
      const deadline = Date.now() + 20_000
      while (!readdirSync(dir).some((f) => f.endsWith('.xst-partial')) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
      }
      expect(readdirSync(dir).some((f) => f.endsWith('.xst-partial'))).toBe(true)
      child.kill(signal)
      const code = await closed
      expect(code).toBe(exit)
      expect(stderr.trim().split('\n')).toEqual([`xst convert: interrupted by ${signal}; ${out} was not written`])
      expect(readdirSync(dir)).toEqual([])
      expect(existsSync(out)).toBe(false)
    })
  }
})

describe('convert: as a toolstack helper on a stream', () => {
  it('stops at the end of the image when the input stays open (a migration socket)', async () => {
    const dir = tempDir()
    const out = join(dir, 'out.v2')
    const child = spawn(process.execPath, [BIN, 'convert', '-', out], {stdio: ['pipe', 'pipe', 'pipe']})
    child.stdin.on('error', () => {})
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    // Write the image and keep the pipe open, as a sender that goes on talking would.
    child.stdin.write(PV())
    const code = await Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('still running'), 15_000))])
    child.stdin.end()
    expect(code).toBe(0)
    expect(readFileSync(out).equals(PV_LIBXL())).toBe(true)
  })
})

describe('convert: reads exactly the image from a stream', () => {
  it('leaves the bytes after the image in the pipe for whoever reads next', async () => {
    const dir = tempDir()
    const out = join(dir, 'out.v2')
    const rest = join(dir, 'rest')
    const trailer = Buffer.from('migration protocol goes on here\n')
    // xst and then cat read the same stdin: cat must get exactly the trailer.
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" convert --in - --out "${out}" >/dev/null && cat > "${rest}"`], {stdio: ['pipe', 'ignore', 'inherit']})
      child.stdin.on('error', () => {})
      child.stdin.end(Buffer.concat([PV(), trailer]))
      child.on('close', resolve)
    })
    expect(code).toBe(0)
    // --in/--out without --format: a libxc stream, as Xen's helper writes.
    expect(readFileSync(out).equals(PV_LIBXC())).toBe(true)
    expect(readFileSync(rest).equals(trailer)).toBe(true)
  })
})

describe('a pipe never passes what a file refuses', () => {
  it('to a descriptor (--out N, a pipe): the same refusal, naming the descriptor and the bytes it took', async () => {
    const bytes = buildLegacy(VCPU0_OFFLINE_AFTER_PAGES)
    const {code, stderr, taken} = await new Promise<{code: number | null; stderr: string; taken: number}>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'convert', '--in', '-', '--out', '3'], {stdio: ['pipe', 'ignore', 'pipe', 'pipe']})
      let taken = 0
      let stderr = ''
      ;(child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (taken += d.length))
      child.stderr!.on('data', (d) => (stderr += d))
      child.stdin!.on('error', () => {})
      child.stdin!.end(bytes)
      child.on('close', (code) => resolve({code, stderr, taken}))
    })
    expect(code).toBe(1)
    expect(taken).toBeGreaterThan(0)
    expect(stderr.trim()).toMatch(new RegExp(`vcpu 0 offline.*; ${taken} bytes were written to fd 3 before the defect was found; the stream is invalid: discard it$`))
  })
})
