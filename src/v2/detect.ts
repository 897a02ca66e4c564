// Which v2 format a stream is, from its first bytes. A libxc stream starts
// with its image header (8 bytes of 0xff, then "XENF"); a libxl stream with
// "LibxlFmt". A legacy image never starts with either (Xen's
// docs/specs/libxc-migration-stream.pandoc, "Legacy Images (x86 only)").
import {IHDR_IDENT, ImageHeader} from './libxc/layout.js'
import {LIBXL_MAGIC} from './libxl/layout.js'
import type {Layer} from './record.js'

const LIBXL_MAGIC_BYTES = Buffer.from(LIBXL_MAGIC, 'latin1')

/**
 * What a stream starting with `head` is. A v2 header damaged in one field
 * still says which format it meant to be (a libxc marker with a bad id, an
 * ident with one wrong letter), so it is checked as that format and the
 * damage reported; anything else is taken for a legacy image, unless an xl
 * header in front promised a libxl stream.
 */
export function detectV2(head: Buffer, xlSaysLibxl = false): Layer | 'legacy' {
  if (head.length === 0) return 'legacy'
  const prefix = (magic: Buffer) => head.subarray(0, magic.length).equals(magic.subarray(0, Math.min(magic.length, head.length)))
  if (prefix(LIBXL_MAGIC_BYTES)) return 'libxl'
  const marker = head.subarray(0, 8).every((b) => b === 0xff)
  const ident = head.length >= 12 && head.readUInt32BE(ImageHeader.offsets.id) === IHDR_IDENT
  if (marker || ident) return 'libxc'
  if (head.length >= 5 && prefix(LIBXL_MAGIC_BYTES.subarray(0, 5))) return 'libxl'
  return xlSaysLibxl ? 'libxl' : 'legacy'
}
