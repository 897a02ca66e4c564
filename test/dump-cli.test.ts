// xst dump-core as a user runs it: bad images refused with one line and
// exit 1 (a legacy image with convert's very words), nothing left behind;
// --json; an existing CORE kept without --force; stdin and stdout.
import {mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {buildLegacy, smallSpec} from './builders/legacy.js'
import {tempDir} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {legacyVectors, v2Vectors, vectorBytes} from './helpers/fixtures.js'
import {PAGE, parseCore} from './helpers/dump.js'
import {errorLines, hasStackTrace} from './fuzz/procs.js'

const root = tempDir('xst-dump-cli-')
afterAll(() => rmSync(root, {recursive: true, force: true}))

let serial = 0
/** A fresh directory holding `bytes` as `name`. */
function place(name: string, bytes: Buffer): {dir: string; file: string} {
  const dir = join(root, `d${serial++}`)
  mkdirSync(dir)
  const file = join(dir, name)
  writeFileSync(file, bytes)
  return {dir, file}
}

/** The error line without the command's name. */
const defect = (stderr: string, cmd: string) => errorLines(stderr).map((l) => l.replace(`xst ${cmd}: `, ''))

describe.concurrent('bad images: exit 1, one line, nothing left', () => {
  it.for(
    legacyVectors()
      .filter((v) => !v.valid)
      .map((v) => v.name),
  )('legacy %s: refused in the words of xst convert', async (name, {expect}) => {
    const v = legacyVectors().find((x) => x.name === name)!
    const {dir, file} = place('image', vectorBytes('legacy', v.input))
    const [dump, conv] = await Promise.all([runXstInProcess(['dump-core', file, join(dir, 'core')]), runXstInProcess(['convert', file, join(dir, 'converted')])])
    expect(dump.code, dump.stderr).toBe(1)
    expect(conv.code).toBe(1)
    expect(hasStackTrace(dump.stderr + dump.stdout)).toBe(false)
    expect(defect(dump.stderr, 'dump-core')).toHaveLength(1)
    expect(defect(dump.stderr, 'dump-core')).toEqual(defect(conv.stderr, 'convert'))
    expect(readdirSync(dir)).toEqual(['image'])
  })

  it.for(
    v2Vectors()
      .filter((v) => !v.valid)
      .map((v) => v.name),
  )('v2 %s: refused, as verify refuses it', async (name, {expect}) => {
    const v = v2Vectors().find((x) => x.name === name)!
    const {dir, file} = place('image', vectorBytes('v2', v.input))
    const [raw, elf] = await Promise.all([runXstInProcess(['dump-core', '-f', 'raw', file, join(dir, 'raw')]), runXstInProcess(['dump-core', file, join(dir, 'core')])])
    for (const r of [raw, elf]) {
      expect(r.code, r.stderr).toBe(1)
      expect(hasStackTrace(r.stderr + r.stdout)).toBe(false)
      expect(errorLines(r.stderr)).toHaveLength(1)
      expect(r.stderr).toMatch(/^xst dump-core: .*the stream does not verify/m)
    }
    expect(readdirSync(dir)).toEqual(['image'])
  })

  it('from a pipe, a bad image leaves no spool and no output', async ({expect}) => {
    const {dir} = place('unused', Buffer.alloc(0))
    const r = await runXstInProcess(['dump-core', '-', join(dir, 'core')], {input: vectorBytes('legacy', 'bad-truncated-in-pages.legacy.gz')})
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/stream ends at byte 5500 inside page data/)
    expect(readdirSync(dir)).toEqual(['unused'])
  })
})

/** A PV image with pages 1, 5 and 100 only: gaps before, between and after nothing. */
const gappy = buildLegacy(smallSpec('pv', 64, {p2mSize: 128, chunks: [{kind: 'tsc_info'}, {kind: 'pages', entries: [1, 5, 100]}, {kind: 'vcpu_info', online: [0, 1]}, {kind: 'last_checkpoint'}]}))

describe('the command line', () => {
  it('--json: the summary, with top-level ok', async () => {
    const {dir, file} = place('web01.save', vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    const r = await runXstInProcess(['dump-core', '--json', file, join(dir, 'web01.core')])
    expect(r.code, r.stderr).toBe(0)
    const doc = JSON.parse(r.stdout)
    expect(doc.ok).toBe(true)
    expect(doc.input).toMatchObject({guest: 'pv', guestWidth: 64, xlHeader: true, domainName: 'web01'})
    expect(doc.stream).toEqual({format: 'legacy', libxcVersion: null, libxlVersion: null})
    expect(doc.pages).toEqual({count: 128, copies: 128, pfnRange: {first: 0, last: 127}})
    expect(doc.vcpus).toEqual({count: 2, ids: [0, 1]})
    const size = readFileSync(join(dir, 'web01.core')).length
    expect(doc.output).toMatchObject({format: 'elf', bytes: size, written: size})
    expect(doc.output.sections.map((s: {name: string}) => s.name)).toEqual(['.shstrtab', '.note.Xen', '.xen_prstatus', '.xen_shared_info', '.xen_pages', '.xen_p2m'])
    expect(doc.warnings).toEqual([])
    const bad = place('bad', vectorBytes('legacy', 'bad-unknown-chunk.legacy.gz'))
    const e = await runXstInProcess(['dump-core', '--json', bad.file, join(bad.dir, 'core')])
    expect(e.code).toBe(1)
    const err = JSON.parse(e.stdout)
    expect(err.ok).toBe(false)
    expect(err.error).toMatchObject({code: 'unknown-chunk', offset: 169428})
  })

  it('an existing CORE is kept without --force, replaced with it', async () => {
    const {dir, file} = place('img', gappy)
    const core = join(dir, 'core')
    writeFileSync(core, 'precious')
    const r = await runXstInProcess(['dump-core', file, core])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/already exists; use --force/)
    expect(readFileSync(core, 'utf8')).toBe('precious')
    const f = await runXstInProcess(['dump-core', '--force', '-f', 'raw', file, core])
    expect(f.code, f.stderr).toBe(0)
    expect(readFileSync(core).length).toBe(101 * PAGE)
    expect(readdirSync(dir).sort()).toEqual(['core', 'img'])
  })

  it('stdin and stdout: the same dumps as files, zeros between the pages of a raw dump, the report on stderr', async () => {
    const {dir, file} = place('img', gappy)
    const fileRaw = join(dir, 'a.raw')
    const fileElf = join(dir, 'a.core')
    expect((await runXstInProcess(['dump-core', '-f', 'raw', file, fileRaw])).code).toBe(0)
    expect((await runXstInProcess(['dump-core', file, fileElf])).code).toBe(0)
    const raw = readFileSync(fileRaw)
    expect(raw.length).toBe(101 * PAGE)
    const elf = readFileSync(fileElf)
    expect(parseCore(elf).index).toEqual([1, 5, 100])
    const runs = await Promise.all([
      runXstInProcess(['dump-core', '-f', 'raw', file, '-']),
      runXstInProcess(['dump-core', '-f', 'raw', '-', '-'], {input: gappy}),
      runXstInProcess(['dump-core', file, '-']),
      runXstInProcess(['dump-core', '-', '-'], {input: gappy}),
      runXstInProcess(['dump-core', '-', join(dir, 'b.core')], {input: gappy}),
    ])
    for (const r of runs) expect(r.code, r.stderr).toBe(0)
    expect(runs[0].stdoutBytes.equals(raw)).toBe(true)
    expect(runs[1].stdoutBytes.equals(raw)).toBe(true)
    expect(runs[2].stdoutBytes.equals(elf)).toBe(true)
    expect(runs[3].stdoutBytes.equals(elf)).toBe(true)
    expect(readFileSync(join(dir, 'b.core')).equals(elf)).toBe(true)
    expect(runs[0].stderr).toMatch(/^dumped .* -> stdout \(raw/)
    expect(readdirSync(dir).sort()).toEqual(['a.core', 'a.raw', 'b.core', 'img'])
  })

  it('usage errors exit 2', async () => {
    const {dir, file} = place('img', gappy)
    const runs = await Promise.all([
      runXstInProcess(['dump-core', file]),
      runXstInProcess(['dump-core', '--format', 'kdump', file, join(dir, 'x')]),
      runXstInProcess(['dump-core', dir, join(dir, 'x')]),
      runXstInProcess(['dump-core', join(dir, 'missing'), join(dir, 'x')]),
      runXstInProcess(['dump-core', file, join(dir, 'no', 'such', 'dir')]),
      runXstInProcess(['dump-core', file, file]),
    ])
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(2)
      expect(hasStackTrace(r.stderr)).toBe(false)
    }
    expect(readdirSync(dir)).toEqual(['img'])
  })
})
