// The record plan on its own, without a writer: PAGE_DATA descriptors say
// which pfns a batch sends and where in the input their contents lie; the
// refusals are the plan's (convert only passes them on); the qemu record is
// planned into the stream or outside it.
import {describe, expect, test, vi} from 'vitest'
import {convertLegacy} from '../src/convert/convert.js'
import {pageDataPfns} from '../src/dump/facts.js'
import {FormatError} from '../src/errors.js'
import {pageTypeHasData} from '../src/format/x86.js'
import {ByteReader} from '../src/io/reader.js'
import {MemorySink} from '../src/io/sink.js'
import {BufferSource, ChunkedSource} from '../src/io/source.js'
import {PageStore} from '../src/plan/page-store.js'
import {nativeBytes} from './helpers/fixtures.js'
import {type Planned, type PlannedRecord, type PlanOptions, RecordPlan} from '../src/plan/plan.js'
import {Rec} from '../src/v2/libxc/layout.js'
import {LibxlRec} from '../src/v2/libxl/layout.js'
import {buildLegacy, buildLegacyWithMap, type LegacySpec, pageBytes, smallSpec} from './builders/legacy.js'

function plan(bytes: Buffer, opts: Partial<PlanOptions> = {}): RecordPlan {
  return new RecordPlan(new ByteReader(new BufferSource(bytes)), {format: 'libxl', ...opts})
}

/** Every descriptor, each record's pages copied out as it comes (the walker reuses its arrays). */
async function descriptors(bytes: Buffer, opts: Partial<PlanOptions> = {}): Promise<Array<Planned & {pfnsSeen?: number[]; typesSeen?: number[]}>> {
  const out: Array<Planned & {pfnsSeen?: number[]; typesSeen?: number[]}> = []
  for await (const d of plan(bytes, opts)) {
    out.push(d.kind === 'record' && d.pages ? Object.assign(d, {pfnsSeen: [...d.pages.pfns], typesSeen: [...d.pages.types]}) : d)
  }
  return out
}

const records = (ds: Planned[]) => ds.filter((d): d is PlannedRecord => d.kind === 'record')

describe('PAGE_DATA descriptors', () => {
  const spec = smallSpec('pv', 64, {
    chunks: [
      {kind: 'pages', entries: [1, {dropped: true}, {pfn: 2, type: 1}, {pfn: 3, type: 0xf}, {pfn: 4, type: 9}]},
      {kind: 'pages', range: {start: 5, count: 3}},
      {kind: 'vcpu_info', online: [0]},
    ],
  })

  test("the batch's pfns and types, and its page contents where the image holds them", async () => {
    const {bytes, map} = buildLegacyWithMap(spec)
    const pages = records(await descriptors(bytes)).filter((r) => r.pages) as Array<PlannedRecord & {pfnsSeen: number[]; typesSeen: number[]}>
    expect(pages.map((p) => p.pfnsSeen)).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7],
    ])
    expect(pages.map((p) => p.typesSeen)).toEqual([
      [0, 1, 0xf, 9],
      [0, 0, 0],
    ])
    const batches = map.chunks.filter((c) => c.kind === 'pages')
    pages.forEach((p, k) => {
      const withData = p.pfnsSeen.filter((_, i) => pageTypeHasData(p.typesSeen[i]))
      expect(p.type).toBe(Rec.PAGE_DATA)
      expect(p.pages!.dataPages).toBe(withData.length)
      expect(p.data!.offset).toBe(batches[k].dataAt)
      expect(p.data!.length).toBe(withData.length * 4096)
      withData.forEach((pfn, i) => expect(bytes.subarray(p.data!.offset + i * 4096, p.data!.offset + (i + 1) * 4096).equals(pageBytes(pfn)), `pfn ${pfn}`).toBe(true))
    })
  })

  test("the head, encoded while its batch is the walker's, is the pfn words of those pages", async () => {
    const {bytes} = buildLegacyWithMap(spec)
    const heads: Array<[Buffer, number]> = []
    for await (const d of plan(bytes)) if (d.kind === 'record' && d.pages) heads.push([d.head, d.data!.length!])
    expect(heads.map(([head, data]) => [...pageDataPfns(head, head.length + data)!])).toEqual([
      [1, 2, 4],
      [5, 6, 7],
    ])
  })

  test("asked for after the next batch, the head is refused (the walker's arrays hold another batch)", async () => {
    const kept: PlannedRecord[] = []
    for await (const d of plan(buildLegacy(spec))) if (d.kind === 'record' && d.pages) kept.push(d)
    expect(() => kept[0].head).toThrow(/internal: a PAGE_DATA head asked for after its batch/)
    expect(kept[1].head.length).toBe(8 + 3 * 8)
  })
})

describe("the refusals are the plan's", () => {
  const cases: Array<[string, LegacySpec]> = [
    [
      'not-convertible',
      smallSpec('pv', 64, {
        chunks: [
          {kind: 'pages', range: {start: 0, count: 2}},
          {kind: 'tmem_extra', entries: [{poolId: 0, oid: [1n, 2n, 3n], index: 4}]},
        ],
      }),
    ],
    ['no-page-data', smallSpec('pv', 64, {chunks: [{kind: 'vcpu_info', online: [0]}]})],
    [
      'vcpu0-offline',
      smallSpec('pv', 64, {
        chunks: [
          {kind: 'pages', range: {start: 0, count: 2}},
          {kind: 'vcpu_info', online: [1]},
        ],
      }),
    ],
    ['empty-hvm-context', smallSpec('hvm', 64, {hvm: {context: 0}})],
  ]
  test.each(cases)("%s: thrown by the plan alone, in convert's words", async (code, spec) => {
    const bytes = buildLegacy(spec)
    const fromPlan = await descriptors(bytes).then(
      () => undefined,
      (e: unknown) => e,
    )
    const fromConvert = await convertLegacy(new ByteReader(new BufferSource(bytes)), new MemorySink(), {format: 'libxl'}).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(fromPlan).toBeInstanceOf(FormatError)
    expect((fromPlan as FormatError).code).toBe(code)
    expect((fromPlan as FormatError).message).toBe((fromConvert as FormatError).message)
  })
})

describe('the qemu record', () => {
  const spec = smallSpec('hvm', 64, {
    chunks: [
      {kind: 'pages', range: {start: 0, count: 2}},
      {kind: 'toolstack', physmap: [{physOffset: 0xf0000000n, startAddr: 0xf0000000n, size: 0x800000n, name: 'vga.vram'}]},
    ],
  })
  const libxlTypes = (ds: Planned[]) =>
    records(ds)
      .filter((r) => r.layer === 'libxl')
      .map((r) => r.type)

  test('libxl: in the stream, its xenstore keys and then its state (left in the input) as EMULATOR_CONTEXT', async () => {
    const ds = await descriptors(buildLegacy(spec))
    expect(ds.find((d) => d.kind === 'qemu-record')).toMatchObject({outside: false})
    expect(libxlTypes(ds)).toEqual([LibxlRec.LIBXC_CONTEXT, LibxlRec.EMULATOR_XENSTORE_DATA, LibxlRec.EMULATOR_CONTEXT, LibxlRec.END])
    const emu = records(ds).find((r) => r.type === LibxlRec.EMULATOR_CONTEXT && r.layer === 'libxl')!
    expect(emu.data!.length).toBe(100)
  })

  test('outside the stream for a container that holds it (the xenstore keys at the end), and after a bare libxc stream', async () => {
    const outside = await descriptors(buildLegacy(spec), {qemuOutside: true})
    expect(outside.find((d) => d.kind === 'qemu-record')).toMatchObject({outside: true})
    expect(libxlTypes(outside)).toEqual([LibxlRec.LIBXC_CONTEXT, LibxlRec.EMULATOR_XENSTORE_DATA, LibxlRec.END])
    const libxc = await descriptors(buildLegacy(spec), {format: 'libxc'})
    expect(libxc.find((d) => d.kind === 'qemu-record')).toMatchObject({outside: true})
    expect(libxlTypes(libxc)).toEqual([])
  })
})

describe('a legacy Remus stream: where the later checkpoints are kept until complete', () => {
  const remus = () => nativeBytes('legacy-remus-pv.gz')
  test('from a file, an uncompressed checkpoint is read back from the input: no temporary file; from a pipe, one', async () => {
    const create = vi.spyOn(PageStore, 'create')
    try {
      const fromFile = await descriptors(remus())
      expect(create).not.toHaveBeenCalled()
      const plain = async (src: 'file' | 'pipe') => {
        const sink = new MemorySink()
        const reader = new ByteReader(src === 'file' ? new BufferSource(remus()) : new ChunkedSource(remus(), 4093))
        await convertLegacy(reader, sink, {format: 'libxl'})
        return sink.data
      }
      const [file, pipe] = [await plain('file'), await plain('pipe')]
      expect(create).toHaveBeenCalledTimes(1)
      // The same stream either way: the later checkpoints' pages, then the last tail.
      expect(pipe.equals(file)).toBe(true)
      expect(records(fromFile).filter((r) => r.type === Rec.PAGE_DATA).length).toBeGreaterThan(4)
    } finally {
      create.mockRestore()
    }
  })
})
