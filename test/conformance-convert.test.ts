// Every legacy conformance vector through `xst convert`, both output formats:
// byte-identical to Xen's converter where it succeeded, rejected cleanly
// where the image is bad.
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {legacyVectors, vectorBytes} from './helpers/fixtures.js'
import {runXst, tempFile} from './helpers/cli.js'
import {LEGACY_DEFECTS} from './helpers/defects.js'

const FORMATS = ['libxc', 'libxl'] as const

describe('convert on the conformance vectors', () => {
  for (const v of legacyVectors()) {
    for (const format of FORMATS) {
      const expected = v.expected?.[format]
      if (v.valid && expected) {
        it(`${v.name} -> ${format}: byte-identical to the reference`, async () => {
          const input = tempFile(`${v.name}.legacy`, vectorBytes('legacy', v.input))
          const out = join(dirname(input), 'out.v2')
          const r = await runXst(['convert', input, out, '--format', format])
          expect(r.code, r.stderr).toBe(0)
          const got = readFileSync(out)
          const want = vectorBytes('legacy', expected)
          expect(got.length).toBe(want.length)
          expect(got.equals(want)).toBe(true)
        })
      } else if (v.valid) {
        it(`${v.name} -> ${format}: converts where Xen's converter failed, with a warning`, async () => {
          const input = tempFile(`${v.name}.legacy`, vectorBytes('legacy', v.input))
          const out = join(dirname(input), 'out.v2')
          const r = await runXst(['convert', input, out, '--format', format, '--json'])
          expect(r.code, r.stderr).toBe(0)
          const doc = JSON.parse(r.stdout)
          expect(doc.records.libxl.EMULATOR_CONTEXT).toBeUndefined()
          expect(doc.warnings.join('\n')).toMatch(/no device-model \(qemu\) record/)
          expect(existsSync(out)).toBe(true)
        })
      } else {
        // With libxc output the toolstack chunk is dropped unparsed, so a defect there does not stop it.
        const accepted = format === 'libxc' && v.name === 'bad-physmap-name-not-nul'
        it(`${v.name} -> ${format}: ${accepted ? 'converts (defect is in data libxc output drops)' : 'rejected, nothing left behind'}`, async () => {
          const input = tempFile(`${v.name}.legacy`, vectorBytes('legacy', v.input))
          const dir = dirname(input)
          const out = join(dir, 'out.v2')
          const r = await runXst(['convert', input, out, '--format', format])
          if (accepted) {
            expect(r.code, r.stderr).toBe(0)
            expect(existsSync(out)).toBe(true)
            return
          }
          expect(r.code).toBe(1)
          const lines = r.stderr.trim().split('\n')
          expect(lines).toHaveLength(1)
          expect(lines[0]).toMatch(LEGACY_DEFECTS[v.name].text)
          expect(r.stderr).not.toMatch(/\n\s+at /)
          expect(readdirSync(dir)).toEqual([`${v.name}.legacy`])
        })
      }
    }
  }
})
