// Legacy walker, the body: every chunk type, page batches, vcpu_info, and the
// libxl toolstack (physmap) data.
import {afterEach, describe, expect, test, vi} from 'vitest'
import {FormatError, TruncatedError} from '../src/errors.js'
import {ByteReader} from '../src/io/reader.js'
import {BufferSource, ChunkedSource} from '../src/io/source.js'
import {walkLegacy, type WalkOptions} from '../src/legacy/walker.js'
import {decodeToolstack, physmapPairs} from '../src/legacy/toolstack.js'
import {PAGE_SIZE} from '../src/format/x86.js'
import {HVM_PARAM_CHUNKS} from '../src/legacy/chunks.js'
import {Chunk, CHUNK_NAMES, MAX_TOOLSTACK, PFINFO_UNMAPPED} from '../src/legacy/layout.js'
import {vectorBytes} from './helpers/fixtures.js'
import {walk as walkWith, walkError as walkErrorWith, type Src} from './helpers/walk.js'
import {buildLegacy, buildLegacyWithMap, type ChunkSpec, type EntrySpec, type HvmParamName, type LegacySpec, pageBytes, type PhysmapSpec, smallSpec} from './builders/legacy.js'

const walk = (bytes: Buffer, opts: WalkOptions = {}, src: Src = 'file') => walkWith(bytes, opts, src, 999)
const walkError = (bytes: Buffer, opts: WalkOptions = {}, src: Src = 'file') => walkErrorWith(bytes, opts, src, 999)

const body = (evs: any[]) => evs.filter((e) => e.kind === 'chunk' || e.kind === 'page-batch')
const pv = (chunks: ChunkSpec[], width: 32 | 64 = 64, over: Partial<LegacySpec> = {}): LegacySpec => ({width, guest: 'pv', p2mSize: 64, ext: {guestWidth: 64}, chunks, ...over})
const hvm = (chunks: ChunkSpec[], width: 32 | 64 = 64, over: Partial<LegacySpec> = {}): LegacySpec => ({width, guest: 'hvm', p2mSize: 64, chunks, hvm: {qemu: null}, ...over})

afterEach(() => {
  vi.restoreAllMocks()
})

describe.each([64, 32] as const)('every metadata chunk, %i-bit toolstack', (width) => {
  const params = Object.keys(HVM_PARAM_CHUNKS).map(Number)

  test('each HVM parameter chunk: name, type, offset, size, parameter index and value', async () => {
    const chunks: ChunkSpec[] = params.map((t, i) => ({kind: 'hvm_param', chunk: t, value: 0x1000n + BigInt(i)}))
    const {bytes, map} = buildLegacyWithMap(hvm(chunks, width))
    const got = body(await walk(bytes))
    expect(got.length).toBe(params.length)
    got.forEach((e, i) => {
      expect(e).toEqual({
        kind: 'chunk',
        offset: map.chunks[i].at,
        index: i,
        type: params[i],
        name: CHUNK_NAMES[params[i]],
        size: 16,
        detail: {chunk: 'hvm_param', param: HVM_PARAM_CHUNKS[params[i]], value: 0x1000n + BigInt(i)},
      })
    })
    // The chunk names are the ones the spec names, and map to these parameters.
    const byName = Object.fromEntries(got.map((e) => [e.name, e.detail.param]))
    expect(byName).toEqual({
      hvm_ident_pt: 12,
      hvm_vm86_tss: 15,
      hvm_console_pfn: 17,
      hvm_acpi_ioports_location: 19,
      hvm_viridian: 9,
      hvm_generation_id_addr: 34,
      hvm_paging_ring_pfn: 27,
      hvm_monitor_ring_pfn: 28,
      hvm_sharing_ring_pfn: 29,
      hvm_ioreq_server_pfn: 32,
      hvm_nr_ioreq_server_pages: 33,
    })
  })

  test('the other chunks, each decoded and sized', async () => {
    const chunks: ChunkSpec[] = [
      {kind: 'enable_verify_mode'},
      {kind: 'vcpu_info', online: [0, 3], maxId: 3},
      {kind: 'tsc_info', mode: 2, nsec: 0x1122334455n, khz: 3000000, incarnation: 7},
      {kind: 'toolstack', physmap: [{physOffset: 0xf0000000n, startAddr: 0xf1000000n, size: 0x10000n, name: 'rom'}]},
      {
        kind: 'tmem',
        version: 1,
        pools: [
          {
            id: 0,
            flags: 1 << 24,
            pages: [
              {oid: [1n, 2n, 3n], index: 0},
              {oid: [1n, 2n, 4n], index: 1},
            ],
          },
          {id: 1, pages: []},
        ],
      },
      {
        kind: 'tmem_extra',
        entries: [
          {poolId: 0, oid: [1n, 1n, 1n], index: 5},
          {poolId: 1, oid: [2n, 2n, 2n], index: 6},
          {poolId: 2, oid: [3n, 3n, 3n], index: 7},
        ],
      },
      {kind: 'enable_compression'},
      {kind: 'last_checkpoint'},
    ]
    const {bytes, map} = buildLegacyWithMap(hvm(chunks, width))
    for (const src of ['file', 'pipe'] as const) {
      const got = body(await walk(bytes, {}, src))
      expect(got.map((e) => [e.offset, e.index, e.size])).toEqual(map.chunks.map((c, i) => [c.at, i, c.size]))
      const tsBytes = 4 + 4 + (8 + 8 + 8 + 4) + 4 + (width === 64 ? 4 : 0)
      expect(got.map((e) => [e.type, e.name, e.size])).toEqual([
        [-1, 'enable_verify_mode', 4],
        [-2, 'vcpu_info', 16],
        [-7, 'tsc_info', 24],
        [-18, 'toolstack', 8 + tsBytes],
        [-5, 'tmem', 4 + 28 + (4 + 24 + 2 * (28 + 8192)) + (4 + 24) + 4],
        [-6, 'tmem_extra', 4 + 3 * 32 + 4],
        [-13, 'enable_compression', 4],
        [-9, 'last_checkpoint', 4],
      ])
      expect(got.map((e) => e.detail)).toEqual([
        {chunk: 'enable_verify_mode'},
        {chunk: 'vcpu_info', maxVcpuId: 3, online: [0, 3]},
        {chunk: 'tsc_info', mode: 2, nsec: 0x1122334455n, khz: 3000000, incarnation: 7},
        {chunk: 'toolstack', length: tsBytes, data: bytes.subarray(map.chunks[3].at + 8, map.chunks[3].at + 8 + tsBytes)},
        {chunk: 'tmem', version: 1, pools: 2, pages: 2, pageBytes: 2 * 8192},
        {chunk: 'tmem_extra', entries: 3},
        {chunk: 'enable_compression'},
        {chunk: 'last_checkpoint'},
      ])
    }
  })

  test('compressed_data has a toolstack-width length, and outside a compressed checkpoint is refused', async () => {
    // Read whole (the walker decodes compressed pages), then refused: a plain image's pages are inline.
    const {bytes, map} = buildLegacyWithMap(hvm([{kind: 'compressed_data', data: 10}], width))
    for (const src of ['file', 'pipe'] as const) {
      const err = await walkError(bytes, {width, guest: 'hvm'}, src)
      expect(err.code).toBe('compressed-data-unexpected')
      expect(err.where).toMatchObject({offset: map.chunks[0].at, index: 0, context: 'compressed_data'})
    }
    // A length past the end of the stream is a truncation.
    const long = buildLegacy(hvm([{kind: 'compressed_data', data: 10, size: 100000n}], width))
    for (const src of ['file', 'pipe'] as const) {
      const err = await walkError(long, {width, guest: 'hvm'}, src)
      expect(err).toBeInstanceOf(TruncatedError)
      expect(err.message).toContain('inside compressed_data')
    }
  })
})

describe('metadata chunk rules', () => {
  test('an HVM parameter chunk in a PV image is refused', async () => {
    const {bytes, map} = buildLegacyWithMap(
      pv([
        {kind: 'vcpu_info', online: [0]},
        {kind: 'hvm_param', chunk: 'hvm_viridian', value: 1n},
      ]),
    )
    const err = await walkError(bytes)
    expect(err.code).toBe('hvm-chunk-in-pv')
    expect(err.where).toMatchObject({offset: map.chunks[1].at, index: 1, context: 'hvm_viridian'})
  })

  test('unknown chunk types are refused with their index and offset', async () => {
    for (const type of [-21, -100, -0x80000000]) {
      const {bytes, map} = buildLegacyWithMap(hvm([{kind: 'tsc_info'}, {kind: 'raw', type, payload: Buffer.alloc(16)}]))
      const err = await walkError(bytes)
      expect(err.code).toBe('unknown-chunk')
      expect(err.where).toMatchObject({offset: map.chunks[1].at, index: 1, indexKind: 'chunk'})
      expect(err.got).toBe(String(type))
    }
    expect((await walkError(vectorBytes('legacy', 'bad-unknown-chunk.legacy.gz'))).code).toBe('unknown-chunk')
  })

  test('enable_verify_mode is followed by more page batches', async () => {
    const evs = await walk(
      buildLegacy(pv([{kind: 'pages', range: {start: 0, count: 4}}, {kind: 'enable_verify_mode'}, {kind: 'pages', range: {start: 0, count: 4}}, {kind: 'vcpu_info', online: [0]}])),
    )
    expect(body(evs).map((e) => e.kind + (e.name ? ':' + e.name : ''))).toEqual(['page-batch', 'chunk:enable_verify_mode', 'page-batch', 'chunk:vcpu_info'])
  })

  test('tmem: larger pages from the pool flags, and a pool cut short by an all-ones oid', async () => {
    const evs = await walk(
      buildLegacy(
        hvm([
          {
            kind: 'tmem',
            pools: [
              {id: 3, flags: 2 << 24, nPages: 5, pages: [{oid: [9n, 9n, 9n], index: 1}], cutShort: true},
              {id: 4, nPages: 1, pages: [{oid: [8n, 8n, 8n], index: 2}]},
            ],
          },
          {kind: 'last_checkpoint'},
        ]),
      ),
    )
    expect(body(evs).map((e) => e.detail)).toEqual([{chunk: 'tmem', version: 1, pools: 2, pages: 2, pageBytes: 16384 + 4096}, {chunk: 'last_checkpoint'}])
  })

  test('tsc_info is 20 packed bytes', async () => {
    const {bytes, map} = buildLegacyWithMap(hvm([{kind: 'tsc_info', mode: 1, nsec: 5n, khz: 6, incarnation: 0xffffffff}, {kind: 'last_checkpoint'}]))
    expect(map.chunks[1].at - map.chunks[0].at).toBe(24)
    expect(body(await walk(bytes))[0].detail).toEqual({chunk: 'tsc_info', mode: 1, nsec: 5n, khz: 6, incarnation: 0xffffffff})
  })
})

describe('vcpu_info', () => {
  const vi_ = (online: number[], maxId?: number, words?: number) => buildLegacyWithMap(pv([{kind: 'vcpu_info', online, maxId, words}], 64))

  test('bitmaps of several words: ids across word boundaries', async () => {
    const online = [0, 63, 64, 127, 128, 1000, 4095]
    const {bytes, map} = vi_(online, 4095)
    const ev = body(await walk(bytes))[0]
    expect(ev.detail).toEqual({chunk: 'vcpu_info', maxVcpuId: 4095, online})
    expect(ev.size).toBe(8 + 64 * 8)
    expect(ev.offset).toBe(map.chunks[0].at)
  })

  test('one word for max ids 0..63, two from 64', async () => {
    expect(body(await walk(vi_([0], 63).bytes))[0].size).toBe(16)
    expect(body(await walk(vi_([64], 64).bytes))[0].size).toBe(24)
  })

  test('bits above the max id are not online', async () => {
    const ev = body(await walk(vi_([0, 2, 5, 40], 3).bytes))[0]
    expect(ev.detail.online).toEqual([0, 2])
  })

  test('a max id above 4095 or below 0 is refused', async () => {
    for (const maxId of [4096, 0x7fffffff, -1]) {
      const {bytes, map} = vi_([0], maxId, 1)
      const err = await walkError(bytes)
      expect(err.code).toBe('bad-vcpu-info')
      expect(err.where.offset).toBe(map.chunks[0].at + 4)
      expect(err.got).toBe(String(maxId))
    }
  })
})

describe('page batches', () => {
  test.each([64, 32] as const)('%i-bit toolstack: entries, dropped entries, page contents, next offset', async (width) => {
    const entries: EntrySpec[] = [5, {dropped: true}, {pfn: 9, type: 1}, {dropped: true}, 2]
    const {bytes, map} = buildLegacyWithMap(
      pv(
        [
          {kind: 'pages', entries},
          {kind: 'vcpu_info', online: [0]},
        ],
        width,
      ),
    )
    for (const src of ['file', 'pipe'] as const) {
      const [batch, next] = body(await walk(bytes, {}, src))
      expect(batch).toMatchObject({kind: 'page-batch', offset: map.chunks[0].at, index: 0, count: 5, dropped: 2, dataPages: 3})
      expect(Array.from(batch.pfns)).toEqual([5, 9, 2])
      expect(Array.from(batch.types)).toEqual([0, 1, 0])
      expect(batch.data.equals(Buffer.concat([pageBytes(5), pageBytes(9), pageBytes(2)]))).toBe(true)
      expect(map.chunks[0].size).toBe(4 + 5 * (width / 8) + 3 * PAGE_SIZE)
      expect(next.offset).toBe(map.chunks[0].at + map.chunks[0].size)
    }
  })

  test('a batch of only dropped entries carries no data', async () => {
    const {bytes, map} = buildLegacyWithMap(pv([{kind: 'pages', entries: [{dropped: true}, {raw: PFINFO_UNMAPPED}]}, {kind: 'last_checkpoint'}]))
    const [batch, next] = body(await walk(bytes))
    expect(batch).toMatchObject({count: 2, dropped: 2, dataPages: 0})
    expect(batch.pfns.length).toBe(0)
    expect(batch.data.length).toBe(0)
    expect(next.offset).toBe(map.chunks[0].at + 4 + 16)
  })

  test('only page types 0-4 and 9-12 carry 4096 bytes; broken, xalloc and xtab do not', async () => {
    const types = [0, 1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15]
    const entries: EntrySpec[] = types.map((type, i) => ({pfn: 10 + i, type}))
    const {bytes, map} = buildLegacyWithMap(pv([{kind: 'pages', entries}, {kind: 'last_checkpoint'}]))
    const [batch, next] = body(await walk(bytes))
    expect(Array.from(batch.types)).toEqual(types)
    expect(batch.dataPages).toBe(9)
    expect(batch.data.equals(Buffer.concat(types.slice(0, 9).map((_, i) => pageBytes(10 + i))))).toBe(true)
    expect(next.offset).toBe(map.chunks[0].at + 4 + 12 * 8 + 9 * PAGE_SIZE)
  })

  test.each([5, 6, 7, 8])('page type %i is refused at its entry', async (type) => {
    const {bytes, map} = buildLegacyWithMap(pv([{kind: 'pages', entries: [1, 2, {raw: (type << 28) | 3, data: false}]}]))
    const err = await walkError(bytes)
    expect(err.code).toBe('bad-page-type')
    expect(err.where).toMatchObject({offset: map.chunks[0].at + 4 + 2 * 8, index: 0})
    expect(err.got).toBe(String(type))
  })

  test('the same entry twice in one batch is refused at the second; the same pfn with another type, or across batches, is fine', async () => {
    const {bytes, map} = buildLegacyWithMap(pv([{kind: 'pages', entries: [7, 8, {pfn: 7, type: 0}]}], 32))
    const err = await walkError(bytes)
    expect(err.code).toBe('duplicate-pfn')
    expect(err.where).toMatchObject({offset: map.chunks[0].at + 4 + 2 * 4, index: 0, context: 'page batch'})
    expect(err.message).toContain('0x7')
    // Another type: both entries kept, with a warning at the second (the 4.5 restorer applies both).
    const retyped = buildLegacyWithMap(
      pv(
        [
          {kind: 'pages', entries: [7, 8, {pfn: 7, type: 1}]},
          {kind: 'vcpu_info', online: [0]},
        ],
        32,
      ),
    )
    const evs = await walk(retyped.bytes)
    expect(body(evs)[0]).toMatchObject({pfns: new Uint32Array([7, 8, 7]), types: new Uint8Array([0, 0, 1]), dataPages: 3})
    expect(evs.filter((e) => e.kind === 'warning')).toEqual([
      {kind: 'warning', offset: retyped.map.chunks[0].at + 4 + 2 * 4, code: 'pfn-retyped-in-batch', message: expect.stringContaining('pfn 0x7 again with another page type (entry 2)')},
    ])
    // Dropped entries are not duplicates of each other.
    await walk(
      buildLegacy(
        pv([
          {kind: 'pages', entries: [{dropped: true}, 7, {dropped: true}]},
          {kind: 'pages', entries: [7]},
          {kind: 'vcpu_info', online: [0]},
        ]),
      ),
    )
    expect((await walkError(vectorBytes('legacy', 'bad-duplicate-pfn-in-batch.legacy.gz'))).code).toBe('duplicate-pfn')
  })

  test('1024 entries is the largest batch; 1025 is refused before its entries are read', async () => {
    const ok = body(await walk(buildLegacy(pv([{kind: 'pages', range: {start: 0, count: 1024}}], 64, {p2mSize: 1024}))))
    expect(ok[0]).toMatchObject({count: 1024, dataPages: 1024})
    const {bytes, map} = buildLegacyWithMap(pv([{kind: 'tsc_info'}, {kind: 'pages', range: {start: 0, count: 1025}}], 64, {p2mSize: 2048}))
    const err = await walkError(bytes)
    expect(err.code).toBe('batch-too-large')
    expect(err.where).toMatchObject({offset: map.chunks[1].at, index: 1})
    expect((await walkError(vectorBytes('legacy', 'bad-batch-over-1024.legacy.gz'))).code).toBe('batch-too-large')
  })

  test('a pfn at or beyond p2m_size is refused, saying the 4.5 restorer refuses it', async () => {
    const err = await walkError(buildLegacy(pv([{kind: 'pages', entries: [63, 64]}], 64, {p2mSize: 64})))
    expect(err.code).toBe('pfn-out-of-range')
    expect(err.message).toContain('the Xen 4.5 restorer refuses it')
  })

  test("a 64-bit entry with bits above 31 set is refused, saying why (Xen's converter would fold them away)", async () => {
    const {bytes, map} = buildLegacyWithMap(pv([{kind: 'pages', entries: [1, {raw: (1n << 40n) | 2n}]}]))
    const err = await walkError(bytes)
    expect(err.code).toBe('bad-pfn-entry')
    expect(err.where.offset).toBe(map.chunks[0].at + 4 + 8)
    expect(err.message).toContain('the Xen 4.5 restorer keeps them in the pfn, which is then out of range')
  })

  test('page data the consumer does not read is skipped, on a file and on a pipe', async () => {
    const spec = pv([
      {kind: 'pages', range: {start: 0, count: 40}},
      {kind: 'pages', range: {start: 40, count: 20}},
      {kind: 'vcpu_info', online: [0]},
    ])
    const bytes = buildLegacy(spec)
    for (const src of ['file', 'pipe'] as const) {
      const r = new ByteReader(src === 'file' ? new BufferSource(bytes) : new ChunkedSource(bytes, 3000))
      const kinds: string[] = []
      for await (const ev of walkLegacy(r)) kinds.push(ev.kind)
      expect(kinds.filter((k) => k === 'page-batch').length).toBe(2)
      expect(kinds.at(-1)).toBe('done')
    }
  })
})

describe('toolstack chunk and physmap decoding', () => {
  const physmap: PhysmapSpec[] = [
    {physOffset: 0xf0000000n, startAddr: 0xf0000000n, size: 0x800000n, name: 'vga.vram', pad: Buffer.from([0x16, 0xaf, 0xe3, 0xdb])},
    {physOffset: 0xf1000000n, startAddr: 0xabcdef000n, size: 0x10000n, name: 'cirrus_vga.rom', pad: Buffer.from([0xbe, 0xe6, 0x43, 0x5b])},
  ]
  const expectedPairs = [
    ['physmap/f0000000/start_addr', 'f0000000'],
    ['physmap/f0000000/size', '800000'],
    ['physmap/f0000000/name', 'vga.vram'],
    ['physmap/f1000000/start_addr', 'abcdef000'],
    ['physmap/f1000000/size', '10000'],
    ['physmap/f1000000/name', 'cirrus_vga.rom'],
  ]

  test.each([64, 32] as const)('%i-bit toolstack data decodes to physmap xenstore pairs', async (width) => {
    const {bytes, map} = buildLegacyWithMap(hvm([{kind: 'toolstack', physmap}], width))
    const ev = body(await walk(bytes))[0]
    const entries = decodeToolstack(ev.detail.data, width, map.chunks[0].at + 8)
    expect(entries.map((e) => e.name)).toEqual(['vga.vram', 'cirrus_vga.rom'])
    expect(physmapPairs(entries)).toEqual(expectedPairs)
    // 64-bit data has 4 stray bytes per entry, which a 32-bit reading does not expect.
    const other = width === 64 ? 32 : 64
    expect(() => decodeToolstack(ev.detail.data, other, 0)).toThrow(FormatError)
  })

  test('the conformance physmap image decodes the same way', async () => {
    const evs = await walk(vectorBytes('legacy', 'hvm64-xl-physmap.legacy.gz'))
    const ts = body(evs).find((e) => e.name === 'toolstack')
    expect(physmapPairs(decodeToolstack(ts.detail.data, 64, ts.offset + 8)).map(([k]) => k)).toEqual(expectedPairs.map(([k]) => k))
  })

  test('an empty physmap (version 1, count 0) has no pairs', () => {
    const data = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])
    expect(decodeToolstack(data, 64, 0)).toEqual([])
  })

  test('a name not NUL-terminated is refused at the name', async () => {
    const {bytes, map} = buildLegacyWithMap(hvm([{kind: 'toolstack', physmap: [{...physmap[0], nul: false}]}]))
    const ev = body(await walk(bytes))[0]
    let err: any
    try {
      decodeToolstack(ev.detail.data, 64, map.chunks[0].at + 8, 0)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(FormatError)
    expect(err.code).toBe('physmap-name-not-nul')
    expect(err.where).toMatchObject({offset: map.chunks[0].at + 8 + 8 + 28, index: 0, indexKind: 'chunk'})
    expect(err.got).toBe('0x6d') // 'm' of "vga.vram"
    const empty = () => decodeToolstack(buildToolstack([{...physmap[0], name: '', nul: false}], 32), 32, 0)
    expect(empty).toThrow(/not NUL-terminated/)
  })

  test('malformed toolstack data: version, short header, count, name length, leftovers', () => {
    const good = buildToolstack(physmap, 64)
    const codeOf = (fn: () => unknown) => {
      try {
        fn()
      } catch (e) {
        return (e as FormatError).code
      }
      return 'accepted'
    }
    expect(codeOf(() => decodeToolstack(good, 64, 0))).toBe('accepted')
    const v2 = Buffer.from(good)
    v2.writeUInt32LE(2, 0)
    expect(codeOf(() => decodeToolstack(v2, 64, 0))).toBe('bad-toolstack')
    expect(codeOf(() => decodeToolstack(good.subarray(0, 6), 64, 0))).toBe('bad-toolstack')
    const more = Buffer.from(good)
    more.writeUInt32LE(3, 4)
    expect(codeOf(() => decodeToolstack(more, 64, 0))).toBe('bad-toolstack')
    // Bytes after the last entry: ignored, as libxl ignores them, and reported to the caller.
    const warned: Array<[string, number]> = []
    const trailing = decodeToolstack(Buffer.concat([good, Buffer.alloc(5)]), 64, 100, undefined, (m, at) => warned.push([m, at]))
    expect(trailing).toEqual(decodeToolstack(good, 64, 0))
    expect(warned).toEqual([[expect.stringContaining('5 bytes after its last physmap entry'), 100 + good.length]])
    expect(codeOf(() => decodeToolstack(buildToolstack([{...physmap[0], nameLength: 200}], 64), 64, 0))).toBe('bad-toolstack')
  })

  test('a 2^32-1 toolstack length is refused without allocating it', async () => {
    const {bytes, map} = buildLegacyWithMap(hvm([{kind: 'toolstack', raw: Buffer.alloc(8), length: 0xffffffff}]))
    const alloc = vi.spyOn(Buffer, 'allocUnsafe')
    const allocSlow = vi.spyOn(Buffer, 'alloc')
    for (const src of ['file', 'pipe'] as const) {
      const err = await walkError(bytes, {}, src)
      expect(err.code).toBe('length-too-large')
      expect(err.where).toMatchObject({offset: map.chunks[0].at + 4, index: 0})
      expect(err.message).toContain('MAX_TOOLSTACK')
    }
    expect(alloc).toHaveBeenCalled() // the spy sees the reader's allocations
    const biggest = Math.max(0, ...[...alloc.mock.calls, ...allocSlow.mock.calls].map((c) => Number(c[0])))
    expect(biggest).toBeLessThanOrEqual(1 << 20)
    // Just over the maximum is refused too; within it but past the end of a file is a truncation.
    expect((await walkError(buildLegacy(hvm([{kind: 'toolstack', raw: Buffer.alloc(8), length: MAX_TOOLSTACK + 1}])))).code).toBe('length-too-large')
    const past = await walkError(buildLegacy(hvm([{kind: 'toolstack', raw: Buffer.alloc(8), length: 100000}])))
    expect(past).toBeInstanceOf(TruncatedError)
  })

  test('a 2^32-1 HVM context length is refused without allocating it', async () => {
    const bytes = buildLegacy(smallSpec('hvm', 64, {hvm: {context: 8, contextLength: 0xffffffff}}))
    const alloc = vi.spyOn(Buffer, 'allocUnsafe')
    for (const src of ['file', 'pipe'] as const) {
      expect((await walkError(bytes, {}, src)).code).toBe('length-too-large')
    }
    expect(alloc).toHaveBeenCalled()
    expect(Math.max(0, ...alloc.mock.calls.map((c) => Number(c[0])))).toBeLessThanOrEqual(1 << 20)
  })
})

/** Toolstack data bytes as the builder lays them out (via a one-chunk image). */
function buildToolstack(physmap: PhysmapSpec[], width: 32 | 64): Buffer {
  const {bytes, map} = buildLegacyWithMap(hvm([{kind: 'toolstack', physmap}], width))
  const at = map.chunks[0].at
  return bytes.subarray(at + 8, at + map.chunks[0].size)
}

// Chunk ids and names stay in step with what the builder writes.
test('every named chunk id from -1 to -20 is one the builder can write', () => {
  const names = new Set(Object.values(CHUNK_NAMES))
  for (let t = -1; t >= -20; t--) expect(names.has(CHUNK_NAMES[t])).toBe(true)
  const hvmNames: HvmParamName[] = Object.keys(HVM_PARAM_CHUNKS).map((t) => CHUNK_NAMES[Number(t)] as HvmParamName)
  expect(hvmNames.length).toBe(11)
  expect(Chunk.TOOLSTACK).toBe(-18)
})
