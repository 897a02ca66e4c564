// dump-core over every conformance stream: each valid legacy image, each
// v2 stream Xen's converter wrote for them, and each valid v2 vector. The
// pages of every dump are checked against the pages an independent reader
// finds in the stream's PAGE_DATA records (last copy wins): the raw dump
// holds them at pfn × 4096 and nothing else (zeros, and holes where the
// filesystem reports them), the ELF dump holds exactly them under its
// index. A legacy image and its converted streams give the same dumps, and
// so do a file, a pipe and small windows.
import {spawn, spawnSync} from 'node:child_process'
import {readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it, test} from 'vitest'
import {runDumpJob, type DumpFormat, type DumpSummary} from '../src/dump/job.js'
import {legacyVectors, v2Vectors, vectorBytes} from './helpers/fixtures.js'
import {tempDir} from './helpers/cli.js'
import {dataExtentsOf, filesystemHasHoles, hasPython, hasReadelf, headerNote, PAGE, parseCore, readelf, v2Copies, v2Pages} from './helpers/dump.js'

interface Case {
  name: string
  file: string
  guest: 'pv' | 'hvm'
  /** The v2 stream whose PAGE_DATA records say what the dump holds. */
  reference: Buffer
  /** The legacy image this stream was converted from, if any. */
  legacyOf?: string
}

/** The guest of a v2 stream: its libxc domain header's type (1 is x86 PV). */
function guestOf(bytes: Buffer): 'pv' | 'hvm' {
  const at = (bytes.toString('latin1', 0, 8) === 'LibxlFmt' ? 24 : 0) + 24
  return bytes.readUInt32LE(at) === 1 ? 'pv' : 'hvm'
}

const dir = tempDir('xst-dump-conf-')
const cases: Array<Case & {bytes: Buffer}> = []
for (const v of legacyVectors().filter((x) => x.valid)) {
  const legacy = join(dir, `${v.name}.legacy`)
  const outputs = Object.entries(v.expected ?? {}).filter(([, f]) => f) as Array<[string, string]>
  const ref = vectorBytes('legacy', outputs[0][1])
  cases.push({name: `${v.name} (legacy)`, file: legacy, guest: v.guest, reference: ref, bytes: vectorBytes('legacy', v.input)})
  for (const [fmt, f] of outputs) {
    const bytes = vectorBytes('legacy', f)
    cases.push({name: `${v.name} (${fmt} output)`, file: join(dir, `${v.name}.${fmt}.v2`), guest: v.guest, reference: bytes, legacyOf: legacy, bytes})
  }
}
for (const v of v2Vectors().filter((x) => x.valid)) {
  const bytes = vectorBytes('v2', v.input)
  cases.push({name: `${v.name} (v2)`, file: join(dir, `${v.name}.v2`), guest: guestOf(bytes), reference: bytes, bytes})
}

beforeAll(() => {
  for (const c of cases) writeFileSync(c.file, c.bytes)
})

afterAll(() => rmSync(dir, {recursive: true, force: true}))

let serial = 0
async function dump(input: string, format: DumpFormat, extra: {force?: boolean} = {}): Promise<{summary: DumpSummary; out: string}> {
  const out = join(dir, `out-${serial++}.${format}`)
  const summary = await runDumpJob({input, output: out, format, ...extra})
  return {summary, out}
}

/** The dump of each case's file in each format, made once (for the tests of its pages and the checks by outside tools). */
const fileDumps = new Map<string, Promise<{summary: DumpSummary; out: string}>>()
function dumpOf(c: Case, format: DumpFormat): Promise<{summary: DumpSummary; out: string}> {
  const key = `${c.name}\0${format}`
  if (!fileDumps.has(key)) fileDumps.set(key, dump(c.file, format))
  return fileDumps.get(key)!
}

/** The checks that need a tool from outside, where it is here (skipped, and so reported, where not). */
const canSeeHoles = hasPython && filesystemHasHoles(dir)

/** The data extents of every case's raw dump, asked of python3 once. */
let rawExtents: Promise<Map<string, Array<[number, number]>>> | undefined
async function rawExtentsOf(c: Case): Promise<Array<[number, number]>> {
  rawExtents ??= Promise.all(cases.map((x) => dumpOf(x, 'raw'))).then((dumps) => {
    const extents = dataExtentsOf(dumps.map((d) => d.out))
    return new Map(cases.map((x, i) => [x.name, extents[i]]))
  })
  return (await rawExtents).get(c.name)!
}

/**
 * Feed `file` through a FIFO while `run` reads it: the input is a pipe, not
 * a file. The writer is another process: opening a FIFO blocks until both
 * ends are open, and the dump opens its input synchronously.
 */
async function viaFifo<T>(file: string, run: (fifo: string) => Promise<T>): Promise<T> {
  const fifo = join(dir, `in-${serial++}.fifo`)
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0)
  const writer = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', file, fifo], {stdio: 'ignore'})
  const written = new Promise<number | null>((resolve) => writer.on('close', resolve))
  try {
    return await run(fifo)
  } finally {
    expect(await written).toBe(0)
    rmSync(fifo, {force: true})
  }
}

/** The first pfn whose page differs between two raw images, or -1. */
function firstDiff(a: Buffer, b: Buffer): number {
  for (let at = 0; at < Math.max(a.length, b.length); at += PAGE) if (!a.subarray(at, at + PAGE).equals(b.subarray(at, at + PAGE))) return at / PAGE
  return -1
}

function expectRaw(file: string, ref: Map<number, Buffer>): void {
  const raw = readFileSync(file)
  const max = Math.max(-1, ...ref.keys())
  // The stream's pages at pfn × 4096, zeros everywhere else.
  const expected = Buffer.alloc((max + 1) * PAGE)
  for (const [pfn, page] of ref) page.copy(expected, pfn * PAGE)
  expect(raw.length).toBe(expected.length)
  expect(firstDiff(raw, expected), 'first pfn whose page differs').toBe(-1)
}

/** Where the filesystem reports holes (SEEK_DATA, asked through python3), nothing but the stream's pages is data. */
function expectRawSparse(extents: Array<[number, number]>, ref: Map<number, Buffer>): void {
  const stray: number[] = []
  for (const [s, e] of extents) for (let at = s; at < e; at += PAGE) if (!ref.has(Math.floor(at / PAGE))) stray.push(Math.floor(at / PAGE))
  expect(stray, 'pfns stored as data though the stream has no page for them').toEqual([])
}

function expectElf(file: string, ref: Map<number, Buffer>, guest: 'pv' | 'hvm'): void {
  const core = parseCore(readFileSync(file))
  expect(core.ident.subarray(0, 7).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]))).toBe(true)
  expect(core.type).toBe(4) // ET_CORE
  expect(core.machine).toBe(62) // EM_X86_64
  expect(core.phnum).toBe(0)
  expect(core.order).toEqual(['.shstrtab', '.note.Xen', '.xen_prstatus', ...(guest === 'pv' ? ['.xen_shared_info'] : []), '.xen_pages', guest === 'pv' ? '.xen_p2m' : '.xen_pfn'])
  expect(core.sections.get('.xen_pages')!.offset % PAGE).toBe(0)
  // The index: ascending, exactly the stream's pages.
  for (let i = 1; i < core.index.length; i++) expect(core.index[i]).toBeGreaterThan(core.index[i - 1])
  expect(core.index).toEqual([...ref.keys()].sort((a, b) => a - b))
  expect(
    [...ref].filter(([pfn, page]) => !core.pages.get(pfn)!.equals(page)).map(([pfn]) => pfn),
    'pfns whose page differs',
  ).toEqual([])
  if (guest === 'pv') expect(core.gmfns).toEqual(core.index)
  // Notes: none, header, Xen version, format version.
  expect(core.notes.map((n) => [n.name, n.type])).toEqual([
    ['Xen', 0x2000000],
    ['Xen', 0x2000001],
    ['Xen', 0x2000002],
    ['Xen', 0x2000003],
  ])
  const h = headerNote(core)
  expect(h.magic).toBe(guest === 'pv' ? 0xf00febedn : 0xf00febeen)
  expect(h.nrPages).toBe(ref.size)
  expect(h.pageSize).toBe(4096)
  expect(h.nrVcpus).toBe(core.prstatus.length)
  expect(core.sections.get('.xen_prstatus')!.entsize).toBe(5168)
  expect(core.notes[2].desc.length).toBe(1280)
  expect(core.notes[3].desc.readBigUInt64LE(0)).toBe(1n)
}

/** binutils' readelf reads the ELF dump without a warning. */
function expectReadelf(file: string): void {
  const r = readelf(file)
  expect(r.status, r.stderr).toBe(0)
  expect(r.stderr).toBe('')
  expect(r.stdout).not.toMatch(/warning|error/i)
}

/** The dumps of each legacy image, made once. */
const legacyDumps: Record<string, {elf: Buffer; raw: Buffer}> = {}

describe('dump-core over the conformance streams', () => {
  it('has the streams', () => {
    expect(cases.filter((c) => c.name.endsWith('(legacy)')).length).toBe(12)
    expect(cases.filter((c) => c.name.endsWith('(v2)')).length).toBe(7)
    expect(cases.length).toBeGreaterThan(35)
  })

  // Names only: vitest formats what test.each is given, and the cases hold megabytes.
  test.each(cases.map((c) => c.name))('%s: raw and ELF dumps hold exactly the last copies of its pages', async (name) => {
    const c = cases.find((x) => x.name === name)!
    const ref = v2Pages(c.reference)
    const raw = await dumpOf(c, 'raw')
    expectRaw(raw.out, ref)
    const elf = await dumpOf(c, 'elf')
    expectElf(elf.out, ref, c.guest)
    for (const s of [raw.summary, elf.summary]) {
      expect(s.pages.count, c.name).toBe(ref.size)
      expect(s.pages.copies).toBe(v2Copies(c.reference))
      expect(s.input.guest).toBe(c.guest)
    }
    expect(elf.summary.output.bytes).toBe(readFileSync(elf.out).length)
    if (c.legacyOf) {
      // The same dumps as the legacy image it was converted from.
      const fromLegacy = (legacyDumps[c.legacyOf] ??= {elf: readFileSync((await dump(c.legacyOf, 'elf')).out), raw: readFileSync((await dump(c.legacyOf, 'raw')).out)})
      expect(fromLegacy.elf.equals(readFileSync(elf.out)), `${c.name}: ELF differs from the legacy image's`).toBe(true)
      expect(fromLegacy.raw.equals(readFileSync(raw.out)), `${c.name}: raw differs from the legacy image's`).toBe(true)
    }
  })

  test.skipIf(!canSeeHoles).each(cases.map((c) => c.name))('%s: the raw dump is data only at its pages (SEEK_DATA through python3, where the filesystem has holes)', async (name) => {
    const c = cases.find((x) => x.name === name)!
    expectRawSparse(await rawExtentsOf(c), v2Pages(c.reference))
  })

  test.skipIf(!hasReadelf).each(cases.map((c) => c.name))('%s: readelf reads the ELF dump without a warning', async (name) => {
    expectReadelf((await dumpOf(cases.find((x) => x.name === name)!, 'elf')).out)
  })
})

describe('a file, a pipe and small windows give the same dumps', () => {
  const inputs = cases.filter((c) => !c.legacyOf)
  test.each(inputs.map((c) => c.name))('%s', async (name) => {
    const c = inputs.find((x) => x.name === name)!
    const elf = readFileSync((await dump(c.file, 'elf')).out)
    const raw = readFileSync((await dump(c.file, 'raw')).out)
    const pipeElf = await viaFifo(c.file, (f) => dump(f, 'elf'))
    expect(pipeElf.summary.method).toBe('spool')
    expect(readFileSync(pipeElf.out).equals(elf)).toBe(true)
    const pipeRaw = await viaFifo(c.file, (f) => dump(f, 'raw'))
    expect(pipeRaw.summary.method).toBe('positional')
    expect(readFileSync(pipeRaw.out).equals(raw)).toBe(true)
    // Windows of 5 pages: one header pass per window, the same bytes.
    process.env.XST_DUMP_WINDOW_PFNS = '5'
    let windowed: Awaited<ReturnType<typeof dump>>
    try {
      windowed = await dump(c.file, 'elf')
    } finally {
      delete process.env.XST_DUMP_WINDOW_PFNS
    }
    expect(windowed.summary.method).toBe('windows')
    // Windows of 5 pages each, wherever they lie.
    expect(windowed.summary.passes).toBe(1 + Math.ceil(v2Pages(c.reference).size / 5))
    expect(readFileSync(windowed.out).equals(elf)).toBe(true)
  })

  it('leaves no temporary file behind', () => {
    const left = readdirSync(dir).filter((f) => /xst-(partial|spool)/.test(f))
    expect(left).toEqual([])
  })
})
