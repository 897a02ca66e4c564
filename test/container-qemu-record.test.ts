// The qemu record after a legacy HVM tail, in each toolstack's framing.
import {describe, expect, test} from 'vitest'
import {
  BARE_LEGACY_QEMU_RECORDS,
  encodeQemuRecordHeader,
  QEMU_DM_0002,
  QEMU_REMUS,
  QEMU_TO_END,
  QEMU_XENSERVER,
  type QemuRecordVariant,
  readQemuRecordHeader,
  XEND_QEMU_RECORDS,
  XENSERVER_LEGACY_QEMU_RECORDS,
  XENSERVER_LIBXC_LEGACY_QEMU_RECORDS,
} from '../src/legacy/qemu-record.js'
import {formatError, readerOver, SOURCE_KINDS, truncation} from './helpers/containers.js'

const blob = Buffer.from('qemu state: 0123456789abcdef')
const PREFIX = Buffer.from('before..')

function record(v: QemuRecordVariant, data = blob): Buffer {
  return Buffer.concat([PREFIX, encodeQemuRecordHeader(v, data.length), data])
}

describe.each(SOURCE_KINDS)('qemu record header over a %s', (kind) => {
  const at = async (bytes: Buffer, variants: readonly QemuRecordVariant[]) => {
    const r = readerOver(bytes, kind)
    await r.skip(PREFIX.length, 'prefix')
    return {r, h: await readQemuRecordHeader(r, variants)}
  }

  test.each([
    [QEMU_DM_0002, [0x1c, 0, 0, 0]],
    [QEMU_REMUS, [0x1c, 0, 0, 0]],
    [QEMU_XENSERVER, [0, 0, 0, 0x1c]],
  ])('%s: signature, length in its byte order, then the state', async (v, lenBytes) => {
    const bytes = record(v)
    expect([...bytes.subarray(PREFIX.length + v.signature.length, PREFIX.length + v.signature.length + 4)]).toEqual(lenBytes)
    const {r, h} = await at(bytes, [v])
    expect(h).toMatchObject({variant: v, offset: PREFIX.length, length: blob.length, dataOffset: PREFIX.length + v.signature.length + 4})
    expect(h!.header.equals(bytes.subarray(PREFIX.length, h!.dataOffset))).toBe(true)
    expect((await r.read(h!.length!, 'state')).equals(blob)).toBe(true)
    expect(await r.atEnd()).toBe(true)
  })

  test('to-end: no length, the state is the rest of the stream', async () => {
    const {h} = await at(record(QEMU_TO_END), XEND_QEMU_RECORDS)
    expect(h!.variant).toBe(QEMU_TO_END)
    expect(h!.header.toString('latin1')).toBe('QemuDeviceModelRecord')
    expect(h!.length).toBe(kind === 'file' ? blob.length : undefined)
  })

  test("XenServer's signature (with its newline) wins over the 21-byte one it extends", async () => {
    const both = [QEMU_TO_END, QEMU_XENSERVER]
    expect((await at(record(QEMU_XENSERVER), both)).h!.variant).toBe(QEMU_XENSERVER)
    expect((await at(record(QEMU_TO_END), both)).h!.variant).toBe(QEMU_TO_END)
  })

  test('each container accepts its own variants only', async () => {
    // Read as a bare legacy stream, XenServer's record would be taken for a to-end one with 5 stray bytes.
    const misread = await (async () => {
      const r = readerOver(record(QEMU_XENSERVER), kind)
      await r.skip(PREFIX.length, 'prefix')
      return readQemuRecordHeader(r, BARE_LEGACY_QEMU_RECORDS)
    })()
    expect(misread!.variant).toBe(QEMU_TO_END)
    const err = await formatError(at(record(QEMU_TO_END), XENSERVER_LIBXC_LEGACY_QEMU_RECORDS), 'unknown-qemu-signature', PREFIX.length)
    expect(err.expected).toBe('"DeviceModelRecord0002"')
    expect(err.got).toBe('"QemuDeviceModelRecord"')
    const err2 = await formatError(at(Buffer.concat([PREFIX, Buffer.from('\x00\x01garbage that is long enough')]), XENSERVER_LEGACY_QEMU_RECORDS), 'unknown-qemu-signature', PREFIX.length)
    expect(err2.got).toBe('"\\x00\\x01garbage that is lon"')
    expect(err2.expected).toBe('"QemuDeviceModelRecord\\n" or "DeviceModelRecord0002"')
  })

  test('no record: the stream ends right there', async () => {
    expect((await at(PREFIX, XENSERVER_LEGACY_QEMU_RECORDS)).h).toBeUndefined()
  })

  test('cut inside the signature or the length word: a truncation', async () => {
    const bytes = record(QEMU_XENSERVER)
    for (let cut = PREFIX.length + 1; cut < PREFIX.length + 22 + 4; cut++) {
      const err = await truncation(at(bytes.subarray(0, cut), XENSERVER_LEGACY_QEMU_RECORDS))
      expect(err.offset).toBe(cut)
    }
  })

  test('a length of 2^32-1 is not allocated: past the end of a file it is a truncation at once', async () => {
    const bytes = Buffer.concat([PREFIX, encodeQemuRecordHeader(QEMU_XENSERVER, 0xffffffff), blob])
    if (kind === 'file') {
      const err = await truncation(at(bytes, XENSERVER_LEGACY_QEMU_RECORDS))
      expect(err.offset).toBe(bytes.length)
    } else {
      const {h} = await at(bytes, XENSERVER_LEGACY_QEMU_RECORDS)
      expect(h!.length).toBe(0xffffffff)
    }
  })
})

test('the variant sets', () => {
  expect(BARE_LEGACY_QEMU_RECORDS.map((v) => v.signature)).toEqual(['DeviceModelRecord0002', 'RemusDeviceModelState', 'QemuDeviceModelRecord'])
  expect(XENSERVER_LEGACY_QEMU_RECORDS).toEqual([QEMU_XENSERVER, QEMU_DM_0002])
  expect(QEMU_XENSERVER.signature.length).toBe(22)
  expect(() => encodeQemuRecordHeader(QEMU_DM_0002)).toThrow(/needs a length/)
})
