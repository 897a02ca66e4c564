// convertLegacy on images the builder makes: the v2 records written for each
// legacy part, parsed back out of a MemorySink.
import {describe, expect, test} from 'vitest'
import {FormatError} from '../src/errors.js'
import {convertLegacy, type ConvertOptions, type ConvertSummary, type OutputFormat} from '../src/convert/convert.js'
import {ByteReader} from '../src/io/reader.js'
import {MemorySink} from '../src/io/sink.js'
import {BufferSource, ChunkedSource} from '../src/io/source.js'
import {DomainHeader, ImageHeader, Rec} from '../src/v2/libxc/layout.js'
import {RecordHeader} from '../src/v2/record.js'
import {EmulatorHeader, LIBXL_OPT_LEGACY, LibxlHeader, LibxlRec} from '../src/v2/libxl/layout.js'
import {XL_MAGIC, XlHeader} from '../src/xl/layout.js'
import {vectorBytes} from './helpers/fixtures.js'
import {buildLegacy, buildLegacyWithMap, defaultSharedInfo, fillBytes, HVM_PARAM_CHUNK_NAMES, type LegacySpec, pageBytes, type PhysmapSpec, smallSpec, vcpuContextBytes} from './builders/legacy.js'

interface V2Record {
  type: number
  body: Buffer
}
interface Parsed {
  xl?: Buffer
  libxlHeader?: ReturnType<typeof LibxlHeader.get>
  libxl: V2Record[]
  imageHeader: ReturnType<typeof ImageHeader.get>
  domainHeader: ReturnType<typeof DomainHeader.get>
  libxc: V2Record[]
  /** Bytes after the libxc END (libxc output) or after the libxl END. */
  tail: Buffer
}

/** Split a converted stream into its records, checking lengths and zero padding. */
function parse(out: Buffer, format: OutputFormat): Parsed {
  let at = 0
  const p: Partial<Parsed> = {libxl: [], libxc: []}
  if (out.toString('latin1', 0, XL_MAGIC.length) === XL_MAGIC) {
    const h = XlHeader.get(out)
    p.xl = out.subarray(0, XlHeader.size + h.optionalDataLen)
    at = p.xl.length
  }
  const record = (): V2Record => {
    const {type, length} = RecordHeader.get(out, at)
    const body = out.subarray(at + 8, at + 8 + length)
    if (body.length !== length) throw new Error(`record at ${at} runs past the output`)
    const padded = (length + 7) & ~7
    const pad = out.subarray(at + 8 + length, at + 8 + padded)
    if (pad.some((b) => b !== 0)) throw new Error(`record at ${at} has non-zero padding`)
    at += 8 + padded
    return {type, body}
  }
  const libxc = () => {
    p.imageHeader = ImageHeader.get(out, at)
    p.domainHeader = DomainHeader.get(out, at + ImageHeader.size)
    at += ImageHeader.size + DomainHeader.size
    for (;;) {
      const r = record()
      p.libxc!.push(r)
      if (r.type === Rec.END) return
    }
  }
  if (format === 'libxl') {
    p.libxlHeader = LibxlHeader.get(out, at)
    at += LibxlHeader.size
    for (;;) {
      const r = record()
      p.libxl!.push(r)
      if (r.type === LibxlRec.LIBXC_CONTEXT) libxc()
      if (r.type === LibxlRec.END) break
    }
  } else libxc()
  p.tail = out.subarray(at)
  return p as Parsed
}

async function convert(
  bytes: Buffer,
  format: OutputFormat,
  opts: Partial<ConvertOptions> = {},
  src: 'file' | 'pipe' = 'file',
): Promise<{out: Buffer; parsed: Parsed; summary: ConvertSummary; warned: string[]}> {
  const sink = new MemorySink()
  const warned: string[] = []
  const reader = new ByteReader(src === 'file' ? new BufferSource(bytes) : new ChunkedSource(bytes, 1531))
  const summary = await convertLegacy(reader, sink, {format, onWarning: (m) => warned.push(m), ...opts})
  return {out: sink.data, parsed: parse(sink.data, format), summary, warned}
}

async function convertError(bytes: Buffer, format: OutputFormat, opts: Partial<ConvertOptions> = {}): Promise<FormatError> {
  const err = await convert(bytes, format, opts).then(
    () => undefined,
    (e) => e,
  )
  if (!(err instanceof FormatError)) throw new Error(`expected a FormatError, got ${err}`)
  return err
}

const types = (recs: V2Record[]) => recs.map((r) => r.type)
const ofType = (recs: V2Record[], type: number) => recs.filter((r) => r.type === type)

/** PAGE_DATA body -> pfn words and page contents. */
function pageData(body: Buffer): {words: bigint[]; data: Buffer} {
  const count = body.readUInt32LE(0)
  expect(body.readUInt32LE(4)).toBe(0)
  const words = Array.from({length: count}, (_, i) => body.readBigUInt64LE(8 + i * 8))
  return {words, data: body.subarray(8 + count * 8)}
}

function hvmParams(body: Buffer): Array<[bigint, bigint]> {
  const count = body.readUInt32LE(0)
  expect(body.length).toBe(8 + count * 16)
  return Array.from({length: count}, (_, i) => [body.readBigUInt64LE(8 + i * 16), body.readBigUInt64LE(16 + i * 16)])
}

const physmap: PhysmapSpec[] = [
  {physOffset: 0xf0000000n, startAddr: 0xf0000000n, size: 0x800000n, name: 'vga.vram', pad: Buffer.from([1, 2, 3, 4])},
  {physOffset: 0xfc000000n, startAddr: 0xfc000000n, size: 0x10000n, name: 'rom'},
]

describe('PV', () => {
  const spec: LegacySpec = {
    width: 64,
    guest: 'pv',
    p2mSize: 600, // two frames of 512 entries for a 64-bit guest
    ext: {guestWidth: 64, extv: true, xsaveLength: 0x240},
    p2mFrames: [0x1234, 0x5678n],
    chunks: [
      {kind: 'tsc_info', mode: 1, nsec: 0x1122334455667788n, khz: 2500000, incarnation: 9},
      {kind: 'pages', entries: [1, {dropped: true}, {pfn: 2, type: 1}, {pfn: 3, type: 0xf}, {pfn: 4, type: 0xc}]},
      {kind: 'pages', entries: [{dropped: true}, {dropped: true}]},
      {kind: 'pages', range: {start: 10, count: 3}},
      {kind: 'vcpu_info', online: [0, 2]},
      {kind: 'last_checkpoint'},
    ],
  }

  test.each(['file', 'pipe'] as const)('libxc output from a %s: record order and contents', async (src) => {
    const bytes = buildLegacy(spec)
    const {parsed, summary, warned} = await convert(bytes, 'libxc', {}, src)
    expect(parsed.imageHeader).toMatchObject({marker: 0xffffffffffffffffn, id: 0x58454e46, version: 3, options: 0})
    expect(parsed.domainHeader).toMatchObject({type: 1, pageShift: 12, xenMajor: 0, xenMinor: 1})
    expect(types(parsed.libxc)).toEqual([
      Rec.X86_PV_INFO,
      Rec.STATIC_DATA_END,
      Rec.X86_PV_P2M_FRAMES,
      Rec.X86_TSC_INFO,
      Rec.PAGE_DATA,
      Rec.PAGE_DATA,
      Rec.X86_PV_VCPU_BASIC,
      Rec.X86_PV_VCPU_EXTENDED,
      Rec.X86_PV_VCPU_XSAVE,
      Rec.X86_PV_VCPU_BASIC,
      Rec.X86_PV_VCPU_EXTENDED,
      Rec.X86_PV_VCPU_XSAVE,
      Rec.SHARED_INFO,
      Rec.END,
    ])
    const [info, , frames, tsc, pd1, pd2] = parsed.libxc
    expect([...info.body]).toEqual([8, 4, 0, 0, 0, 0, 0, 0])
    expect(frames.body.readUInt32LE(0)).toBe(0)
    expect(frames.body.readUInt32LE(4)).toBe(599)
    expect([frames.body.readBigUInt64LE(8), frames.body.readBigUInt64LE(16)]).toEqual([0x1234n, 0x5678n])
    expect(frames.body.length).toBe(24)
    // X86_TSC_INFO: mode, khz, nsec, incarnation, reserved.
    expect(tsc.body.readUInt32LE(0)).toBe(1)
    expect(tsc.body.readUInt32LE(4)).toBe(2500000)
    expect(tsc.body.readBigUInt64LE(8)).toBe(0x1122334455667788n)
    expect(tsc.body.readUInt32LE(16)).toBe(9)
    expect(tsc.body.readUInt32LE(20)).toBe(0)
    // The dropped entry is gone; types move to bits 63-60; xtab has no data.
    const a = pageData(pd1.body)
    expect(a.words).toEqual([1n, (1n << 60n) | 2n, (0xfn << 60n) | 3n, (0xcn << 60n) | 4n])
    expect(a.data.equals(Buffer.concat([pageBytes(1), pageBytes(2), pageBytes(4)]))).toBe(true)
    // The all-dropped batch wrote nothing; the next batch is the third.
    const b = pageData(pd2.body)
    expect(b.words).toEqual([10n, 11n, 12n])
    expect(b.data.equals(Buffer.concat([pageBytes(10), pageBytes(11), pageBytes(12)]))).toBe(true)
    // vcpu records: u32 id, u32 0, then the context (xsave: the area only).
    const vcpuRecs = parsed.libxc.slice(6, 12)
    const parts = ['basic', 'extended', 'xsave'] as const
    vcpuRecs.forEach((r, i) => {
      const vcpu = i < 3 ? 0 : 2
      const part = parts[i % 3]
      const size = {basic: 0x1430, extended: 128, xsave: 0x240 - 16}[part]
      expect(r.body.readUInt32LE(0)).toBe(vcpu)
      expect(r.body.readUInt32LE(4)).toBe(0)
      expect(r.body.subarray(8).equals(vcpuContextBytes(vcpu, part, size))).toBe(true)
    })
    expect(parsed.libxc[12].body.equals(defaultSharedInfo())).toBe(true)
    expect(parsed.tail.length).toBe(0)
    expect(summary.pages).toEqual({count: 7, withData: 6, dropped: 3, batches: 2})
    expect(summary.vcpus).toEqual({count: 2, ids: [0, 2]})
    expect(summary.records.libxc).toMatchObject({PAGE_DATA: 2, X86_PV_VCPU_BASIC: 2, END: 1})
    expect(summary.input).toMatchObject({guest: 'pv', toolstackWidth: 64, xlHeader: false, bytes: bytes.length})
    expect(warned).toEqual([])
  })

  test('file and pipe inputs give the same bytes', async () => {
    const bytes = buildLegacy(spec)
    for (const format of ['libxc', 'libxl'] as const) {
      const a = await convert(bytes, format, {}, 'file')
      const b = await convert(bytes, format, {}, 'pipe')
      expect(a.out.equals(b.out)).toBe(true)
    }
  })

  test('libxl output wraps the libxc stream: header with the legacy option, LIBXC_CONTEXT, END', async () => {
    const {parsed} = await convert(buildLegacy(spec), 'libxl')
    expect(parsed.libxlHeader).toEqual({ident: 0x4c6962786c466d74n, version: 2, options: LIBXL_OPT_LEGACY})
    expect(types(parsed.libxl)).toEqual([LibxlRec.LIBXC_CONTEXT, LibxlRec.END])
    expect(parsed.libxl[0].body.length).toBe(0)
    expect(ofType(parsed.libxc, Rec.PAGE_DATA).length).toBe(2)
    expect(parsed.tail.length).toBe(0)
  })

  test('32-bit toolstack, 32-bit guest: PV info says width 4, 3 levels; frames widened', async () => {
    const s: LegacySpec = {...spec, width: 32, ext: {guestWidth: 32, extv: false}, p2mFrames: [0xabc]}
    const {parsed} = await convert(buildLegacy(s), 'libxc')
    expect([...parsed.libxc[0].body.subarray(0, 2)]).toEqual([4, 3])
    const frames = ofType(parsed.libxc, Rec.X86_PV_P2M_FRAMES)[0]
    expect(frames.body.readBigUInt64LE(8)).toBe(0xabcn)
    expect(ofType(parsed.libxc, Rec.X86_PV_VCPU_EXTENDED)).toEqual([])
    expect(ofType(parsed.libxc, Rec.X86_PV_VCPU_BASIC).map((r) => r.body.length)).toEqual([8 + 0xaf0, 8 + 0xaf0])
  })

  test('without vcpu_info: a warning, and vcpu 0 converted', async () => {
    const s: LegacySpec = {...spec, chunks: spec.chunks!.filter((c) => c.kind !== 'vcpu_info')}
    const {parsed, summary, warned} = await convert(buildLegacy(s), 'libxc')
    expect(ofType(parsed.libxc, Rec.X86_PV_VCPU_BASIC).map((r) => r.body.readUInt32LE(0))).toEqual([0])
    expect(summary.vcpus).toEqual({count: 1, ids: [0]})
    expect(warned.length).toBe(1)
    expect(warned[0]).toContain('vcpu_info')
    expect(summary.warnings).toEqual(warned)
  })

  test('enable_verify_mode: the pages after it are converted like any others', async () => {
    const s: LegacySpec = {
      ...spec,
      chunks: [{kind: 'pages', range: {start: 0, count: 2}}, {kind: 'enable_verify_mode'}, {kind: 'pages', range: {start: 0, count: 2}}, {kind: 'vcpu_info', online: [0]}],
    }
    const {parsed} = await convert(buildLegacy(s), 'libxc')
    expect(ofType(parsed.libxc, Rec.PAGE_DATA).length).toBe(2)
    expect(ofType(parsed.libxc, Rec.VERIFY)).toEqual([])
  })

  test('trailing bytes: converted, with a warning naming where they start', async () => {
    const {bytes, map} = buildLegacyWithMap({...spec, trailing: Buffer.alloc(77)})
    const {warned} = await convert(bytes, 'libxc')
    expect(warned).toEqual([expect.stringContaining(`77 bytes after the end of the image at byte ${map.trailing}`)])
  })
})

describe('HVM', () => {
  const hvm = (over: Partial<LegacySpec> = {}): LegacySpec => ({
    width: 64,
    guest: 'hvm',
    p2mSize: 32,
    chunks: [
      {kind: 'tsc_info'},
      {kind: 'pages', range: {start: 0, count: 4}},
      {kind: 'hvm_param', chunk: 'hvm_viridian', value: 1n},
      {kind: 'vcpu_info', online: [0, 1]},
      {kind: 'hvm_param', chunk: 'hvm_ident_pt', value: 0xfeffd000n},
      {kind: 'toolstack', physmap},
      {kind: 'hvm_param', chunk: 'hvm_nr_ioreq_server_pages', value: 2n},
      {kind: 'last_checkpoint'},
    ],
    hvm: {ioreq: 0xfeffen, bufioreq: 0xfeffdn, store: 0xfeffcn, context: fillBytes(1, 777), qemu: {signature: 'DeviceModelRecord0002', data: fillBytes(2, 3000)}},
    ...over,
  })

  test('libxc: parameters collected at the end of the body, then the tail; the qemu record copied after END', async () => {
    const bytes = buildLegacy(hvm())
    const {parsed, summary} = await convert(bytes, 'libxc')
    expect(parsed.domainHeader.type).toBe(2)
    expect(types(parsed.libxc)).toEqual([Rec.STATIC_DATA_END, Rec.X86_TSC_INFO, Rec.PAGE_DATA, Rec.HVM_PARAMS, Rec.HVM_PARAMS, Rec.HVM_CONTEXT, Rec.END])
    const [, , , body, magic, ctx] = parsed.libxc
    expect(hvmParams(body.body)).toEqual([
      [9n, 1n],
      [12n, 0xfeffd000n],
      [33n, 2n],
    ])
    expect(hvmParams(magic.body)).toEqual([
      [5n, 0xfeffen],
      [6n, 0xfeffdn],
      [1n, 0xfeffcn],
    ])
    expect(ctx.body.equals(fillBytes(1, 777))).toBe(true)
    // The device-model record as it was: signature, length word, data.
    const rec = Buffer.concat([Buffer.from('DeviceModelRecord0002'), Buffer.from([0xb8, 0x0b, 0, 0]), fillBytes(2, 3000)])
    expect(parsed.tail.equals(rec)).toBe(true)
    expect(ofType(parsed.libxc, Rec.TOOLSTACK)).toEqual([])
    expect(summary.qemu).toEqual({signature: 'DeviceModelRecord0002', bytes: 3000})
  })

  test('every HVM parameter chunk goes into one HVM_PARAMS record, in stream order', async () => {
    // The last one first: stream order, not chunk-id or parameter order.
    const names = [HVM_PARAM_CHUNK_NAMES[HVM_PARAM_CHUNK_NAMES.length - 1], ...HVM_PARAM_CHUNK_NAMES.slice(0, -1)]
    const s = hvm({chunks: names.map((chunk, i) => ({kind: 'hvm_param' as const, chunk, value: BigInt(100 + i)}))})
    const {parsed} = await convert(buildLegacy(s), 'libxc')
    const params = ofType(parsed.libxc, Rec.HVM_PARAMS)
    expect(params.length).toBe(2)
    expect(hvmParams(params[0].body)).toEqual([33, 12, 15, 17, 19, 9, 34, 27, 28, 29, 32].map((p, i) => [BigInt(p), BigInt(100 + i)]))
  })

  test('no HVM parameter chunks: only the tail HVM_PARAMS', async () => {
    const s = hvm({chunks: [{kind: 'pages', range: {start: 0, count: 1}}]})
    const {parsed} = await convert(buildLegacy(s), 'libxc')
    expect(ofType(parsed.libxc, Rec.HVM_PARAMS).length).toBe(1)
  })

  test.each(['DeviceModelRecord0002', 'RemusDeviceModelState', 'QemuDeviceModelRecord'])('libxl: %s becomes EMULATOR_CONTEXT after the physmap xenstore data', async (signature) => {
    for (const src of ['file', 'pipe'] as const) {
      const qemu = fillBytes(7, 5001)
      const {parsed, summary, warned} = await convert(buildLegacy(hvm({hvm: {context: 64, qemu: {signature, data: qemu}}})), 'libxl', {}, src)
      expect(types(parsed.libxl)).toEqual([LibxlRec.LIBXC_CONTEXT, LibxlRec.EMULATOR_XENSTORE_DATA, LibxlRec.EMULATOR_CONTEXT, LibxlRec.END])
      const [, xs, ctx] = parsed.libxl
      expect(EmulatorHeader.get(xs.body)).toEqual({emulatorId: 0, index: 0})
      const strings = xs.body.toString('latin1', 8).split('\0')
      expect(strings.pop()).toBe('')
      expect(strings).toEqual([
        'physmap/f0000000/start_addr',
        'f0000000',
        'physmap/f0000000/size',
        '800000',
        'physmap/f0000000/name',
        'vga.vram',
        'physmap/fc000000/start_addr',
        'fc000000',
        'physmap/fc000000/size',
        '10000',
        'physmap/fc000000/name',
        'rom',
      ])
      expect(EmulatorHeader.get(ctx.body)).toEqual({emulatorId: 0, index: 0})
      expect(ctx.body.subarray(8).equals(qemu)).toBe(true)
      expect(parsed.tail.length).toBe(0)
      expect(summary.qemu).toEqual({signature, bytes: 5001})
      expect(warned).toEqual([])
    }
  })

  test('libxl with no qemu record: no EMULATOR_CONTEXT, and a warning', async () => {
    const {parsed, summary, warned} = await convert(buildLegacy(hvm({hvm: {context: 64, qemu: null}})), 'libxl')
    expect(types(parsed.libxl)).toEqual([LibxlRec.LIBXC_CONTEXT, LibxlRec.EMULATOR_XENSTORE_DATA, LibxlRec.END])
    expect(warned.length).toBe(1)
    expect(warned[0]).toContain('no device-model (qemu) record')
    expect(summary.qemu).toBeNull()
  })

  test('libxc with no qemu record: nothing after END, no warning; --skip-qemu: no warning either', async () => {
    const noQemu = await convert(buildLegacy(hvm({hvm: {context: 64, qemu: null}})), 'libxc')
    expect(noQemu.parsed.tail.length).toBe(0)
    expect(noQemu.warned).toEqual([])
    const skipped = await convert(buildLegacy(hvm({hvm: {context: 64, qemu: null}})), 'libxc', {skipQemu: true})
    expect(skipped.warned).toEqual([])
    expect(skipped.parsed.tail.length).toBe(0)
  })

  test("--skip-qemu with libxl output: the qemu record is still read into EMULATOR_CONTEXT, as Xen's converter does", async () => {
    const bytes = buildLegacy(hvm())
    const plain = await convert(bytes, 'libxl')
    const skipped = await convert(bytes, 'libxl', {skipQemu: true})
    expect(skipped.out.equals(plain.out)).toBe(true)
    expect(ofType(skipped.parsed.libxl, LibxlRec.EMULATOR_CONTEXT)[0].body.subarray(8).equals(fillBytes(2, 3000))).toBe(true)
    expect(skipped.warned).toEqual([expect.stringContaining('--skip-qemu does not apply to libxl output')])
    // Without a record, the stream just ends after the context: no EMULATOR_CONTEXT, the usual warning.
    const none = await convert(buildLegacy(hvm({hvm: {context: 64, qemu: null}})), 'libxl', {skipQemu: true})
    expect(ofType(none.parsed.libxl, LibxlRec.EMULATOR_CONTEXT)).toEqual([])
    expect(none.warned).toEqual([expect.stringContaining('--skip-qemu'), expect.stringContaining('no device-model (qemu) record')])
  })

  test('32-bit toolstack physmap (no padding) gives the same xenstore data', async () => {
    const a = await convert(buildLegacy(hvm()), 'libxl')
    const b = await convert(buildLegacy(hvm({width: 32})), 'libxl')
    expect(ofType(b.parsed.libxl, LibxlRec.EMULATOR_XENSTORE_DATA)[0].body.equals(ofType(a.parsed.libxl, LibxlRec.EMULATOR_XENSTORE_DATA)[0].body)).toBe(true)
  })

  test('a malformed toolstack chunk: libxc output drops it, libxl output refuses it', async () => {
    const {bytes, map} = buildLegacyWithMap(
      hvm({
        chunks: [
          {kind: 'pages', range: {start: 0, count: 2}},
          {kind: 'toolstack', physmap: [{...physmap[0], nul: false}]},
        ],
      }),
    )
    const libxc = await convert(bytes, 'libxc')
    expect(types(libxc.parsed.libxc)).toEqual([Rec.STATIC_DATA_END, Rec.PAGE_DATA, Rec.HVM_PARAMS, Rec.HVM_CONTEXT, Rec.END])
    const err = await convertError(bytes, 'libxl')
    expect(err.code).toBe('physmap-name-not-nul')
    expect(err.where).toMatchObject({index: 1, indexKind: 'chunk', offset: map.chunks[1].at + 8 + 8 + 28})
    // The same for the conformance image with this defect.
    const conf = vectorBytes('legacy', 'bad-physmap-name-not-nul.legacy.gz')
    await convert(conf, 'libxc')
    expect((await convertError(conf, 'libxl')).code).toBe('physmap-name-not-nul')
  })

  test('an empty toolstack (no physmap entries): no EMULATOR_XENSTORE_DATA', async () => {
    const {parsed} = await convert(buildLegacy(hvm({chunks: [{kind: 'toolstack', physmap: []}]})), 'libxl')
    expect(types(parsed.libxl)).toEqual([LibxlRec.LIBXC_CONTEXT, LibxlRec.EMULATOR_CONTEXT, LibxlRec.END])
  })
})

describe('chunks v2 cannot carry', () => {
  const cases = [
    ['tmem', {kind: 'tmem', pools: [{id: 0, pages: [{oid: [1n, 2n, 3n], index: 0}]}]}],
    ['tmem_extra', {kind: 'tmem_extra', entries: [{poolId: 0, oid: [1n, 2n, 3n], index: 4}]}],
  ] as const
  test.each(cases)('%s is refused with its name and offset, in either output format', async (name, chunk) => {
    for (const guest of ['pv', 'hvm'] as const) {
      const base = smallSpec(guest, 64)
      const {bytes, map} = buildLegacyWithMap({...base, chunks: [{kind: 'pages', range: {start: 0, count: 2}}, chunk as any, ...base.chunks!]})
      for (const format of ['libxc', 'libxl'] as const) {
        const err = await convertError(bytes, format)
        expect(err.code).toBe('not-convertible')
        expect(err.where).toMatchObject({offset: map.chunks[1].at, index: 1, indexKind: 'chunk', context: name})
        expect(err.message).toContain(`byte ${map.chunks[1].at}`)
        expect(err.message).toContain(`${name} chunk cannot be converted`)
      }
    }
  })
})

describe('Remus compression chunks in a plain image', () => {
  test('enable_compression alone changes nothing: the image converts as without it', async () => {
    for (const guest of ['pv', 'hvm'] as const) {
      const base = smallSpec(guest, 64)
      const plain = await convert(buildLegacy(base), 'libxl')
      const withFlag = await convert(buildLegacy({...base, chunks: [...base.chunks!, {kind: 'enable_compression'}]}), 'libxl')
      expect(withFlag.out.equals(plain.out), guest).toBe(true)
    }
  })

  test('compressed_data where pages are inline is refused at its offset', async () => {
    const base = smallSpec('pv', 64)
    const {bytes, map} = buildLegacyWithMap({...base, chunks: [{kind: 'pages', range: {start: 0, count: 2}}, {kind: 'compressed_data', data: 100}, ...base.chunks!]})
    const err = await convertError(bytes, 'libxl')
    expect(err.code).toBe('compressed-data-unexpected')
    expect(err.where).toMatchObject({offset: map.chunks[1].at, index: 1, indexKind: 'chunk', context: 'compressed_data'})
  })
})

describe('xl header', () => {
  test('copied unchanged for libxc; libxl output sets the STREAMv2 flag and keeps the rest', async () => {
    const config = JSON.stringify({c_info: {name: 'guest1'}})
    const {bytes, map} = buildLegacyWithMap(smallSpec('hvm', 64, {xl: {config, json: true, optionalFlags: 0x10}}))
    const header = bytes.subarray(0, map.image)
    const libxc = await convert(bytes, 'libxc')
    expect(libxc.parsed.xl!.equals(header)).toBe(true)
    expect(libxc.summary.input).toMatchObject({xlHeader: true, domainName: 'guest1'})
    const libxl = await convert(bytes, 'libxl')
    const out = libxl.parsed.xl!
    expect(XlHeader.get(out).mandatoryFlags).toBe(0b11)
    expect(XlHeader.get(out).optionalFlags).toBe(0x10)
    const expected = Buffer.from(header)
    expected[36] |= 2
    expect(out.equals(expected)).toBe(true)
  })
})
