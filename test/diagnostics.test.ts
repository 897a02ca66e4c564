// Diagnoses that must send the user the right way: what an input that is not
// the expected format really is (gzip, random bytes, legacy), a warning before
// converting an image that cannot be converted, whole usage messages and a
// working help; and one rule for every command: diagnostics (errors and
// warnings) on stderr, the report or JSON on stdout, JSON with a top-level ok.
import {randomBytes} from 'node:crypto'
import {dirname, join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {vectorBytes} from './helpers/fixtures.js'
import {tempDir, tempFile} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {buildLegacyWithMap, smallSpec} from './builders/legacy.js'
import {verifyReport} from './helpers/verify-json.js'

const PV = () => vectorBytes('legacy', 'pv64-xl.legacy.gz')
const PV_LIBXL = () => vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at |\.js:\d+/)
/** Bytes that are neither v2 nor any legacy layout (checked below to be so). */
const RANDOM = () => Buffer.concat([Buffer.from('not an image at all: '), randomBytes(4096)])

describe('an input that is not what the command reads', () => {
  it('verify on random bytes: not called legacy; convert agrees it is not an image', async () => {
    const p = tempFile('random.bin', RANDOM())
    const v = await runXstInProcess(['verify', p])
    expect(v.code).toBe(1)
    expect(v.stderr).not.toMatch(/legacy image/)
    expect(v.stderr).toBe('error: byte 0: this is not a Xen save image: not a v2 stream (no libxc marker and "XENF", no "LibxlFmt" ident), and no legacy layout fits its first bytes\n')
    const c = await runXstInProcess(['convert', p, join(dirname(p), 'out.v2')])
    expect(c.code).toBe(1)
    expect(c.stderr).toMatch(/^xst convert: byte 0: cannot tell what this image is/)
  })

  it('verify on a legacy image still sends it to convert (exit 1)', async () => {
    const v = await runXstInProcess(['verify', tempFile('old.save', PV())])
    expect(v.code).toBe(1)
    expect(v.stderr).toMatch(/^error: byte 90: this is a legacy image; convert it with `xst convert`$/m)
  })

  // gzip used to be refused ("decompress it first"); every command now reads it through.
  for (const [cmd, bytes] of [
    ['verify', () => PV_LIBXL()],
    ['convert', () => PV()],
    ['inspect-legacy', () => PV()],
  ] as const) {
    it(`${cmd} reads gzip data through, as the image it holds (file and pipe, text and JSON)`, async () => {
      const gz = gzipSync(bytes())
      const p = tempFile('image.gz', gz)
      const plainPath = tempFile('image', bytes())
      const args = (input: string, out = 'out.v2') => (cmd === 'convert' ? [cmd, input, join(dirname(p), out)] : [cmd, input])
      let n = 0
      for (const r of [await runXstInProcess(args(p, `out${n++}.v2`)), await runXstInProcess(args('-', `out${n++}.v2`), {input: gz})]) {
        expect(r.code, r.stderr).toBe(0)
        noStack(r.stderr)
        expect(r.stderr).toBe('')
        expect(r.stdout).toMatch(/gzip-compressed/)
      }
      // verify's document holds its one image's report; the others' are the report.
      const report = (r: {stdout: string}) => (cmd === 'verify' ? verifyReport(r) : JSON.parse(r.stdout))
      const j = report(await runXstInProcess([...args(p, 'j.v2'), '--json']))
      expect(j.ok).toBe(true)
      const plain = report(await runXstInProcess([...args(plainPath, 'plain.v2'), '--json']))
      if (cmd === 'convert') {
        const fs = await import('node:fs')
        expect(fs.readFileSync(join(dirname(p), 'j.v2')).equals(fs.readFileSync(join(dirname(p), 'plain.v2')))).toBe(true)
        expect(j.container).toMatchObject({kind: 'none', compressed: true})
      } else {
        // The same report, but for where it came from.
        expect(j.container).toMatchObject({kind: 'none', compressed: true})
        expect({...j, input: null, container: null}).toEqual({...plain, input: null, container: null})
      }
    })
  }
})

describe('inspect-legacy on an image convert cannot take', () => {
  it('a tmem chunk: exit 0, with a warning on stderr and in --json; convert then refuses it', async () => {
    const base = smallSpec('pv', 64)
    const {bytes, map} = buildLegacyWithMap({
      ...base,
      chunks: [{kind: 'pages', range: {start: 0, count: 2}}, {kind: 'tmem', pools: [{id: 0, pages: [{oid: [1n, 2n, 3n], index: 0}]}]}, ...base.chunks!],
    })
    const p = tempFile('tmem.legacy', bytes)
    const at = map.chunks[1].at
    const warning = `byte ${at}, chunk 1: the image holds a tmem chunk, which v2 streams have no equivalent for: it cannot be converted (xst convert will refuse it)`
    const r = await runXstInProcess(['inspect-legacy', p])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe(`warning: ${warning}\n`)
    expect(r.stdout).toMatch(/^ {2}not convertible +tmem$/m)
    const j = await runXstInProcess(['inspect-legacy', p, '--json'])
    expect(j.code).toBe(0)
    expect(j.stderr).toBe('')
    const doc = JSON.parse(j.stdout)
    expect(doc.ok).toBe(true)
    expect(doc.warnings).toEqual([warning])
    expect(doc.body.notConvertible).toEqual(['tmem'])
    const c = await runXstInProcess(['convert', p, join(dirname(p), 'out.v2')])
    expect(c.code).toBe(1)
    expect(c.stderr).toContain(`byte ${at}, chunk 1, tmem: tmem chunk cannot be converted`)
  })
})

describe('usage errors and help', () => {
  const usage = [
    [['verify', '--max-errors', '0', 'x'], 'verify', '--max-errors: expected an integer greater than or equal to 1 but received: 0'],
    [['verify'], 'verify', 'missing argument: IMAGE (image file(s), or - for stdin)'],
    [['identify'], 'identify', 'missing argument: IMAGE (image file(s), or - for stdin)'],
    [['inspect-legacy'], 'inspect-legacy', 'missing argument: IMAGE (legacy image file, or - for stdin)'],
    [['verify', '--format', 'xml', 'x'], 'verify', 'Expected --format=xml to be one of: auto, libxc, libxl'],
    [['convert', '--bogus', 'a', 'b'], 'convert', 'Nonexistent flag: --bogus'],
    [['convert', 'a', 'b', 'c'], 'convert', 'Unexpected argument: c'],
    [['verify', 'x', '--max-errors'], 'verify', 'Flag --max-errors expects a value'],
  ] as const
  it.each(usage)('%j: exit 2, the whole message and where to look', async (args, cmd, message) => {
    const r = await runXstInProcess([...args])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(`xst ${cmd}: ${message}\nSee: xst ${cmd} --help\n`)
    const j = await runXstInProcess([...args, '--json'])
    expect(j.code).toBe(2)
    expect(JSON.parse(j.stdout)).toEqual({ok: false, error: {code: 'usage', message, offset: null, index: null, context: null, expected: null, got: null}, warnings: []})
  })

  it('xst help, xst help CMD, CMD --help and CMD -h all show help (exit 0)', async () => {
    const all = await runXstInProcess(['help'])
    expect(all.code, all.stderr).toBe(0)
    for (const c of ['convert', 'inspect-legacy', 'verify']) expect(all.stdout).toMatch(new RegExp(`^ {2}${c} `, 'm'))
    for (const args of [
      ['help', 'convert'],
      ['convert', '--help'],
      ['convert', '-h'],
    ]) {
      const r = await runXstInProcess(args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0)
      expect(r.stdout).toMatch(/^USAGE\n {2}\$ xst convert /m)
      expect(r.stdout).toContain('--force')
    }
    const v = await runXstInProcess(['verify', '-h'])
    expect(v.code).toBe(0)
    expect(v.stdout).toMatch(/^USAGE\n {2}\$ xst verify /m)
    const none = await runXstInProcess(['help', 'nonexistent'])
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/nonexistent not found/)
    noStack(none.stderr)
  })
})

describe('one rule for every command: diagnostics on stderr, the report or JSON on stdout', () => {
  it('warnings go to stderr, never into the report, for all three commands', async () => {
    // hvm64-noqemu: inspect-legacy and convert warn that there is no qemu record.
    const noqemu = tempFile('noqemu.legacy', vectorBytes('legacy', 'hvm64-noqemu.legacy.gz'))
    const inspect = await runXstInProcess(['inspect-legacy', noqemu])
    const convert = await runXstInProcess(['convert', noqemu, join(dirname(noqemu), 'out.v2')])
    // optional-rec: verify warns about a skipped optional record.
    const verify = await runXstInProcess(['verify', tempFile('opt.v2', vectorBytes('v2', 'optional-rec.v2.gz'))])
    for (const [name, r] of [
      ['inspect-legacy', inspect],
      ['convert', convert],
      ['verify', verify],
    ] as const) {
      expect(r.code, `${name}: ${r.stderr}`).toBe(0)
      expect(r.stderr, name).toMatch(/^warning: /)
      expect(
        r.stderr
          .trim()
          .split('\n')
          .every((l) => l.startsWith('warning: ')),
        name,
      ).toBe(true)
      expect(r.stdout, name).not.toMatch(/^(warning|error):/m)
    }
  })

  it('errors go to stderr for all three commands (verify: its verdict stays on stdout)', async () => {
    const dir = tempDir()
    const bad = tempFile('bad.legacy', vectorBytes('legacy', 'bad-unknown-chunk.legacy.gz'))
    const inspect = await runXstInProcess(['inspect-legacy', bad])
    const convert = await runXstInProcess(['convert', bad, join(dir, 'out.v2')])
    const verify = await runXstInProcess(['verify', tempFile('bad.v2', vectorBytes('v2', 'bad-pfn-type-5.v2.gz'))])
    for (const r of [inspect, convert, verify]) expect(r.code).toBe(1)
    expect(inspect.stdout).toBe('')
    expect(convert.stdout).toBe('')
    expect(inspect.stderr).toMatch(/^xst inspect-legacy: byte \d+, chunk \d+: unknown chunk type/)
    expect(verify.stderr).toMatch(/^error: byte 208, libxc record 3 \(PAGE_DATA\): pfn\[0\] /)
    expect(verify.stdout).toMatch(/^\S+: INVALID — /)
    expect(verify.stdout).not.toMatch(/^error:/m)
  })

  it("every command's JSON has a top-level ok, true on success and false on failure", async () => {
    const dir = tempDir()
    const good = tempFile('good.legacy', PV())
    const v2 = tempFile('good.v2', PV_LIBXL())
    const bad = tempFile('bad.v2', vectorBytes('v2', 'bad-pfn-type-5.v2.gz'))
    const docs = {
      inspect: JSON.parse((await runXstInProcess(['inspect-legacy', good, '--json'])).stdout),
      convert: JSON.parse((await runXstInProcess(['convert', good, join(dir, 'out.v2'), '--json'])).stdout),
      verify: JSON.parse((await runXstInProcess(['verify', v2, '--json'])).stdout),
      verifyBad: JSON.parse((await runXstInProcess(['verify', bad, '--json'])).stdout),
      inspectBad: JSON.parse((await runXstInProcess(['inspect-legacy', v2, '--json'])).stdout),
      convertBad: JSON.parse((await runXstInProcess(['convert', v2, join(dir, 'x.v2'), '--json'])).stdout),
    }
    expect(Object.keys(docs.inspect)[0]).toBe('ok')
    expect(Object.keys(docs.verify)[0]).toBe('ok')
    expect({inspect: docs.inspect.ok, convert: docs.convert.ok, verify: docs.verify.ok}).toEqual({inspect: true, convert: true, verify: true})
    expect({verify: docs.verifyBad.ok, inspect: docs.inspectBad.ok, convert: docs.convertBad.ok}).toEqual({verify: false, inspect: false, convert: false})
  })
})
