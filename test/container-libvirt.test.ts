// The libvirt libxl-driver save header (README, "Containers"): read from the
// conformance images, written back byte for byte, and every defect typed.
import {describe, expect, test} from 'vitest'
import {domainName, encodeLibvirtHeader, LIBVIRT_MAGIC, LibvirtHeader, libvirtVersionDefect, MAX_LIBVIRT_XML, readLibvirtHeader, withLibvirtVersion} from '../src/container/libvirt.js'
import {v2Kind} from '../src/legacy/detect.js'
import {containerBytes, containerVectors, formatError, readerOver, SOURCE_KINDS, truncation} from './helpers/containers.js'

const libvirt = containerVectors().filter((v) => v.kind === 'libvirt')
const XML = "<domain type='xen'>\n  <name>db400</name>\n  <memory unit='KiB'>262144</memory>\n</domain>\n"

describe('libvirt vectors', () => {
  test('there are libvirt vectors to read', () => {
    expect(libvirt.map((v) => v.name).sort()).toEqual(['libvirt-v1-holding-v2', 'libvirt-v1-hvm64', 'libvirt-v1-pv64', 'libvirt-v2-hvm64'])
  })

  describe.each(libvirt.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const data = containerBytes(v.input)

    test.each(SOURCE_KINDS)('header read from a %s', async (kind) => {
      const r = readerOver(data, kind)
      const h = await readLibvirtHeader(r)
      expect(h.offset).toBe(0)
      expect(h.xmlLength).toBe(89)
      expect(h.xml).toBe(XML)
      expect(h.domainName).toBe('db400')
      expect(h.unusedZero).toBe(true)
      expect(h.streamOffset).toBe(64 + 89)
      expect(r.offset).toBe(h.streamOffset)
      expect(h.headerBytes.equals(data.subarray(0, h.streamOffset))).toBe(true)
      expect(h.version).toBe(v.name.startsWith('libvirt-v1') ? 1 : 2)
    })

    test('the version claim is checked against the stream that follows', async () => {
      const h = await readLibvirtHeader(readerOver(data))
      const actual = v2Kind(data.subarray(h.streamOffset, h.streamOffset + 32)) ?? 'legacy'
      expect(actual).toBe(v.stream)
      const defect = libvirtVersionDefect(h, actual)
      if (v.valid) {
        expect(defect).toBeUndefined()
      } else {
        // libvirt-v1-holding-v2: version 1 over a libxl v2 stream.
        expect(defect?.code).toBe('libvirt-version-mismatch')
        expect(defect?.offset).toBe(LibvirtHeader.offsets.version)
        expect(defect?.message).toBe(
          'byte 16, libvirt header: version 1 claims a legacy stream, but a libxl stream follows (libvirt would hand it to the legacy converter, which fails on it; repairable: `xst convert` rewrites the version): expected version 2, got version 1',
        )
      }
    })

    test('encoding the header and XML gives the stored bytes back', async () => {
      const h = await readLibvirtHeader(readerOver(data))
      expect(encodeLibvirtHeader({version: h.version, xml: h.xml}).equals(h.headerBytes)).toBe(true)
    })

    test.skipIf(!v.expect.convert)('the converted output starts with the same header at version 2', async () => {
      const h = await readLibvirtHeader(readerOver(data))
      const expected = containerBytes(v.expect.convert!)
      const out = withLibvirtVersion(h.headerBytes, 2)
      expect(out.equals(expected.subarray(0, out.length))).toBe(true)
      // Only the version differs from the input header.
      const diff = [...out].flatMap((b, i) => (b === h.headerBytes[i] ? [] : [i]))
      expect(diff).toEqual(h.version === 2 ? [] : [16])
      // A libxl stream with the legacy option follows.
      expect(expected.toString('latin1', out.length, out.length + 8)).toBe('LibxlFmt')
      expect(expected.readUInt32BE(out.length + 12)).toBe(2)
      const back = await readLibvirtHeader(readerOver(expected))
      expect(back.version).toBe(2)
      expect(libvirtVersionDefect(back, 'libxl')).toBeUndefined()
    })

    test.each(SOURCE_KINDS)('a header cut at any byte is a truncation (%s)', async (kind) => {
      for (let cut = 0; cut < 64 + 89; cut++) {
        const err = await truncation(readLibvirtHeader(readerOver(data.subarray(0, cut), kind)))
        expect(err.offset).toBe(cut)
      }
    })
  })

  test('the repaired holding-v2 image is the v2 vector, byte for byte', () => {
    const input = containerBytes('libvirt-v1-holding-v2.img.gz')
    const fixed = Buffer.concat([withLibvirtVersion(input.subarray(0, 153), 2), input.subarray(153)])
    expect(fixed.equals(containerBytes('libvirt-v1-holding-v2.expected.gz'))).toBe(true)
    expect(fixed.equals(containerBytes('libvirt-v2-hvm64.img.gz'))).toBe(true)
  })
})

describe('libvirt header defects', () => {
  const good = encodeLibvirtHeader({version: 1, xml: XML})
  const withField = (field: 'version' | 'xmlLength', value: number, rest = Buffer.alloc(0)) => {
    const b = Buffer.concat([good, rest])
    LibvirtHeader.fields[field].put(b, LibvirtHeader.offsets[field], value)
    return b
  }

  test('wrong magic', async () => {
    const b = Buffer.from(good)
    b[3] ^= 0x20
    await formatError(readLibvirtHeader(readerOver(b)), 'libvirt-bad-magic', 0)
  })

  test.each([0, 3, 0xffffffff])('unknown version %i', async (version) => {
    const err = await formatError(readLibvirtHeader(readerOver(withField('version', version))), 'libvirt-unknown-version', 16)
    expect(err.got).toBe(String(version))
  })

  test('xml_len 0', async () => {
    await formatError(readLibvirtHeader(readerOver(withField('xmlLength', 0))), 'libvirt-xml-empty', 20)
  })

  test.each(SOURCE_KINDS)('xml_len past the end of the image (%s)', async (kind) => {
    const err = await truncation(readLibvirtHeader(readerOver(withField('xmlLength', 1000), kind)))
    expect(err.offset).toBe(good.length)
    expect(err.message).toMatch(/inside libvirt domain XML/)
  })

  test.each(SOURCE_KINDS)('hostile xml_len 2^32-1 is refused by its named maximum before anything is allocated (%s)', async (kind) => {
    const err = await formatError(readLibvirtHeader(readerOver(withField('xmlLength', 0xffffffff), kind)), 'length-too-large', 20)
    expect(err.message).toContain('MAX_LIBVIRT_XML')
  })

  test('xml_len just over the maximum is refused, the maximum itself is read', async () => {
    await formatError(readLibvirtHeader(readerOver(withField('xmlLength', MAX_LIBVIRT_XML + 1))), 'length-too-large', 20)
    const xml = Buffer.alloc(MAX_LIBVIRT_XML - 1, 0x20)
    const h = await readLibvirtHeader(readerOver(encodeLibvirtHeader({version: 2, xml})))
    expect(h.xmlLength).toBe(MAX_LIBVIRT_XML)
  })

  test('XML not NUL-terminated within xml_len', async () => {
    const b = withField('xmlLength', 88, Buffer.from('tail'))
    const err = await formatError(readLibvirtHeader(readerOver(b)), 'libvirt-xml-not-terminated', 64 + 87)
    expect(err.got).toBe('0x0a')
  })

  test('non-zero unused bytes are noted, not refused', async () => {
    const b = Buffer.from(good)
    b[40] = 1
    expect((await readLibvirtHeader(readerOver(b))).unusedZero).toBe(false)
  })

  test('a version-2 header over a legacy stream, and either over a bare libxc stream, is a mismatch', async () => {
    const v2 = await readLibvirtHeader(readerOver(encodeLibvirtHeader({version: 2, xml: XML})))
    expect(libvirtVersionDefect(v2, 'legacy')?.expected).toBe('version 1')
    expect(libvirtVersionDefect(v2, 'libxc')?.code).toBe('libvirt-version-mismatch')
    expect(libvirtVersionDefect(v2, 'libxl')).toBeUndefined()
  })

  test('the magic is the 16 bytes libvirt writes', () => {
    expect(Buffer.from(LIBVIRT_MAGIC, 'latin1').toString('hex')).toBe('6c6962766972742d786d6c0a2000200d')
    expect(LibvirtHeader.size).toBe(64)
  })
})

describe('domain name from the XML', () => {
  test.each([
    ["<domain type='xen'><name>a</name></domain>", 'a'],
    ['<?xml version="1.0"?>\n<!-- <name>no</name> -->\n<domain>\n <name> spaced &amp; escaped </name>\n</domain>', 'spaced & escaped'],
    ['<domain><metadata><app><name>inner</name></app></metadata><name>outer</name></domain>', 'outer'],
    ['<domain><uuid>x</uuid><os><type arch="x86_64">hvm</type></os><name>late</name></domain>', 'late'],
    ['<domain><name/><name>second</name></domain>', 'second'],
    ['<domain><description><![CDATA[<name>cdata</name>]]></description><name>real</name></domain>', 'real'],
    ['<domain><metadata><name>only-inner</name></metadata></domain>', undefined],
    ['<notdomain><name>x</name></notdomain>', undefined],
    ['<domain><name>unclosed', undefined],
    ['', undefined],
  ])('%j', (xml, name) => {
    expect(domainName(xml)).toBe(name)
  })
})
