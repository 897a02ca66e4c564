// Legacy walker: an image cut anywhere is refused with a TruncatedError that
// says at which byte the stream ended and which part it was reading.
import {describe, expect, test} from 'vitest'
import {FormatError, TruncatedError} from '../src/errors.js'
import {ByteReader} from '../src/io/reader.js'
import {BufferSource, ChunkedSource} from '../src/io/source.js'
import {walkLegacy, type WalkOptions} from '../src/legacy/walker.js'
import {vectorBytes} from './helpers/fixtures.js'
import {buildLegacyWithMap, type LegacyMap, type LegacySpec} from './builders/legacy.js'

type Src = 'file' | 'pipe'

/** Walk to the end, reading nothing; resolves to the error, or undefined when the walk succeeds. */
async function walkResult(bytes: Buffer, src: Src, opts: WalkOptions = {}): Promise<FormatError | undefined> {
  const r = new ByteReader(src === 'file' ? new BufferSource(bytes) : new ChunkedSource(bytes, 509))
  try {
    for await (const _ of walkLegacy(r, opts)) {
      // consume
    }
  } catch (e) {
    if (e instanceof FormatError) return e
    throw e
  }
  return undefined
}

const pv64: LegacySpec = {
  width: 64,
  guest: 'pv',
  xl: {config: 'name = "cut"\n'},
  p2mSize: 40,
  ext: {guestWidth: 64, extv: true, xsaveLength: 0x240},
  chunks: [
    {kind: 'tsc_info'},
    {kind: 'pages', entries: [1, {dropped: true}, {pfn: 2, type: 1}, {pfn: 3, type: 0xf}, 4]},
    {kind: 'vcpu_info', online: [0, 1, 65]},
    {kind: 'toolstack', raw: Buffer.alloc(40, 1)},
    {kind: 'last_checkpoint'},
  ],
  pv: {unmapped: [7, 8]},
}
const pv32: LegacySpec = {
  width: 32,
  guest: 'pv',
  p2mSize: 40,
  ext: {guestWidth: 32, extv: false},
  chunks: [
    {kind: 'pages', range: {start: 0, count: 3}},
    {kind: 'vcpu_info', online: [0, 1]},
  ],
}
const hvm64: LegacySpec = {
  width: 64,
  guest: 'hvm',
  xl: {config: '{"c_info": {"name": "h"}}', json: true},
  p2mSize: 40,
  chunks: [
    {kind: 'pages', range: {start: 0, count: 3}},
    {kind: 'hvm_param', chunk: 'hvm_viridian', value: 1n},
    {kind: 'toolstack', physmap: [{physOffset: 1n, startAddr: 2n, size: 3n, name: 'vga.vram'}]},
  ],
  hvm: {context: 600, qemu: {signature: 'DeviceModelRecord0002', data: 300}},
}
const hvm32: LegacySpec = {
  width: 32,
  guest: 'hvm',
  p2mSize: 40,
  chunks: [{kind: 'tsc_info'}, {kind: 'pages', range: {start: 0, count: 2}}],
  hvm: {context: 100, qemu: {signature: 'RemusDeviceModelState', data: 50}},
}

/** Every boundary the map knows, and a byte on either side of it. */
function cutPoints(map: LegacyMap): number[] {
  const marks = [
    map.xlHeader,
    map.image,
    map.extInfo,
    ...map.extBlocks,
    map.p2mFrames,
    ...map.chunks.flatMap((c) => [c.at, c.at + 4, c.dataAt, c.at + c.size - 1]),
    map.end,
    map.unmapped,
    ...map.vcpus.flatMap((v) => [v.basic, v.extended, v.xsave, v.xsave !== undefined ? v.xsave + 16 : undefined]),
    map.sharedInfo,
    map.hvmMagic,
    map.hvmContext,
    map.hvmContext !== undefined ? map.hvmContext + 4 : undefined,
    map.qemu,
    map.qemu !== undefined ? map.qemu + 21 : undefined,
    map.qemu !== undefined ? map.qemu + 25 : undefined,
  ].filter((x): x is number => x !== undefined)
  const cuts = new Set<number>()
  for (let i = 0; i < 64; i++) cuts.add(i)
  for (const m of marks) for (const d of [-1, 0, 1, 3, 9]) cuts.add(m + d)
  for (let i = 0; i < map.size; i += 211) cuts.add(i)
  return [...cuts].filter((c) => c >= 0 && c < map.size).sort((a, b) => a - b)
}

describe.each([
  ['PV, 64-bit toolstack, xl header, xsave', pv64],
  ['PV, 32-bit toolstack and guest', pv32],
  ['HVM, 64-bit toolstack, JSON xl header, physmap', hvm64],
  ['HVM, 32-bit toolstack, Remus qemu record', hvm32],
] as const)('%s: cut anywhere', (_name, spec) => {
  const {bytes, map} = buildLegacyWithMap(spec)

  test.each(['file', 'pipe'] as const)('from a %s, every cut is a truncation at the cut', async (src) => {
    expect(await walkResult(bytes, src)).toBeUndefined()
    const wrong: string[] = []
    for (const cut of cutPoints(map)) {
      // An HVM image may end right after its context: no qemu record.
      if (cut === map.qemu) {
        expect(await walkResult(bytes.subarray(0, cut), src)).toBeUndefined()
        continue
      }
      const err = await walkResult(bytes.subarray(0, cut), src)
      if (!(err instanceof TruncatedError) || err.offset !== cut || !err.message.includes(`stream ends at byte ${cut} inside `)) {
        wrong.push(`cut ${cut}: ${err ? `${err.code}: ${err.message}` : 'accepted'}`)
      }
    }
    expect(wrong).toEqual([])
  })
})

describe('the error names the part being read', () => {
  const inside = async (spec: LegacySpec, at: (m: LegacyMap) => number, src: Src = 'file') => {
    const {bytes, map} = buildLegacyWithMap(spec)
    const cut = at(map)
    const err = await walkResult(bytes.subarray(0, cut), src)
    expect(err).toBeInstanceOf(TruncatedError)
    expect((err as TruncatedError).offset).toBe(cut)
    return /inside (.*) \(\d+ more bytes? needed\)/.exec(err!.message)![1]
  }

  test('PV parts', async () => {
    expect(await inside(pv64, () => 20)).toBe('xl header')
    expect(await inside(pv64, (m) => m.image - 2)).toBe('xl optional data')
    expect(await inside(pv64, (m) => m.image + 3)).toBe('the first bytes of the image')
    expect(await inside(pv64, (m) => m.image + 14)).toBe('extended info')
    expect(await inside(pv64, (m) => m.extBlocks[1] + 2)).toBe('extended info')
    expect(await inside(pv64, (m) => m.extBlocks[1] + 2, 'pipe')).toBe('extended-info block header')
    expect(await inside(pv64, (m) => m.p2mFrames! + 1)).toBe('p2m frame list')
    expect(await inside(pv64, (m) => m.chunks[0].at + 2)).toBe('chunk type')
    expect(await inside(pv64, (m) => m.chunks[0].at + 10)).toBe('tsc_info')
    expect(await inside(pv64, (m) => m.chunks[1].at + 12)).toBe('page batch pfn list')
    expect(await inside(pv64, (m) => m.chunks[1].dataAt! + 5000)).toBe('page data')
    expect(await inside(pv64, (m) => m.chunks[2].at + 6)).toBe('vcpu_info max id')
    expect(await inside(pv64, (m) => m.chunks[2].at + 12)).toBe('vcpu_info bitmap')
    expect(await inside(pv64, (m) => m.chunks[3].at + 6)).toBe('toolstack length')
    expect(await inside(pv64, (m) => m.chunks[3].at + 20)).toBe('toolstack chunk')
    expect(await inside(pv64, (m) => m.end! + 1)).toBe('chunk type')
    expect(await inside(pv64, (m) => m.unmapped! + 2)).toBe('unmapped pfn count')
    expect(await inside(pv64, (m) => m.unmapped! + 6)).toBe('unmapped pfn list')
    expect(await inside(pv64, (m) => m.vcpus[1].basic + 100)).toBe('vcpu 1 basic context')
    expect(await inside(pv64, (m) => m.vcpus[1].extended! + 1)).toBe('vcpu 1 extended context')
    expect(await inside(pv64, (m) => m.vcpus[2].xsave! + 3)).toBe('vcpu 65 xsave header')
    expect(await inside(pv64, (m) => m.vcpus[2].xsave! + 30)).toBe('vcpu 65 xsave area')
    expect(await inside(pv64, (m) => m.sharedInfo! + 4095)).toBe('shared info page')
  })

  test('HVM parts', async () => {
    expect(await inside(hvm64, (m) => m.chunks[1].at + 5)).toBe('hvm_viridian')
    expect(await inside(hvm64, (m) => m.hvmMagic! + 23)).toBe('HVM magic pfns')
    expect(await inside(hvm64, (m) => m.hvmContext! + 3)).toBe('HVM context length')
    expect(await inside(hvm64, (m) => m.hvmContext! + 300)).toBe('HVM context')
    expect(await inside(hvm64, (m) => m.qemu! + 20)).toBe('libxl qemu record signature')
    expect(await inside(hvm64, (m) => m.qemu! + 23)).toBe('libxl qemu record length')
    expect(await inside(hvm64, (m) => m.qemu! + 100)).toBe('qemu record')
    expect(await inside(hvm64, (m) => m.qemu! + 100, 'pipe')).toBe('qemu record')
  })

  test('the conformance image cut inside its pages', async () => {
    const bytes = vectorBytes('legacy', 'bad-truncated-in-pages.legacy.gz')
    for (const src of ['file', 'pipe'] as const) {
      const err = await walkResult(bytes, src)
      expect(err).toBeInstanceOf(TruncatedError)
      expect((err as TruncatedError).offset).toBe(bytes.length)
      expect(err!.message).toContain('inside page data')
    }
  })

  test('a PV image cut inside the detection window is a truncation, not an HVM image', async () => {
    for (const spec of [pv64, pv32, {...pv64, xl: undefined}]) {
      const {bytes, map} = buildLegacyWithMap(spec)
      const w = spec.width / 8
      for (let cut = map.image + w + 1; cut < map.image + 2 * w + 8; cut++) {
        for (const opts of [{}, {width: spec.width}, {guest: 'pv' as const}]) {
          const err = await walkResult(bytes.subarray(0, cut), 'pipe', opts)
          expect(err).toBeInstanceOf(TruncatedError)
          expect(err!.message).toContain(`stream ends at byte ${cut} inside extended info`)
        }
      }
    }
  })
})
