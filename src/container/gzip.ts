// gzip around an image: not a container of its own but a layer over any of
// them (or over a bare stream), read through as a stream in constant
// memory. The reader inside counts decompressed bytes, so offsets in
// messages are into the decompressed image; gzip's own errors name the
// compressed byte. The summary says `compressed`, with the kind of the
// container inside. (Decompressing is an io concern: src/io/gzip-source.ts.)
import {FormatError} from '../errors.js'
import {GzipSource, isGzip, ReaderSource} from '../io/gzip-source.js'
import {ByteReader} from '../io/reader.js'
import type {OpenedImage} from './module.js'

/** How sniff recognises it: 1f 8b and method 8 (deflate), and no reserved flag bit set (isGzip). */
export const GZIP_KIND = {kind: 'gzip', magic: Buffer.from([0x1f, 0x8b, 0x08]), family: 'gzip', label: 'gzip-compressed data', check: isGzip} as const

/** gzip members inside gzip members read through before giving up. */
export const MAX_GZIP_LAYERS = 2

/** One more layer of gzip, `layer` layers deep already: the reader of what it holds, and its source. */
export function throughGzip(reader: ByteReader, layer: number): {reader: ByteReader; gzip: GzipSource} {
  if (layer === MAX_GZIP_LAYERS) {
    throw new FormatError('gzip-nested', `gzip data inside ${layer} layers of gzip: xst reads through at most ${MAX_GZIP_LAYERS}`, {offset: 0, context: 'gzip'})
  }
  const gzip = new GzipSource(new ReaderSource(reader))
  return {reader: new ByteReader(gzip), gzip}
}

/**
 * Read a gzip input on to its end once the image has been read, so that
 * its length and CRC check runs (a damaged or cut gzip stream is an error
 * even when the image itself ended well). Returns the decompressed bytes
 * that were left; 0 and nothing read when the input is not gzip.
 */
export async function drainGzip(img: Pick<OpenedImage, 'gzip' | 'reader'>): Promise<number> {
  if (!img.gzip) return 0
  return img.reader.skipToEnd()
}
