// The legacy Remus streams of fixtures/conformance/native/ (Xen 4.5's
// xc_domain_save in checkpoint mode, with and without its page delta
// compression, one cut inside its last checkpoint; FORMAT.md section 7),
// through the built CLI: identify names them, inspect-legacy lists their
// checkpoints with the compressed pages decoded, convert makes each a plain
// v2 stream of the last complete checkpoint (or --checkpoint K), and
// dump-core of the input and of that output holds exactly the case's
// memory.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {tempDir} from './helpers/cli.js'
import {rawPagesNotIn} from './helpers/dump.js'
import {NATIVE, type NativeCase, nativeBytes, nativeCases} from './helpers/fixtures.js'
import {runXstInProcess as runXst} from './helpers/in-process.js'
import {verifyReport} from './helpers/verify-json.js'

const LEGACY_REMUS = nativeCases().filter((c) => c.checkpoints !== null && c.kind === 'legacy')
const cases = () => LEGACY_REMUS.map((c) => [c.name, c] as const)

interface RemusFacts {
  compression: boolean
  cut_inside_checkpoint: number | null
  first_checkpoint_ends_at: number
  last_complete_checkpoint_ends_at: number
  dirty_pages_later_checkpoints: number[]
}
const facts = (c: NativeCase) => c.stream as unknown as RemusFacts

function inputFile(c: NativeCase): {dir: string; file: string} {
  const dir = tempDir('xst-remus-')
  const file = join(dir, c.name)
  writeFileSync(file, nativeBytes(c.input))
  return {dir, file}
}

describe('the legacy Remus cases', () => {
  it('compressed and not, PV and HVM, one cut inside its last checkpoint', () => {
    expect(LEGACY_REMUS.map((c) => c.name).sort()).toEqual(['legacy-remus-hvm', 'legacy-remus-hvm-compressed', 'legacy-remus-pv', 'legacy-remus-pv-compressed', 'legacy-remus-pv-compressed-cut'])
    expect(LEGACY_REMUS.filter((c) => facts(c).cut_inside_checkpoint !== null)).toHaveLength(1)
  })
})

describe.concurrent('identify: a legacy Remus stream', () => {
  it.for(cases())('%s: checkpointed (Remus), its complete checkpoints, and that xst convert makes it plain', async ([, c], {expect}) => {
    const {file} = inputFile(c)
    const [text, json] = await Promise.all([runXst(['identify', file]), runXst(['identify', '--json', file])])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain(`checkpointed (Remus) legacy (Xen <= 4.5) stream, ${c.checkpoints} complete checkpoints`)
    const img = JSON.parse(json.stdout).images[0]
    expect(img.stream.checkpointed).toEqual({kind: 'remus', complete: c.checkpoints})
    expect(img.restore.by.join(' | ')).toMatch(/xl migrate-receive -r .*\| xl restore after `xst convert`/)
  })
})

describe.concurrent('inspect-legacy: every checkpoint listed, compressed pages decoded', () => {
  it.for(cases())('%s', async ([, c], {expect}) => {
    const {file} = inputFile(c)
    const f = facts(c)
    const [text, json] = await Promise.all([runXst(['inspect-legacy', '--verbose', file]), runXst(['inspect-legacy', '--json', file])])
    expect(text.code, text.stderr).toBe(0)
    const doc = JSON.parse(json.stdout)
    const cp = doc.checkpoints
    const cut = f.cut_inside_checkpoint
    expect(cp).toMatchObject({kind: 'remus', complete: c.checkpoints, compressed: f.compression})
    expect(cp.list.map((x: {index: number}) => x.index)).toEqual(Array.from({length: c.checkpoints! + (cut ? 1 : 0)}, (_, i) => i + 1))
    // Where the first checkpoint ends and the last complete one ends, as the case says.
    expect(cp.list[0].end).toBe(f.first_checkpoint_ends_at)
    expect(cp.list[c.checkpoints! - 1].end).toBe(f.last_complete_checkpoint_ends_at)
    // Back to back; each later checkpoint sends the pages the guest dirtied in it.
    for (let i = 1; i < cp.list.length; i++) expect(cp.list[i].start).toBe(cp.list[i - 1].end)
    expect(cp.list.slice(1).map((x: {withData: number}) => x.withData)).toEqual(f.dirty_pages_later_checkpoints)
    for (const x of cp.list.slice(1, c.checkpoints)) {
      if (!f.compression) expect(x.compressedPages).toBeNull()
      else {
        // Every page of a complete compressed checkpoint decoded: unchanged, whole or as runs.
        const p = x.compressedPages
        expect(p.unchanged + p.whole + p.runs, `checkpoint ${x.index}`).toBe(x.withData)
        expect(p.bytes).toBeGreaterThan(0)
      }
    }
    if (cut) {
      expect(cp.cut).toMatchObject({checkpoint: cut, start: f.last_complete_checkpoint_ends_at})
      expect(cp.list.at(-1).end).toBeNull()
      expect(text.stderr).toMatch(
        new RegExp(`^warning: .*inside checkpoint ${cut} \\(from byte ${f.last_complete_checkpoint_ends_at}\\); the receiver fails over from checkpoint ${c.checkpoints}`, 'm'),
      )
    } else {
      expect(cp.cut).toBeNull()
      expect(doc.warnings).toEqual([])
      expect(doc.trailing).toBeNull()
    }
    expect(text.stdout).toContain(`Remus, ${c.checkpoints} complete checkpoints`)
    for (const x of cp.list) expect(text.stdout).toMatch(new RegExp(`checkpoint ${x.index} +bytes ${x.start}-`))
  })
})

describe.concurrent('convert: a legacy Remus stream made plain', () => {
  it.for(cases())('%s: the last complete checkpoint, and --checkpoint 1 the first; from the file and from gzip', async ([name, c], {expect}) => {
    const {dir, file} = inputFile(c)
    for (const [input, args, memory, written] of [
      [file, [], c.memory, c.checkpoints],
      [join(NATIVE, c.input), [], c.memory, c.checkpoints],
      [file, ['--checkpoint', '1'], c.memory_first_checkpoint!, 1],
    ] as const) {
      const out = join(dir, `plain-${written}-${input === file ? 'file' : 'gz'}.save`)
      const r = await runXst(['convert', '--json', ...args, input, out])
      expect(r.code, r.stderr).toBe(0)
      const doc = JSON.parse(r.stdout)
      expect(doc.checkpoint).toEqual({kind: 'remus', written, complete: c.checkpoints})
      expect(doc.verify.valid).toBe(true)
      // What xl restore takes: a plain stream, no checkpoint in it.
      const v = await runXst(['verify', '--json', out])
      expect(v.code, v.stderr).toBe(0)
      expect(verifyReport(v).summary.checkpoints).toBeNull()
      // Its memory is the checkpoint's, as the receiver holds it on failover.
      const raw = join(dir, `plain-${written}.raw`)
      const d = await runXst(['dump-core', '--format', 'raw', '--force', out, raw])
      expect(d.code, d.stderr).toBe(0)
      expect(rawPagesNotIn(readFileSync(raw), memory), `${name} checkpoint ${written}`).toEqual([])
    }
    const past = await runXst(['convert', '--checkpoint', String(c.checkpoints! + 1), file, join(dir, 'x')])
    // (After the warning of where a cut stream was cut.)
    expect([past.code, past.stderr.trim().split('\n').at(-1)]).toEqual([2, `xst convert: --checkpoint ${c.checkpoints! + 1}: the stream completes ${c.checkpoints} checkpoints`])
  })
})

describe.concurrent('dump-core: a legacy Remus stream, as the receiver fails over', () => {
  it.for(cases())('%s: raw and ELF hold the last complete checkpoint, --checkpoint 1 the first', async ([name, c], {expect}) => {
    const {dir, file} = inputFile(c)
    for (const [input, args, memory, dumped] of [
      [file, [], c.memory, c.checkpoints],
      [join(NATIVE, c.input), [], c.memory, c.checkpoints],
      [file, ['--checkpoint', '1'], c.memory_first_checkpoint!, 1],
    ] as const) {
      const raw = join(dir, `core-${dumped}.raw`)
      const r = await runXst(['dump-core', '--json', '--format', 'raw', '--force', ...args, input, raw])
      expect(r.code, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout).checkpoint).toEqual({kind: 'remus', dumped, complete: c.checkpoints})
      expect(rawPagesNotIn(readFileSync(raw), memory), `${name} checkpoint ${dumped}`).toEqual([])
      if (c.guest === 'pv') {
        // --keep-p2m: the guest's p2m pages as saved.
        const kept = join(dir, `kept-${dumped}.raw`)
        expect((await runXst(['dump-core', '--format', 'raw', '--force', '--keep-p2m', ...args, input, kept])).code).toBe(0)
        expect(rawPagesNotIn(readFileSync(kept), memory, true), `${name} checkpoint ${dumped}, --keep-p2m`).toEqual([])
      }
      // The ELF dump holds the same pages (and the text says which checkpoint).
      const elf = join(dir, `core-${dumped}.elf`)
      const e = await runXst(['dump-core', '--force', ...args, input, elf])
      expect(e.code, e.stderr).toBe(0)
      expect(e.stdout).toMatch(new RegExp(`checkpoint +${dumped} of ${c.checkpoints} complete \\(Remus\\)`))
    }
  })
})
