// What the first bytes of an input say it is not: gzip-compressed data is
// named as such (and how to feed it decompressed), so no command sends a
// compressed image the wrong way.
import {FormatError} from '../errors.js'
import type {ByteReader} from './reader.js'

/** gzip's two magic bytes (RFC 1952). */
export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b
}

export function gzipError(command: string, offset = 0): FormatError {
  return new FormatError('gzip', `this is gzip-compressed data; decompress it first (zcat IMAGE | xst ${command} -)`, {offset})
}

/** Throw gzipError when the input at the reader's position starts like gzip data. */
export async function refuseGzip(reader: ByteReader, command: string): Promise<void> {
  const offset = reader.offset
  if (isGzip(await reader.peek(2))) throw gzipError(command, offset)
}
