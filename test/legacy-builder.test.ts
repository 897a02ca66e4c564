// The image builder itself: it must lay images out exactly as the 4.5 saver
// did (checked against the conformance images), stream without holding more
// than a batch, and give the walker what its map says.
import {describe, expect, test} from 'vitest'
import {ByteReader} from '../src/io/reader.js'
import {BufferSource, ChunkedSource} from '../src/io/source.js'
import {walkLegacy} from '../src/legacy/walker.js'
import type {LegacyEvent} from '../src/legacy/events.js'
import {PAGE_SIZE} from '../src/format/x86.js'
import {MAX_BATCH} from '../src/legacy/layout.js'
import {legacyVectors, vectorBytes} from './helpers/fixtures.js'
import {buildLegacy, buildLegacyWithMap, type ChunkSpec, fillBytes, largeImageSpec, type LegacySpec, legacyStream, pageBytes, smallSpec, type VcpuContextSpec, writeLegacy} from './builders/legacy.js'

async function events(bytes: Buffer, opts: Parameters<typeof walkLegacy>[1] = {}, pipe = false): Promise<any[]> {
  const r = new ByteReader(pipe ? new ChunkedSource(bytes, 65521) : new BufferSource(bytes))
  const out: any[] = []
  for await (const ev of walkLegacy(r, opts) as AsyncGenerator<LegacyEvent>) {
    const e: any = {...ev}
    if ((ev.kind === 'page-batch' || ev.kind === 'hvm-context' || ev.kind === 'qemu-record') && ev.data) e.data = await ev.data.read()
    out.push(e)
  }
  return out
}

/** A builder spec that should reproduce `bytes`, made from the walker's view of them. */
async function specFromImage(bytes: Buffer, skipQemu: boolean): Promise<LegacySpec> {
  const evs = await events(bytes, {skipQemu})
  const image = evs.find((e) => e.kind === 'image')
  const w = image.toolstackWidth === 64 ? 8 : 4
  const spec: LegacySpec = {width: image.toolstackWidth, guest: image.guest, p2mSize: image.p2mSize, chunks: []}
  const chunks = spec.chunks as ChunkSpec[]
  const contexts = new Map<number, VcpuContextSpec>()
  const ctx = (vcpu: number) => contexts.get(vcpu) ?? contexts.set(vcpu, {vcpu}).get(vcpu)!
  for (const e of evs) {
    switch (e.kind) {
      case 'xl-header': {
        const raw: Buffer = e.header.raw
        spec.xl = {mandatoryFlags: e.header.mandatoryFlags, optionalFlags: e.header.optionalFlags, optionalData: raw.subarray(48)}
        break
      }
      case 'extended-info':
        spec.ext = {blocks: e.blocks.map((b: any) => ({id: b.id, data: bytes.subarray(b.offset + 8, b.offset + 8 + b.size)})), totalLength: e.totalLength}
        break
      case 'p2m-frames':
        spec.p2mFrames = Array.from(e.frames as BigUint64Array)
        break
      case 'page-batch': {
        const entries = []
        for (let i = 0; i < e.count; i++) {
          const at = e.offset + 4 + i * w
          entries.push({raw: w === 8 ? bytes.readBigUInt64LE(at) : bytes.readUInt32LE(at)})
        }
        chunks.push({kind: 'pages', entries, data: e.data})
        break
      }
      case 'chunk': {
        const d = e.detail
        switch (d.chunk) {
          case 'vcpu_info':
            chunks.push({kind: 'vcpu_info', online: d.online, maxId: d.maxVcpuId})
            break
          case 'hvm_param':
            chunks.push({kind: 'hvm_param', chunk: e.type, value: d.value, pad: bytes.readUInt32LE(e.offset + 4)})
            break
          case 'tsc_info':
            chunks.push({kind: 'tsc_info', mode: d.mode, nsec: d.nsec, khz: d.khz, incarnation: d.incarnation})
            break
          case 'toolstack':
            chunks.push({kind: 'toolstack', raw: d.data})
            break
          default:
            chunks.push({kind: 'raw', type: e.type, payload: bytes.subarray(e.offset + 4, e.offset + e.size)})
        }
        break
      }
      case 'unmapped-pfns': {
        const list = []
        for (let i = 0; i < e.count; i++) {
          const at = e.offset + 4 + i * w
          list.push(w === 8 ? bytes.readBigUInt64LE(at) : bytes.readUInt32LE(at))
        }
        spec.pv = {...spec.pv, unmapped: list}
        break
      }
      case 'vcpu-context':
        if (e.part === 'xsave') ctx(e.vcpu).xsave = {mask: e.xfeatureMask, data: e.data}
        else ctx(e.vcpu)[e.part as 'basic' | 'extended'] = e.data
        break
      case 'shared-info':
        spec.pv = {...spec.pv, sharedInfo: e.data, contexts: [...contexts.values()], vcpus: [...contexts.keys()]}
        break
      case 'hvm-magic-pfns':
        spec.hvm = {ioreq: e.ioreq, bufioreq: e.bufioreq, store: e.store}
        break
      case 'hvm-context':
        spec.hvm = {...spec.hvm, context: e.data}
        break
      case 'qemu-record':
        spec.hvm = {...spec.hvm, qemu: {signature: e.signature, data: e.data}}
        break
    }
  }
  return spec
}

describe('builder against the conformance images', () => {
  const valid = legacyVectors().filter((v) => v.valid)
  test.each(valid.map((v) => [v.name, v] as const))('%s: a spec of the same parts builds the same bytes', async (_name, v) => {
    const original = vectorBytes('legacy', v.input)
    const spec = await specFromImage(original, v.name.includes('noqemu'))
    expect(spec.width).toBe(v.toolstack_width)
    expect(spec.guest).toBe(v.guest)
    const built = buildLegacy(spec)
    expect(built.length).toBe(original.length)
    expect(built.equals(original)).toBe(true)
  })

  test('a declarative spec shaped like pv64-basic has the same layout', async () => {
    const original = vectorBytes('legacy', 'pv64-basic.legacy.gz')
    const spec: LegacySpec = {
      width: 64,
      guest: 'pv',
      p2mSize: 64,
      ext: {guestWidth: 64, extv: true},
      chunks: [{kind: 'tsc_info'}, {kind: 'pages', range: {start: 0, count: 64}}, {kind: 'vcpu_info', online: [0]}, {kind: 'last_checkpoint'}],
    }
    const strip = (evs: any[]) => evs.map(({data, frames, detail, pfns, types, ...rest}) => ({...rest, detail: detail && {...detail}}))
    const ours = strip(await events(buildLegacy(spec)))
    const theirs = strip(await events(original))
    expect(ours).toEqual(theirs)
  })

  test('a declarative spec shaped like hvm32-tw32 (32-bit toolstack, physmap, qemu) has the same layout', async () => {
    const original = vectorBytes('legacy', 'hvm32-tw32.legacy.gz')
    const spec: LegacySpec = {
      width: 32,
      guest: 'hvm',
      p2mSize: 200,
      chunks: [
        {kind: 'tsc_info'},
        {kind: 'pages', range: {start: 0, count: 87}},
        {kind: 'pages', range: {start: 87, count: 79}},
        {kind: 'pages', range: {start: 166, count: 34}},
        {kind: 'vcpu_info', online: [0]},
        {kind: 'hvm_param', chunk: 'hvm_generation_id_addr', value: 4294705152n},
        {kind: 'hvm_param', chunk: 'hvm_paging_ring_pfn', value: 1044475n},
        {kind: 'hvm_param', chunk: 'hvm_monitor_ring_pfn', value: 1044474n},
        {kind: 'hvm_param', chunk: 'hvm_sharing_ring_pfn', value: 1044473n},
        {kind: 'toolstack', physmap: [{physOffset: 0xf0000000n, startAddr: 0xf0000000n, size: 0x400000n, name: 'vga.vram'}]},
        {kind: 'last_checkpoint'},
      ],
      hvm: {ioreq: 1044478n, bufioreq: 1044477n, store: 1044476n, context: 1024, qemu: {signature: 'DeviceModelRecord0002', data: 1000}},
    }
    const built = buildLegacy(spec)
    const ours = await events(built)
    const theirs = await events(original)
    expect(ours.map((e) => [e.kind, e.offset, e.detail?.chunk ?? e.signature ?? e.count])).toEqual(theirs.map((e) => [e.kind, e.offset, e.detail?.chunk ?? e.signature ?? e.count]))
    // The toolstack chunk is byte-identical: the physmap declaration matches what libxl wrote.
    const tsOurs = ours.find((e) => e.detail?.chunk === 'toolstack').detail.data
    const tsTheirs = theirs.find((e) => e.detail?.chunk === 'toolstack').detail.data
    expect(tsOurs.equals(tsTheirs)).toBe(true)
  })
})

describe('builder contents and outputs', () => {
  test('page contents are a function of the pfn', () => {
    const a = pageBytes(0x1234)
    expect(a.length).toBe(PAGE_SIZE)
    expect(a.readUInt32LE(0)).toBe(0x1234)
    expect(a[4]).toBe((4 + 0x34) & 0xff)
    expect(a[4095]).toBe((4095 + 0x34) & 0xff)
    expect(pageBytes(0x1234).equals(a)).toBe(true)
    expect(pageBytes(0x1235).equals(a)).toBe(false)
    expect(fillBytes(3, 100).equals(fillBytes(3, 100))).toBe(true)
    expect(fillBytes(3, 100).equals(fillBytes(4, 100))).toBe(false)
  })

  test('the walker finds every part where the map says, and the page data the fill gives', async () => {
    for (const guest of ['pv', 'hvm'] as const) {
      for (const width of [32, 64] as const) {
        const {bytes, map} = buildLegacyWithMap(smallSpec(guest, width, {xl: {config: 'name = "t"\n'}, trailing: Buffer.from('tail')}))
        const evs = await events(bytes)
        expect(evs.find((e) => e.kind === 'image').offset).toBe(map.image)
        const body = evs.filter((e) => e.kind === 'chunk' || e.kind === 'page-batch')
        expect(body.map((e) => e.offset)).toEqual(map.chunks.map((c) => c.at))
        expect(evs.find((e) => e.kind === 'end-of-body').offset).toBe(map.end)
        expect(evs.find((e) => e.kind === 'trailing')).toMatchObject({offset: map.trailing, length: 4})
        const batch = evs.find((e) => e.kind === 'page-batch')
        expect(batch.data.equals(Buffer.concat(Array.from(batch.pfns as Uint32Array, (p) => pageBytes(p))))).toBe(true)
        if (guest === 'pv') {
          expect(evs.find((e) => e.kind === 'shared-info').offset).toBe(map.sharedInfo)
          expect(evs.filter((e) => e.kind === 'vcpu-context' && e.part === 'basic').map((e) => e.offset)).toEqual(map.vcpus.map((v) => v.basic))
        } else {
          expect(evs.find((e) => e.kind === 'hvm-context').offset).toBe(map.hvmContext)
          expect(evs.find((e) => e.kind === 'qemu-record').offset).toBe(map.qemu)
        }
        expect(evs.at(-1)).toEqual({kind: 'done', offset: bytes.length})
      }
    }
  })

  test('writeLegacy and legacyStream give the same bytes as buildLegacy, no piece larger than one batch', async () => {
    const spec = largeImageSpec({guest: 'hvm', bytes: 12 << 20, qemuBytes: 9 << 20})
    const whole = buildLegacy(spec)
    const pieces: Buffer[] = []
    const map = await writeLegacy(spec, async (b) => void pieces.push(b))
    expect(map.size).toBe(whole.length)
    expect(Buffer.concat(pieces).equals(whole)).toBe(true)
    const maxBatch = 4 + MAX_BATCH * 8 + MAX_BATCH * PAGE_SIZE
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThanOrEqual(maxBatch)
    const streamed: Buffer[] = []
    for await (const p of legacyStream(spec)) streamed.push(p)
    expect(Buffer.concat(streamed).equals(whole)).toBe(true)
  })

  test.each(['pv', 'hvm'] as const)('largeImageSpec(%s) gives batches of 1024 pages and walks cleanly from a pipe', async (guest) => {
    const bytes = 20 << 20
    const spec = largeImageSpec({guest, bytes})
    const image = buildLegacy(spec)
    expect(Math.abs(image.length - bytes)).toBeLessThan(1 << 20)
    const evs = await events(image, {}, true)
    const batches = evs.filter((e) => e.kind === 'page-batch')
    expect(batches.length).toBe(Math.ceil(Number(spec.p2mSize) / 1024))
    expect(batches.slice(0, -1).every((b) => b.count === 1024)).toBe(true)
    expect(evs.filter((e) => e.kind === 'warning')).toEqual([])
    expect(evs.at(-1).offset).toBe(image.length)
  })
})
