// libvirt's libxl-driver save image (libvirt's src/libxl/libxl_conf.h and
// libxl_domain.c): a 64-byte header, the
// domain XML, then the stream with no xl header. `virsh save` and
// `managedsave` write it. Version 1 claims a legacy stream, version 2 a
// libxl v2 stream; libvirt before 2016 wrote 1 over either, so the version
// is checked against the stream by the caller, not trusted.
import {FormatError} from '../errors.js'
import type {ByteReader} from '../io/reader.js'
import {bytes, chars, layout, u32le} from '../format/layout.js'
import {hex} from '../text.js'

export const LIBVIRT_MAGIC = 'libvirt-xml\n \0 \r'
/** A legacy (Xen <= 4.5) stream follows. */
export const LIBVIRT_VERSION_LEGACY = 1
/** A libxl v2 stream follows. */
export const LIBVIRT_VERSION_V2 = 2
export const LIBVIRT_VERSIONS: readonly number[] = [LIBVIRT_VERSION_LEGACY, LIBVIRT_VERSION_V2]
/** Bound on the domain XML before it is read. */
export const MAX_LIBVIRT_XML = 16 << 20

export const LibvirtHeader = layout('libvirt save header', {
  magic: chars(16),
  version: u32le,
  /** Including the XML's terminating NUL. */
  xmlLength: u32le,
  unused: bytes(40),
})

export interface LibvirtHeaderInfo {
  /** Offset of the magic. */
  offset: number
  version: number
  /** What the version claims follows. */
  claims: 'legacy' | 'libxl'
  /** xml_len as stored (the XML and its NUL). */
  xmlLength: number
  /** The domain XML, without its terminating NUL. */
  xml: string
  /** `<name>` of the domain, when the XML has one. */
  domainName?: string
  /** The device model binary `<devices><emulator>` names, when the XML has one (libvirt picks the device model from it). */
  emulator?: string
  /** False when the 40 unused bytes are not all zero (libvirt ignores them). */
  unusedZero: boolean
  /** Header and XML exactly as read. */
  headerBytes: Buffer
  /** Offset of the first byte of the stream. */
  streamOffset: number
}

/** True when `head` starts with the libvirt magic. */
export function isLibvirtHeader(head: Buffer): boolean {
  return head.length >= LIBVIRT_MAGIC.length && head.toString('latin1', 0, LIBVIRT_MAGIC.length) === LIBVIRT_MAGIC
}

/** Read the libvirt header and domain XML at the reader's position. */
export async function readLibvirtHeader(reader: ByteReader): Promise<LibvirtHeaderInfo> {
  const offset = reader.offset
  const fixed = await reader.read(LibvirtHeader.size, 'libvirt save header')
  const h = LibvirtHeader.get(fixed)
  const at = (field: keyof typeof LibvirtHeader.offsets) => offset + LibvirtHeader.offsets[field]
  if (h.magic !== LIBVIRT_MAGIC) {
    throw new FormatError('libvirt-bad-magic', 'not a libvirt save image: the magic is wrong', {
      offset,
      context: 'libvirt header',
      expected: JSON.stringify(LIBVIRT_MAGIC),
      got: JSON.stringify(h.magic),
    })
  }
  if (!LIBVIRT_VERSIONS.includes(h.version)) {
    throw new FormatError('libvirt-unknown-version', `libvirt save header version ${h.version} is not one xst knows`, {
      offset: at('version'),
      context: 'libvirt header',
      expected: `${LIBVIRT_VERSION_LEGACY} or ${LIBVIRT_VERSION_V2}`,
      got: String(h.version),
    })
  }
  if (h.xmlLength === 0) {
    throw new FormatError('libvirt-xml-empty', 'libvirt save header has no domain XML (xml_len is 0)', {offset: at('xmlLength'), context: 'libvirt header', expected: 'at least 1', got: '0'})
  }
  reader.checkLength(h.xmlLength, 'libvirt domain XML', MAX_LIBVIRT_XML, 'MAX_LIBVIRT_XML', {offset: at('xmlLength')})
  const xmlAt = reader.offset
  const xmlBytes = await reader.read(h.xmlLength, 'libvirt domain XML')
  if (xmlBytes[xmlBytes.length - 1] !== 0) {
    throw new FormatError('libvirt-xml-not-terminated', 'libvirt domain XML does not end in a NUL within xml_len', {
      offset: xmlAt + xmlBytes.length - 1,
      context: 'libvirt header',
      expected: '0x00',
      got: hex(xmlBytes[xmlBytes.length - 1], 2),
    })
  }
  // libvirt parses up to the first NUL.
  const nul = xmlBytes.indexOf(0)
  const xml = xmlBytes.toString('utf8', 0, nul)
  return {
    offset,
    version: h.version,
    claims: h.version === LIBVIRT_VERSION_LEGACY ? 'legacy' : 'libxl',
    xmlLength: h.xmlLength,
    xml,
    domainName: domainName(xml),
    emulator: emulatorPath(xml),
    unusedZero: h.unused.every((b) => b === 0),
    headerBytes: Buffer.concat([fixed, xmlBytes]),
    streamOffset: reader.offset,
  }
}

/**
 * The version is a claim about the stream that follows; check it against
 * what the stream is (`stream`: what sniffing the bytes at streamOffset
 * found). A mismatch is a defect: libvirt would hand the stream to the
 * wrong reader (a version-1 header over a v2 stream, as libvirt wrote
 * before 2016, makes it run the legacy converter on a v2 stream). Returns
 * the defect, or undefined when the claim holds.
 */
export function libvirtVersionDefect(info: LibvirtHeaderInfo, stream: 'legacy' | 'libxl' | 'libxc'): FormatError | undefined {
  if (stream === info.claims) return undefined
  const expected = stream === 'legacy' ? LIBVIRT_VERSION_LEGACY : stream === 'libxl' ? LIBVIRT_VERSION_V2 : undefined
  return new FormatError(
    'libvirt-version-mismatch',
    `version ${info.version} claims a ${info.claims} stream, but a ${stream} stream follows` +
      (expected === undefined
        ? ' (libvirt reads neither version over a bare libxc stream)'
        : stream === 'libxl'
          ? ' (libvirt would hand it to the legacy converter, which fails on it; repairable: `xst convert` rewrites the version)'
          : ' (libvirt would hand the legacy stream to libxl as a v2 stream; `xst convert` converts it and writes version 2)'),
    {
      offset: info.offset + LibvirtHeader.offsets.version,
      context: 'libvirt header',
      expected: expected === undefined ? 'a legacy or libxl stream' : `version ${expected}`,
      got: `version ${info.version}`,
    },
  )
}

/** A new libvirt header and XML (the XML is written with its terminating NUL). */
export function encodeLibvirtHeader(h: {version: number; xml: string | Buffer}): Buffer {
  const body = typeof h.xml === 'string' ? Buffer.from(h.xml, 'utf8') : h.xml
  if (body.includes(0)) throw new Error('internal: libvirt XML holds a NUL')
  const xml = Buffer.concat([body, Buffer.alloc(1)])
  const head = LibvirtHeader.encode({magic: LIBVIRT_MAGIC, version: h.version, xmlLength: xml.length, unused: Buffer.alloc(40)})
  return Buffer.concat([head, xml])
}

/**
 * The header a conversion writes: the input's header and XML unchanged
 * except for the version (the XML is kept, the version becomes 2, which
 * libvirt writes over a libxl v2 stream; a version-1 header over a v2
 * stream is repaired the same way).
 */
export function withLibvirtVersion(headerBytes: Buffer, version: number): Buffer {
  const out = Buffer.from(headerBytes)
  LibvirtHeader.fields.version.put(out, LibvirtHeader.offsets.version, version)
  return out
}

const ENTITIES: Record<string, string> = {lt: '<', gt: '>', amp: '&', quot: '"', apos: "'"}

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16))
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10))
    return ENTITIES[e] ?? m
  })
}

/**
 * The text of the `<name>` element directly inside the root `<domain>`
 * (not a `<name>` deeper down, e.g. in `<metadata>`). A small scan of the
 * tags, not an XML parser: comments, CDATA and processing instructions are
 * stepped over; anything malformed gives undefined.
 */
/**
 * The text of the domain's `<emulator>` element, if it has one (outside
 * comments): libvirt's libxl driver sets the device model from it
 * (libxlMakeDomBuildInfo(), asking the binary with -help which it is).
 */
export function emulatorPath(xml: string): string | undefined {
  const text = xml.replace(/<!--[\s\S]*?-->/g, '')
  const m = /<emulator(?:\s[^>]*)?>([^<]*)<\/emulator>/.exec(text)
  const path = m?.[1].trim()
  return path ? path : undefined
}

export function domainName(xml: string): string | undefined {
  const tag = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<[?!][^>]*>|<(\/?)([A-Za-z_][\w.:-]*)((?:"[^"]*"|'[^']*'|[^'">])*?)(\/?)>/g
  let depth = 0
  let root: string | undefined
  for (let m = tag.exec(xml); m; m = tag.exec(xml)) {
    const [, close, name, , selfClose] = m
    if (name === undefined) continue
    if (close) {
      depth--
      if (depth < 0) return undefined
      continue
    }
    if (depth === 0) {
      if (root !== undefined) return undefined
      root = name
    } else if (depth === 1 && name === 'name' && root === 'domain' && !selfClose) {
      const end = xml.indexOf('</name>', tag.lastIndex)
      if (end < 0) return undefined
      const text = xml.slice(tag.lastIndex, end)
      if (text.includes('<')) return undefined
      return unescapeXml(text.trim())
    }
    if (!selfClose) depth++
  }
  return undefined
}
