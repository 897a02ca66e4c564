// v2 streams with bytes flipped, inserted, deleted, length fields set to
// hostile values, or cut short, and random record sequences from the
// builder: verify (in process) always returns a well-formed report and never
// throws; a file and a pipe give the same verdict; a stream checked while it
// is written and the same stream read back agree. inspect-legacy and convert
// refuse the same inputs with a typed error.
import fc from 'fast-check'
import {beforeAll, describe, expect, it} from 'vitest'
import {DomainType, Rec} from '../../src/v2/libxc/layout.js'
import {LIBXL_OPT_LEGACY, LibxlRec} from '../../src/v2/libxl/layout.js'
import {V2Verifier, type VerifyReport} from '../../src/v2/verify/verifier.js'
import {legacyVectors, v2Vectors, vectorBytes} from '../helpers/fixtures.js'
import {
  cpuidPolicy,
  emulatorContext,
  empty,
  end,
  hvmContext,
  hvmParams,
  hvmStream,
  libxlRec,
  libxlStream,
  msrPolicy,
  p2mFrames,
  pageData,
  type Part,
  pfnWord,
  pvInfo,
  pvStream,
  rec,
  sharedInfo,
  Stream,
  tscInfo,
  vcpu,
  withXlHeader,
  xenstoreData,
} from '../builders/v2.js'
import {
  checkReport,
  checkVerify,
  convert,
  describeMutations,
  expectClean,
  type ImageLayout,
  inspect,
  mutate,
  mutation,
  mutations,
  PIPE_READ,
  params,
  reportCases,
  TEST_TIMEOUT,
  v2Layout,
  verify,
} from './harness.js'

reportCases('v2')

interface Base {
  name: string
  bytes: Buffer
  layout: ImageLayout
}
const bases: Base[] = []

beforeAll(async () => {
  const add = async (name: string, bytes: Buffer) => {
    let layout: ImageLayout
    try {
      layout = await v2Layout(bytes)
    } catch {
      layout = {size: bytes.length, starts: [], bulk: [], arrays: []}
    }
    bases.push({name, bytes, layout})
  }
  for (const v of v2Vectors()) await add(v.name, vectorBytes('v2', v.input))
  // The converted conformance outputs: libxc HVM streams carry a qemu record after END.
  for (const v of legacyVectors()) {
    for (const f of [v.expected?.libxc, v.expected?.libxl]) if (f) await add(f, vectorBytes('legacy', f))
  }
  await add('builder pv v2', (await pvStream({version: 2}).build()).bytes)
  await add('builder hvm', (await hvmStream().build()).bytes)
  await add('builder libxl pv + xl header', (await withXlHeader(libxlStream(pvStream(), {emulator: false}), 3, 'name = "v"\n').build()).bytes)
  await add('builder libxl hvm', (await libxlStream(hvmStream()).build()).bytes)
})

describe('mutated v2 streams', {timeout: TEST_TIMEOUT}, () => {
  it('read as the other format (--format libxc / libxl): a report, never an exception', async () => {
    const arb = fc.nat({max: bases.length - 1}).chain((i) => fc.tuple(fc.constant(i), fc.array(mutation(bases[i].layout), {maxLength: 2}), fc.constantFrom('libxc' as const, 'libxl' as const)))
    await fc.assert(
      fc.asyncProperty(arb, async ([i, ms, format]) => {
        const input = mutate(bases[i].bytes, ms)
        for (const kind of ['file', 'pipe'] as const) {
          const r = await expectClean(`${bases[i].name} + ${describeMutations(ms)} as ${format} (${kind})`, () => verify(input, kind, undefined, PIPE_READ, format))
          if (!r.ok) throw new Error(`verify threw ${r.error.message}`)
          checkReport(r.value, input.length)
        }
      }),
      params('v2-forced-format', 100, 0.25),
    )
  })

  it('unmutated, every valid base verifies', async () => {
    for (const b of bases) {
      const rep = await checkVerify(b.bytes, b.name)
      if (!b.name.startsWith('bad-')) {
        expect(rep.errors, b.name).toEqual([])
        expect(b.layout.starts.length, b.name).toBeGreaterThan(3)
      }
    }
  })

  it('byte flips, insertions, deletions, length edits and cuts: a report, never an exception', async () => {
    const arb = fc.nat({max: bases.length - 1}).chain((i) => fc.tuple(fc.constant(i), mutations(bases[i].layout)))
    await fc.assert(
      fc.asyncProperty(arb, async ([i, ms]) => {
        const b = bases[i]
        const input = mutate(b.bytes, ms)
        const label = `${b.name} + ${describeMutations(ms)}`
        await checkVerify(input, label)
        // The legacy commands refuse a v2 stream, damaged or not, with a typed error.
        await expectClean(`${label}: inspect-legacy`, () => inspect(input, 'pipe'))
        await expectClean(`${label}: convert`, () => convert(input, 'libxl', 'file'))
      }),
      params('v2-mutations', 150, 1),
    )
  })
})

// ---- random record sequences ---------------------------------------------------

const u32 = fc.oneof(fc.nat({max: 64}), fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff), fc.nat({max: 0xffffffff}))
const vcpuTypes = [Rec.X86_PV_VCPU_BASIC, Rec.X86_PV_VCPU_EXTENDED, Rec.X86_PV_VCPU_XSAVE, Rec.X86_PV_VCPU_MSRS]

/** One libxc record: the well-formed kinds with random values, and junk. */
const libxcRecord: fc.Arbitrary<Part> = fc.oneof(
  fc.tuple(fc.constantFrom(4, 8, 2), fc.constantFrom(3, 4, 2)).map(([w, l]) => pvInfo(w, l)),
  fc.tuple(fc.nat({max: 600}), fc.nat({max: 600})).map(([a, b]) => p2mFrames(Math.min(a, b), Math.max(a, b))),
  fc
    .array(fc.tuple(fc.nat({max: 2000}), fc.nat({max: 15})), {minLength: 0, maxLength: 6})
    .chain((ws) => fc.tuple(fc.constant(ws), fc.option(fc.nat({max: 8}), {nil: undefined})))
    .map(([ws, n]) =>
      pageData(
        ws.map(([p, t]) => pfnWord(p, t)),
        n,
      ),
    ),
  fc.tuple(fc.constantFrom(...vcpuTypes), fc.nat({max: 5000}), fc.constantFrom(0, 8, 128, 0xaf0, 0x1430, 848, 13)).map(([t, id, n]) => vcpu(t, id, n)),
  fc.constantFrom(4096, 4095, 0, 4104).map((n) => sharedInfo(n)),
  fc.constant(tscInfo()),
  fc.tuple(fc.array(fc.tuple(fc.nat({max: 40}), fc.bigInt({min: 0n, max: (1n << 64n) - 1n})), {maxLength: 4}), fc.option(u32, {nil: undefined})).map(([ps, count]) => hvmParams(ps, count)),
  fc.nat({max: 64}).map((n) => hvmContext(n)),
  fc.nat({max: 3}).map((n) => cpuidPolicy(n)),
  fc.nat({max: 3}).map((n) => msrPolicy(n)),
  fc.constantFrom(Rec.END, Rec.VERIFY, Rec.CHECKPOINT, Rec.STATIC_DATA_END, Rec.TOOLSTACK, Rec.CHECKPOINT_DIRTY_PFN_LIST).map((t) => empty(t)),
  fc.tuple(fc.oneof(fc.nat({max: 0x20}), fc.constantFrom(0x80000000, 0x80000013, 0xffffffff)), fc.uint8Array({maxLength: 24})).map(([t, b]) => rec(t, Buffer.from(b))),
)

const libxlRecord: fc.Arbitrary<Part> = fc.oneof(
  fc.array(fc.string({maxLength: 10}), {maxLength: 5}).map((s) => xenstoreData(s, 0)),
  fc.nat({max: 64}).map((n) => emulatorContext(n, 0)),
  fc.constantFrom(LibxlRec.END, LibxlRec.LIBXC_CONTEXT, LibxlRec.CHECKPOINT_END).map((t) => empty(t, 'libxl')),
  fc.tuple(fc.oneof(fc.nat({max: 8}), fc.constant(0x80000001)), fc.uint8Array({maxLength: 16})).map(([t, b]) => libxlRec(t, Buffer.from(b))),
)

/** A record with a wrong length field or padding: framing the reader must cope with. */
const brokenRecord: fc.Arbitrary<Part> = fc
  .tuple(
    fc.constantFrom<'libxc' | 'libxl'>('libxc', 'libxl'),
    fc.nat({max: 0x12}),
    fc.uint8Array({maxLength: 24}),
    fc.option(u32, {nil: undefined}),
    fc.option(fc.uint8Array({maxLength: 9}), {nil: undefined}),
  )
  .map(([layer, type, body, length, padding]) => ({kind: 'record', layer, type, head: Buffer.from(body), length, padding: padding && Buffer.from(padding)}))

const header: fc.Arbitrary<Part> = fc.oneof(
  fc.tuple(fc.constantFrom(DomainType.X86_PV, DomainType.X86_HVM, 0, 3, 0xffffffff), fc.constantFrom(2, 3, 3, 1, 4)).map(([t, v]): Part => ({kind: 'libxc-headers', domainType: t, version: v})),
  fc.constantFrom(0, LIBXL_OPT_LEGACY, 1, 4, 0xffffffff).map((o): Part => ({kind: 'libxl-header', options: o})),
  fc.constantFrom(0, 1, 2, 3, 8).map((f): Part => ({kind: 'xl', mandatoryFlags: f, config: 'name = "r"\n'})),
)

/** A start that is mostly right, then records in any order. */
const randomStream = fc
  .record({
    start: fc.oneof(
      fc.constant<Part[]>([{kind: 'libxc-headers', domainType: DomainType.X86_PV, version: 3}]),
      fc.constant<Part[]>([{kind: 'libxc-headers', domainType: DomainType.X86_HVM, version: 3}]),
      fc.constant<Part[]>([{kind: 'libxl-header', options: LIBXL_OPT_LEGACY}, empty(LibxlRec.LIBXC_CONTEXT, 'libxl'), {kind: 'libxc-headers', domainType: DomainType.X86_PV, version: 2}]),
      fc.array(header, {minLength: 1, maxLength: 3}),
    ),
    body: fc.array(fc.oneof({arbitrary: libxcRecord, weight: 6}, {arbitrary: libxlRecord, weight: 2}, {arbitrary: header, weight: 1}, {arbitrary: brokenRecord, weight: 1}), {maxLength: 14}),
    end: fc.boolean(),
    tail: fc.option(
      fc.uint8Array({maxLength: 40}).map((b): Part => ({kind: 'raw', bytes: Buffer.from(b)})),
      {nil: undefined},
    ),
  })
  .map(({start, body, end: withEnd, tail}) => new Stream([...start, ...body, ...(withEnd ? [end()] : []), ...(tail ? [tail] : [])]))

/** Parts V2Writer frames correctly (so a verifier watching the writes sees what a reader sees). */
function wellFramed(s: Stream): boolean {
  return s.parts.every((p) => p.kind !== 'raw' && !(p.kind === 'record' && (p.length !== undefined || p.padding !== undefined)))
}

describe('random v2 record sequences', {timeout: TEST_TIMEOUT}, () => {
  it('verify returns a well-formed report; watching the writes and reading back agree', async () => {
    await fc.assert(
      fc.asyncProperty(randomStream, async (stream) => {
        const watcher = new V2Verifier()
        const {bytes} = await stream.build(watcher)
        const shape = JSON.stringify(stream.parts.map((p) => (p.kind === 'record' ? `${p.layer}:${p.type}` : p.kind)))
        const read = await checkVerify(bytes, `random stream of ${stream.parts.length} parts`)
        // Whatever was written, a stream read back as valid is complete: one
        // libxc END, and one libxl END when it is a libxl stream.
        if (read.valid) {
          expect(read.summary.records.libxc.END, shape).toBe(1)
          if (read.summary.format === 'libxl') expect(read.summary.records.libxl.END, shape).toBe(1)
        }
        if (wellFramed(stream) && !stream.parts.some((p) => p.kind === 'xl')) {
          const pushed = watcher.finish(bytes.length)
          // A record written where its layer does not belong reads back as
          // whatever belongs there (the bytes of a libxl END and a libxc END
          // are the same, an optional libxl record reads as an optional libxc
          // one): the watcher, told the layer, and the reader may then differ.
          if (pushed.errors.some((e) => e.code === 'record-out-of-place' || e.code === 'header-out-of-place')) return
          expect(read.valid, shape).toBe(pushed.valid)
          // Likewise a record after END reads back as bytes after the stream.
          const last = stream.parts.length - 1
          const plainLibxc = stream.parts.every((p, i) => (i === 0 ? p.kind === 'libxc-headers' : p.kind === 'record' && p.layer === 'libxc' && (p.type !== Rec.END || i === last)))
          if (!plainLibxc) return
          // A stream with no END: the watcher says so at the end, the reader
          // when it finds no next record header. The same finding.
          const codes = (r: VerifyReport) => r.errors.map((e) => (e.code === 'truncated' && e.offset === bytes.length ? 'missing-end' : e.code))
          expect(codes(read), shape).toEqual(codes(pushed))
        }
      }),
      params('v2-random-sequence', 200, 0.5),
    )
  })
})

describe('found by the fuzz run', () => {
  it('a libxl stream that ends inside a libxc checkpoint is not valid (it was: no errors at all)', async () => {
    // libxl header, LIBXC_CONTEXT, libxc headers, CHECKPOINT, then a libxl END:
    // the libxc stream never gets its END, and holds no domain.
    const stream = new Stream([
      {kind: 'libxl-header', options: LIBXL_OPT_LEGACY},
      empty(LibxlRec.LIBXC_CONTEXT, 'libxl'),
      {kind: 'libxc-headers', domainType: DomainType.X86_PV, version: 2},
      empty(Rec.CHECKPOINT),
      end('libxl'),
    ])
    const {bytes} = await stream.build()
    for (const kind of ['file', 'pipe'] as const) {
      const rep = await verify(bytes, kind)
      expect(rep.valid).toBe(false)
      const codes = rep.errors.map((e) => e.code)
      expect(codes).toContain('missing-libxc-end')
      // The first checkpoint is a whole image the receiver may fail over from: what the restorer needs is checked at its CHECKPOINT.
      expect(codes).toContain('missing-x86-pv-info')
      expect(rep.errors.find((e) => e.code === 'missing-libxc-end')!.offset).toBe(bytes.length - 8)
    }
    // The same stream completed properly (CHECKPOINT_END, libxc END) gets the usual content checks instead.
    const done = await new Stream([...stream.parts.slice(0, 4), empty(LibxlRec.CHECKPOINT_END, 'libxl'), end(), end('libxl')]).build()
    const rep = await verify(done.bytes)
    expect(rep.errors.map((e) => e.code)).not.toContain('missing-libxc-end')
    expect(rep.errors.map((e) => e.code)).toContain('missing-x86-pv-info')
  })
})
