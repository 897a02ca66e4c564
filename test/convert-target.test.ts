// convert --target-xen: Xen 4.6-4.13 restore only libxc version 2 streams,
// so for them xst writes what that release's own convert-legacy-stream
// wrote. RELEASE-4.13.0's script differs from 4.14's, whose bytes the
// conformance vectors hold, in two things only: the image header's version
// (2, not 3) and no STATIC_DATA_END record. The expected 4.13 bytes are
// derived from each vector that way.
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {libxcVersionFor, parseXenRelease, runningXen} from '../src/convert/target.js'
import {UsageError} from '../src/errors.js'
import {RecordHeader} from '../src/v2/record.js'
import {Rec} from '../src/v2/libxc/layout.js'
import {tempDir, tempFile} from './helpers/cli.js'
import {legacyVectors, vectorBytes} from './helpers/fixtures.js'
import {runXstInProcess as runXst} from './helpers/in-process.js'

/** Xen 4.13's converter output, from 4.14's: version 2 in the image header, STATIC_DATA_END left out. */
function as413(v3: Buffer): Buffer {
  const ihdr = v3.indexOf(Buffer.concat([Buffer.alloc(8, 0xff), Buffer.from('XENF')]))
  expect(ihdr).toBeGreaterThanOrEqual(0)
  const out = Buffer.from(v3)
  out.writeUInt32BE(2, ihdr + 12)
  const sde = RecordHeader.encode({type: Rec.STATIC_DATA_END, length: 0})
  const at = out.indexOf(sde, ihdr + 40)
  expect(at).toBeGreaterThan(ihdr)
  return Buffer.concat([out.subarray(0, at), out.subarray(at + sde.length)])
}

const vectors = legacyVectors().filter((v) => v.valid && v.expected)

describe('convert --target-xen', () => {
  it.each(vectors.flatMap((v) => (['libxc', 'libxl'] as const).filter((f) => v.expected![f]).map((f) => [v.name, f] as const)))(
    '%s, %s: 4.13 gets what its converter wrote, 4.14 and 4.21 what 4.14 writes',
    async (name, format) => {
      const v = vectors.find((x) => x.name === name)!
      const expected = vectorBytes('legacy', v.expected![format]!)
      const input = tempFile(`${name}.legacy`, vectorBytes('legacy', v.input))
      const dir = tempDir()
      for (const [target, want] of [
        ['4.13', as413(expected)],
        ['4.6', as413(expected)],
        ['4.14', expected],
        ['4.21', expected],
      ] as const) {
        const out = join(dir, `out-${target}`)
        const r = await runXst(['convert', '--format', format, ...(v.reference_flags ?? []).filter((f) => f === '-x' || f === '--xl'), '--target-xen', target, input, out])
        expect(r.code, r.stderr).toBe(0)
        expect(readFileSync(out).equals(want), `${name} ${format} for Xen ${target}`).toBe(true)
        expect(r.stdout).toContain(target === '4.13' || target === '4.6' ? 'libxc v2 stream' : 'libxc v3 stream')
        const check = await runXst(['verify', out])
        expect(check.code, check.stdout + check.stderr).toBe(0)
      }
    },
  )

  it('a release before 4.6, or something else, is a usage error', () => {
    expect(() => parseXenRelease('4.5')).toThrow(UsageError)
    expect(() => parseXenRelease('four')).toThrow(/expected a Xen release such as 4.13/)
    expect(parseXenRelease('4.13.5')).toEqual({major: 4, minor: 13})
    expect([libxcVersionFor({major: 4, minor: 13}), libxcVersionFor({major: 4, minor: 14}), libxcVersionFor({major: 5, minor: 0})]).toEqual([2, 3, 3])
  })

  it("a helper asks the running hypervisor (Xen's /sys/hypervisor)", () => {
    const root = tempDir()
    expect(runningXen(root)).toBeUndefined()
    mkdirSync(join(root, 'version'))
    writeFileSync(join(root, 'type'), 'xen\n')
    writeFileSync(join(root, 'version', 'major'), '4\n')
    writeFileSync(join(root, 'version', 'minor'), '11\n')
    expect(runningXen(root)).toEqual({major: 4, minor: 11})
    writeFileSync(join(root, 'type'), 'kvm\n')
    expect(runningXen(root)).toBeUndefined()
  })
})
