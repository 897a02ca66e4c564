// Random legacy images from the builder: random chunk sequences (every chunk
// type, good and bad values), random tails, optional xl headers. Any of them
// ends in success or a typed exit-1 error; the well-formed ones (a narrower
// generator) always convert, and the converted stream verifies.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {FormatError, TruncatedError} from '../../src/errors.js'
import {buildLegacy, type ChunkSpec, type EntrySpec, HVM_PARAM_CHUNK_NAMES, type LegacySpec, type TmemPageSpec, QEMU_SIG_DM_0002, QEMU_SIG_REMUS, QEMU_SIG_REST} from '../builders/legacy.js'
import {checkReport, convert, expectClean, inspect, params, reportCases, TEST_TIMEOUT, verify} from './harness.js'

reportCases('legacy-sequences')

const u32 = fc.oneof(fc.nat({max: 64}), fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff), fc.nat({max: 0xffffffff}))
const u64 = fc.bigInt({min: 0n, max: (1n << 64n) - 1n})
const smallBuf = (max = 48) => fc.uint8Array({maxLength: max}).map((a) => Buffer.from(a))

/** Any page-batch entry, hostile ones included. */
const entry = (p2m: number): fc.Arbitrary<EntrySpec> =>
  fc.oneof(
    {arbitrary: fc.nat({max: p2m + 2}), weight: 6},
    {arbitrary: fc.record({pfn: fc.nat({max: p2m + 2}), type: fc.nat({max: 15})}), weight: 3},
    {arbitrary: fc.constant({dropped: true as const}), weight: 1},
    {arbitrary: fc.record({raw: fc.oneof(fc.nat({max: 0xffffffff}), u64)}), weight: 1},
  )

/** Any chunk, with values both good and bad. */
function anyChunk(p2m: number): fc.Arbitrary<ChunkSpec> {
  return fc.oneof(
    {arbitrary: fc.record({kind: fc.constant('pages' as const), entries: fc.array(entry(p2m), {minLength: 0, maxLength: 12})}), weight: 5},
    {
      arbitrary: fc.record(
        {kind: fc.constant('pages' as const), entries: fc.array(entry(p2m), {maxLength: 4}), count: fc.oneof(fc.integer({min: -25, max: 1100}), fc.constantFrom(0x7fffffff, -0x80000000))},
        {requiredKeys: ['kind', 'entries']},
      ),
      weight: 1,
    },
    {arbitrary: fc.constant({kind: 'enable_verify_mode' as const}), weight: 1},
    {arbitrary: fc.constant({kind: 'last_checkpoint' as const}), weight: 1},
    {arbitrary: fc.constant({kind: 'enable_compression' as const}), weight: 1},
    {
      arbitrary: fc.record(
        // The bitmap is at most 4 words whatever max id says, so the builder stays small.
        {
          kind: fc.constant('vcpu_info' as const),
          online: fc.array(fc.nat({max: 130}), {minLength: 1, maxLength: 5}),
          maxId: fc.oneof(fc.integer({min: -2, max: 4100}), fc.constant(0x7fffffff)),
          words: fc.nat({max: 4}),
        },
        {requiredKeys: ['kind', 'online', 'words']},
      ),
      weight: 2,
    },
    {arbitrary: fc.record({kind: fc.constant('hvm_param' as const), chunk: fc.constantFrom(...HVM_PARAM_CHUNK_NAMES), value: u64}), weight: 2},
    {arbitrary: fc.record({kind: fc.constant('tsc_info' as const), mode: fc.nat({max: 3}), khz: u32}), weight: 1},
    {
      arbitrary: fc.record(
        {
          kind: fc.constant('toolstack' as const),
          physmap: fc.array(
            fc.record({physOffset: u64, startAddr: u64, size: u64, name: fc.string({maxLength: 12}), nul: fc.boolean(), nameLength: u32}, {requiredKeys: ['physOffset', 'startAddr', 'size', 'name']}),
            {maxLength: 3},
          ),
          version: fc.nat({max: 2}),
          count: u32,
          padded: fc.boolean(),
          length: u32,
        },
        {requiredKeys: ['kind', 'physmap']},
      ),
      weight: 2,
    },
    {arbitrary: fc.record({kind: fc.constant('toolstack' as const), raw: smallBuf()}), weight: 1},
    {
      arbitrary: fc.record({
        kind: fc.constant('tmem' as const),
        pools: fc.array(
          fc.record(
            {
              id: fc.nat({max: 4}),
              flags: fc.constantFrom(0, 1 << 24),
              nPages: u32,
              pages: fc.array(fc.record({oid: fc.tuple(fc.bigInt({min: 0n, max: 9n}), fc.bigInt({min: 0n, max: 9n}), fc.bigInt({min: 0n, max: 9n})), index: fc.nat({max: 9})}), {maxLength: 2}),
              cutShort: fc.boolean(),
            },
            {requiredKeys: ['id', 'pages']},
          ),
          {maxLength: 2},
        ),
      }),
      weight: 1,
    },
    // 128 MiB tmem pages: only the pool header, the walker must not believe n_pages.
    {
      arbitrary: fc.record({kind: fc.constant('tmem' as const), pools: fc.tuple(fc.record({id: fc.nat({max: 4}), flags: fc.constant(15 << 24), nPages: u32, pages: fc.constant<TmemPageSpec[]>([])}))}),
      weight: 1,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('tmem_extra' as const),
        entries: fc.array(fc.record({poolId: fc.nat({max: 4}), oid: fc.tuple(fc.bigInt({min: 0n, max: 9n}), fc.bigInt({min: 0n, max: 9n}), fc.bigInt({min: 0n, max: 9n})), index: fc.nat({max: 9})}), {
          maxLength: 3,
        }),
      }),
      weight: 1,
    },
    {
      arbitrary: fc.record({kind: fc.constant('compressed_data' as const), data: fc.nat({max: 64}), size: fc.option(fc.constantFrom(0n, 0xffffffffn, 1n << 40n, (1n << 64n) - 1n), {nil: undefined})}),
      weight: 1,
    },
    {arbitrary: fc.record({kind: fc.constant('raw' as const), type: fc.integer({min: -30, max: 1030}), payload: smallBuf(24)}), weight: 2},
    {arbitrary: fc.record({kind: fc.constant('bytes' as const), data: smallBuf(12)}), weight: 1},
  )
}

const qemu = fc.option(
  fc.record(
    {
      signature: fc.oneof(fc.constantFrom(QEMU_SIG_DM_0002, QEMU_SIG_REMUS, QEMU_SIG_REST), fc.string({minLength: 21, maxLength: 21})),
      data: fc.nat({max: 200}),
      length: u32,
    },
    {requiredKeys: ['signature', 'data']},
  ),
  {nil: null},
)

/** Any image: random header choices, chunk list and tail. */
const anySpec: fc.Arbitrary<LegacySpec> = fc
  .record({
    width: fc.constantFrom(32 as const, 64 as const),
    guest: fc.constantFrom('pv' as const, 'hvm' as const),
    p2m: fc.integer({min: 1, max: 40}),
    xl: fc.option(fc.record({config: fc.string({maxLength: 30}), json: fc.boolean(), mandatoryFlags: fc.option(fc.constantFrom(0, 1, 2, 4, 0x80000000), {nil: undefined})}), {nil: undefined}),
    guestWidth: fc.constantFrom(32 as const, 64 as const),
    extv: fc.boolean(),
    // The builder writes xsaveLength - 16 bytes per vcpu: keep it small (hostile sizes go in the xsave header).
    xsaveLength: fc.option(fc.oneof(fc.constantFrom(0x240, 0x340, 16, 15, 0), fc.nat({max: 0x10000})), {nil: undefined}),
    end: fc.boolean(),
    noTail: fc.boolean(),
    unmapped: fc.array(fc.nat({max: 50}), {maxLength: 3}),
    unmappedCount: fc.option(u32, {nil: undefined}),
    xsaveSize: fc.option(fc.constantFrom(0n, 0x230n, 0xffffffffn, (1n << 64n) - 1n), {nil: undefined}),
    context: fc.nat({max: 300}),
    contextLength: fc.option(u32, {nil: undefined}),
    qemu,
    trailing: fc.option(smallBuf(16), {nil: undefined}),
  })
  .chain((h) => fc.record({h: fc.constant(h), chunks: fc.array(anyChunk(h.p2m), {maxLength: 8})}))
  .map(({h, chunks}) => ({
    width: h.width,
    guest: h.guest,
    p2mSize: h.p2m,
    xl: h.xl,
    ext: h.guest === 'pv' ? {guestWidth: h.guestWidth, extv: h.extv, xsaveLength: h.xsaveLength} : undefined,
    chunks,
    end: h.end || chunks.length === 0 ? true : h.end,
    noTail: h.noTail && h.end,
    pv: {unmapped: h.unmapped, unmappedCount: h.unmappedCount, xsave: h.xsaveSize !== undefined ? {size: h.xsaveSize} : undefined},
    hvm: {context: h.context, contextLength: h.contextLength, qemu: h.qemu},
    trailing: h.trailing,
  }))

/** Well-formed images: what a 4.5 saver could have written. */
const goodSpec: fc.Arbitrary<LegacySpec> = fc
  .record({
    width: fc.constantFrom(32 as const, 64 as const),
    guest: fc.constantFrom('pv' as const, 'hvm' as const),
    p2m: fc.integer({min: 1, max: 64}),
    xl: fc.option(fc.record({config: fc.constantFrom('name = "g"\n', '{"c_info": {"name": "g"}}'), json: fc.boolean()}), {nil: undefined}),
    guestWidth: fc.constantFrom(32 as const, 64 as const),
    extv: fc.boolean(),
    xsave: fc.boolean(),
    online: fc.uniqueArray(fc.integer({min: 1, max: 70}), {maxLength: 3}),
    vcpuInfo: fc.boolean(),
    context: fc.integer({min: 1, max: 300}),
    qemu: fc.option(fc.record({signature: fc.constantFrom(QEMU_SIG_DM_0002, QEMU_SIG_REMUS, QEMU_SIG_REST), data: fc.nat({max: 200})}), {nil: null}),
  })
  .chain((h) => {
    const batch = fc
      .uniqueArray(fc.nat({max: h.p2m - 1}), {minLength: 1, maxLength: Math.min(h.p2m, 10)})
      .chain((pfns) =>
        fc.tuple(
          fc.constant(pfns),
          fc.array(fc.constantFrom(0, 0, 0, 1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15), {minLength: pfns.length, maxLength: pfns.length}),
          fc.array(fc.boolean(), {minLength: pfns.length, maxLength: pfns.length}),
        ),
      )
      .map(
        ([pfns, types, dropped]): ChunkSpec => ({
          kind: 'pages',
          // (pfn 0 of type XTAB is the word 0xf0000000: the unmapped-entry marker, so not that.)
          entries: pfns.map((pfn, i): EntrySpec => {
            if (dropped[i] && i > 0) return {dropped: true}
            const type = h.guest === 'hvm' && types[i] < 13 ? 0 : types[i]
            return {pfn, type: pfn === 0 && type === 15 ? 0 : type}
          }),
        }),
      )
    const chunk: fc.Arbitrary<ChunkSpec> = fc.oneof(
      {arbitrary: batch, weight: 5},
      {arbitrary: fc.constant({kind: 'tsc_info' as const}), weight: 1},
      {arbitrary: fc.constant({kind: 'last_checkpoint' as const}), weight: 1},
      {arbitrary: fc.constant({kind: 'enable_verify_mode' as const}), weight: 1},
      ...(h.guest === 'hvm'
        ? [
            {arbitrary: fc.record({kind: fc.constant('hvm_param' as const), chunk: fc.constantFrom(...HVM_PARAM_CHUNK_NAMES), value: u64}) as fc.Arbitrary<ChunkSpec>, weight: 2},
            {
              arbitrary: fc.record({
                kind: fc.constant('toolstack' as const),
                physmap: fc.array(fc.record({physOffset: u64, startAddr: u64, size: u64, name: fc.stringMatching(/^[a-z.]{1,12}$/)}), {maxLength: 3}),
              }) as fc.Arbitrary<ChunkSpec>,
              weight: 1,
            },
          ]
        : []),
    )
    // A saver always sent memory: at least one batch, somewhere.
    return fc.record({
      h: fc.constant(h),
      chunks: fc.tuple(batch, fc.array(chunk, {maxLength: 8}), fc.nat()).map(([b, rest, at]) => [...rest.slice(0, at % (rest.length + 1)), b, ...rest.slice(at % (rest.length + 1))]),
    })
  })
  .map(({h, chunks}) => {
    const online = [0, ...h.online].sort((a, b) => a - b)
    const all: ChunkSpec[] = [...chunks]
    if (h.vcpuInfo) all.push({kind: 'vcpu_info', online})
    return {
      width: h.width,
      guest: h.guest,
      p2mSize: h.p2m,
      xl: h.xl,
      ext: h.guest === 'pv' ? {guestWidth: h.guestWidth, extv: h.extv, xsaveLength: h.xsave ? 0x240 : undefined} : undefined,
      chunks: all,
      hvm: {context: h.context, qemu: h.qemu},
    }
  })

describe('random legacy images from the builder', {timeout: TEST_TIMEOUT}, () => {
  it('any chunk sequence: success or a typed error, the same from a file and a pipe', async () => {
    await fc.assert(
      fc.asyncProperty(anySpec, async (spec) => {
        let bytes: Buffer
        try {
          bytes = buildLegacy(spec)
        } catch {
          return // a spec the builder cannot write (e.g. a value out of its field's range)
        }
        const label = `random image ${bytes.length} bytes`
        const file = await expectClean(`${label}: inspect (file)`, () => inspect(bytes, 'file'))
        const pipe = await expectClean(`${label}: inspect (pipe)`, () => inspect(bytes, 'pipe'))
        expect(pipe.ok).toBe(file.ok)
        for (const o of [file, pipe]) {
          if (o.ok) continue
          if (o.error instanceof TruncatedError) expect(o.error.offset).toBe(bytes.length)
          else if (o.error instanceof FormatError && o.error.offset !== undefined) expect(o.error.offset).toBeLessThanOrEqual(bytes.length)
        }
        for (const format of ['libxc', 'libxl'] as const) {
          const c = await expectClean(`${label}: convert to ${format}`, () => convert(bytes, format, format === 'libxl' ? 'pipe' : 'file'))
          if (!c.ok) continue
          const back = await verify(c.value.output)
          checkReport(back, c.value.output.length)
          expect(back.valid, JSON.stringify([c.value.pushed.errors, back.errors])).toBe(c.value.pushed.valid)
        }
      }),
      params('legacy-any-sequence', 200, 0.5),
    )
  })

  it('well-formed chunk sequences convert, and the converted stream verifies', async () => {
    await fc.assert(
      fc.asyncProperty(goodSpec, async (spec) => {
        const bytes = buildLegacy(spec)
        // Every well-formed image is detected without flags.
        for (const kind of ['file', 'pipe'] as const) {
          const rep = await inspect(bytes, kind)
          expect(rep.image.toolstackWidth).toBe(spec.width)
          expect(rep.image.guest).toBe(spec.guest)
          // The end chunk counts as one.
          expect(rep.body.chunks).toBe(spec.chunks!.length + 1)
          // Warned about: a PV image without vcpu_info, an HVM image without a qemu record.
          const noVcpuInfo = spec.guest === 'pv' && !spec.chunks!.some((c) => c.kind === 'vcpu_info')
          const noQemu = spec.guest === 'hvm' && !spec.hvm?.qemu
          expect(rep.warnings.length, rep.warnings.join('; ')).toBe(Number(noVcpuInfo) + Number(noQemu))
          for (const format of ['libxc', 'libxl'] as const) {
            const c = await convert(bytes, format, kind)
            expect(c.pushed.errors.map((e) => `${e.code}: ${e.message}`)).toEqual([])
            const back = await verify(c.output, kind)
            expect(back.errors.map((e) => `${e.code}: ${e.message}`)).toEqual([])
            expect(back.summary.pages.count).toBe(rep.body.pages.count)
          }
        }
      }),
      params('legacy-good-sequence', 100, 0.25),
    )
  })
})
