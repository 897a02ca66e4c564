// `xst convert` used the ways a user or a toolstack uses it: pipes,
// inherited descriptors, Xen's helper flags, and the safety rules (no
// overwrite, never the input, nothing left behind on failure or interrupt).
import {spawn} from 'node:child_process'
import {closeSync, existsSync, linkSync, openSync, readdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {vectorBytes} from './helpers/fixtures.js'
import {BIN, runXst, tempDir, tempFile} from './helpers/cli.js'
import {buildLegacy, smallSpec} from './builders/legacy.js'
import {bothWays, expectSameVerdict} from './helpers/parity.js'

const PV = () => vectorBytes('legacy', 'pv64-xl.legacy.gz')
const PV_LIBXL = () => vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')
const PV_LIBXC = () => vectorBytes('legacy', 'pv64-xl.libxc.v2.gz')

describe('convert: inputs and outputs', () => {
  it('reads stdin and writes stdout with -', async () => {
    const r = await runXst(['convert', '-', '-'], {input: PV()})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdoutBytes.equals(PV_LIBXL())).toBe(true)
    // The report goes to stderr when stdout carries the stream.
    expect(r.stderr).toContain('converted stdin -> stdout')
  })

  it('--json with the stream on stdout puts the summary on stderr', async () => {
    const r = await runXst(['convert', '-', '-', '--json', '--format', 'libxc'], {input: PV()})
    expect(r.code).toBe(0)
    expect(r.stdoutBytes.equals(PV_LIBXC())).toBe(true)
    const doc = JSON.parse(r.stderr)
    expect(doc.output.format).toBe('libxc')
    expect(doc.input).toMatchObject({guest: 'pv', toolstackWidth: 64, xlHeader: true, domainName: 'web01'})
    expect(doc.records.libxc.PAGE_DATA).toBe(1)
  })

  it('takes descriptor numbers as Xen\'s helper is run (--in FD --out FD --width --guest --format)', async () => {
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

  it('accepts XenServer\'s --guest-type and --skip-qemu, and -x, -v, --syslog', async () => {
    const input = tempFile('noqemu.legacy', vectorBytes('legacy', 'hvm64-noqemu.legacy.gz'))
    const out = join(dirname(input), 'out.v2')
    // No syslog socket here: --syslog falls back to stderr (and never reaches a real syslog from a test).
    const r = await runXst(['convert', '-i', input, '-o', out, '-w', '64', '--guest-type', 'hvm', '--skip-qemu', '-f', 'libxc', '-v', '--syslog'], {env: {XST_SYSLOG_SOCKET: '/nonexistent/xst-test-log'}})
    expect(r.code, r.stderr).toBe(0)
    expect(readFileSync(out).equals(vectorBytes('legacy', 'hvm64-noqemu.libxc.v2.gz'))).toBe(true)

    const pv = tempFile('pv.legacy', PV())
    const out2 = join(dirname(pv), 'out.v2')
    const r2 = await runXst(['convert', '-x', pv, out2])
    expect(r2.code, r2.stderr).toBe(0)
    expect(readFileSync(out2).equals(PV_LIBXL())).toBe(true)
  })

  it('--skip-qemu with --format libxl still converts the qemu record, as Xen\'s converter does (it ignores --skip-qemu there)', async () => {
    const r = await bothWays(vectorBytes('legacy', 'hvm64-xl-physmap.legacy.gz'), ['--skip-qemu', '--format', 'libxl'])
    expect(r.file.code, r.file.stderr).toBe(0)
    expect(r.file.out!.equals(vectorBytes('legacy', 'hvm64-xl-physmap.libxl.v2.gz'))).toBe(true)
    await expectSameVerdict(r)
    for (const run of [r.file, r.pipe]) expect(run.stderr).toContain('--skip-qemu does not apply to libxl output')
  })

  it('-x on an image without an xl header is an error', async () => {
    const input = tempFile('basic.legacy', vectorBytes('legacy', 'pv64-basic.legacy.gz'))
    const r = await runXst(['convert', '-x', input, join(dirname(input), 'o')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('xl header was expected')
  })
})

describe('convert: nothing lost', () => {
  it('refuses an existing output without --force, and leaves it alone', async () => {
    const input = tempFile('pv.legacy', PV())
    const out = join(dirname(input), 'out.v2')
    writeFileSync(out, 'precious')
    const r = await runXst(['convert', input, out])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('already exists; use --force')
    expect(readFileSync(out, 'utf8')).toBe('precious')
    const f = await runXst(['convert', input, out, '--force'])
    expect(f.code).toBe(0)
    expect(readFileSync(out).equals(PV_LIBXL())).toBe(true)
  })

  it('never writes over its input, even through another path or with --force', async () => {
    const input = tempFile('pv.legacy', PV())
    const dir = dirname(input)
    linkSync(input, join(dir, 'hardlink'))
    symlinkSync(input, join(dir, 'symlink'))
    for (const target of [input, join(dir, 'hardlink'), join(dir, 'symlink'), join(dir, '.', 'pv.legacy')]) {
      const r = await runXst(['convert', input, target, '--force'])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('is the input file')
    }
    expect(readFileSync(input).equals(PV())).toBe(true)
    expect(readdirSync(dir).sort()).toEqual(['hardlink', 'pv.legacy', 'symlink'])
  })

  it('a failure midway leaves no temp file and an existing target untouched', async () => {
    const whole = vectorBytes('legacy', 'pv64-multipass.legacy.gz')
    const input = tempFile('cut.legacy', whole.subarray(0, Math.floor(whole.length / 2)))
    const dir = dirname(input)
    const out = join(dir, 'out.v2')
    writeFileSync(out, 'old contents')
    const r = await runXst(['convert', input, out, '--force'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/stream ends at byte \d+ inside/)
    expect(readFileSync(out, 'utf8')).toBe('old contents')
    expect(readdirSync(dir).sort()).toEqual(['cut.legacy', 'out.v2'])
  })

  it('a missing output directory is a usage error', async () => {
    const input = tempFile('pv.legacy', PV())
    const r = await runXst(['convert', input, '/nonexistent-dir/out.v2'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('/nonexistent-dir/out.v2')
  })

  for (const [signal, exit] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal} midway removes the partial output and exits ${exit}`, async () => {
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
      expect(stderr).toContain(`interrupted by ${signal}`)
      expect(readdirSync(dir)).toEqual([])
      expect(existsSync(out)).toBe(false)
    })
  }
})

describe('convert: --verify', () => {
  it('checks the stream as it is written and reports it (text and JSON)', async () => {
    const input = tempFile('pv.legacy', PV())
    const out = join(dirname(input), 'out.v2')
    const r = await runXst(['convert', input, out, '--json'])
    expect(r.code).toBe(0)
    const doc = JSON.parse(r.stdout)
    // The verifier's report on the stream as written: the summary is the one
    // `xst verify --json` gives reading the output back.
    const readBack = JSON.parse((await runXst(['verify', out, '--json'])).stdout)
    expect(doc.verify).toEqual({valid: true, errors: [], warnings: [], stopped: null, summary: readBack.summary})
    expect(doc.verify.summary).toMatchObject({format: 'libxl', legacyConverted: true, bytes: doc.output.bytes})
    const t = await runXst(['convert', input, out, '--force'])
    expect(t.stdout).toContain('verify    valid v2 stream (checked as written)')
    const off = await runXst(['convert', input, out, '--force', '--no-verify', '--json'])
    expect(JSON.parse(off.stdout).verify).toBeNull()
  })

  it('a converted stream that fails verification is not kept', async () => {
    // A physmap name with a NUL inside: the walker and Xen's converter take
    // it, but the xenstore data it becomes holds an odd number of strings.
    const spec = smallSpec('hvm', 64)
    spec.chunks = [...spec.chunks!, {kind: 'toolstack', physmap: [{physOffset: 0xf0000000n, startAddr: 0xf0000000n, size: 0x1000n, name: 'vga\0x'}]}]
    const input = tempFile('odd.legacy', buildLegacy(spec))
    const dir = dirname(input)
    const out = join(dir, 'out.v2')
    const r = await runXst(['convert', input, out])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('the converted stream does not verify')
    expect(r.stderr).toContain('EMULATOR_XENSTORE_DATA')
    expect(r.stderr).toContain('nothing was written')
    expect(readdirSync(dir)).toEqual(['odd.legacy'])
    const forced = await runXst(['convert', input, out, '--no-verify'])
    expect(forced.code).toBe(0)
    expect(existsSync(out)).toBe(true)
  })
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
