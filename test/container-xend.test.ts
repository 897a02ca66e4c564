// xend `xm save` files (README, "Containers"): header and SXP config over the
// conformance images, the trailing qemu record of HVM images, the xl
// header a conversion writes, and every header defect typed.
import {describe, expect, test} from 'vitest'
import {readQemuRecordHeader, XEND_QEMU_RECORDS} from '../src/legacy/qemu-record.js'
import {encodeXendHeader, isXendHeader, MAX_XEND_CONFIG, parseXendConfig, readXendHeader, XendHeader, xlHeaderForXend} from '../src/container/xend.js'
import {FormatError} from '../src/errors.js'
import {detectLegacy} from '../src/legacy/detect.js'
import type {ImageEvent} from '../src/legacy/events.js'
import {walkLegacy} from '../src/legacy/walker.js'
import {readXlHeader} from '../src/xl/header.js'
import {containerBytes, containerVectors, formatError, readerOver, SOURCE_KINDS, truncation} from './helpers/containers.js'

const xend = containerVectors().filter((v) => v.kind === 'xend')
const CONFIG = '(domain (domid 7) (name web400) (memory 256) (vcpus 2) (image (linux (kernel /boot/vmlinuz))))'

describe('xend vectors', () => {
  test('there are xend vectors to read', () => {
    expect(xend.map((v) => v.name).sort()).toEqual(['xend-hvm64', 'xend-pv64'])
  })

  describe.each(xend.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const data = containerBytes(v.input)

    test.each(SOURCE_KINDS)('header and config (%s)', async (kind) => {
      const r = readerOver(data, kind)
      const h = await readXendHeader(r)
      expect(h).toMatchObject({offset: 0, configLength: CONFIG.length, configText: CONFIG, streamOffset: 20 + CONFIG.length})
      expect(h.config).toMatchObject({name: 'web400', memoryMiB: 256, vcpus: 2, imageKind: 'linux', hvm: false})
      expect(h.headerBytes.equals(data.subarray(0, h.streamOffset))).toBe(true)
      expect(encodeXendHeader(h.configText).equals(h.headerBytes)).toBe(true)
      // The stream decides the guest type: the config says linux (PV) for both images.
      const det = await detectLegacy(r)
      expect(det).toMatchObject({guest: v.guest, width: v.toolstack_width})
    })

    test('HVM: after the HVM tail, the 21-byte QemuDeviceModelRecord marker and qemu state to the end', async () => {
      const r = readerOver(data)
      await readXendHeader(r)
      let image: ImageEvent | undefined
      for await (const ev of walkLegacy(r, {skipQemu: true})) {
        if (ev.kind === 'image') image = ev
        if (ev.kind === 'no-qemu-record' || ev.kind === 'shared-info') break
      }
      expect(image?.guest).toBe(v.guest)
      const q = await readQemuRecordHeader(r, XEND_QEMU_RECORDS)
      if (v.guest === 'pv') {
        expect(q).toBeUndefined()
        return
      }
      expect(q).toMatchObject({offset: 263882, length: data.length - 263882 - 21, dataOffset: 263903})
      expect(q!.header.toString('latin1')).toBe('QemuDeviceModelRecord')
    })

    test('the conversion writes an xl header (STREAMv2, no optional data) and the libxl stream', async () => {
      const expected = containerBytes(v.expect.convert!)
      const xl = xlHeaderForXend()
      expect(xl.equals(expected.subarray(0, xl.length))).toBe(true)
      const back = await readXlHeader(readerOver(expected))
      expect(back).toMatchObject({mandatoryFlags: 2, optionalFlags: 0, optionalDataLength: 0, streamV2: true, flags: ['stream-v2']})
      expect(expected.toString('latin1', 48, 56)).toBe('LibxlFmt')
    })

    test.each(SOURCE_KINDS)('a header cut at any byte is a truncation (%s)', async (kind) => {
      for (let cut = 0; cut < 20 + CONFIG.length; cut++) {
        const err = await truncation(readXendHeader(readerOver(data.subarray(0, cut), kind)))
        expect(err.offset).toBe(cut)
      }
    })
  })
})

describe('xend header defects', () => {
  const withLength = (n: number, config = CONFIG) => {
    const b = encodeXendHeader(config)
    XendHeader.fields.configLength.put(b, XendHeader.offsets.configLength, n)
    return b
  }

  test('the length is big-endian and signed', () => {
    const b = encodeXendHeader(CONFIG)
    expect(b.readUInt32BE(16)).toBe(CONFIG.length)
    expect(isXendHeader(b)).toBe(true)
  })

  test('wrong signature', async () => {
    await formatError(readXendHeader(readerOver(Buffer.from('LinuxGuestRecorD\0\0\0\x01('))), 'xend-bad-signature', 0)
  })

  test.each([0, -1, -0x80000000])('length %i is not a length', async (n) => {
    await formatError(readXendHeader(readerOver(withLength(n))), 'xend-config-length', 16)
  })

  test.each(SOURCE_KINDS)('hostile length 2^31-1 is refused by its named maximum before allocation (%s)', async (kind) => {
    const err = await formatError(readXendHeader(readerOver(withLength(0x7fffffff), kind)), 'length-too-large', 16)
    expect(err.message).toContain('MAX_XEND_CONFIG')
    await formatError(readXendHeader(readerOver(withLength(MAX_XEND_CONFIG + 1), kind)), 'length-too-large', 16)
  })

  test.each(SOURCE_KINDS)('length past the end of the image (%s)', async (kind) => {
    const b = withLength(CONFIG.length + 10)
    expect((await truncation(readXendHeader(readerOver(b, kind)))).offset).toBe(b.length)
  })

  test.each([
    ['(domain (name x)', 'xend-config-syntax', 20],
    ['  (vm (name x))', 'xend-config-not-domain', 22],
    ['domain', 'xend-config-not-domain', 20],
    ['(domain "unterminated)', 'xend-config-syntax', 28],
  ])('config %j', async (config, code, offset) => {
    await formatError(readXendHeader(readerOver(encodeXendHeader(config))), code, offset)
  })
})

describe('the SXP config', () => {
  test('HVM, quoted values, comments, and values that are not numbers', () => {
    const c = parseXendConfig(
      "# saved by xend\n(domain (name 'my vm') (uuid \"1234-5678\") (memory big) (vcpus 4)\n (image (hvm (kernel '') (device_model /usr/lib/xen/bin/qemu-dm))) (device (vif (mac 00:16:3e:00:00:01))))",
    )
    expect(c).toMatchObject({name: 'my vm', uuid: '1234-5678', memoryMiB: undefined, vcpus: 4, hvm: true, imageKind: 'hvm'})
  })

  test('no image: not HVM, kind unknown', () => {
    expect(parseXendConfig('(domain (name x))')).toMatchObject({name: 'x', hvm: false, imageKind: undefined})
  })

  test('offsets in messages are absolute', () => {
    try {
      parseXendConfig('(domain\n (name x)', 1000)
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(FormatError)
      expect((err as FormatError).offset).toBe(1000)
    }
  })
})
