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
import {runXst, tempDir, tempFile} from './helpers/cli.js'
import {buildLegacyWithMap, smallSpec} from './builders/legacy.js'

const PV = () => vectorBytes('legacy', 'pv64-xl.legacy.gz')
const PV_LIBXL = () => vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at |\.js:\d+/)
/** Bytes that are neither v2 nor any legacy layout (checked below to be so). */
const RANDOM = () => Buffer.concat([Buffer.from('not an image at all: '), randomBytes(4096)])

describe('one rule for every command: diagnostics on stderr, the report or JSON on stdout', () => {
  it('warnings go to stderr, never into the report, for all three commands', async () => {
    // hvm64-noqemu: inspect-legacy and convert warn that there is no qemu record.
    const noqemu = tempFile('noqemu.legacy', vectorBytes('legacy', 'hvm64-noqemu.legacy.gz'))
    const inspect = await runXst(['inspect-legacy', noqemu])
    const convert = await runXst(['convert', noqemu, join(dirname(noqemu), 'out.v2')])
    // optional-rec: verify warns about a skipped optional record.
    const verify = await runXst(['verify', tempFile('opt.v2', vectorBytes('v2', 'optional-rec.v2.gz'))])
    for (const [name, r] of [
      ['inspect-legacy', inspect],
      ['convert', convert],
      ['verify', verify],
    ] as const) {
      expect(r.code, `${name}: ${r.stderr}`).toBe(0)
      expect(r.stderr, name).toMatch(/^warning: /)
      expect(r.stderr.trim().split('\n').every((l) => l.startsWith('warning: ')), name).toBe(true)
      expect(r.stdout, name).not.toMatch(/^(warning|error):/m)
    }
  })

  it('errors go to stderr for all three commands (verify: its verdict stays on stdout)', async () => {
    const dir = tempDir()
    const bad = tempFile('bad.legacy', vectorBytes('legacy', 'bad-unknown-chunk.legacy.gz'))
    const inspect = await runXst(['inspect-legacy', bad])
    const convert = await runXst(['convert', bad, join(dir, 'out.v2')])
    const verify = await runXst(['verify', tempFile('bad.v2', vectorBytes('v2', 'bad-pfn-type-5.v2.gz'))])
    for (const r of [inspect, convert, verify]) expect(r.code).toBe(1)
    expect(inspect.stdout).toBe('')
    expect(convert.stdout).toBe('')
    expect(inspect.stderr).toMatch(/^xst inspect-legacy: byte \d+, chunk \d+: unknown chunk type/)
    expect(verify.stderr).toMatch(/^error: byte 208, libxc record 3 \(PAGE_DATA\): pfn\[0\] /)
    expect(verify.stdout).toMatch(/^\S+: INVALID — /)
    expect(verify.stdout).not.toMatch(/^error:/m)
  })

  it('every command\'s JSON has a top-level ok, true on success and false on failure', async () => {
    const dir = tempDir()
    const good = tempFile('good.legacy', PV())
    const v2 = tempFile('good.v2', PV_LIBXL())
    const bad = tempFile('bad.v2', vectorBytes('v2', 'bad-pfn-type-5.v2.gz'))
    const docs = {
      inspect: JSON.parse((await runXst(['inspect-legacy', good, '--json'])).stdout),
      convert: JSON.parse((await runXst(['convert', good, join(dir, 'out.v2'), '--json'])).stdout),
      verify: JSON.parse((await runXst(['verify', v2, '--json'])).stdout),
      verifyBad: JSON.parse((await runXst(['verify', bad, '--json'])).stdout),
      inspectBad: JSON.parse((await runXst(['inspect-legacy', v2, '--json'])).stdout),
      convertBad: JSON.parse((await runXst(['convert', v2, join(dir, 'x.v2'), '--json'])).stdout),
    }
    expect(Object.keys(docs.inspect)[0]).toBe('ok')
    expect(Object.keys(docs.verify)[0]).toBe('ok')
    expect({inspect: docs.inspect.ok, convert: docs.convert.ok, verify: docs.verify.ok}).toEqual({inspect: true, convert: true, verify: true})
    expect({verify: docs.verifyBad.ok, inspect: docs.inspectBad.ok, convert: docs.convertBad.ok}).toEqual({verify: false, inspect: false, convert: false})
  })
})
