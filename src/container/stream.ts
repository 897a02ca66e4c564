// The streams a container holds (or that stand alone), by their magics: an
// xl header, a libxc or a libxl v2 stream. Anything else is a legacy stream
// or not an image at all (src/legacy/detect.ts tells).
import {XL_MAGIC} from '../xl/layout.js'
import {LIBXL_MAGIC} from '../v2/libxl/layout.js'
import {detectV2} from '../v2/detect.js'
import type {ByteReader} from '../io/reader.js'
import type {StreamKind} from './module.js'

const LIBXC_MAGIC = Buffer.concat([Buffer.alloc(8, 0xff), Buffer.from('XENF', 'latin1')])

/** The stream kinds sniff recognises at byte 0 (after the containers), with their magics. */
export const STREAM_KINDS = [
  {kind: 'xl', magic: Buffer.from(XL_MAGIC, 'latin1'), family: 'xl', label: 'xl save file'},
  {kind: 'libxc', magic: LIBXC_MAGIC, family: 'v2', label: 'libxc v2 stream'},
  {kind: 'libxl', magic: Buffer.from(LIBXL_MAGIC, 'latin1'), family: 'v2', label: 'libxl v2 stream'},
] as const

/** Enough bytes to tell the streams apart. */
const STREAM_SNIFF_LENGTH = Math.max(...STREAM_KINDS.map((k) => k.magic.length))

/** What the stream at the reader's position is (see StreamKind); nothing is consumed. */
export async function streamKindAt(reader: ByteReader): Promise<StreamKind> {
  const head = Buffer.from(await reader.peek(STREAM_SNIFF_LENGTH))
  if (head.length === 0) return 'empty'
  if (head.length >= XL_MAGIC.length ? head.toString('latin1', 0, XL_MAGIC.length) === XL_MAGIC : XL_MAGIC.startsWith(head.toString('latin1'))) return 'xl'
  return detectV2(head)
}
