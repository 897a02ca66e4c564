// What libxc and libxl records have in common: the 8-byte record header,
// the optional-type bit, the padding to 8 bytes, and how a record is shown to
// the verifier (Xen's docs/specs/libxc-migration-stream.pandoc, "Records";
// libxl-migration-stream.pandoc, "Record Overview").
import {layout, u32le} from '../format/layout.js'

export type Layer = 'libxc' | 'libxl'

/** Record header shared by libxc and libxl streams: type, then body length without padding. */
export const RecordHeader = layout('record header', {type: u32le, length: u32le})
/** Bit 31 of a record type: a reader that does not know the record may skip it. */
export const REC_OPTIONAL = 0x80000000

/** Zero bytes after a body of `length` bytes, up to the next multiple of 8. */
export function paddingOf(length: number): number {
  // Arithmetic, not bit operations: a u32 length may not fit an int32.
  return (8 - (length % 8)) % 8
}

/** Length rounded up to a multiple of 8. */
export function paddedLength(length: number): number {
  return length + paddingOf(length)
}

/** What the verifier is shown of each record. */
export interface RecordInfo {
  layer: Layer
  /** Index of the record within its layer, from 0. */
  index: number
  /** Absolute offset of the record header. */
  offset: number
  type: number
  /** Body length, without padding. */
  length: number
  /**
   * The body bytes the checks need: the whole body, except PAGE_DATA (only
   * its 8-byte header and pfn array) and EMULATOR_CONTEXT (only its 8-byte
   * header); page contents and emulator blobs are never included.
   */
  head: Buffer
  /** Padding bytes as found in the stream (absent when we wrote them). */
  padding?: Buffer
}
