// One test per verifier rule: a stream the builder constructs that breaks
// exactly that rule is reported with the right code, offset, record index and
// type — read both as a file and as a pipe — and the well-formed stream it
// was made from passes.
import {describe, expect, it} from 'vitest'
import {DomainType, MAX_PAGE_DATA_PFNS, Rec, REC_LENGTH_MAX} from '../src/v2/libxc/layout.js'
import {LIBXL_OPT_LEGACY, LibxlRec} from '../src/v2/libxl/layout.js'
import {QEMU_SIG_DM_0002, QEMU_SIG_REST} from '../src/format/x86.js'
import {type Problem, V2Verifier} from '../src/v2/verify/verifier.js'
import {
  type Built,
  cpuidPolicy,
  empty,
  emulatorContext,
  hvmContext,
  hvmParams,
  hvmStream,
  libxlRec,
  libxlStream,
  msrPolicy,
  pageData,
  pages,
  pfnWord,
  pvInfo,
  pvStream,
  p2mFrames,
  rawLibxcHeaders,
  rawLibxlHeader,
  rec,
  sharedInfo,
  Stream,
  tscInfo,
  vcpu,
  verifyBytes,
  withXlHeader,
  xenstoreData,
} from './builders/v2.js'

type Match = Parameters<Stream['find']>[0]

/** Where a problem should be: a part of the stream (its nth match), and a byte offset within it. */
interface Expect {
  code: string
  part?: Match
  nth?: number
  within?: number
  /** Absolute offset, for problems not tied to one part. */
  offset?: number
  severity?: 'error' | 'warning'
}

function locate(b: Built, s: Stream, e: Expect): Partial<Problem> {
  if (e.part === undefined) return e.offset === undefined ? {} : {offset: e.offset}
  const placed = b.placed[s.find(e.part, e.nth ?? 0)]
  const p = placed.part
  const out: Partial<Problem> = {offset: placed.offset + (e.within ?? 0)}
  if (p.kind === 'record') Object.assign(out, {layer: p.layer, index: placed.index})
  return out
}

/** `s` has exactly the problems in `expected` (and no other errors), as a file and as a pipe. */
async function expectProblems(s: Stream, ...expected: Expect[]): Promise<void> {
  const b = await s.build()
  for (const pipe of [false, true]) {
    const r = await verifyBytes(b.bytes, {pipe})
    const want = expected.map((e) => ({severity: e.severity ?? 'error', code: e.code, ...locate(b, s, e)}))
    const got = [...r.errors, ...r.warnings].map((p) => {
      const {message: _m, record: _r, ...rest} = p
      return rest
    })
    expect(got, (pipe ? 'pipe: ' : 'file: ') + JSON.stringify([...r.errors, ...r.warnings], null, 1)).toEqual(want.map((w) => expect.objectContaining(w)))
    expect(got).toHaveLength(want.length)
    expect(r.valid).toBe(!expected.some((e) => (e.severity ?? 'error') === 'error'))
  }
}

const valid = async (s: Stream) => expectProblems(s)
const V = (type: number) => (p: {kind: string; layer?: string; type?: number}) => p.kind === 'record' && p.layer === 'libxl' && p.type === type

describe('well-formed streams pass', () => {
  it('PV v3, PV v2, 32-bit PV, HVM v3, HVM v2', async () => {
    await valid(pvStream())
    await valid(pvStream({version: 2}))
    await valid(pvStream({guestWidth: 4}))
    await valid(hvmStream())
    await valid(hvmStream({version: 2}))
  })
  it('libxl-wrapped PV and HVM, behind an xl header or not', async () => {
    await valid(libxlStream(pvStream(), {emulator: false}))
    await valid(libxlStream(hvmStream()))
    await valid(withXlHeader(libxlStream(hvmStream()), 2))
    await valid(withXlHeader(pvStream(), 0))
  })
  it('the summary says what the stream is', async () => {
    const b = await withXlHeader(libxlStream(pvStream({vcpus: [0, 3]}), {emulator: false}), 3).build()
    const r = await verifyBytes(b.bytes)
    expect(r.summary).toMatchObject({
      format: 'libxl',
      xlHeader: {flags: ['config-json', 'stream-v2']},
      version: {libxl: 2, libxc: 3},
      legacyConverted: true,
      guest: 'pv',
      guestWidth: 64,
      pagetableLevels: 4,
      xenVersion: {major: 0, minor: 1},
      pages: {count: 300, withData: 298, byType: {normal: 297, l1: 1, xalloc: 1, xtab: 1}},
      vcpus: {count: 2, ids: [0, 3]},
      p2mEndPfn: 299,
      bytes: b.bytes.length,
    })
    expect(r.summary.records.libxl).toEqual({LIBXC_CONTEXT: 1, END: 1})
    expect(r.summary.records.libxc).toMatchObject({PAGE_DATA: 2, X86_PV_VCPU_BASIC: 2, END: 1})
  })
})

describe('libxc headers', () => {
  const withHeaders = (f: Parameters<typeof rawLibxcHeaders>[0]) => pvStream().replace((p) => p.kind === 'libxc-headers', {kind: 'libxc-headers', domainType: 1, raw: rawLibxcHeaders(f)})
  const H = (p: {kind: string}) => p.kind === 'libxc-headers'
  it('marker', () => expectProblems(withHeaders({marker: 0xfffffffffffffffen}), {code: 'bad-marker', part: H}))
  it('id', () => expectProblems(withHeaders({id: 0x58454e47}), {code: 'bad-ident', part: H, within: 8}))
  it('version', async () => {
    await expectProblems(withHeaders({version: 4}), {code: 'unknown-version', part: H, within: 12})
    await expectProblems(withHeaders({version: 1}), {code: 'unknown-version', part: H, within: 12})
  })
  // read_headers() tests only the big-endian bit and reads no reserved field.
  it('reserved option bits and reserved fields are warnings', async () => {
    await expectProblems(withHeaders({options: 4}), {code: 'reserved-bits', part: H, within: 16, severity: 'warning'})
    await expectProblems(withHeaders({reserved2: 1}), {code: 'reserved-field', part: H, within: 18, severity: 'warning'})
  })
  it('a big-endian stream is reported and not checked further', async () => {
    const s = withHeaders({options: 1}).edit(Rec.SHARED_INFO, (r) => (r.head = Buffer.alloc(5)))
    await expectProblems(s, {code: 'big-endian', part: H, within: 16})
    const r = await verifyBytes((await s.build()).bytes)
    expect(r.stopped).toBe('big-endian')
  })
  it('domain type', async () => {
    await expectProblems(withHeaders({type: DomainType.X86_PVH}), {code: 'domain-type', part: H, within: 24})
    await expectProblems(withHeaders({type: 9}), {code: 'domain-type', part: H, within: 24})
  })
  it('page shift (refused by x86_pv_setup()) and domain header reserved field (never read)', async () => {
    await expectProblems(withHeaders({pageShift: 13}), {code: 'page-shift', part: H, within: 28})
    await expectProblems(withHeaders({reserved: 1}), {code: 'reserved-field', part: H, within: 30, severity: 'warning'})
  })
})

describe('libxl and xl headers', () => {
  const L = (p: {kind: string}) => p.kind === 'libxl-header'
  const withHeader = (f: Parameters<typeof rawLibxlHeader>[0]) => libxlStream(hvmStream()).replace(L, {kind: 'libxl-header', raw: rawLibxlHeader(f)})
  it('ident (a damaged ident is still read as libxl)', () => expectProblems(withHeader({ident: 0x4c6962786c466d58n}), {code: 'bad-ident', part: L}))
  it('version', () => expectProblems(withHeader({version: 3}), {code: 'unknown-version', part: L, within: 8}))
  it('reserved option bits are a warning (stream_header_done() tests only big-endian)', () =>
    expectProblems(withHeader({options: 4}), {code: 'reserved-bits', part: L, within: 12, severity: 'warning'}))
  it('big-endian', () => expectProblems(withHeader({options: 1}), {code: 'big-endian', part: L, within: 12}))
  it('legacy-converted flag is reported', async () => {
    const on = await verifyBytes((await libxlStream(hvmStream(), {options: LIBXL_OPT_LEGACY}).build()).bytes)
    const off = await verifyBytes((await libxlStream(hvmStream(), {options: 0}).build()).bytes)
    expect([on.summary.legacyConverted, off.summary.legacyConverted]).toEqual([true, false])
  })
  it("the xl header's STREAMv2 flag must agree with what follows", async () => {
    const X = (p: {kind: string}) => p.kind === 'xl'
    await expectProblems(withXlHeader(libxlStream(hvmStream()), 0), {code: 'xl-stream-v2-flag', part: X, within: 36})
    await expectProblems(withXlHeader(hvmStream(), 2), {code: 'xl-stream-v2-flag', part: X, within: 36})
  })
})

describe('framing', () => {
  it('an optional record is a warning and is skipped', () =>
    expectProblems(pvStream().insertBefore(Rec.END, rec(0x80000123, Buffer.alloc(6, 0xff))), {code: 'optional-record', part: 0x80000123, severity: 'warning'}))
  it('an unknown mandatory record is an error', () => expectProblems(pvStream().insertBefore(Rec.END, rec(0x13, Buffer.alloc(3))), {code: 'unknown-record', part: 0x13}))
  it('padding is not looked at by read_record(): a warning', () =>
    expectProblems(
      pvStream().edit(Rec.X86_PV_VCPU_BASIC, (r) => {
        r.head = r.head.subarray(0, r.head.length - 3)
        r.length = r.head.length
        r.padding = Buffer.from([0, 0, 7])
      }),
      {code: 'vcpu-context-size', part: Rec.X86_PV_VCPU_BASIC},
      {code: 'nonzero-padding', part: Rec.X86_PV_VCPU_BASIC, within: 8 + 8 + 5168 - 3, severity: 'warning'},
    ))
  it('a body on END and the other marker records is a warning (process_record() never reads it)', async () => {
    await expectProblems(pvStream().replace(Rec.END, rec(Rec.END, Buffer.alloc(8))), {code: 'not-empty', part: Rec.END, severity: 'warning'})
    await expectProblems(pvStream().replace(Rec.STATIC_DATA_END, rec(Rec.STATIC_DATA_END, Buffer.alloc(1))), {code: 'not-empty', part: Rec.STATIC_DATA_END, severity: 'warning'})
  })
  it('a libxc record longer than the restorer takes', () => {
    const v = new V2Verifier()
    v.libxcHeaders(...splitHeaders(rawLibxcHeaders({type: DomainType.X86_HVM})), 0)
    v.record({layer: 'libxc', index: 0, offset: 40, type: Rec.HVM_CONTEXT, length: REC_LENGTH_MAX + 1, head: Buffer.alloc(0)})
    expect(v.finish().errors.map((e) => e.code)).toContain('record-too-long')
  })
})

function splitHeaders(buf: Buffer): [Buffer, Buffer] {
  return [buf.subarray(0, 24), buf.subarray(24)]
}

describe('PAGE_DATA', () => {
  const P = Rec.PAGE_DATA
  it('count must be > 0', () => expectProblems(pvStream().insertBefore(Rec.X86_TSC_INFO, pageData([])), {code: 'page-data-empty', part: P, nth: 2, within: 8}))
  it('body shorter than its header', () => expectProblems(pvStream().insertBefore(Rec.X86_TSC_INFO, rec(P, Buffer.alloc(4))), {code: 'page-data-short', part: P, nth: 2}))
  it('reserved field: a warning (handle_page_data() does not read it)', () =>
    expectProblems(
      pvStream().edit(P, (r) => r.head.writeUInt32LE(1, 4)),
      {code: 'reserved-field', part: P, within: 12, severity: 'warning'},
    ))
  it('pfn reserved bits: a warning (handle_page_data() masks them off)', () =>
    expectProblems(
      pvStream().edit(P, (r) => r.head.writeBigUInt64LE(pfnWord(5) | (1n << 52n), 8 + 8 * 5), 1),
      {code: 'pfn-reserved-bits', part: P, nth: 1, within: 8 + 8 + 40, severity: 'warning'},
    ))
  it('page types 5-8 are invalid', async () => {
    for (const t of [5, 6, 7, 8]) {
      await expectProblems(
        pvStream().edit(P, (r) => r.head.writeBigUInt64LE(pfnWord(140, t), 8 + 8 * 12), 1),
        {code: 'pfn-type-invalid', part: P, nth: 1, within: 8 + 8 + 96},
      )
    }
  })
  it('size = 8 + 8·count + 4096·pages with data', async () => {
    await expectProblems(
      pvStream().edit(P, (r) => (r.bulk = r.bulk!.subarray(4096))),
      {code: 'page-data-size', part: P},
    )
    // An XTAB page given data.
    await expectProblems(pvStream().replace(P, pageData([pfnWord(0, 0xf), pfnWord(1)], 2)), {code: 'page-data-size', part: P})
  })
  it('a count the body cannot hold', () =>
    expectProblems(
      pvStream().edit(P, (r) => r.head.writeUInt32LE(100000, 0), 1),
      {code: 'page-data-size', part: P, nth: 1},
    ))
  it('a count beyond what xst checks', () => {
    const v = new V2Verifier()
    v.libxcHeaders(...splitHeaders(rawLibxcHeaders({type: DomainType.X86_HVM, version: 2})), 0)
    const head = Buffer.alloc(8)
    head.writeUInt32LE(MAX_PAGE_DATA_PFNS + 1)
    v.record({layer: 'libxc', index: 0, offset: 40, type: P, length: 0xfffffff0, head})
    expect(v.finish().errors.map((e) => e.code)).toContain('page-data-count')
  })
  it('pfns within the p2m range', () =>
    expectProblems(
      pvStream().edit(P, (r) => r.head.writeBigUInt64LE(pfnWord(300), 8 + 8 * 171), 1),
      {code: 'pfn-out-of-range', part: P, nth: 1, within: 8 + 8 + 8 * 171},
    ))
  it('one error per rule per record, however many pfns break it', async () => {
    const s = pvStream().edit(P, (r) => [3, 4, 9].forEach((i) => r.head.writeBigUInt64LE(pfnWord(i, 6), 8 + 8 * i)))
    const r = await verifyBytes((await s.build()).bytes)
    expect(r.errors).toHaveLength(1)
    expect(r.errors[0].message).toMatch(/pfn\[3\].*and 2 more pfns/)
  })
})

describe('PV records', () => {
  it('X86_PV_INFO width, levels and their combination', async () => {
    await expectProblems(pvStream().replace(Rec.X86_PV_INFO, pvInfo(5, 4)), {code: 'pv-info-width', part: Rec.X86_PV_INFO, within: 8})
    await expectProblems(pvStream().replace(Rec.X86_PV_INFO, pvInfo(8, 2)), {code: 'pv-info-levels', part: Rec.X86_PV_INFO, within: 9})
    await expectProblems(pvStream().replace(Rec.X86_PV_INFO, pvInfo(8, 3)), {code: 'pv-info-levels', part: Rec.X86_PV_INFO, within: 9})
  })
  it('X86_PV_INFO size and reserved fields', async () => {
    await expectProblems(pvStream().replace(Rec.X86_PV_INFO, rec(Rec.X86_PV_INFO, Buffer.from([8, 4, 0]))), {code: 'record-size', part: Rec.X86_PV_INFO})
    // handle_x86_pv_info() refuses a short body only, and reads no reserved field.
    await expectProblems(pvStream().replace(Rec.X86_PV_INFO, rec(Rec.X86_PV_INFO, Buffer.from([8, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))), {
      code: 'record-longer',
      part: Rec.X86_PV_INFO,
      severity: 'warning',
    })
    await expectProblems(
      pvStream().edit(Rec.X86_PV_INFO, (r) => (r.head[7] = 1)),
      {code: 'reserved-field', part: Rec.X86_PV_INFO, within: 10, severity: 'warning'},
    )
  })
  it('X86_PV_INFO only once', () => expectProblems(pvStream().insertBefore(Rec.X86_TSC_INFO, pvInfo()), {code: 'duplicate-pv-info', part: Rec.X86_PV_INFO, nth: 1}))
  it('X86_PV_P2M_FRAMES length, range and header', async () => {
    const F = Rec.X86_PV_P2M_FRAMES
    await expectProblems(
      pvStream().edit(F, (r) => r.head.writeUInt32LE(600, 4)),
      {code: 'p2m-frames-size', part: F},
    )
    await valid(pvStream().replace(F, p2mFrames(0, 600)))
    await expectProblems(
      pvStream().edit(F, (r) => r.head.writeUInt32LE(400, 0)),
      {code: 'p2m-frames-range', part: F, within: 8},
    )
    await expectProblems(pvStream().replace(F, rec(F, Buffer.alloc(4))), {code: 'record-size', part: F})
  })
  it('a 32-bit guest has 1024 pfns per p2m frame', () => valid(pvStream({guestWidth: 4}).replace(Rec.X86_PV_P2M_FRAMES, p2mFrames(0, 1500, 4))))
  it('vcpu record header and reserved field', async () => {
    await expectProblems(pvStream().insertBefore(Rec.END, rec(Rec.X86_PV_VCPU_MSRS, Buffer.alloc(4))), {code: 'record-size', part: Rec.X86_PV_VCPU_MSRS, nth: 2})
    await expectProblems(
      pvStream().edit(Rec.X86_PV_VCPU_XSAVE, (r) => r.head.writeUInt32LE(1, 4)),
      {code: 'reserved-field', part: Rec.X86_PV_VCPU_XSAVE, within: 12, severity: 'warning'},
    )
  })
  it('empty vcpu records are tolerated with a warning (errata)', () =>
    expectProblems(pvStream().insertBefore(Rec.END, vcpu(Rec.X86_PV_VCPU_XSAVE, 1, 0)), {code: 'vcpu-record-empty', part: Rec.X86_PV_VCPU_XSAVE, nth: 2, severity: 'warning'}))
  it('vcpu context sizes', async () => {
    await expectProblems(pvStream().replace(Rec.X86_PV_VCPU_BASIC, vcpu(Rec.X86_PV_VCPU_BASIC, 0, 2800)), {code: 'vcpu-context-size', part: Rec.X86_PV_VCPU_BASIC})
    await expectProblems(pvStream().replace(Rec.X86_PV_VCPU_EXTENDED, vcpu(Rec.X86_PV_VCPU_EXTENDED, 0, 136)), {code: 'vcpu-context-size', part: Rec.X86_PV_VCPU_EXTENDED})
    await expectProblems(pvStream().replace(Rec.X86_PV_VCPU_MSRS, vcpu(Rec.X86_PV_VCPU_MSRS, 0, 24)), {code: 'vcpu-context-size', part: Rec.X86_PV_VCPU_MSRS})
    // handle_x86_pv_vcpu_blob(): an XSAVE context holds at least its mask and size words.
    await expectProblems(pvStream().replace(Rec.X86_PV_VCPU_XSAVE, vcpu(Rec.X86_PV_VCPU_XSAVE, 0, 15)), {code: 'vcpu-context-size', part: Rec.X86_PV_VCPU_XSAVE})
    await valid(pvStream().replace(Rec.X86_PV_VCPU_XSAVE, vcpu(Rec.X86_PV_VCPU_XSAVE, 0, 16)))
  })
  it('vcpu ids: within what Xen supports, and each vcpu has its BASIC record', async () => {
    await expectProblems(pvStream().insertBefore(Rec.END, vcpu(Rec.X86_PV_VCPU_BASIC, 5000, 5168)), {code: 'vcpu-id-range', part: Rec.X86_PV_VCPU_BASIC, nth: 2, within: 8})
    // update_vcpu_context() needs BASIC for vcpu 0 only; another vcpu's other records are applied and it stays down.
    await expectProblems(pvStream().insertBefore(Rec.END, vcpu(Rec.X86_PV_VCPU_EXTENDED, 7, 128)), {code: 'vcpu-without-basic', part: Rec.X86_PV_VCPU_EXTENDED, nth: 2, severity: 'warning'})
    await expectProblems(pvStream().remove(Rec.X86_PV_VCPU_BASIC), {code: 'missing-vcpu0', part: Rec.END})
    const orphans = pvStream().insertBefore(Rec.END, vcpu(Rec.X86_PV_VCPU_EXTENDED, 7, 128), vcpu(Rec.X86_PV_VCPU_MSRS, 7, 16))
    await expectProblems(orphans, {code: 'vcpu-without-basic', part: Rec.X86_PV_VCPU_EXTENDED, nth: 2, severity: 'warning'})
  })
  it('SHARED_INFO is one page, after X86_PV_INFO', async () => {
    await expectProblems(pvStream().replace(Rec.SHARED_INFO, sharedInfo(4095)), {code: 'record-size', part: Rec.SHARED_INFO})
    await expectProblems(pvStream().move(Rec.SHARED_INFO, Rec.X86_PV_INFO), {code: 'order-x86-pv-info', part: Rec.SHARED_INFO})
  })
  it('X86_TSC_INFO is 24 bytes with a zero reserved field', async () => {
    await expectProblems(
      pvStream().edit(Rec.X86_TSC_INFO, (r) => (r.head = r.head.subarray(0, 20))),
      {code: 'record-size', part: Rec.X86_TSC_INFO},
    )
    await expectProblems(
      pvStream().edit(Rec.X86_TSC_INFO, (r) => r.head.writeUInt32LE(9, 20)),
      {code: 'reserved-field', part: Rec.X86_TSC_INFO, within: 28, severity: 'warning'},
    )
  })
  it('what the PV restorer needs is all there', async () => {
    // x86_pv_stream_complete() does not check that SHARED_INFO came.
    await expectProblems(pvStream().remove(Rec.SHARED_INFO), {code: 'missing-shared-info', part: Rec.END, severity: 'warning'})
    await expectProblems(pvStream().remove(Rec.X86_PV_P2M_FRAMES), {code: 'order-x86-pv-p2m-frames', part: Rec.PAGE_DATA})
  })
})

describe('PV ordering', () => {
  it('X86_PV_INFO before X86_PV_P2M_FRAMES', () => expectProblems(pvStream({version: 2}).move(Rec.X86_PV_P2M_FRAMES, Rec.X86_PV_INFO), {code: 'order-x86-pv-info', part: Rec.X86_PV_P2M_FRAMES}))
  it('X86_PV_P2M_FRAMES before PAGE_DATA', () => expectProblems(pvStream().move(Rec.X86_PV_P2M_FRAMES, Rec.X86_TSC_INFO), {code: 'order-x86-pv-p2m-frames', part: Rec.PAGE_DATA}))
  // handle_x86_pv_vcpu_blob() keeps vcpu state until the end of the stream.
  it('vcpu records before PAGE_DATA or X86_PV_P2M_FRAMES: a warning', async () => {
    await expectProblems(pvStream().move(Rec.X86_PV_VCPU_BASIC, Rec.PAGE_DATA), {code: 'order-page-data', part: Rec.X86_PV_VCPU_BASIC, severity: 'warning'})
    await expectProblems(pvStream().move(Rec.X86_PV_VCPU_BASIC, Rec.X86_PV_P2M_FRAMES), {code: 'order-page-data', part: Rec.X86_PV_VCPU_BASIC, severity: 'warning'})
  })
  it('vcpu records before X86_PV_INFO: an error (BASIC is sized by the width it sets)', () =>
    expectProblems(
      pvStream().move(Rec.X86_PV_VCPU_BASIC, Rec.X86_PV_INFO),
      {code: 'order-x86-pv-info', part: Rec.X86_PV_VCPU_BASIC},
      {code: 'order-page-data', part: Rec.X86_PV_VCPU_BASIC, severity: 'warning'},
    ))
  it('X86_PV_INFO must exist at all (reported once)', () => expectProblems(pvStream({version: 2}).remove(Rec.X86_PV_INFO), {code: 'order-x86-pv-info', part: Rec.X86_PV_P2M_FRAMES}))
})

describe('HVM records and ordering', () => {
  it('HVM_PARAMS size = 8 + 16·count', () =>
    expectProblems(
      hvmStream().edit(Rec.HVM_PARAMS, (r) => r.head.writeUInt32LE(9, 0)),
      {code: 'hvm-params-size', part: Rec.HVM_PARAMS, within: 8},
    ))
  it('empty HVM_PARAMS is tolerated with a warning (errata)', () =>
    expectProblems(hvmStream().insertBefore(Rec.HVM_PARAMS, hvmParams([])), {code: 'hvm-params-empty', part: Rec.HVM_PARAMS, severity: 'warning'}))
  it('HVM_PARAMS reserved field: a warning (handle_hvm_params() does not read it)', () =>
    expectProblems(
      hvmStream().edit(Rec.HVM_PARAMS, (r) => r.head.writeUInt32LE(1, 4)),
      {code: 'reserved-field', part: Rec.HVM_PARAMS, within: 12, severity: 'warning'},
    ))
  it('HVM_CONTEXT is not empty and is there', async () => {
    await expectProblems(hvmStream().replace(Rec.HVM_CONTEXT, hvmContext(0)), {code: 'hvm-context-empty', part: Rec.HVM_CONTEXT})
    await expectProblems(hvmStream().remove(Rec.HVM_CONTEXT), {code: 'missing-hvm-context', part: Rec.END})
  })
  // xg_sr_save_x86_hvm.c x86_hvm_end_of_checkpoint() writes the context first;
  // xg_sr_restore_x86_hvm.c keeps it and applies it in x86_hvm_stream_complete().
  it("HVM_CONTEXT before HVM_PARAMS (the order Xen's own saver writes) is valid, with no warning", () => valid(hvmStream().move(Rec.HVM_CONTEXT, Rec.HVM_PARAMS)))
  it('no HVM_PARAMS at all is a warning', () => expectProblems(hvmStream().remove(Rec.HVM_PARAMS), {code: 'missing-hvm-params', part: Rec.END, severity: 'warning'}))
  it('PV-only records are refused in HVM streams and the reverse', async () => {
    await expectProblems(hvmStream().insertBefore(Rec.END, sharedInfo()), {code: 'wrong-guest-record', part: Rec.SHARED_INFO})
    await expectProblems(pvStream().insertBefore(Rec.END, hvmContext()), {code: 'wrong-guest-record', part: Rec.HVM_CONTEXT})
  })
})

describe('records that must not appear', () => {
  it('TOOLSTACK', () => expectProblems(hvmStream().insertBefore(Rec.END, rec(Rec.TOOLSTACK, Buffer.alloc(16))), {code: 'toolstack-record', part: Rec.TOOLSTACK}))
  it('CHECKPOINT_DIRTY_PFN_LIST', () =>
    expectProblems(hvmStream().insertBefore(Rec.END, rec(Rec.CHECKPOINT_DIRTY_PFN_LIST, Buffer.alloc(8))), {code: 'back-channel-record', part: Rec.CHECKPOINT_DIRTY_PFN_LIST}))
})

describe('version 3 static data', () => {
  // The libxc restorer does not look at the version for these records.
  it('STATIC_DATA_END, X86_CPUID_POLICY and X86_MSR_POLICY in a v2 stream are warnings', async () => {
    await expectProblems(hvmStream({version: 2}).insertBefore(Rec.PAGE_DATA, empty(Rec.STATIC_DATA_END)), {code: 'v3-only-record', part: Rec.STATIC_DATA_END, severity: 'warning'})
    await expectProblems(hvmStream({version: 2}).insertBefore(Rec.PAGE_DATA, cpuidPolicy()), {code: 'v3-only-record', part: Rec.X86_CPUID_POLICY, severity: 'warning'})
    await expectProblems(hvmStream({version: 2}).insertBefore(Rec.PAGE_DATA, msrPolicy()), {code: 'v3-only-record', part: Rec.X86_MSR_POLICY, severity: 'warning'})
  })
  it('a v2 stream: the first PAGE_DATA stands for STATIC_DATA_END, so one after it is a second', () =>
    expectProblems(
      hvmStream({version: 2}).insertBefore(Rec.X86_TSC_INFO, empty(Rec.STATIC_DATA_END)),
      {code: 'duplicate-static-data-end', part: Rec.STATIC_DATA_END},
      {code: 'v3-only-record', part: Rec.STATIC_DATA_END, severity: 'warning'},
    ))
  it('exactly one STATIC_DATA_END', async () => {
    await expectProblems(hvmStream().insertBefore(Rec.END, empty(Rec.STATIC_DATA_END)), {code: 'duplicate-static-data-end', part: Rec.STATIC_DATA_END, nth: 1})
    await expectProblems(hvmStream().remove(Rec.STATIC_DATA_END), {code: 'order-static-data-end', part: Rec.PAGE_DATA})
    // With no memory at all the restorer never needs it.
    await expectProblems(hvmStream().remove(Rec.STATIC_DATA_END).remove(Rec.PAGE_DATA).remove(Rec.PAGE_DATA), {code: 'missing-static-data-end', part: Rec.END, severity: 'warning'})
  })
  it('STATIC_DATA_END before any PAGE_DATA and X86_PV_P2M_FRAMES', async () => {
    await expectProblems(hvmStream().move(Rec.STATIC_DATA_END, Rec.X86_TSC_INFO), {code: 'order-static-data-end', part: Rec.PAGE_DATA})
    await expectProblems(pvStream().move(Rec.STATIC_DATA_END, Rec.PAGE_DATA), {code: 'order-static-data-end', part: Rec.X86_PV_P2M_FRAMES})
  })
  it('CPU policies: their sizes, before STATIC_DATA_END', async () => {
    await expectProblems(
      hvmStream().edit(Rec.X86_CPUID_POLICY, (r) => (r.head = r.head.subarray(1))),
      {code: 'record-size', part: Rec.X86_CPUID_POLICY},
    )
    await expectProblems(hvmStream().replace(Rec.X86_MSR_POLICY, rec(Rec.X86_MSR_POLICY)), {code: 'record-size', part: Rec.X86_MSR_POLICY})
    // x86_static_data_complete() has applied the policy by then: a later one is ignored.
    await expectProblems(hvmStream().move(Rec.STATIC_DATA_END, Rec.X86_MSR_POLICY), {code: 'policy-after-static-data-end', part: Rec.X86_MSR_POLICY, severity: 'warning'})
  })
})

describe('libxl records', () => {
  const hvm = () => libxlStream(hvmStream())
  it('emulator ids: a warning (libxl never reads them)', async () => {
    await expectProblems(hvm().replace(V(LibxlRec.EMULATOR_CONTEXT), emulatorContext(64, 3)), {code: 'emulator-id', part: V(LibxlRec.EMULATOR_CONTEXT), within: 8, severity: 'warning'})
    await expectProblems(hvm().replace(V(LibxlRec.EMULATOR_XENSTORE_DATA), xenstoreData(['a', 'b'], 9)), {
      code: 'emulator-id',
      part: V(LibxlRec.EMULATOR_XENSTORE_DATA),
      within: 8,
      severity: 'warning',
    })
  })
  it('emulator records in a PV stream are refused (process_record(): "when none was expected")', async () => {
    const pv = () => libxlStream(pvStream(), {emulator: false})
    await expectProblems(pv().insertBefore(V(LibxlRec.END), emulatorContext()), {code: 'wrong-guest-record', part: V(LibxlRec.EMULATOR_CONTEXT)})
    await expectProblems(pv().insertBefore(V(LibxlRec.END), xenstoreData(['k', 'v'])), {code: 'wrong-guest-record', part: V(LibxlRec.EMULATOR_XENSTORE_DATA)})
  })
  it("and in a PVH guest's, which only an xl config tells from HVM", async () => {
    const pvh = (type: string) => withXlHeader(libxlStream(hvmStream()), 2, `name = "t"\ntype = "${type}"\n`)
    await expectProblems(pvh('pvh'), {code: 'wrong-guest-record', part: V(LibxlRec.EMULATOR_XENSTORE_DATA)}, {code: 'wrong-guest-record', part: V(LibxlRec.EMULATOR_CONTEXT)})
    await valid(pvh('hvm'))
    await valid(withXlHeader(libxlStream(hvmStream(), {emulator: false}), 2, 'name = "t"\ntype = "pvh"\n'))
  })
  it('emulator records have their 8-byte header', () =>
    expectProblems(hvm().replace(V(LibxlRec.EMULATOR_CONTEXT), libxlRec(LibxlRec.EMULATOR_CONTEXT, Buffer.alloc(4))), {code: 'record-size', part: V(LibxlRec.EMULATOR_CONTEXT)}))
  it('xenstore data: NUL-terminated, an even number of strings', async () => {
    const X = V(LibxlRec.EMULATOR_XENSTORE_DATA)
    await expectProblems(hvm().replace(X, xenstoreData(['key', 'value', 'lonely'])), {code: 'xenstore-odd-strings', part: X, within: 16})
    await expectProblems(
      hvm().edit(X, (r) => (r.head = r.head.subarray(0, -1))),
      {code: 'xenstore-not-terminated', part: X, within: 8 + 8 + 'physmap/f0000000/size\x00800000'.length - 1},
    )
    await valid(hvm().replace(X, xenstoreData([])))
    // libxl__restore_emulator_xenstore_data() writes keys below the device model's directory.
    await expectProblems(hvm().replace(X, xenstoreData(['a', '1', '', '2'])), {code: 'xenstore-empty-key', part: X, within: 16 + 4})
    await expectProblems(hvm().replace(X, xenstoreData(['a', '1', '/local/x', '2'])), {code: 'xenstore-absolute-key', part: X, within: 16 + 4})
  })
  it('exactly one LIBXC_CONTEXT', async () => {
    await expectProblems(new Stream([{kind: 'libxl-header'}, empty(LibxlRec.END, 'libxl')]), {code: 'missing-libxc-context', part: V(LibxlRec.END)})
    const twice = libxlStream(hvmStream()).insertBefore(V(LibxlRec.END), empty(LibxlRec.LIBXC_CONTEXT, 'libxl'))
    await expectProblems(twice, {code: 'duplicate-libxc-context', part: V(LibxlRec.LIBXC_CONTEXT), nth: 1})
  })
  it('a checkpoint hands the stream to libxl until CHECKPOINT_END', async () => {
    const s = hvm().insertBefore(Rec.END, empty(Rec.CHECKPOINT), xenstoreData(['k', 'v']), emulatorContext(), empty(LibxlRec.CHECKPOINT_END, 'libxl'), pages(0, 4), hvmParams([[1, 2n]]), hvmContext())
    await valid(s)
    await expectProblems(hvm().insertBefore(V(LibxlRec.END), empty(LibxlRec.CHECKPOINT_END, 'libxl')), {code: 'checkpoint-end-out-of-place', part: V(LibxlRec.CHECKPOINT_END)})
  })
  it('libxl has no optional records: any record it does not know is refused', async () => {
    await expectProblems(hvm().insertBefore(V(LibxlRec.END), libxlRec(0x80000007, Buffer.alloc(3))), {code: 'unknown-record', part: V(0x80000007)})
    await expectProblems(hvm().insertBefore(V(LibxlRec.END), libxlRec(9)), {code: 'unknown-record', part: V(9)})
  })
})

describe('checkpointed streams (Remus, COLO): FORMAT.md section 7', () => {
  const CP_END = V(LibxlRec.CHECKPOINT_END)
  const state = (id = 0) => {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(id)
    return libxlRec(LibxlRec.CHECKPOINT_STATE, b)
  }
  /** The records a checkpoint repeats: the pages dirtied since, then the context. */
  const again = (first: number) => [pages(first, 4), tscInfo(), hvmContext(), hvmParams([[1, 2n]])]
  const libxlCheckpoint = (colo = false) => [empty(Rec.CHECKPOINT), xenstoreData(['k', 'v']), emulatorContext(), empty(LibxlRec.CHECKPOINT_END, 'libxl'), ...(colo ? [state()] : [])]
  /** A libxl HVM stream of `n` checkpoints and no END, as a replication channel carries it. */
  function replication(n: number, o: {colo?: boolean} = {}): Stream {
    const s = libxlStream(hvmStream())
    s.remove(V(LibxlRec.END)).remove(V(LibxlRec.EMULATOR_CONTEXT)).remove(V(LibxlRec.EMULATOR_XENSTORE_DATA)).remove(Rec.END)
    s.append(...libxlCheckpoint(o.colo))
    for (let k = 1; k < n; k++) s.append(...again(8 * k), ...libxlCheckpoint(o.colo))
    return s
  }

  it('a Remus stream that ends between checkpoints is valid, its checkpoints counted', async () => {
    const s = replication(3)
    await valid(s)
    const b = await s.build()
    const r = await verifyBytes(b.bytes)
    const ends = b.placed.filter((p) => p.part.kind === 'record' && p.part.layer === 'libxl' && p.part.type === LibxlRec.CHECKPOINT_END).map((p) => p.offset + 8)
    expect(r.summary.checkpoints).toMatchObject({kind: 'remus', complete: 3, lastEnd: ends[2], cut: null})
    expect(r.summary.checkpoints!.list.map((c) => [c.index, c.start, c.end])).toEqual([
      [1, 0, ends[0]],
      [2, ends[0], ends[1]],
      [3, ends[1], ends[2]],
    ])
    expect(r.summary.checkpoints!.list.slice(1).map((c) => c.pfns)).toEqual([4, 4])
  })
  it('one cut inside its next checkpoint: valid, with a warning saying where and which checkpoint the receiver fails over from', async () => {
    const whole = await replication(2)
      .append(...again(40))
      .build()
    for (const cut of [whole.bytes.length, whole.bytes.length - 100]) {
      for (const pipe of [false, true]) {
        const r = await verifyBytes(whole.bytes.subarray(0, cut), {pipe})
        expect(r.valid, JSON.stringify(r.errors)).toBe(true)
        expect(r.warnings).toMatchObject([{code: 'checkpoint-cut', offset: cut, message: expect.stringMatching(/inside checkpoint 3 .*fails over from checkpoint 2/)}])
        expect(r.summary.checkpoints).toMatchObject({complete: 2, cut: {checkpoint: 3, at: cut}})
      }
    }
  })
  it('a checkpoint is whole only at its CHECKPOINT_END: one cut before it is not counted', async () => {
    const b = await replication(2).build()
    const r = await verifyBytes(b.bytes.subarray(0, b.bytes.length - 8))
    expect(r.summary.checkpoints).toMatchObject({complete: 1, cut: {checkpoint: 2}})
  })
  it('COLO: a CHECKPOINT_STATE follows each CHECKPOINT_END, between two checkpoints', async () => {
    const s = replication(3, {colo: true})
    await valid(s)
    const r = await verifyBytes((await s.build()).bytes)
    expect(r.summary.checkpoints).toMatchObject({kind: 'colo', complete: 3, cut: null})
    // Anywhere else libxl refuses it.
    await expectProblems(libxlStream(hvmStream()).insertBefore(V(LibxlRec.END), state()), {code: 'checkpoint-state-out-of-place', part: V(LibxlRec.CHECKPOINT_STATE)})
    await expectProblems(replication(1).insertBefore(CP_END, state()), {code: 'checkpoint-state-out-of-place', part: V(LibxlRec.CHECKPOINT_STATE)})
    // It holds its 4-byte control id (libxl_sr_checkpoint_state).
    await expectProblems(replication(1).append(libxlRec(LibxlRec.CHECKPOINT_STATE, Buffer.alloc(3))), {code: 'record-size', part: V(LibxlRec.CHECKPOINT_STATE)})
  })
  it("a bare libxc stream's checkpoints end at CHECKPOINT", async () => {
    const s = hvmStream()
      .remove(Rec.END)
      .append(empty(Rec.CHECKPOINT), ...again(8), empty(Rec.CHECKPOINT))
    await valid(s)
    expect((await verifyBytes((await s.build()).bytes)).summary.checkpoints).toMatchObject({kind: 'remus', complete: 2})
  })
  it('the first checkpoint is a whole image: what the restorer needs is checked at its CHECKPOINT', () =>
    expectProblems(replication(2).remove(Rec.HVM_CONTEXT), {code: 'missing-hvm-context', part: Rec.CHECKPOINT}))
  it('a plain stream that ends without END is still cut short', async () => {
    const b = await hvmStream().remove(Rec.END).build()
    await expectProblems(hvmStream().remove(Rec.END), {code: 'truncated', offset: b.bytes.length})
  })
})

describe('after the end of the stream', () => {
  const qemu = (sig: string, declared: number, actual: number) => {
    const b = Buffer.alloc(21 + 4 + actual, 0x44)
    b.write(sig, 'latin1')
    b.writeUInt32LE(declared, 21)
    return {kind: 'raw' as const, bytes: b}
  }
  it('a bare libxc stream may be followed by its device-model record', async () => {
    await valid(hvmStream().append(qemu(QEMU_SIG_DM_0002, 300, 300)))
    await valid(hvmStream().append({kind: 'raw', bytes: Buffer.from(QEMU_SIG_REST + 'anything at all')}))
    const r = await verifyBytes(
      (
        await hvmStream()
          .append(qemu(QEMU_SIG_DM_0002, 300, 300))
          .build()
      ).bytes,
    )
    expect(r.summary.tail).toEqual({kind: QEMU_SIG_DM_0002, bytes: 325})
  })
  it('whose length must match what follows', () => expectProblems(hvmStream().append(qemu(QEMU_SIG_DM_0002, 300, 299)), {code: 'qemu-record-size', part: (p) => p.kind === 'raw', within: 21}))
  it('anything else after END is a warning: the restorer stops reading at END', async () => {
    const R = (p: {kind: string}) => p.kind === 'raw'
    await expectProblems(hvmStream().append({kind: 'raw', bytes: Buffer.from('junk')}), {code: 'trailing-bytes', part: R, severity: 'warning'})
    await expectProblems(libxlStream(hvmStream()).append(qemu(QEMU_SIG_DM_0002, 3, 3)), {code: 'trailing-bytes', part: R, severity: 'warning'})
  })
  it("xl's permission-to-go message after a libxl END (a captured `xl migrate`) is named, not warned of", async () => {
    const go = Buffer.from('domain is yours, you are cleared to unpause\0', 'latin1')
    await valid(withXlHeader(libxlStream(hvmStream()), 2).append({kind: 'raw', bytes: go}))
    const r = await verifyBytes((await withXlHeader(libxlStream(hvmStream()), 2).append({kind: 'raw', bytes: go}).build()).bytes)
    expect(r.summary.tail).toEqual({kind: "xl migrate's permission-to-go message", bytes: 44})
    // Anything more, or less, is not the message.
    await expectProblems(libxlStream(hvmStream()).append({kind: 'raw', bytes: Buffer.concat([go, Buffer.from('x')])}), {code: 'trailing-bytes', part: (p) => p.kind === 'raw', severity: 'warning'})
  })
})

describe('reporting', () => {
  const broken = () =>
    pvStream()
      .replace(Rec.X86_PV_INFO, pvInfo(8, 3))
      .edit(Rec.PAGE_DATA, (r) => r.head.writeBigUInt64LE(pfnWord(7, 5), 8 + 8 * 7))
      .replace(Rec.SHARED_INFO, sharedInfo(100))
  it('every error is reported, in stream order, not only the first', () =>
    expectProblems(
      broken(),
      {code: 'pv-info-levels', part: Rec.X86_PV_INFO, within: 9},
      {code: 'pfn-type-invalid', part: Rec.PAGE_DATA, within: 8 + 8 + 56},
      {code: 'record-size', part: Rec.SHARED_INFO},
    ))
  it('--max-errors stops early', async () => {
    const r = await verifyBytes((await broken().build()).bytes, {maxErrors: 2})
    expect(r.errors.map((e) => e.code)).toEqual(['pv-info-levels', 'pfn-type-invalid'])
    expect(r.stopped).toBe('max-errors')
    expect(r.valid).toBe(false)
  })
  it('problems carry the record index and type name', async () => {
    const b = await broken().build()
    const r = await verifyBytes(b.bytes)
    expect(r.errors[2]).toMatchObject({layer: 'libxc', index: 8, record: 'SHARED_INFO'})
    expect(r.errors[2].message).toMatch(/SHARED_INFO body is 100 bytes; it must be one 4096-byte page/)
  })
})

describe('the push API: V2Writer shows records to the verifier as it writes them', () => {
  it('a valid stream passes, a broken one gives the same problems as reading it back', async () => {
    for (const s of [libxlStream(pvStream(), {emulator: false}), hvmStream().move(Rec.HVM_CONTEXT, Rec.HVM_PARAMS).replace(Rec.X86_TSC_INFO, tscInfo())]) {
      const pushed = new V2Verifier()
      const b = await s.build(pushed)
      const report = pushed.finish(b.bytes.length)
      const read = await verifyBytes(b.bytes)
      expect(report.errors).toEqual(read.errors)
      expect(report.summary).toEqual(read.summary)
    }
  })
  it('a device-model record shown in pieces is checked as a whole', async () => {
    const sig = (declared: number) => {
      const h = Buffer.alloc(21 + 4)
      h.write(QEMU_SIG_DM_0002, 'latin1')
      h.writeUInt32LE(declared, 21)
      return h
    }
    for (const declared of [300, 299]) {
      const pushed = new V2Verifier()
      const b = await hvmStream().build(pushed)
      // As convert writes it: the signature and length, then the state in pieces.
      const at = b.bytes.length
      pushed.tail(at, 10, sig(declared).subarray(0, 10))
      pushed.tail(at + 10, 15, sig(declared).subarray(10))
      for (let i = 0; i < 3; i++) pushed.tail(at + 25 + 100 * i, 100, Buffer.alloc(100, 0x44))
      const report = pushed.finish(at + 325)
      expect(report.summary.tail).toEqual({kind: QEMU_SIG_DM_0002, bytes: 325})
      expect(report.errors.map((e) => [e.code, e.offset])).toEqual(declared === 300 ? [] : [['qemu-record-size', at + 21]])
    }
  })
  it('records fed out of place are reported', () => {
    const v = new V2Verifier()
    v.libxlHeader(rawLibxlHeader({}), 0)
    v.record({layer: 'libxc', index: 0, offset: 16, type: Rec.END, length: 0, head: Buffer.alloc(0)})
    expect(v.finish().errors[0]).toMatchObject({code: 'record-out-of-place', offset: 16})
  })
  it('a stream that stops before END', () => {
    const v = new V2Verifier()
    v.libxcHeaders(...splitHeaders(rawLibxcHeaders({})), 0)
    expect(v.finish(40).errors).toMatchObject([{code: 'missing-end', offset: 40}])
  })
})
