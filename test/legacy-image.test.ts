// Legacy walker, the frame of an image: detection, the xl header, extended
// info, the p2m frame list, the PV and HVM tails, trailing bytes.
import {describe, expect, test} from 'vitest'
import {TruncatedError} from '../src/errors.js'
import {EXT_VCPU_32, EXT_VCPU_64} from '../src/format/x86.js'
import {ByteReader} from '../src/io/reader.js'
import {BufferSource} from '../src/io/source.js'
import type {LegacyEvent} from '../src/legacy/events.js'
import {walkLegacy} from '../src/legacy/walker.js'
import {vectorBytes} from './helpers/fixtures.js'
import {walk, walkError} from './helpers/walk.js'
import {buildLegacy, buildLegacyWithMap, defaultSharedInfo, fillBytes, type ChunkSpec, type LegacySpec, smallSpec, vcpuContextBytes} from './builders/legacy.js'

const one = (evs: any[], kind: string) => evs.filter((e) => e.kind === kind)

/** The walker's first event (what detection made of the image), whatever comes after. */
async function firstEvent(bytes: Buffer): Promise<LegacyEvent> {
  for await (const ev of walkLegacy(new ByteReader(new BufferSource(bytes)))) return ev
  throw new Error('no event')
}

describe.each(['file', 'pipe'] as const)('whole images (%s)', (src) => {
  test.each([
    ['pv', 64],
    ['pv', 32],
    ['hvm', 64],
    ['hvm', 32],
  ] as const)('%s guest, %i-bit toolstack: detected, walked in order, every offset right', async (guest, width) => {
    const {bytes, map} = buildLegacyWithMap(smallSpec(guest, width))
    const evs = await walk(bytes, {}, src)
    expect(evs[0]).toEqual({kind: 'image', offset: 0, toolstackWidth: width, guest, widthFrom: 'detected', guestFrom: 'detected', p2mSize: 16})
    const kinds = evs.map((e) => e.kind)
    if (guest === 'pv') {
      expect(kinds).toEqual([
        'image',
        'extended-info',
        'p2m-frames',
        'chunk',
        'page-batch',
        'chunk',
        'chunk',
        'end-of-body',
        'unmapped-pfns',
        'vcpu-context',
        'vcpu-context',
        'vcpu-context',
        'vcpu-context',
        'shared-info',
        'done',
      ])
      expect(evs[1].offset).toBe(width / 8)
      expect(evs[1].blocks[0]).toEqual({id: 'vcpu', offset: 2 * (width / 8) + 4, size: EXT_VCPU_64})
      expect(evs[2].offset).toBe(map.p2mFrames)
    } else {
      expect(kinds).toEqual(['image', 'chunk', 'page-batch', 'chunk', 'chunk', 'chunk', 'end-of-body', 'hvm-magic-pfns', 'hvm-context', 'qemu-record', 'done'])
    }
    expect(one(evs, 'end-of-body')[0]).toEqual({kind: 'end-of-body', offset: map.end, index: map.chunks.length})
    expect(evs.at(-1)).toEqual({kind: 'done', offset: bytes.length})
  })
})

describe('detection', () => {
  test('a 32-bit PV image puts the extended-info block at 12, a 64-bit one at 20', async () => {
    for (const width of [32, 64] as const) {
      const bytes = buildLegacy(smallSpec('pv', width))
      expect(bytes.toString('latin1', width === 64 ? 20 : 12, width === 64 ? 24 : 16)).toBe('vcpu')
      const [image] = await walk(bytes)
      expect(image).toMatchObject({toolstackWidth: width, guest: 'pv'})
    }
  })

  test('an HVM image is told by its first chunk type, whatever that chunk is', async () => {
    for (const width of [32, 64] as const) {
      for (const first of [{kind: 'pages', range: {start: 0, count: 3}}, {kind: 'tsc_info'}, {kind: 'hvm_param', chunk: 'hvm_viridian', value: 1n}, {kind: 'vcpu_info', online: [0]}] as const) {
        const bytes = buildLegacy({width, guest: 'hvm', p2mSize: 8, chunks: [first as any], hvm: {qemu: null}})
        const [image] = await walk(bytes)
        expect(image).toMatchObject({toolstackWidth: width, guest: 'hvm', widthFrom: 'detected', guestFrom: 'detected'})
      }
    }
  })

  test('--width and --guest are used as given and reported as flags', async () => {
    // A 32-bit HVM image whose body is empty looks like a 64-bit one (bytes 4-7 are zero);
    // the flags read it as it is.
    const bytes = buildLegacy({width: 32, guest: 'hvm', p2mSize: 4, chunks: [], hvm: {ioreq: 5n, qemu: null}})
    const evs = await walk(bytes, {width: 32, guest: 'hvm'})
    expect(evs[0]).toMatchObject({toolstackWidth: 32, guest: 'hvm', widthFrom: 'flag', guestFrom: 'flag', p2mSize: 4})
    expect(one(evs, 'hvm-magic-pfns')[0]).toMatchObject({offset: 8, ioreq: 5n})
    const pv = await walk(buildLegacy(smallSpec('pv', 64)), {guest: 'pv'})
    expect(pv[0]).toMatchObject({toolstackWidth: 64, widthFrom: 'detected', guestFrom: 'flag'})
  })

  test('a v2 stream is refused as already v2', async () => {
    const libxc = Buffer.concat([Buffer.alloc(8, 0xff), Buffer.from('XENF'), Buffer.alloc(20)])
    const libxl = Buffer.concat([Buffer.from('LibxlFmt'), Buffer.alloc(24)])
    for (const bytes of [libxc, libxl, vectorBytes('v2', 'pv3.v2.gz'), vectorBytes('v2', 'libxl-hvm3.v2.gz')]) {
      const err = await walkError(bytes)
      expect(err.code).toBe('already-v2')
      expect(err.message).toContain('already a v2 stream')
    }
    // Even when the caller says what the legacy image would be.
    expect((await walkError(libxc, {width: 64, guest: 'pv'})).code).toBe('already-v2')
  })

  test('an xl header whose STREAMv2 flag is set is refused as v2', async () => {
    const bytes = Buffer.concat([buildLegacy({...smallSpec('pv'), xl: {mandatoryFlags: 2}})])
    const err = await walkError(bytes)
    expect(err.code).toBe('already-v2')
    expect(err.where.offset).toBe(0)
  })

  test('input no layout fits is refused, and says to give the flags not given (where the command has them)', async () => {
    const err = await walkError(Buffer.alloc(64, 0x41), {layoutFlags: true})
    expect(err.code).toBe('undetectable')
    expect(err.message).toContain('give --width and --guest')
    expect(err.where.offset).toBe(0)
    // With one flag given, only the other is asked for.
    const pv = await walkError(Buffer.alloc(64, 0x41), {guest: 'pv', layoutFlags: true})
    expect(pv.code).toBe('undetectable')
    expect(pv.message).toContain('with --guest pv')
    expect(pv.message).toContain('give --width as well')
    expect(pv.message).not.toContain('--guest as well')
    // A command without the flags (identify, dump-core) does not advise them.
    const bare = await walkError(Buffer.alloc(64, 0x41))
    expect(bare.code).toBe('undetectable')
    expect(bare.message).toBe('byte 0: cannot tell what this image is: not a v2 stream, and no legacy layout (PV or HVM, 32- or 64-bit toolstack) fits its first bytes')
  })

  test('a PV image is told by the marker and any known block id, wherever the vcpu block is', async () => {
    for (const width of [64, 32] as const) {
      for (const blocks of [
        [{id: 'extv'}, {id: 'vcpu', size: EXT_VCPU_64}],
        [{id: 'xcnt', data: Buffer.from([0x40, 2, 0, 0])}, {id: 'vcpu', size: EXT_VCPU_64}, {id: 'extv'}],
        // An unknown block first: the vcpu block behind it is found by following the block sizes.
        [{id: 'abcd', data: Buffer.alloc(12)}, {id: 'vcpu', size: EXT_VCPU_64}, {id: 'extv'}],
      ]) {
        const image = await firstEvent(buildLegacy(smallSpec('pv', width, {ext: {blocks}})))
        expect(image).toMatchObject({kind: 'image', guest: 'pv', toolstackWidth: width, guestFrom: 'detected', widthFrom: 'detected'})
      }
    }
  })

  test('a 32-bit HVM image whose body is only the end chunk is read as 32-bit', async () => {
    for (const ioreq of [0xfeffen, 5n, 0n]) {
      const bytes = buildLegacy({width: 32, guest: 'hvm', p2mSize: 4, chunks: [], hvm: {ioreq, qemu: null}})
      const evs = await walk(bytes)
      expect(evs[0]).toMatchObject({toolstackWidth: 32, guest: 'hvm', widthFrom: 'detected', p2mSize: 4})
      expect(one(evs, 'hvm-magic-pfns')[0]).toMatchObject({offset: 8, ioreq})
    }
    // ...and a 64-bit one as 64-bit.
    const evs = await walk(buildLegacy({width: 64, guest: 'hvm', p2mSize: 4, chunks: [], hvm: {qemu: null}}))
    expect(evs[0]).toMatchObject({toolstackWidth: 64, guest: 'hvm'})
  })

  test('a flag the image contradicts is overruled, with a warning naming both', async () => {
    const cases = [
      // libxl passes its own width: a 32-bit dom0's image restored on a 64-bit one.
      {spec: smallSpec('pv', 32), flags: {width: 64, guest: 'pv'}, want: {toolstackWidth: 32, guest: 'pv'}, says: ['--width 64 was given', 'saved by a 32-bit toolstack']},
      {spec: smallSpec('hvm', 32), flags: {width: 64, guest: 'hvm'}, want: {toolstackWidth: 32, guest: 'hvm'}, says: ['--width 64 was given', 'saved by a 32-bit toolstack']},
      {spec: smallSpec('pv', 64), flags: {width: 32}, want: {toolstackWidth: 64, guest: 'pv'}, says: ['--width 32 was given', 'saved by a 64-bit toolstack']},
      {spec: smallSpec('hvm', 64), flags: {guest: 'pv'}, want: {toolstackWidth: 64, guest: 'hvm'}, says: ['--guest pv was given', 'an HVM image']},
      {spec: smallSpec('pv', 64), flags: {guest: 'hvm'}, want: {toolstackWidth: 64, guest: 'pv'}, says: ['--guest hvm was given', 'a PV image']},
    ] as const
    for (const c of cases) {
      const bytes = buildLegacy(c.spec)
      for (const src of ['file', 'pipe'] as const) {
        const evs = await walk(bytes, c.flags, src)
        expect(evs[0]).toMatchObject(c.want)
        const warnings = one(evs, 'warning')
        expect(warnings).toHaveLength(1)
        expect(warnings[0].offset).toBe(0)
        for (const text of c.says) expect(warnings[0].message).toContain(text)
        expect(one(evs, 'done')).toHaveLength(1)
      }
    }
  })

  test('an HVM reading is followed through metadata chunks (vcpu_info, toolstack) to the page batch that confirms it', async () => {
    for (const width of [32, 64] as const) {
      const chunks: ChunkSpec[] = [{kind: 'vcpu_info', online: [0]}, {kind: 'toolstack', physmap: []}, {kind: 'tsc_info'}, {kind: 'pages', range: {start: 0, count: 2}}]
      const bytes = buildLegacy({width, guest: 'hvm', p2mSize: 8, chunks: [...chunks], hvm: {qemu: null}})
      const evs = await walk(bytes, {width: width === 64 ? 32 : 64})
      expect(evs[0]).toMatchObject({toolstackWidth: width, guest: 'hvm', widthFrom: 'detected'})
      expect(one(evs, 'warning')[0].message).toContain('(a page batch of 2 at byte')
    }
  })

  test('flags that agree with the image, or choose where the image is ambiguous, are used without a warning', async () => {
    const evs = await walk(buildLegacy(smallSpec('pv', 32)), {width: 32, guest: 'pv'})
    expect(evs[0]).toMatchObject({toolstackWidth: 32, widthFrom: 'flag', guestFrom: 'flag'})
    expect(one(evs, 'warning')).toEqual([])
    // A 32-bit HVM image with an empty body whose ioreq pfn (1024) also reads
    // as a 64-bit page batch count running past the end: either width fits
    // its first bytes. Unaided, 64 is preferred; --width 32 chooses.
    const bytes = buildLegacy({width: 32, guest: 'hvm', p2mSize: 4, chunks: [], hvm: {ioreq: 0x400n, context: 64, qemu: null}})
    expect((await walkError(bytes)).code).toBe('truncated')
    const flagged = await walk(bytes, {width: 32})
    expect(flagged[0]).toMatchObject({toolstackWidth: 32, guest: 'hvm', widthFrom: 'flag', guestFrom: 'detected'})
    expect(one(flagged, 'warning')).toEqual([])
  })

  test('an empty or tiny input is a truncation', async () => {
    const empty = await walkError(Buffer.alloc(0))
    expect(empty).toBeInstanceOf(TruncatedError)
    expect((empty as TruncatedError).offset).toBe(0)
    const tiny = await walkError(Buffer.from([0x41, 0x41, 0x41, 0x41, 0x41]))
    expect(tiny).toBeInstanceOf(TruncatedError)
    expect((tiny as TruncatedError).offset).toBe(5)
  })

  test('p2m_size at or above 2^32 is refused', async () => {
    const bytes = buildLegacy({width: 64, guest: 'hvm', p2mSize: 1n << 32n, chunks: [], hvm: {qemu: null}})
    const err = await walkError(bytes, {width: 64, guest: 'hvm'})
    expect(err.code).toBe('bad-p2m-size')
    expect(err.message).toContain('too large')
  })

  test('p2m_size 0 is refused at its offset, before anything else is read', async () => {
    for (const guest of ['pv', 'hvm'] as const) {
      for (const width of [64, 32] as const) {
        const {bytes, map} = buildLegacyWithMap(smallSpec(guest, width, {p2mSize: 0, xl: {config: 'name = "z"\n'}}))
        const err = await walkError(bytes, guest === 'hvm' ? {width, guest} : {})
        expect(err.code).toBe('bad-p2m-size')
        expect(err.message).toContain('p2m_size is 0')
        expect(err.where.offset).toBe(map.image)
      }
    }
  })
})

describe('xl header', () => {
  test('xl-syntax config: domain name, flags, offsets; the image follows the header', async () => {
    const config = 'name = "web01"\nmemory = 512\n'
    const {bytes, map} = buildLegacyWithMap(smallSpec('pv', 64, {xl: {config}}))
    const evs = await walk(bytes)
    const h = evs[0]
    expect(h.kind).toBe('xl-header')
    expect(h.offset).toBe(0)
    expect(h.header).toMatchObject({mandatoryFlags: 0, flags: [], streamV2: false, optionalDataLength: 4 + config.length})
    expect(h.header.config).toEqual({format: 'xl', length: config.length, text: config, name: 'web01'})
    expect(h.header.raw.equals(bytes.subarray(0, map.image))).toBe(true)
    expect(evs[1]).toMatchObject({kind: 'image', offset: 48 + 4 + config.length, guest: 'pv', toolstackWidth: 64})
    expect(evs[2].offset).toBe(evs[1].offset + 8)
  })

  test('JSON config (mandatory bit 0): domain name from c_info', async () => {
    const config = JSON.stringify({c_info: {name: 'win7', type: 'hvm'}, b_info: {}})
    const evs = await walk(buildLegacy(smallSpec('hvm', 32, {xl: {config, json: true}})))
    expect(evs[0].header).toMatchObject({mandatoryFlags: 1, flags: ['config-json']})
    expect(evs[0].header.config).toMatchObject({format: 'json', name: 'win7'})
    expect(evs[1]).toMatchObject({kind: 'image', toolstackWidth: 32, guest: 'hvm'})
  })

  test('configs without a name, and optional flags', async () => {
    const a = await walk(buildLegacy(smallSpec('pv', 64, {xl: {config: 'memory = 1\n', optionalFlags: 0x80}})))
    expect(a[0].header.config.name).toBeUndefined()
    expect(a[0].header.optionalFlags).toBe(0x80)
    const b = await walk(buildLegacy(smallSpec('pv', 64, {xl: {config: '{not json', json: true}})))
    expect(b[0].header.config).toMatchObject({format: 'json', name: undefined})
    const c = await walk(buildLegacy(smallSpec('pv', 64, {xl: {}})))
    expect(c[0].header).toMatchObject({optionalDataLength: 0, config: undefined})
    expect(c[1].offset).toBe(48)
  })

  test('byte order: a big-endian mark and a wrong one are refused at byte 32', async () => {
    const be = await walkError(buildLegacy(smallSpec('pv', 64, {xl: {byteorder: 0x04030201}})))
    expect(be.code).toBe('xl-big-endian')
    expect(be.where.offset).toBe(32)
    const bad = await walkError(buildLegacy(smallSpec('pv', 64, {xl: {byteorder: 0x12345678}})))
    expect(bad.code).toBe('xl-byteorder')
    expect(bad.where.offset).toBe(32)
    expect(bad.got).toBe('0x12345678')
  })

  test('an unknown mandatory flag is refused at byte 36', async () => {
    const err = await walkError(buildLegacy(smallSpec('pv', 64, {xl: {config: 'name="x"', mandatoryFlags: 1 << 2}})))
    expect(err.code).toBe('xl-unknown-mandatory-flag')
    expect(err.where.offset).toBe(36)
    expect(err.message).toContain('0x4')
    const conformance = await walkError(vectorBytes('legacy', 'bad-xl-unknown-mandatory-flag.legacy.gz'))
    expect(conformance.code).toBe('xl-unknown-mandatory-flag')
  })

  test('a config length beyond the optional data is refused', async () => {
    const err = await walkError(buildLegacy(smallSpec('pv', 64, {xl: {config: 'name="x"', configLength: 100}})))
    expect(err.code).toBe('xl-config-length')
    expect(err.where.offset).toBe(48)
  })

  test('optional data running past the end of the input is a truncation', async () => {
    const bytes = buildLegacy({...smallSpec('pv'), xl: {config: 'x', optionalDataLength: 1 << 20}}).subarray(0, 200)
    for (const src of ['file', 'pipe'] as const) {
      const err = await walkError(bytes, {}, src)
      expect(err).toBeInstanceOf(TruncatedError)
      expect((err as TruncatedError).offset).toBe(200)
    }
  })

  test('optional data beyond its maximum is refused before it is read', async () => {
    const err = await walkError(buildLegacy({...smallSpec('pv'), xl: {optionalDataLength: 0xffffffff}}), {}, 'pipe')
    expect(err.code).toBe('length-too-large')
    expect(err.where.offset).toBe(44)
  })

  test('-x without an xl header is refused', async () => {
    const err = await walkError(buildLegacy(smallSpec('pv')), {xlHeader: true})
    expect(err.code).toBe('no-xl-header')
  })
})

describe('extended info', () => {
  const pv = (ext: LegacySpec['ext'], over: Partial<LegacySpec> = {}) => smallSpec('pv', 64, {ext, ...over})

  test('vcpu block 0x1430 is a 64-bit guest with 4 levels, 0xaf0 a 32-bit guest with 3', async () => {
    const e64 = one(await walk(buildLegacy(pv({guestWidth: 64}))), 'extended-info')[0]
    expect(e64).toMatchObject({guestWidth: 8, ptLevels: 4, vcpuContextSize: EXT_VCPU_64, extendedContext: true, xsaveLength: undefined})
    const e32 = one(await walk(buildLegacy(pv({guestWidth: 32, extv: false}))), 'extended-info')[0]
    expect(e32).toMatchObject({guestWidth: 4, ptLevels: 3, vcpuContextSize: EXT_VCPU_32, extendedContext: false})
    expect(e32.totalLength).toBe(8 + EXT_VCPU_32)
  })

  test('extv and xcnt are reported with their offsets; block order does not matter', async () => {
    const {bytes, map} = buildLegacyWithMap(pv({blocks: [{id: 'xcnt', data: Buffer.from([0x50, 0x03, 0, 0])}, {id: 'extv'}, {id: 'vcpu', size: EXT_VCPU_64}]}))
    // Detected as PV without flags: any known block id after the marker will do.
    expect((await walk(bytes))[0]).toMatchObject({guest: 'pv', toolstackWidth: 64, guestFrom: 'detected'})
    const e = one(await walk(bytes, {width: 64, guest: 'pv'}), 'extended-info')[0]
    expect(e.blocks).toEqual([
      {id: 'xcnt', offset: map.extBlocks[0], size: 4},
      {id: 'extv', offset: map.extBlocks[1], size: 0},
      {id: 'vcpu', offset: map.extBlocks[2], size: EXT_VCPU_64},
    ])
    expect(e).toMatchObject({extendedContext: true, xsaveLength: 0x350, totalLength: 12 + 8 + 8 + EXT_VCPU_64})
  })

  test('the total length must be consumed exactly', async () => {
    const base = 8 + EXT_VCPU_64 + 8
    const long = await walkError(buildLegacy(pv({extv: true, totalLength: base + 3})))
    expect(long.code).toBe('extended-info-length')
    expect(long.where.offset).toBe(20 + base)
    const stray = await walkError(buildLegacy(pv({extv: true, totalLength: base - 4})))
    expect(stray.code).toBe('extended-info-length')
    expect(stray.message).toContain('4 stray bytes')
    expect(stray.where.offset).toBe(20 + 8 + EXT_VCPU_64)
    const runsPast = await walkError(buildLegacy(pv({extv: false, totalLength: 108})))
    expect(runsPast.code).toBe('extended-info-length')
    expect(runsPast.message).toContain('"vcpu" runs past')
    expect(runsPast.where.offset).toBe(20)
    const inside = await walkError(buildLegacy(pv({extv: false, totalLength: 4})))
    expect(inside.code).toBe('extended-info-length')
    expect(inside.where.offset).toBe(20)
  })

  test('an unknown block is skipped with a warning naming it and its offset (the 4.5 restorer skips it)', async () => {
    const {bytes, map} = buildLegacyWithMap(
      pv({
        blocks: [
          {id: 'vcpu', size: EXT_VCPU_64},
          {id: 'abcd', data: Buffer.alloc(4)},
        ],
      }),
    )
    const evs = await walk(bytes)
    expect(one(evs, 'extended-info')[0]).toMatchObject({guestWidth: 8, extendedContext: false})
    expect(one(evs, 'warning')).toEqual([
      {kind: 'warning', offset: map.extBlocks[1], code: 'unknown-extended-info-block', message: expect.stringContaining(`unknown extended-info block "abcd" (4 bytes) at byte ${map.extBlocks[1]}`)},
    ])
  })

  test('a vcpu block of any other size is refused', async () => {
    for (const size of [0, 0xaf8, 0x1000, 0x1438]) {
      const err = await walkError(buildLegacy(pv({blocks: [{id: 'vcpu', size}]})), {width: 64, guest: 'pv'})
      expect(err.code).toBe('bad-vcpu-block')
      expect(err.where.offset).toBe(20)
    }
  })

  test('an extv block with data is read as extv (data ignored, with a warning); a malformed xcnt block, and no vcpu block, are refused', async () => {
    const vcpu = {id: 'vcpu', size: EXT_VCPU_64}
    const {bytes, map} = buildLegacyWithMap(pv({blocks: [vcpu, {id: 'extv', data: Buffer.alloc(4)}]}))
    const evs = await walk(bytes)
    expect(one(evs, 'extended-info')[0]).toMatchObject({extendedContext: true})
    expect(one(evs, 'warning')).toEqual([{kind: 'warning', offset: map.extBlocks[1], code: 'extv-block-data', message: expect.stringContaining('carries 4 bytes')}])
    for (const size of [0, 3, 8]) {
      const err = await walkError(buildLegacy(pv({blocks: [vcpu, {id: 'xcnt', data: Buffer.alloc(size)}]})))
      expect(err.code).toBe('bad-xcnt-block')
      expect(err.message).toContain('the Xen 4.5 restorer reads 4 bytes whatever its size')
    }
    expect((await walkError(buildLegacy(pv({blocks: [{id: 'extv'}]})), {width: 64, guest: 'pv'})).code).toBe('no-vcpu-block')
  })

  test('a PV image without the all-ones marker is refused', async () => {
    const err = await walkError(buildLegacy(pv({marker: 0n})), {width: 64, guest: 'pv'})
    expect(err.code).toBe('no-extended-info')
    expect(err.where.offset).toBe(8)
  })

  test('a huge total length is refused before it is read', async () => {
    for (const src of ['file', 'pipe'] as const) {
      const err = await walkError(buildLegacy(pv({totalLength: 0xffffffff})), {}, src)
      expect(err.code).toBe('length-too-large')
      expect(err.where.offset).toBe(16)
    }
  })
})

describe('p2m frame list', () => {
  test.each([
    [64, 64, 1000, 2],
    [64, 32, 1000, 1],
    [32, 64, 513, 2],
    [32, 32, 1025, 2],
    [64, 64, 512, 1],
  ] as const)('%i-bit toolstack, %i-bit guest, p2m_size %i: %i frames, widened to 64 bits', async (width, guestWidth, p2mSize, frames) => {
    const list = Array.from({length: frames}, (_, i) => 0xabc000 + i)
    const {bytes, map} = buildLegacyWithMap({width, guest: 'pv', p2mSize, ext: {guestWidth}, p2mFrames: list, chunks: [{kind: 'vcpu_info', online: [0]}]})
    const evs = await walk(bytes)
    const f = one(evs, 'p2m-frames')[0]
    expect(f.offset).toBe(map.p2mFrames)
    expect(Array.from(f.frames as BigUint64Array)).toEqual(list.map(BigInt))
    expect(map.chunks[0].at).toBe(map.p2mFrames! + frames * (width / 8))
  })
})

describe('PV tail', () => {
  test('contexts follow the online vcpus in ascending order, with extended and xsave parts', async () => {
    const spec = smallSpec('pv', 64, {
      ext: {guestWidth: 64, extv: true, xsaveLength: 0x350},
      chunks: [
        {kind: 'pages', range: {start: 0, count: 2}},
        {kind: 'vcpu_info', online: [5, 0, 2], maxId: 6},
      ],
      pv: {unmapped: [3, 9, 11], xsave: {mask: 0x7n}},
    })
    const {bytes, map} = buildLegacyWithMap(spec)
    const evs = await walk(bytes)
    expect(one(evs, 'unmapped-pfns')[0]).toEqual({kind: 'unmapped-pfns', offset: map.unmapped, count: 3})
    const ctx = one(evs, 'vcpu-context')
    expect(ctx.map((e) => `${e.vcpu}:${e.part}`)).toEqual(['0:basic', '0:extended', '0:xsave', '2:basic', '2:extended', '2:xsave', '5:basic', '5:extended', '5:xsave'])
    expect(ctx.filter((e) => e.part === 'basic').map((e) => e.offset)).toEqual(map.vcpus.map((v) => v.basic))
    expect(ctx.filter((e) => e.part === 'xsave').map((e) => e.offset)).toEqual(map.vcpus.map((v) => v.xsave))
    for (const e of ctx) {
      const size = {basic: EXT_VCPU_64, extended: 128, xsave: 0x350 - 16}[e.part as string]!
      expect(e.data.equals(vcpuContextBytes(e.vcpu, e.part, size))).toBe(true)
      if (e.part === 'xsave') expect(e.xfeatureMask).toBe(7n)
    }
    const shinfo = one(evs, 'shared-info')[0]
    expect(shinfo.offset).toBe(map.sharedInfo)
    expect(shinfo.data.equals(defaultSharedInfo())).toBe(true)
    // 32-bit toolstack: unmapped pfns are 4 bytes each.
    const {bytes: b32, map: m32} = buildLegacyWithMap({...spec, width: 32})
    const e32 = await walk(b32)
    expect(one(e32, 'vcpu-context')[0].offset).toBe(m32.unmapped! + 4 + 3 * 4)
  })

  test('32-bit guest: 0xaf0-byte basic contexts; no extv: no extended context', async () => {
    const spec = smallSpec('pv', 32, {ext: {guestWidth: 32, extv: false}})
    const evs = await walk(buildLegacy(spec))
    const ctx = one(evs, 'vcpu-context')
    expect(ctx.map((e) => [e.vcpu, e.part, e.data.length])).toEqual([
      [0, 'basic', EXT_VCPU_32],
      [1, 'basic', EXT_VCPU_32],
    ])
  })

  test('an xsave area smaller than xcnt allows is read at its size; a larger one is refused', async () => {
    const base = smallSpec('pv', 64, {ext: {guestWidth: 64, xsaveLength: 0x350}, chunks: [{kind: 'vcpu_info', online: [0]}]})
    const smaller = await walk(buildLegacy({...base, pv: {contexts: [{vcpu: 0, xsave: {data: fillBytes(1, 64)}}]}}))
    const x = one(smaller, 'vcpu-context').find((e) => e.part === 'xsave')
    expect(x.data.equals(fillBytes(1, 64))).toBe(true)
    const {bytes, map} = buildLegacyWithMap({...base, pv: {xsave: {size: 0x350n}}})
    const err = await walkError(bytes)
    expect(err.code).toBe('bad-xsave-size')
    expect(err.where.offset).toBe(map.vcpus[0].xsave! + 8)
  })

  test('a PV image without vcpu_info: a warning, and vcpu 0 is read', async () => {
    const {bytes, map} = buildLegacyWithMap(smallSpec('pv', 64, {chunks: [{kind: 'pages', range: {start: 0, count: 2}}]}))
    const evs = await walk(bytes)
    const w = one(evs, 'warning')
    expect(w).toEqual([{kind: 'warning', offset: map.unmapped, code: 'no-vcpu-info', message: expect.stringContaining('vcpu 0')}])
    expect(one(evs, 'vcpu-context').map((e) => `${e.vcpu}:${e.part}`)).toEqual(['0:basic', '0:extended'])
    expect(evs.at(-1).offset).toBe(bytes.length)
  })
})

describe('HVM tail', () => {
  const hvm = (over: LegacySpec['hvm'], width: 32 | 64 = 64) => buildLegacyWithMap(smallSpec('hvm', width, {hvm: over}))

  test('magic pfns and the HVM context', async () => {
    const ctx = fillBytes(9, 3000)
    const {bytes, map} = hvm({ioreq: 0xfeffen, bufioreq: 0xfeffdn, store: 0xfeffcn, context: ctx})
    const evs = await walk(bytes)
    expect(one(evs, 'hvm-magic-pfns')[0]).toEqual({kind: 'hvm-magic-pfns', offset: map.hvmMagic, ioreq: 0xfeffen, bufioreq: 0xfeffdn, store: 0xfeffcn})
    const c = one(evs, 'hvm-context')[0]
    expect(c).toMatchObject({offset: map.hvmContext, length: 3000})
    expect(c.data.equals(ctx)).toBe(true)
    expect(one(evs, 'no-qemu-record')).toEqual([{kind: 'no-qemu-record', offset: bytes.length, reason: 'eof'}])
  })

  test.each(['DeviceModelRecord0002', 'RemusDeviceModelState'])('%s: a length word and that many bytes', async (signature) => {
    for (const src of ['file', 'pipe'] as const) {
      const data = fillBytes(4, 5000)
      const {bytes, map} = hvm({qemu: {signature, data}, context: 100})
      const evs = await walk(Buffer.concat([bytes, Buffer.from('junk')]), {}, src)
      const q = one(evs, 'qemu-record')[0]
      expect(q).toMatchObject({offset: map.qemu, signature, length: 5000})
      expect(q.header.equals(bytes.subarray(map.qemu, map.qemu! + 25))).toBe(true)
      expect(q.data.equals(data)).toBe(true)
      expect(one(evs, 'trailing')).toEqual([{kind: 'trailing', offset: bytes.length, length: 4}])
    }
  })

  test('QemuDeviceModelRecord: the rest of the stream is qemu state', async () => {
    for (const src of ['file', 'pipe'] as const) {
      const data = fillBytes(5, 7000)
      const {bytes, map} = hvm({qemu: {signature: 'QemuDeviceModelRecord', data}})
      const evs = await walk(bytes, {}, src)
      const q = one(evs, 'qemu-record')[0]
      expect(q).toMatchObject({offset: map.qemu, signature: 'QemuDeviceModelRecord', length: src === 'file' ? 7000 : undefined})
      expect(q.header.toString('latin1')).toBe('QemuDeviceModelRecord')
      expect(q.data.equals(data)).toBe(true)
      expect(one(evs, 'trailing')).toEqual([])
    }
  })

  test('skipQemu: no record is looked for, and whatever follows is trailing', async () => {
    const {bytes, map} = hvm({qemu: {signature: 'DeviceModelRecord0002', data: 40}})
    const evs = await walk(bytes, {skipQemu: true})
    expect(one(evs, 'no-qemu-record')).toEqual([{kind: 'no-qemu-record', offset: map.qemu, reason: 'skipped'}])
    expect(one(evs, 'trailing')).toEqual([{kind: 'trailing', offset: map.qemu, length: 21 + 4 + 40}])
  })

  test('an unknown signature is refused at its offset', async () => {
    const {bytes, map} = hvm({qemu: {signature: 'DeviceModelRecord0003', data: 10}})
    const err = await walkError(bytes)
    expect(err.code).toBe('unknown-qemu-signature')
    expect(err.where.offset).toBe(map.qemu)
    expect(err.got).toBe('"DeviceModelRecord0003"')
    expect((await walkError(vectorBytes('legacy', 'bad-qemu-signature-unknown.legacy.gz'))).code).toBe('unknown-qemu-signature')
  })

  test('a qemu length beyond the stream is a truncation', async () => {
    const {bytes} = hvm({qemu: {signature: 'RemusDeviceModelState', data: 10, length: 11}})
    for (const src of ['file', 'pipe'] as const) {
      const err = await walkError(bytes, {}, src)
      expect(err).toBeInstanceOf(TruncatedError)
      expect((err as TruncatedError).offset).toBe(bytes.length)
      expect(err.message).toContain('qemu record')
    }
  })

  test('a 2^32-1 HVM context length is refused without allocating it', async () => {
    const {bytes, map} = hvm({context: 16, contextLength: 0xffffffff})
    for (const src of ['file', 'pipe'] as const) {
      const err = await walkError(bytes, {}, src)
      expect(err.code).toBe('length-too-large')
      expect(err.where.offset).toBe(map.hvmContext)
      expect(err.message).toContain('MAX_HVM_CONTEXT')
    }
  })

  test('an HVM context longer than the file is a truncation found before reading it', async () => {
    const {bytes} = hvm({context: 16, contextLength: 1 << 20, qemu: null})
    const err = await walkError(bytes)
    expect(err).toBeInstanceOf(TruncatedError)
    expect((err as TruncatedError).offset).toBe(bytes.length)
  })
})

describe('trailing bytes', () => {
  test.each(['pv', 'hvm'] as const)('%s: bytes after the image are reported with their offset and length', async (guest) => {
    const spec = smallSpec(guest, 64, {trailing: Buffer.alloc(1234, 0xee), hvm: guest === 'hvm' ? {qemu: {signature: 'DeviceModelRecord0002', data: 10}} : undefined})
    const {bytes, map} = buildLegacyWithMap(spec)
    for (const src of ['file', 'pipe'] as const) {
      const evs = await walk(bytes, {}, src)
      expect(evs.slice(-2)).toEqual([
        {kind: 'trailing', offset: map.trailing, length: 1234},
        {kind: 'done', offset: bytes.length},
      ])
    }
  })
})

describe('transientBatches', () => {
  // Two batches of different pfns; with the option the second batch's arrays
  // take the first's memory (its values are gone), without it each keeps its own.
  const bytes = buildLegacy({
    width: 64,
    guest: 'pv',
    p2mSize: 16,
    chunks: [
      {kind: 'pages', range: {start: 0, count: 4}},
      {kind: 'pages', range: {start: 8, count: 4}},
    ],
  })
  const batches = async (transientBatches: boolean) => {
    const kept: {pfns: Uint32Array; copy: number[]}[] = []
    for await (const ev of walkLegacy(new ByteReader(new BufferSource(bytes)), {transientBatches})) {
      if (ev.kind === 'page-batch') kept.push({pfns: ev.pfns, copy: [...ev.pfns]})
    }
    return kept
  }

  test('off (the default): every batch keeps its own pfns', async () => {
    const [a, b] = await batches(false)
    expect(a.copy).toEqual([0, 1, 2, 3])
    expect(b.copy).toEqual([8, 9, 10, 11])
    expect([...a.pfns]).toEqual([0, 1, 2, 3])
  })

  test('on: the same pfns are seen batch by batch, and the memory is reused', async () => {
    const [a, b] = await batches(true)
    expect(a.copy).toEqual([0, 1, 2, 3])
    expect(b.copy).toEqual([8, 9, 10, 11])
    expect(a.pfns.buffer).toBe(b.pfns.buffer)
    expect(a.pfns.byteOffset).toBe(b.pfns.byteOffset)
    expect([...a.pfns]).toEqual([8, 9, 10, 11])
  })
})
