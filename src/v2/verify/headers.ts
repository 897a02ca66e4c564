// The headers in front of the records: an xl header's STREAMv2 flag against
// the stream that follows it, the libxl header (Xen's
// docs/specs/libxl-migration-stream.pandoc, "Header"), and the libxc image
// and domain headers (libxc-migration-stream.pandoc, "Image Header" and
// "Domain Header").
import {DOMAIN_TYPE_NAMES, DomainHeader, DomainType, IHDR_IDENT, IHDR_MARKER, IHDR_OPT_BIG_ENDIAN, IHDR_OPT_RESERVED, ImageHeader} from '../libxc/layout.js'
import {LIBXL_IDENT, LIBXL_OPT_BIG_ENDIAN, LIBXL_OPT_LEGACY, LIBXL_OPT_RESERVED, LIBXL_VERSION, LibxlHeader} from '../libxl/layout.js'
import {XL_MANDATORY_STREAM_V2, XlHeader, xlFlagNames} from '../../xl/layout.js'
import type {XlHeaderInfo} from '../../xl/header.js'
import type {Layer} from '../record.js'
import {hex} from '../../text.js'
import type {VerifyContext} from './context.js'
import type {Location} from './verifier.js'

/**
 * An xl header (already read and checked by readXlHeader) in front of the
 * stream. Its flags are taken from `mandatoryFlags` alone: a converter that
 * sets STREAMv2 changes that field, and the names and the STREAMv2 test
 * follow from it here rather than from fields it would have to keep in step.
 */
export function xlHeader(v: VerifyContext, info: XlHeaderInfo): void {
  const xl = {
    offset: info.offset,
    flags: xlFlagNames(info.mandatoryFlags),
    streamV2: (info.mandatoryFlags & XL_MANDATORY_STREAM_V2) !== 0,
    optionalDataLength: info.optionalDataLength,
    domainName: info.config?.name ?? null,
    configType: info.config?.type ?? null,
    config: info.config ? {deviceModel: info.config.deviceModel ?? null} : null,
  }
  v.xl = xl
  v.note({offset: xl.offset, layer: 'xl', name: 'xl header', length: info.raw.length, detail: `flags ${xl.flags.join(', ') || 'none'}${xl.domainName ? `, domain "${xl.domainName}"` : ''}`})
}

/** An xl header's STREAMv2 flag says whether a libxl stream follows it. */
export function xlAgreement(v: VerifyContext, found: Layer): void {
  if (!v.xl) return
  const at: Location = {offset: v.xl.offset + XlHeader.offsets.mandatoryFlags, layer: 'xl', record: 'xl header'}
  if (found === 'libxl' && !v.xl.streamV2) {
    v.report('xl-stream-v2-flag', 'the xl header does not set STREAMv2 (mandatory flag bit 1), but a libxl stream follows; xl would take it for a legacy image', at)
  } else if (found === 'libxc' && v.xl.streamV2) {
    v.report('xl-stream-v2-flag', 'the xl header sets STREAMv2 (mandatory flag bit 1), but a bare libxc stream follows; xl expects a libxl stream there', at)
  }
}

function bigEndian(v: VerifyContext, at: Location): false {
  v.report('big-endian', 'the stream is big-endian (options bit 0); xst checks little-endian (x86) streams only, so nothing after this header was checked', at)
  v.stop('big-endian')
  return false
}

/** The libxl header; false when nothing after it can be checked (a big-endian stream). */
export function libxlHeader(v: VerifyContext, buf: Buffer, offset: number): boolean {
  const at: Location = {offset, layer: 'libxl', record: 'libxl header'}
  const h = LibxlHeader.get(buf)
  if (h.ident !== LIBXL_IDENT) {
    v.report('bad-ident', `libxl header ident is ${hex(h.ident, 16)} ("${latin1(buf, 0, 8)}"); a libxl stream starts with "LibxlFmt"`, at)
  }
  if (h.version !== LIBXL_VERSION) {
    v.report('unknown-version', `libxl stream version ${h.version} is unknown (expected ${LIBXL_VERSION}); the records are checked as version ${LIBXL_VERSION}`, {
      ...at,
      offset: offset + LibxlHeader.offsets.version,
    })
  }
  if (h.options & LIBXL_OPT_RESERVED) {
    v.report('reserved-bits', `libxl header options set reserved bits ${hex(h.options & LIBXL_OPT_RESERVED)}`, {...at, offset: offset + LibxlHeader.offsets.options})
  }
  v.ll.version = h.version
  v.ll.options = h.options
  v.note({offset, layer: 'libxl', name: 'libxl header', length: buf.length, detail: `version ${h.version}${h.options & LIBXL_OPT_LEGACY ? ', converted from a legacy image' : ''}`})
  if (h.options & LIBXL_OPT_BIG_ENDIAN) return bigEndian(v, {...at, offset: offset + LibxlHeader.offsets.options})
  return true
}

/** The libxc image header; false when nothing after it can be checked (a big-endian stream). */
export function imageHeader(v: VerifyContext, buf: Buffer, offset: number): boolean {
  const at: Location = {offset, layer: 'libxc', record: 'image header'}
  const ih = ImageHeader.get(buf)
  const field = (name: keyof typeof ImageHeader.offsets): Location => ({...at, offset: offset + ImageHeader.offsets[name]})
  if (ih.marker !== IHDR_MARKER) {
    v.report('bad-marker', `image header marker is ${hex(ih.marker, 16)}; a v2 stream starts with 0xffffffffffffffff`, at)
  }
  if (ih.id !== IHDR_IDENT) {
    v.report('bad-ident', `image header id is ${hex(ih.id, 8)} ("${latin1(buf, 8, 12)}"); expected 0x58454e46 ("XENF")`, field('id'))
  }
  v.lx.version = ih.version
  if (ih.version !== 2 && ih.version !== 3) {
    v.report('unknown-version', `libxc stream version ${ih.version} is unknown (xst knows 2 and 3); no version-specific rule was applied to the records`, field('version'))
  }
  if (ih.options & IHDR_OPT_RESERVED) {
    v.report('reserved-bits', `image header options set reserved bits ${hex(ih.options & IHDR_OPT_RESERVED)}`, field('options'))
  }
  if (ih.reserved1 !== 0 || ih.reserved2 !== 0) {
    v.report('reserved-field', `image header reserved fields are not zero (${hex(ih.reserved1)}, ${hex(ih.reserved2)})`, field('reserved1'))
  }
  v.note({offset, layer: 'libxc', name: 'image header', length: buf.length, detail: `version ${ih.version}`})
  if (ih.options & IHDR_OPT_BIG_ENDIAN) return bigEndian(v, field('options'))
  return true
}

export function domainHeader(v: VerifyContext, buf: Buffer, offset: number): void {
  const lx = v.lx
  const at: Location = {offset, layer: 'libxc', record: 'domain header'}
  const dh = DomainHeader.get(buf)
  const field = (name: keyof typeof DomainHeader.offsets): Location => ({...at, offset: offset + DomainHeader.offsets[name]})
  lx.domainType = dh.type
  lx.xen = {major: dh.xenMajor, minor: dh.xenMinor}
  if (dh.type === DomainType.X86_PV) lx.guest = 'pv'
  else if (dh.type === DomainType.X86_HVM) lx.guest = 'hvm'
  else if (DOMAIN_TYPE_NAMES[dh.type]) {
    v.report('domain-type', `domain type ${dh.type} (${DOMAIN_TYPE_NAMES[dh.type]}) is not restorable: xst checks x86 PV (1) and HVM (2) streams, so no guest-specific rule was applied`, at)
  } else {
    v.report('domain-type', `domain type ${dh.type} is not defined (1 x86 PV, 2 x86 HVM); no guest-specific rule was applied`, at)
  }
  if (dh.pageShift !== 12) {
    v.report('page-shift', `page shift is ${dh.pageShift}; x86 pages are 4096 bytes (shift 12)`, field('pageShift'))
  }
  if (dh.reserved !== 0) {
    v.report('reserved-field', `domain header reserved field is ${hex(dh.reserved)}, not zero`, field('reserved'))
  }
  const from = dh.xenMajor === 0 ? `a legacy converter (version ${dh.xenMinor})` : `Xen ${dh.xenMajor}.${dh.xenMinor}`
  v.note({offset, layer: 'libxc', name: 'domain header', length: buf.length, detail: `${DOMAIN_TYPE_NAMES[dh.type] ?? `type ${dh.type}`}, from ${from}`})
}

/** Bytes as text, with anything unprintable shown as a dot. */
export function latin1(buf: Buffer, start: number, end: number): string {
  return buf.toString('latin1', start, Math.min(end, buf.length)).replace(/[^\x20-\x7e]/g, '.')
}
