// The page delta compression of Xen 4.5's Remus checkpoints (FORMAT.md §7;
// the facts are tools/libxc/xc_compression.c of the 4.5 tree, read for the
// layout, and xc_domain_restore.c for where it applies). After the first
// checkpoint a saver that enabled compression (chunk -13) sends each page
// batch's pfns alone and the pages of the whole checkpoint as one
// compressed buffer (in one or more compressed_data chunks, -12); each page
// is encoded against the receiver's copy of it, in the order the batches
// list them:
//
// - one byte 0: the page is unchanged;
// - one byte 0x80, then the 4096 bytes of the page: sent whole;
// - otherwise runs until 4096 bytes are covered, each a byte whose low 7
//   bits are a length in 4-byte words (never 0) and whose bit 7 says
//   "skip" (set: keep the receiver's bytes) or "copy" (clear: the next
//   length x 4 bytes of the buffer replace them).
//
// The restorer refuses (xc_compression_uncompress_page()) a buffer that
// ends before a page's encoding does, a zero-length run, a run past the
// page or past the buffer, and runs that do not cover the page exactly.
import {PAGE_SIZE} from '../format/x86.js'

/** The byte of an unchanged page. */
export const COMPRESSED_EMPTY_PAGE = 0x00
/** The byte before a page sent whole. */
export const COMPRESSED_FULL_PAGE = 0x80
/** Bit 7 of a run byte: skip (keep the receiver's bytes); clear: copy from the buffer. */
export const COMPRESSED_SKIP = 0x80
/** The low 7 bits of a run byte: its length in 4-byte words. */
export const COMPRESSED_LENGTH_MASK = 0x7f

/** A defect in a compressed buffer, `at` bytes into it. */
export class CompressedPageError extends Error {
  constructor(
    readonly at: number,
    message: string,
  ) {
    super(message)
  }
}

/**
 * Decode the page that starts `pos` bytes into `buf`, over `page` (the
 * receiver's copy, changed in place); returns where the next page starts.
 */
export function decodeCompressedPage(buf: Uint8Array, pos: number, page: Uint8Array): number {
  if (page.length !== PAGE_SIZE) throw new Error(`internal: a page of ${page.length} bytes`)
  if (pos >= buf.length) throw new CompressedPageError(pos, `the compressed data ends (${buf.length} bytes) before this page's encoding starts`)
  const first = buf[pos]
  if (first === COMPRESSED_EMPTY_PAGE) return pos + 1
  if (first === COMPRESSED_FULL_PAGE) {
    if (pos + 1 + PAGE_SIZE > buf.length) throw new CompressedPageError(pos, `a page sent whole needs ${PAGE_SIZE} bytes after its marker, but the compressed data holds ${buf.length - pos - 1}`)
    page.set(buf.subarray(pos + 1, pos + 1 + PAGE_SIZE))
    return pos + 1 + PAGE_SIZE
  }
  let covered = 0
  do {
    const run = buf[pos]
    const length = (run & COMPRESSED_LENGTH_MASK) * 4
    if (length === 0) throw new CompressedPageError(pos, `a run of length 0 (byte 0x${run.toString(16).padStart(2, '0')}) at page byte ${covered}`)
    pos++
    if (!(run & COMPRESSED_SKIP)) {
      if (pos + length > buf.length) throw new CompressedPageError(pos - 1, `a run copies ${length} bytes, but the compressed data holds ${buf.length - pos}`)
      if (covered + length > PAGE_SIZE) throw new CompressedPageError(pos - 1, `a run copies ${length} bytes at page byte ${covered}, past the end of the page`)
      page.set(buf.subarray(pos, pos + length), covered)
      pos += length
    } else if (covered + length > PAGE_SIZE) {
      // The restorer checks only copied runs against the page; a skip past it leaves the page not covered exactly.
      throw new CompressedPageError(pos - 1, `a run skips ${length} bytes at page byte ${covered}, past the end of the page`)
    }
    covered += length
  } while (covered < PAGE_SIZE && pos < buf.length)
  if (covered !== PAGE_SIZE) throw new CompressedPageError(pos, `the runs cover ${covered} bytes of the page, not ${PAGE_SIZE}: the compressed data ends inside it`)
  return pos
}

/** How a page was sent in a compressed checkpoint. */
export type CompressedPageForm = 'unchanged' | 'whole' | 'runs'

/**
 * Where the encoding of the page that starts `pos` bytes into `buf` ends,
 * and its form, without decoding it: what the walker needs to split a
 * checkpoint's compressed data into pages. Undefined when `buf` ends
 * before the encoding does (the rest may come in the next compressed_data
 * chunk: the restorer joins them). Refuses what decodeCompressedPage
 * refuses whatever follows: a zero-length run, a run past the page.
 */
export function measureCompressedPage(buf: Uint8Array, pos: number): {end: number; form: CompressedPageForm} | undefined {
  if (pos >= buf.length) return undefined
  const first = buf[pos]
  if (first === COMPRESSED_EMPTY_PAGE) return {end: pos + 1, form: 'unchanged'}
  if (first === COMPRESSED_FULL_PAGE) return pos + 1 + PAGE_SIZE <= buf.length ? {end: pos + 1 + PAGE_SIZE, form: 'whole'} : undefined
  let covered = 0
  while (covered < PAGE_SIZE) {
    if (pos >= buf.length) return undefined
    const run = buf[pos]
    const length = (run & COMPRESSED_LENGTH_MASK) * 4
    if (length === 0) throw new CompressedPageError(pos, `a run of length 0 (byte 0x${run.toString(16).padStart(2, '0')}) at page byte ${covered}`)
    const copy = !(run & COMPRESSED_SKIP)
    if (covered + length > PAGE_SIZE) throw new CompressedPageError(pos, `a run ${copy ? 'copies' : 'skips'} ${length} bytes at page byte ${covered}, past the end of the page`)
    pos++
    if (copy) {
      if (pos + length > buf.length) return undefined
      pos += length
    }
    covered += length
  }
  return {end: pos, form: 'runs'}
}
