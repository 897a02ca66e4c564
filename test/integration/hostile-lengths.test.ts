// Hostile lengths and counts: 2^32-1 in every length field, batch counts and
// a vcpu max id of 2^31-1. Each image is rejected with a typed exit-1 error
// before anything is allocated for the length it lies about: the whole batch
// runs in a fresh node process (the library, in process) whose peak memory
// must stay under 150 MB, and the worst cases also run through the CLI from
// a real pipe, measured the same way.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'
import {DomainType, PageDataHeader, Rec, X86PvP2mFramesHeader} from '../../src/v2/libxc/layout.js'
import {LibxlRec} from '../../src/v2/libxl/layout.js'
import {buildLegacy, type LegacySpec, QEMU_SIG_DM_0002, smallSpec} from '../builders/legacy.js'
import {hvmParams, hvmStream, libxlStream, pageData, pfnWord, pvStream, rec, type Stream, withXlHeader} from '../builders/v2.js'
import {tempDir} from '../helpers/cli.js'
import {errorLines, hasStackTrace, runCliMeasured, runMeasuringChild} from '../fuzz/procs.js'

const MAX_RSS_MIB = 150
const U32_MAX = 0xffffffff
const I32_MAX = 0x7fffffff

const u32 = (v: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(v >>> 0)
  return b
}

/** Legacy images, each with one field set to a hostile value. */
const legacyCases: Array<[string, LegacySpec]> = [
  ['xl optional_data_len 2^32-1', smallSpec('pv', 64, {xl: {config: 'name = "h"\n', optionalDataLength: U32_MAX}})],
  ['xl config_len 2^32-1', smallSpec('pv', 64, {xl: {config: 'name = "h"\n', configLength: U32_MAX}})],
  ['extended-info total 2^32-1', smallSpec('pv', 64, {ext: {guestWidth: 64, extv: true, totalLength: U32_MAX}})],
  [
    'extended-info block size 2^32-1',
    smallSpec('pv', 64, {
      ext: {
        blocks: [
          {id: 'vcpu', size: 0x1430},
          {id: 'extv', size: U32_MAX, data: Buffer.alloc(0)},
        ],
      },
    }),
  ],
  ['p2m_size 2^32-1 (64 MiB frame list)', smallSpec('pv', 64, {p2mSize: U32_MAX, p2mFrames: [1, 2, 3]})],
  ['p2m_size 2^64-1', smallSpec('pv', 64, {p2mSize: (1n << 64n) - 1n, p2mFrames: [1]})],
  ['page batch count 2^31-1', smallSpec('pv', 64, {chunks: [{kind: 'pages', entries: [0, 1], count: I32_MAX}]})],
  [
    'vcpu_info max id 2^31-1',
    smallSpec('pv', 64, {
      chunks: [
        {kind: 'pages', entries: [0]},
        {kind: 'vcpu_info', online: [0], maxId: I32_MAX, words: 1},
      ],
    }),
  ],
  [
    'toolstack length 2^32-1',
    smallSpec('hvm', 64, {
      chunks: [
        {kind: 'pages', entries: [0]},
        {kind: 'toolstack', raw: Buffer.alloc(8), length: U32_MAX},
      ],
    }),
  ],
  [
    'toolstack entry count 2^32-1',
    smallSpec('hvm', 64, {
      chunks: [
        {kind: 'pages', entries: [0]},
        {kind: 'toolstack', physmap: [{physOffset: 1n, startAddr: 2n, size: 3n, name: 'a'}], count: U32_MAX},
      ],
    }),
  ],
  [
    'physmap name length 2^32-1',
    smallSpec('hvm', 64, {
      chunks: [
        {kind: 'pages', entries: [0]},
        {kind: 'toolstack', physmap: [{physOffset: 1n, startAddr: 2n, size: 3n, name: 'a', nameLength: U32_MAX}]},
      ],
    }),
  ],
  [
    'compressed_data size 2^64-1',
    smallSpec('pv', 64, {
      chunks: [
        {kind: 'pages', entries: [0]},
        {kind: 'compressed_data', data: 16, size: (1n << 64n) - 1n},
      ],
    }),
  ],
  [
    'compressed_data size 2^32-1',
    smallSpec('pv', 64, {
      chunks: [
        {kind: 'pages', entries: [0]},
        {kind: 'compressed_data', data: 16, size: 0xffffffffn},
      ],
    }),
  ],
  [
    'tmem pool of 2^32-1 pages of 128 MiB',
    smallSpec('pv', 64, {
      chunks: [
        {kind: 'pages', entries: [0]},
        {kind: 'tmem', pools: [{id: 0, flags: 15 << 24, nPages: U32_MAX, pages: []}]},
      ],
    }),
  ],
  ['unmapped pfn count 2^32-1', smallSpec('pv', 64, {pv: {unmappedCount: U32_MAX}})],
  ['xsave size 2^32-1', smallSpec('pv', 64, {ext: {guestWidth: 64, extv: true, xsaveLength: 0x240}, pv: {xsave: {size: 0xffffffffn}}})],
  ['xsave size 2^64-1', smallSpec('pv', 64, {ext: {guestWidth: 64, extv: true, xsaveLength: 0x240}, pv: {xsave: {size: (1n << 64n) - 1n}}})],
  [
    'xcnt xsave length 2^32-1 and xsave size 2^32-17',
    smallSpec('pv', 64, {
      ext: {blocks: [{id: 'vcpu', size: 0x1430}, {id: 'extv'}, {id: 'xcnt', data: u32(U32_MAX)}]},
      pv: {contexts: [0, 1].map((vcpu) => ({vcpu, xsave: {data: Buffer.alloc(64), size: BigInt(U32_MAX - 16)}}))},
    }),
  ],
  ['HVM context length 2^32-1', smallSpec('hvm', 64, {hvm: {context: 64, contextLength: U32_MAX, qemu: {signature: QEMU_SIG_DM_0002, data: 16}}})],
  ['HVM context length 64 MiB - 1', smallSpec('hvm', 64, {hvm: {context: 64, contextLength: (64 << 20) - 1, qemu: {signature: QEMU_SIG_DM_0002, data: 16}}})],
  ['qemu record length 2^32-1', smallSpec('hvm', 64, {hvm: {context: 64, qemu: {signature: QEMU_SIG_DM_0002, data: 16, length: U32_MAX}}})],
  ['32-bit toolstack: p2m_size 2^32-1', smallSpec('pv', 32, {p2mSize: U32_MAX, p2mFrames: [1], ext: {guestWidth: 32, extv: false}})],
  ['32-bit toolstack: qemu record length 2^32-1', smallSpec('hvm', 32, {hvm: {context: 64, qemu: {signature: 'RemusDeviceModelState', data: 16, length: U32_MAX}}})],
]

/** A record whose length field says 2^32-1 (the body is what it was). */
const longRecord = (s: Stream, match: number | ((p: any) => boolean)) => s.edit(match, (r) => (r.length = U32_MAX))
const isLibxl = (type: number) => (p: any) => p.kind === 'record' && p.layer === 'libxl' && p.type === type

async function v2Cases(): Promise<Array<[string, Buffer]>> {
  const p2mHead = Buffer.alloc(X86PvP2mFramesHeader.size + 8)
  X86PvP2mFramesHeader.put(p2mHead, 0, {startPfn: 0, endPfn: U32_MAX})
  const hugeCount = (count: number) => {
    const r = pageData([pfnWord(0), pfnWord(1)])
    PageDataHeader.put(r.head, 0, {count, reserved: 0})
    return r
  }
  const cases: Array<[string, Stream]> = [
    ['v2 PAGE_DATA length 2^32-1', longRecord(pvStream(), Rec.PAGE_DATA)],
    ['v2 HVM_CONTEXT length 2^32-1', longRecord(hvmStream(), Rec.HVM_CONTEXT)],
    ['v2 X86_PV_VCPU_XSAVE length 2^32-1', longRecord(pvStream(), Rec.X86_PV_VCPU_XSAVE)],
    ['v2 X86_CPUID_POLICY length 2^32-1', longRecord(pvStream(), Rec.X86_CPUID_POLICY)],
    ['v2 SHARED_INFO length 2^32-1', longRecord(pvStream(), Rec.SHARED_INFO)],
    ['v2 optional record length 2^32-1', pvStream().insertBefore(Rec.END, {...rec(0x80000123, Buffer.alloc(8)), length: U32_MAX})],
    ['v2 libxl EMULATOR_XENSTORE_DATA length 2^32-1', longRecord(libxlStream(hvmStream()), isLibxl(LibxlRec.EMULATOR_XENSTORE_DATA))],
    ['v2 libxl EMULATOR_CONTEXT length 2^32-1', longRecord(libxlStream(hvmStream()), isLibxl(LibxlRec.EMULATOR_CONTEXT))],
    ['v2 PAGE_DATA count 2^32-1', pvStream().replace(Rec.PAGE_DATA, hugeCount(U32_MAX))],
    ['v2 PAGE_DATA count 2^31-1', pvStream().replace(Rec.PAGE_DATA, hugeCount(I32_MAX))],
    ['v2 HVM_PARAMS count 2^32-1', hvmStream().replace(Rec.HVM_PARAMS, hvmParams([[5, 1n]], U32_MAX))],
    ['v2 X86_PV_P2M_FRAMES end pfn 2^32-1', pvStream().replace(Rec.X86_PV_P2M_FRAMES, rec(Rec.X86_PV_P2M_FRAMES, p2mHead))],
  ]
  const out: Array<[string, Buffer]> = []
  for (const [name, s] of cases) out.push([name, (await s.build()).bytes])
  // An xl header in front of a v2 stream whose optional data length lies.
  const xl = (await withXlHeader(libxlStream(pvStream(), {emulator: false}), 2).build()).bytes
  xl.writeUInt32LE(U32_MAX, 44)
  out.push(['xl optional_data_len 2^32-1 before a v2 stream', xl])
  void DomainType
  return out
}

/** The batch each child runs: library calls over a file and over a pipe, in process. */
const CHILD = `
import {readFileSync} from 'node:fs'
const dist = (p) => import(new URL(p, process.argv[2]).href)
const {ByteReader} = await dist('io/reader.js')
const {BufferSource, ChunkedSource, openPathSource} = await dist('io/source.js')
const {MemorySink} = await dist('io/sink.js')
const {inspectLegacy} = await dist('inspect/report.js')
const {convertLegacy} = await dist('convert/convert.js')
const {verifyStream} = await dist('v2/reader.js')
const {V2Verifier} = await dist('v2/verify/verifier.js')
const {XstError} = await dist('errors.js')
const cases = JSON.parse(readFileSync(process.argv[3], 'utf8'))
const results = []
const source = (file, how) => how === 'file' ? openPathSource(file) : new ChunkedSource(readFileSync(file), 65536)
for (const c of cases) {
  const runs = c.kind === 'legacy'
    ? [['inspect', 'file'], ['inspect', 'pipe'], ['convert-libxl', 'file'], ['convert-libxc', 'pipe']]
    : [['verify', 'file'], ['verify', 'pipe']]
  for (const [what, how] of runs) {
    const reader = new ByteReader(source(c.file, how))
    const r = {name: c.name, what, how}
    try {
      if (what === 'inspect') await inspectLegacy(reader, c.name, {})
      else if (what === 'verify') {
        const rep = await verifyStream(reader, new V2Verifier())
        r.report = {valid: rep.valid, codes: rep.errors.map((e) => e.code), messages: rep.errors.map((e) => e.message)}
      } else await convertLegacy(reader, new MemorySink(), {format: what.slice(8), observer: new V2Verifier()})
      r.ok = true
    } catch (e) {
      r.ok = false
      r.error = {xst: e instanceof XstError, cls: e?.name, code: e?.code, exitCode: e?.exitCode, message: String(e?.message)}
    } finally {
      await reader.close()
    }
    r.maxRssMiB = process.resourceUsage().maxRSS / 1024
    results.push(r)
  }
}
process.stdout.write(JSON.stringify({results, maxRssMiB: process.resourceUsage().maxRSS / 1024}))
`

interface ChildCase {
  name: string
  what: string
  how: string
  ok: boolean
  error?: {xst: boolean; cls: string; code: string; exitCode: number; message: string}
  report?: {valid: boolean; codes: string[]; messages: string[]}
  maxRssMiB: number
}

let dir: string
const files: Record<string, string> = {}
let results: ChildCase[] = []
let peakMiB = 0

beforeAll(async () => {
  dir = tempDir()
  const manifest: Array<{name: string; kind: 'legacy' | 'v2'; file: string}> = []
  legacyCases.forEach(([name, spec], i) => {
    const file = join(dir, `legacy-${i}.img`)
    writeFileSync(file, buildLegacy(spec))
    files[name] = file
    manifest.push({name, kind: 'legacy', file})
  })
  for (const [i, [name, bytes]] of (await v2Cases()).entries()) {
    const file = join(dir, `v2-${i}.img`)
    writeFileSync(file, bytes)
    files[name] = file
    manifest.push({name, kind: 'v2', file})
  }
  const doc = await runMeasuringChild<ChildCase>(dir, CHILD, manifest)
  results = doc.results
  peakMiB = doc.maxRssMiB
  if (process.env.XST_HOSTILE_DEBUG)
    for (const r of results) console.log(r.name, r.what, r.how, r.error?.code ?? r.report?.codes.join(','), Math.round(r.maxRssMiB), r.error?.message ?? r.report?.messages[0])
}, 60_000)

describe('hostile lengths, in process (a fresh node per batch)', () => {
  it('every case ran', () => {
    expect(results.length).toBe(legacyCases.length * 4 + 13 * 2)
  })

  it.each(legacyCases.map(([n]) => n))('legacy %s: rejected with a typed exit-1 error, from a file and a pipe', (name) => {
    const rs = results.filter((r) => r.name === name)
    expect(rs.length).toBe(4)
    for (const r of rs) {
      // A libxc output drops the toolstack chunk without decoding it, so what
      // lies inside the toolstack data is no matter there.
      if (r.what === 'convert-libxc' && /^toolstack entry|^physmap/.test(name)) {
        expect(r.ok, r.error?.message).toBe(true)
        continue
      }
      expect(r.ok, `${r.what} (${r.how}) accepted it`).toBe(false)
      expect(r.error!.xst, `${r.what} (${r.how}): ${r.error!.cls}: ${r.error!.message}`).toBe(true)
      expect(r.error!.exitCode).toBe(1)
      expect(r.error!.message).not.toContain('\n')
      // What stopped it: the length itself, or the bytes running out (never an allocation failure).
      expect(r.error!.message, `${r.what} (${r.how})`).not.toMatch(/allocat|Array buffer|Invalid (typed )?array length|out of memory/i)
    }
  })

  it.each(legacyCases.map(([n]) => n))('legacy %s: a truncation reads the same, and counts the missing bytes the same, every way', (name) => {
    // Regression: convert streaming a qemu record from a pipe counted the bytes
    // missing from its last 4 MiB piece ("4194288 more bytes needed"), not from the record.
    const truncations = results.filter((r) => r.name === name && r.error?.code === 'truncated').map((r) => `${r.what} (${r.how}): ${r.error!.message}`)
    const messages = new Set(truncations.map((t) => t.replace(/^[^:]*: /, '')))
    expect(messages.size, truncations.join('\n')).toBeLessThanOrEqual(1)
  })

  it.each([
    'v2 PAGE_DATA length 2^32-1',
    'v2 HVM_CONTEXT length 2^32-1',
    'v2 X86_PV_VCPU_XSAVE length 2^32-1',
    'v2 X86_CPUID_POLICY length 2^32-1',
    'v2 SHARED_INFO length 2^32-1',
    'v2 optional record length 2^32-1',
    'v2 libxl EMULATOR_XENSTORE_DATA length 2^32-1',
    'v2 libxl EMULATOR_CONTEXT length 2^32-1',
    'xl optional_data_len 2^32-1 before a v2 stream',
  ])('%s: verify reports where the stream ends (file and pipe)', (name) => {
    const rs = results.filter((r) => r.name === name)
    expect(rs.length).toBe(2)
    for (const r of rs) {
      expect(r.ok, r.error?.message).toBe(true)
      expect(r.report!.valid).toBe(false)
      const size = readFileSync(files[name]).length
      // The record (or optional data) runs past the end: a truncation at the end of the input.
      expect(r.report!.codes, r.report!.messages.join('; ')).toContain(name.startsWith('xl') ? 'length-too-large' : 'truncated')
      if (!name.startsWith('xl')) expect(r.report!.messages.join('; ')).toContain(`stream ends at byte ${size}`)
    }
  })

  it.each(['v2 PAGE_DATA count 2^32-1', 'v2 PAGE_DATA count 2^31-1', 'v2 HVM_PARAMS count 2^32-1', 'v2 X86_PV_P2M_FRAMES end pfn 2^32-1'])('%s: verify reports the count (file and pipe)', (name) => {
    for (const r of results.filter((x) => x.name === name)) {
      expect(r.ok, r.error?.message).toBe(true)
      expect(r.report!.valid).toBe(false)
      expect(
        r.report!.codes.some((c) => c !== 'truncated'),
        r.report!.messages.join('; '),
      ).toBe(true)
    }
  })

  it(`peak memory of the whole batch stays under ${MAX_RSS_MIB} MB`, () => {
    const worst = [...results].sort((a, b) => b.maxRssMiB - a.maxRssMiB)[0]
    expect(peakMiB, `peak reached at ${worst?.name} (${worst?.what}, ${worst?.how})`).toBeLessThan(MAX_RSS_MIB)
  })
})

describe('hostile lengths through the CLI, from a real pipe, memory measured', () => {
  const cli: Array<[string, string[], RegExp]> = [
    ['p2m_size 2^32-1 (64 MiB frame list)', ['inspect-legacy', '-'], /stream ends at byte \d+ inside p2m frame list/],
    ['HVM context length 64 MiB - 1', ['convert', '-', '-'], /stream ends at byte \d+ inside HVM context/],
    ['qemu record length 2^32-1', ['convert', '-', '-'], /stream ends at byte \d+ inside qemu record/],
    ['v2 libxl EMULATOR_CONTEXT length 2^32-1', ['verify', '-'], /stream ends at byte \d+ inside/],
  ]
  it.each(cli)('%s: exit 1, one line, peak memory under the limit', async (name, args, message) => {
    const bytes = readFileSync(files[name])
    const r = await runCliMeasured(args, {input: bytes, timeoutMs: 30_000})
    expect(r.timedOut).toBe(false)
    expect(r.code, r.stderr).toBe(1)
    expect(hasStackTrace(r.stderr + r.stdout)).toBe(false)
    expect(r.stderr).toMatch(message)
    expect(r.stderr).toContain(`byte ${bytes.length}`)
    expect(errorLines(r.stderr)).toHaveLength(1)
    if (args[0] === 'verify') expect(r.stdout).toMatch(/INVALID/)
    expect(r.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
  })
})
