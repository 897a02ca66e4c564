// convert makes a checkpointed v2 stream (a Remus or COLO capture, which
// xl restore refuses) plain: for every checkpointed v2 case of
// fixtures/conformance/native/, the output verifies as a plain stream, and
// dump-core of it holds exactly the case's memory (the last complete
// checkpoint; --checkpoint 1 the first), as dump-core of the input does.
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {describe, it} from 'vitest'
import {tempDir} from './helpers/cli.js'
import {rawPagesNotIn} from './helpers/dump.js'
import {NATIVE, type NativeCase, nativeBytes, nativeCases} from './helpers/fixtures.js'
import {runXstInProcess as runXst} from './helpers/in-process.js'
import {verifyReport} from './helpers/verify-json.js'

const CHECKPOINTED = nativeCases().filter((c) => c.checkpoints !== null && c.kind !== 'legacy')
const KIND = {remus: 'Remus', colo: 'COLO'} as const

/** The case's input written out (decompressed) in a new temp directory. */
function inputFile(c: NativeCase): {dir: string; file: string} {
  const dir = tempDir('xst-cpt-')
  const file = join(dir, c.name)
  writeFileSync(file, nativeBytes(c.input))
  return {dir, file}
}

describe.concurrent('convert: a checkpointed v2 stream made plain', () => {
  it('the cases: Remus and COLO, one behind an xl header, one cut inside its last checkpoint', ({expect}) => {
    expect(CHECKPOINTED.map((c) => c.name).sort()).toEqual(['colo-hvm3', 'remus-v2-hvm3-cut', 'remus-v2-hvm3-xl', 'remus-v2-pv3'])
  })

  it.for(CHECKPOINTED.map((c) => [c.name, c] as const))('%s: the last complete checkpoint and the first, each verified plain and dumped', async ([name, c], {expect}) => {
    const {dir, file} = inputFile(c)
    const kind = c.stream.checkpointed as 'remus' | 'colo'
    for (const [args, memory, written] of [
      [[], c.memory, c.checkpoints!],
      [['--checkpoint', '1'], c.memory_first_checkpoint!, 1],
    ] as const) {
      const out = join(dir, `plain-${written}`)
      const r = await runXst(['convert', '--json', ...args, file, out])
      expect(r.code, r.stderr).toBe(0)
      const doc = JSON.parse(r.stdout)
      expect(doc.checkpoint).toEqual({kind, written, complete: c.checkpoints})
      expect(doc.verify).toMatchObject({valid: true, summary: {checkpoints: null}})
      expect(doc.records.libxc).not.toHaveProperty('CHECKPOINT')
      expect(doc.records.libxc.END).toBe(1)
      if (c.kind !== 'libxc') {
        expect(doc.records.libxl).not.toHaveProperty('CHECKPOINT_END')
        expect(doc.records.libxl).not.toHaveProperty('CHECKPOINT_STATE')
        expect(doc.records.libxl.END).toBe(1)
      }
      // The cut stream's warning (where its incomplete checkpoint was cut) is passed on (on stderr in text mode, below).
      const cut = c.stream.cut_inside_checkpoint
      expect(doc.warnings).toEqual(cut === null ? [] : [expect.stringMatching(new RegExp(`inside checkpoint ${cut} .*fails over from checkpoint ${c.checkpoints}\\b`))])

      // The output is a plain stream: verify finds no checkpoint; an xl header stays where there was one.
      const v = await runXst(['verify', '--json', out])
      expect(v.code, v.stdout).toBe(0)
      const summary = verifyReport(v).summary
      expect(summary.checkpoints).toBeNull()
      expect(summary.xlHeader !== null, 'xl header kept where the input has one').toBe(c.kind === 'xl')

      // Its memory is the case's, and the input's at the same checkpoint.
      const rawOut = join(dir, `out-${written}.raw`)
      const rawIn = join(dir, `in-${written}.raw`)
      expect((await runXst(['dump-core', '--format', 'raw', out, rawOut])).code).toBe(0)
      expect((await runXst(['dump-core', '--format', 'raw', ...args, file, rawIn])).code).toBe(0)
      const pages = readFileSync(rawOut)
      expect(rawPagesNotIn(pages, memory), `${name} checkpoint ${written}: pages not in ${memory}`).toEqual([])
      expect(pages.equals(readFileSync(rawIn)), 'dump-core of the output = dump-core of the input').toBe(true)
      // The ELF dump too: the vcpu state is checkpoint K's.
      const elfOut = join(dir, `out-${written}.core`)
      const elfIn = join(dir, `in-${written}.core`)
      expect((await runXst(['dump-core', out, elfOut])).code).toBe(0)
      expect((await runXst(['dump-core', ...args, file, elfIn])).code).toBe(0)
      expect(readFileSync(elfOut).equals(readFileSync(elfIn)), 'ELF dump-core of the output = of the input').toBe(true)
    }
  })

  it.for(CHECKPOINTED.map((c) => [c.name, c] as const))('%s: the text says which checkpoint was written, of how many', async ([, c], {expect}) => {
    const {dir, file} = inputFile(c)
    const r = await runXst(['convert', file, join(dir, 'out')])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^made plain /)
    expect(r.stdout).toContain(`checkpoint ${c.checkpoints} of ${c.checkpoints} complete (${KIND[c.stream.checkpointed as 'remus' | 'colo']} stream), the last`)
    const cut = c.stream.cut_inside_checkpoint
    if (cut !== null) expect(r.stderr).toMatch(new RegExp(`^warning: .*inside checkpoint ${cut}\\b`, 'm'))
    else expect(r.stderr).toBe('')
  })

  it('a gzip input and a pipe are spooled: the same output as from the file', async ({expect}) => {
    const c = CHECKPOINTED.find((x) => x.name === 'remus-v2-hvm3-cut')!
    const {dir, file} = inputFile(c)
    const fromFile = join(dir, 'from-file')
    expect((await runXst(['convert', file, fromFile])).code).toBe(0)
    const gz = join(dir, 'in.gz')
    writeFileSync(gz, gzipSync(readFileSync(file)))
    const fromGzip = join(dir, 'from-gzip')
    const g = await runXst(['convert', gz, fromGzip])
    expect(g.code, g.stderr).toBe(0)
    expect(g.stdout).toMatch(/copied to a temporary file/)
    expect(readFileSync(fromGzip).equals(readFileSync(fromFile))).toBe(true)
    const p = await runXst(['convert', '-', '-'], {input: readFileSync(file)})
    expect(p.code, p.stderr).toBe(0)
    expect(p.stdoutBytes.equals(readFileSync(fromFile))).toBe(true)
  })

  it('--checkpoint 0, or past the complete ones, is a usage error (exit 2) and writes nothing', async ({expect}) => {
    const c = CHECKPOINTED.find((x) => x.name === 'colo-hvm3')!
    const {dir, file} = inputFile(c)
    const out = join(dir, 'out')
    const zero = await runXst(['convert', '--checkpoint', '0', file, out])
    expect(zero.code).toBe(2)
    const past = await runXst(['convert', '--checkpoint', String(c.checkpoints! + 1), file, out])
    expect([past.code, past.stderr.trim()]).toEqual([2, `xst convert: --checkpoint ${c.checkpoints! + 1}: the stream completes ${c.checkpoints} checkpoints`])
    expect(existsSync(out)).toBe(false)
  })

  it('a plain v2 stream is refused as before (exit 1), from a file, gzip or a pipe; --checkpoint on it is a usage error', async ({expect}) => {
    const dir = tempDir('xst-cpt-')
    const out = join(dir, 'out')
    const libxc = join(dir, 'libxc')
    writeFileSync(libxc, nativeBytes('libxc-pv3-save.gz'))
    const refusal = 'xst convert: byte 0: this is already a v2 stream (libxc); use `xst verify`'
    for (const run of [() => runXst(['convert', libxc, out]), () => runXst(['convert', join(NATIVE, 'libxc-pv3-save.gz'), out]), () => runXst(['convert', '-', out], {input: readFileSync(libxc)})]) {
      const r = await run()
      expect([r.code, r.stderr.trim()]).toEqual([1, refusal])
    }
    const xl = join(dir, 'xl')
    writeFileSync(xl, nativeBytes('xl-hvm3-save.gz'))
    const r = await runXst(['convert', xl, out])
    expect([r.code, r.stderr.trim()]).toEqual([1, 'xst convert: byte 0, xl header: the xl header says a v2 stream follows (STREAMv2 flag); use `xst verify`'])
    const k = await runXst(['convert', '--checkpoint', '1', libxc, out])
    expect([k.code, k.stderr.trim()]).toEqual([2, 'xst convert: --checkpoint: the stream is not checkpointed (no Remus or COLO checkpoint in it)'])
    expect(existsSync(out)).toBe(false)
  })

  it('the output family: --container none drops the xl header, --format libxc and --container libvirt are refused', async ({expect}) => {
    const c = CHECKPOINTED.find((x) => x.name === 'remus-v2-hvm3-xl')!
    const {dir, file} = inputFile(c)
    const none = join(dir, 'none')
    expect((await runXst(['convert', '--container', 'none', file, none])).code).toBe(0)
    const v = await runXst(['verify', '--json', none])
    expect(v.code).toBe(0)
    expect(verifyReport(v).summary).toMatchObject({xlHeader: null, checkpoints: null})
    for (const args of [
      ['--format', 'libxc'],
      ['--container', 'libvirt'],
    ]) {
      const r = await runXst(['convert', ...args, file, join(dir, 'x')])
      expect(r.code, r.stderr).toBe(2)
    }
  })
})
