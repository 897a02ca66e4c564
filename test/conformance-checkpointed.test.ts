// The checkpointed (Remus, COLO) v2 streams of fixtures/conformance/native/,
// as a replication channel carries them (FORMAT.md section 7): verify finds
// each valid with its complete checkpoints counted, says where a cut one
// was cut, and lists the checkpoints with --verbose and in --json.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {tempDir, tempFile} from './helpers/cli.js'
import {runXstInProcess as runXst} from './helpers/in-process.js'
import {nativeBytes, nativeCases} from './helpers/fixtures.js'
import {rawPagesNotIn} from './helpers/dump.js'
import {verifyReport} from './helpers/verify-json.js'

const V2_CHECKPOINTED = nativeCases().filter((c) => c.checkpoints !== null && c.kind !== 'legacy')

describe('identify: checkpointed v2 streams', () => {
  it.for(V2_CHECKPOINTED.map((c) => [c.name, c] as const))('%s: checkpointed, its kind and complete checkpoints, and what restores it', async ([name, c], {expect}) => {
    const file = tempFile(name, nativeBytes(c.input))
    const [text, json] = await Promise.all([runXst(['identify', file]), runXst(['identify', '--json', file])])
    expect(text.code, text.stderr).toBe(0)
    const kind = c.stream.checkpointed === 'colo' ? 'COLO' : 'Remus'
    expect(text.stdout).toContain(`checkpointed (${kind}) libxl v2 stream (libxc v3), ${c.checkpoints} complete checkpoints`)
    const img = JSON.parse(json.stdout).images[0]
    expect(img.stream.checkpointed).toEqual({kind: c.stream.checkpointed, complete: c.checkpoints})
    // index.json: restorable_by xl migrate-receive, not_restorable_by xl restore.
    expect(img.restore.by.join(' ')).toContain(c.stream.checkpointed === 'colo' ? 'xl migrate-receive --colo' : 'xl migrate-receive -r')
    expect(c.not_restorable_by?.join(' ')).toContain('xl restore')
    expect(img.note).toMatch(/xl restore refuses a checkpointed stream/)
  })
})

describe.concurrent('verify: checkpointed v2 streams', () => {
  it('there are Remus and COLO streams, one of them cut inside its last checkpoint', () => {
    expect(V2_CHECKPOINTED.map((c) => c.stream.checkpointed).sort()).toEqual(['colo', 'remus', 'remus', 'remus'])
    expect(V2_CHECKPOINTED.filter((c) => c.stream.cut_inside_checkpoint !== null)).toHaveLength(1)
  })

  it.for(V2_CHECKPOINTED.map((c) => [c.name, c] as const))('%s: valid, its complete checkpoints counted and listed', async ([name, c], {expect}) => {
    const file = tempFile(name, nativeBytes(c.input))
    const [text, json] = await Promise.all([runXst(['verify', '--verbose', file]), runXst(['verify', '--json', file])])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stderr).not.toMatch(/^error:/m)
    const kind = c.stream.checkpointed === 'colo' ? 'COLO' : 'Remus'
    expect(text.stdout).toMatch(new RegExp(`: valid — checkpointed \\(${kind}\\) .*, ${c.checkpoints} complete checkpoints`))
    const doc = verifyReport(json)
    expect(doc).toMatchObject({ok: true, valid: true, errors: []})
    const cp = doc.summary.checkpoints
    expect(cp).toMatchObject({kind: c.stream.checkpointed, complete: c.checkpoints, lastEnd: c.stream.last_complete_checkpoint_ends_at})
    expect(cp.list.map((x: {index: number}) => x.index)).toEqual(Array.from({length: c.checkpoints!}, (_, i) => i + 1))
    // Back to back: each checkpoint starts where the one before ended.
    for (let i = 1; i < cp.list.length; i++) expect(cp.list[i].start, `${name} checkpoint ${i + 1}`).toBeGreaterThanOrEqual(cp.list[i - 1].end)
    // The pages each checkpoint sent: the passes the saver made in it.
    const passes = c.stream.passes_per_checkpoint as number[][]
    expect(cp.list.map((x: {pfns: number}) => x.pfns)).toEqual(passes.slice(0, c.checkpoints!).map((p) => p.reduce((a, b) => a + b, 0)))
    for (const x of cp.list) expect(text.stdout).toContain(`checkpoint ${x.index}: bytes ${x.start}-${x.end}, ${x.pfns} pfns sent`)
    if (c.stream.cut_inside_checkpoint === null) {
      expect(doc.warnings).toEqual([])
      expect(cp.cut).toBeNull()
    } else {
      // Cut inside the next checkpoint: a warning says where, and from which checkpoint the receiver fails over.
      expect(cp.cut).toMatchObject({checkpoint: c.stream.cut_inside_checkpoint, start: c.stream.last_complete_checkpoint_ends_at})
      expect(doc.warnings).toMatchObject([{code: 'checkpoint-cut', message: expect.stringMatching(new RegExp(`fails over from checkpoint ${c.checkpoints}\\b`))}])
      expect(text.stderr).toMatch(/^warning: .*inside checkpoint \d+/m)
    }
  })
})

describe('dump-core: checkpointed v2 streams, as the receiver fails over', () => {
  /** The raw dump holds exactly `file`'s pages (a PV p2m page rewritten to the identity, as saved when `kept`), zeros elsewhere. */
  function expectPages(raw: Buffer, file: string, label: string, kept = false): void {
    expect(rawPagesNotIn(raw, file, kept), label).toEqual([])
  }

  it.for(V2_CHECKPOINTED.map((c) => [c.name, c] as const))('%s: the last complete checkpoint, and --checkpoint 1 the first', async ([name, c], {expect}) => {
    const dir = tempDir()
    const file = join(dir, name)
    const {writeFileSync} = await import('node:fs')
    writeFileSync(file, nativeBytes(c.input))
    for (const [args, memory, dumped] of [
      [[], c.memory, c.checkpoints],
      [['--checkpoint', '1'], c.memory_first_checkpoint!, 1],
    ] as const) {
      const out = join(dir, `core-${dumped}.raw`)
      const r = await runXst(['dump-core', '--json', '--format', 'raw', ...args, file, out])
      expect(r.code, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout).checkpoint).toEqual({kind: c.stream.checkpointed, dumped, complete: c.checkpoints})
      expectPages(readFileSync(out), memory, `${name} checkpoint ${dumped}`)
      if (c.guest === 'pv') {
        const kept = join(dir, `kept-${dumped}.raw`)
        expect((await runXst(['dump-core', '--format', 'raw', '--keep-p2m', ...args, file, kept])).code).toBe(0)
        expectPages(readFileSync(kept), memory, `${name} checkpoint ${dumped}, --keep-p2m`, true)
      }
    }
    // A checkpoint the stream does not complete cannot be chosen (a pipe, read once, neither: test/integration/dump-checkpoint-pipe.test.ts).
    const past = await runXst(['dump-core', '--checkpoint', String(c.checkpoints! + 1), file, join(dir, 'x')])
    expect([past.code, past.stderr.trim()]).toEqual([2, expect.stringMatching(/--checkpoint \d+: the stream completes \d+ checkpoints/)])
  })
})

describe('dump-core: a checkpointed v2 stream read once (gzip), cut inside a checkpoint after some of its pages', () => {
  it.for(V2_CHECKPOINTED.map((c) => [c.name, c] as const))('%s: the pages of the cut checkpoint are left out, as from the file', async ([name, c], {expect}) => {
    const {gzipSync} = await import('node:zlib')
    const {writeFileSync} = await import('node:fs')
    const bytes = nativeBytes(c.input)
    const dir = tempDir()
    const whole = join(dir, `${name}.whole`)
    writeFileSync(whole, bytes)
    const v = verifyReport(await runXst(['verify', '--json', whole]))
    const last = v.summary.checkpoints.list.at(-1)
    // Cut after the first record of the last complete checkpoint (its first PAGE_DATA): the checkpoint before is the last complete one.
    const first = bytes.readUInt32LE(last.start + 4)
    expect(bytes.readUInt32LE(last.start), `${name}: a checkpoint starts with PAGE_DATA`).toBe(1)
    const cut = bytes.subarray(0, last.start + 8 + ((first + 7) & ~7))
    const file = join(dir, `${name}.cut`)
    writeFileSync(file, cut)
    const gz = join(dir, `${name}.cut.gz`)
    writeFileSync(gz, gzipSync(cut))
    const cores: Buffer[] = []
    for (const input of [file, gz]) {
      const core = join(dir, `core-${cores.length}.raw`)
      const r = await runXst(['dump-core', '--json', '--format', 'raw', input, core])
      expect(r.code, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout).checkpoint, input).toEqual({kind: c.stream.checkpointed, dumped: last.index - 1, complete: last.index - 1})
      cores.push(readFileSync(core))
    }
    expect(cores[1].equals(cores[0]), `${name}: gzip and file dumps differ`).toBe(true)
  })
})
