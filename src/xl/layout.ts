// The xl save-file header: what `xl save` writes in front of either format
// (optional: other toolstacks write none). A 32-byte magic, a byte-order
// mark, mandatory flags (bit 0: the config is JSON; bit 1: a v2 stream
// follows; any other bit must stop a reader), optional flags, and the length
// of the optional data that follows: a u32 config length and the domain
// config.
import {chars, layout, u32le} from '../format/layout.js'

export const XL_MAGIC = 'Xen saved domain, xl format\n \0 \r'
export const XL_BYTEORDER = 0x01020304

export const XL_MANDATORY_CONFIG_JSON = 1 << 0
export const XL_MANDATORY_STREAM_V2 = 1 << 1
export const XL_MANDATORY_KNOWN = XL_MANDATORY_CONFIG_JSON | XL_MANDATORY_STREAM_V2

/** Bound on the optional data (domain config) before it is read. */
export const MAX_XL_OPTIONAL_DATA = 16 << 20

export const XlHeader = layout('xl header', {
  magic: chars(32),
  byteorder: u32le,
  mandatoryFlags: u32le,
  optionalFlags: u32le,
  optionalDataLen: u32le,
})

export function xlFlagNames(mandatory: number): string[] {
  const names: string[] = []
  if (mandatory & XL_MANDATORY_CONFIG_JSON) names.push('config-json')
  if (mandatory & XL_MANDATORY_STREAM_V2) names.push('stream-v2')
  return names
}
