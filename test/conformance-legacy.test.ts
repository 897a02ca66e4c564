// Every legacy conformance vector through `xst inspect-legacy`, run as a user would.
import {describe, expect, it} from 'vitest'
import {legacyVectors, vectorBytes} from './helpers/fixtures.js'
import {tempFile} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {LEGACY_DEFECTS} from './helpers/defects.js'

describe('inspect-legacy on the conformance vectors', () => {
  for (const v of legacyVectors()) {
    if (v.valid) {
      it(`${v.name}: detects guest, toolstack width and xl header with no flags`, async () => {
        const path = tempFile(`${v.name}.legacy`, vectorBytes('legacy', v.input))
        const r = await runXstInProcess(['inspect-legacy', path, '--json'])
        expect(r.code, r.stderr).toBe(0)
        const rep = JSON.parse(r.stdout)
        expect(rep.image.guest).toBe(v.guest)
        expect(rep.image.toolstackWidth).toBe(v.toolstack_width)
        expect(rep.xlHeader !== null).toBe(v.xl_header)
        expect(rep.image.detected).toEqual({toolstackWidth: true, guest: true})
        expect(rep.input.bytes).toBe(vectorBytes('legacy', v.input).length)
        const text = await runXstInProcess(['inspect-legacy', path])
        expect(text.code).toBe(0)
        expect(text.stdout).toContain(`legacy (Xen <= 4.5) ${v.guest.toUpperCase()} image`)
        expect(text.stdout).toContain(`${v.toolstack_width}-bit (detected)`)
      })
    } else {
      it(`${v.name}: rejected with exit 1 and one line naming the defect and its offset`, async () => {
        const defect = LEGACY_DEFECTS[v.name]
        expect(defect, `no expectation written for ${v.name}`).toBeDefined()
        const path = tempFile(`${v.name}.legacy`, vectorBytes('legacy', v.input))
        const r = await runXstInProcess(['inspect-legacy', path])
        expect(r.code).toBe(1)
        expect(r.stdout).toBe('')
        const lines = r.stderr.trim().split('\n')
        expect(lines).toHaveLength(1)
        expect(lines[0]).toMatch(defect.text)
        expect(lines[0]).toMatch(/byte \d+/)
        expect(r.stderr).not.toMatch(/\n\s+at /)
        const j = await runXstInProcess(['inspect-legacy', path, '--json'])
        expect(j.code).toBe(1)
        const doc = JSON.parse(j.stdout)
        expect(doc.ok).toBe(false)
        expect(doc.error.code).toBe(defect.code)
        expect(typeof doc.error.offset).toBe('number')
      })
    }
  }

  it('reads from a pipe the same as from a file', async () => {
    const bytes = vectorBytes('legacy', 'hvm64-xl-physmap.legacy.gz')
    const viaPipe = await runXstInProcess(['inspect-legacy', '-', '--json'], {input: bytes})
    const viaFile = await runXstInProcess(['inspect-legacy', tempFile('x.legacy', bytes), '--json'])
    expect(viaPipe.code).toBe(0)
    const a = JSON.parse(viaPipe.stdout)
    const b = JSON.parse(viaFile.stdout)
    expect(a.input).toEqual({path: 'stdin', size: null, bytes: bytes.length})
    expect(b.input.bytes).toBe(bytes.length)
    delete a.input
    delete b.input
    expect(a).toEqual(b)
    expect(a.xlHeader.config.domainName).toBe('win7')
    expect(a.body.toolstack.physmap.map((p: {name: string}) => p.name)).toEqual(['vga.vram', 'cirrus_vga.rom'])
  })

  it('--verbose lists every chunk with its byte offset', async () => {
    const path = tempFile('pv.legacy', vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    const r = await runXstInProcess(['inspect-legacy', path, '--verbose'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^\s+5302\s+0\s+tsc_info\s+24/m)
    expect(r.stdout).toMatch(/^\s+5326\s+1\s+page batch\s+128 entries/m)
    expect(r.stdout).toMatch(/^\s+541278\s+shared info\s+4096/m)
  })

  it('refuses a v2 stream and points at verify', async () => {
    const path = tempFile('v2', vectorBytes('legacy', 'pv64-basic.libxc.v2.gz'))
    const r = await runXstInProcess(['inspect-legacy', path])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('already a v2 stream')
    expect(r.stderr).toContain('xst verify')
  })

  it('a missing file is a usage error (exit 2)', async () => {
    const r = await runXstInProcess(['inspect-legacy', '/nonexistent/image'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('no such file')
  })
})
