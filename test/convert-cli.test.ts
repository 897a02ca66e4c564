// `xst convert` used the ways a user or a toolstack uses it: pipes,
// inherited descriptors, Xen's helper flags, and the safety rules (no
// overwrite, never the input, nothing left behind on failure or interrupt).
// What needs a process of its own (descriptors it inherits, signals, a
// stream that stays open) is in integration/convert-process.test.ts.
import {existsSync, linkSync, readdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {vectorBytes} from './helpers/fixtures.js'
import {tempFile} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {buildLegacy, smallSpec} from './builders/legacy.js'
import {bothWays, expectSameVerdict} from './helpers/parity.js'
import {verifyReport} from './helpers/verify-json.js'

const PV = () => vectorBytes('legacy', 'pv64-xl.legacy.gz')
const PV_LIBXL = () => vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')
const PV_LIBXC = () => vectorBytes('legacy', 'pv64-xl.libxc.v2.gz')

describe('convert: inputs and outputs', () => {
  it('reads stdin and writes stdout with -', async () => {
    const r = await runXstInProcess(['convert', '-', '-'], {input: PV()})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdoutBytes.equals(PV_LIBXL())).toBe(true)
    // The report goes to stderr when stdout carries the stream.
    expect(r.stderr).toContain('converted stdin -> stdout')
  })

  it('--json with the stream on stdout puts the summary on stderr', async () => {
    const r = await runXstInProcess(['convert', '-', '-', '--json', '--format', 'libxc'], {input: PV()})
    expect(r.code).toBe(0)
    expect(r.stdoutBytes.equals(PV_LIBXC())).toBe(true)
    const doc = JSON.parse(r.stderr)
    expect(doc.output.format).toBe('libxc')
    expect(doc.input).toMatchObject({guest: 'pv', toolstackWidth: 64, xlHeader: true, domainName: 'web01'})
    expect(doc.records.libxc.PAGE_DATA).toBe(1)
  })

  it("accepts XenServer's --guest-type and --skip-qemu, and -x, -v, --syslog", async () => {
    const input = tempFile('noqemu.legacy', vectorBytes('legacy', 'hvm64-noqemu.legacy.gz'))
    const out = join(dirname(input), 'out.v2')
    // No syslog socket here: --syslog falls back to stderr (and never reaches a real syslog from a test).
    const r = await runXstInProcess(['convert', '-i', input, '-o', out, '-w', '64', '--guest-type', 'hvm', '--skip-qemu', '-f', 'libxc', '-v', '--syslog'], {
      env: {XST_SYSLOG_SOCKET: '/nonexistent/xst-test-log'},
    })
    expect(r.code, r.stderr).toBe(0)
    expect(readFileSync(out).equals(vectorBytes('legacy', 'hvm64-noqemu.libxc.v2.gz'))).toBe(true)

    const pv = tempFile('pv.legacy', PV())
    const out2 = join(dirname(pv), 'out.v2')
    const r2 = await runXstInProcess(['convert', '-x', pv, out2])
    expect(r2.code, r2.stderr).toBe(0)
    expect(readFileSync(out2).equals(PV_LIBXL())).toBe(true)
  })

  it("--skip-qemu with --format libxl still converts the qemu record, as Xen's converter does (it ignores --skip-qemu there)", async () => {
    const r = await bothWays(vectorBytes('legacy', 'hvm64-xl-physmap.legacy.gz'), ['--skip-qemu', '--format', 'libxl'])
    expect(r.file.code, r.file.stderr).toBe(0)
    expect(r.file.out!.equals(vectorBytes('legacy', 'hvm64-xl-physmap.libxl.v2.gz'))).toBe(true)
    await expectSameVerdict(r)
    for (const run of [r.file, r.pipe]) expect(run.stderr).toContain('--skip-qemu does not apply to libxl output')
  })

  it('-x on an image without an xl header is an error', async () => {
    const input = tempFile('basic.legacy', vectorBytes('legacy', 'pv64-basic.legacy.gz'))
    const r = await runXstInProcess(['convert', '-x', input, join(dirname(input), 'o')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('xl header was expected')
  })
})

describe('convert: nothing lost', () => {
  it('refuses an existing output without --force, and leaves it alone', async () => {
    const input = tempFile('pv.legacy', PV())
    const out = join(dirname(input), 'out.v2')
    writeFileSync(out, 'precious')
    const r = await runXstInProcess(['convert', input, out])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('already exists; use --force')
    expect(readFileSync(out, 'utf8')).toBe('precious')
    const f = await runXstInProcess(['convert', input, out, '--force'])
    expect(f.code).toBe(0)
    expect(readFileSync(out).equals(PV_LIBXL())).toBe(true)
  })

  it('never writes over its input, even through another path or with --force', async () => {
    const input = tempFile('pv.legacy', PV())
    const dir = dirname(input)
    linkSync(input, join(dir, 'hardlink'))
    symlinkSync(input, join(dir, 'symlink'))
    for (const target of [input, join(dir, 'hardlink'), join(dir, 'symlink'), join(dir, '.', 'pv.legacy')]) {
      const r = await runXstInProcess(['convert', input, target, '--force'])
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
    const r = await runXstInProcess(['convert', input, out, '--force'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/stream ends at byte \d+ inside/)
    expect(readFileSync(out, 'utf8')).toBe('old contents')
    expect(readdirSync(dir).sort()).toEqual(['cut.legacy', 'out.v2'])
  })

  it('a missing output directory is a usage error', async () => {
    const input = tempFile('pv.legacy', PV())
    const r = await runXstInProcess(['convert', input, '/nonexistent-dir/out.v2'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('/nonexistent-dir/out.v2')
  })
})

describe('convert: --verify', () => {
  it('checks the stream as it is written and reports it (text and JSON)', async () => {
    const input = tempFile('pv.legacy', PV())
    const out = join(dirname(input), 'out.v2')
    const r = await runXstInProcess(['convert', input, out, '--json'])
    expect(r.code).toBe(0)
    const doc = JSON.parse(r.stdout)
    // The verifier's report on the stream as written: the summary is the one
    // `xst verify --json` gives reading the output back.
    const readBack = verifyReport(await runXstInProcess(['verify', out, '--json']))
    expect(doc.verify).toEqual({valid: true, errors: [], warnings: [], stopped: null, summary: readBack.summary})
    expect(doc.verify.summary).toMatchObject({format: 'libxl', legacyConverted: true, bytes: doc.output.bytes})
    const t = await runXstInProcess(['convert', input, out, '--force'])
    expect(t.stdout).toContain('verify    valid v2 stream (checked as written)')
    const off = await runXstInProcess(['convert', input, out, '--force', '--no-verify', '--json'])
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
    const r = await runXstInProcess(['convert', input, out])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('the converted stream does not verify')
    expect(r.stderr).toContain('EMULATOR_XENSTORE_DATA')
    expect(r.stderr).toContain('nothing was written')
    expect(readdirSync(dir)).toEqual(['odd.legacy'])
    const forced = await runXstInProcess(['convert', input, out, '--no-verify'])
    expect(forced.code).toBe(0)
    expect(existsSync(out)).toBe(true)
  })
})
