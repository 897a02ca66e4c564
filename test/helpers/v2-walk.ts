// Where each header and record of a v2 stream is, found by following the
// framing alone (xl header, libxl header, libxc headers, then 8-byte record
// headers with their bodies padded to 8 bytes) and checking nothing, so a
// test can say "the HVM_PARAMS record" instead of writing down its offset.
// Deliberately independent of src/v2's reader and verifier.
import {Rec} from '../../src/v2/libxc/layout.js'
import {LibxlRec} from '../../src/v2/libxl/layout.js'

export interface Located {
  /** A header's name, or the record type's name ("unknown 0x13" when it has none). */
  what: string
  layer: 'xl' | 'libxl' | 'libxc' | 'tail'
  /** Record index within its layer. */
  index?: number
  type?: number
  offset: number
  /** Header size, or record body length without padding; for the tail, its length. */
  length: number
}

const XL_MAGIC = 'Xen saved domain, xl format\n \0 \r'
const names = (e: Record<string, number>) => new Map(Object.entries(e).map(([k, v]) => [v, k]))
const LIBXC = names(Rec)
const LIBXL = names(LibxlRec)

/** Every header and record of `bytes`, in order, up to where the stream ends or breaks off. */
export function locateV2(bytes: Buffer): Located[] {
  const out: Located[] = []
  let at = 0
  const left = () => bytes.length - at
  if (bytes.toString('latin1', 0, XL_MAGIC.length) === XL_MAGIC) {
    const length = 48 + bytes.readUInt32LE(44)
    out.push({what: 'xl header', layer: 'xl', offset: 0, length})
    at = length
  }
  const next = {libxc: 0, libxl: 0}
  /** Records of one layer up to and including its END; false if the stream ends first. */
  const records = (layer: 'libxc' | 'libxl', onRecord?: (type: number) => boolean): boolean => {
    for (;;) {
      if (left() < 8) return false
      const type = bytes.readUInt32LE(at)
      const length = bytes.readUInt32LE(at + 4)
      const what = (layer === 'libxc' ? LIBXC : LIBXL).get(type) ?? `unknown 0x${type.toString(16)}`
      out.push({what, layer, index: next[layer]++, type, offset: at, length})
      at += 8 + length + ((8 - (length % 8)) % 8)
      if (at > bytes.length) return false
      if (onRecord && !onRecord(type)) return false
      if (type === 0) return true
    }
  }
  const libxc = (): boolean => {
    if (left() < 40) return false
    out.push({what: 'image header', layer: 'libxc', offset: at, length: 24}, {what: 'domain header', layer: 'libxc', offset: at + 24, length: 16})
    at += 40
    return records('libxc')
  }
  let ended: boolean
  if (bytes.toString('latin1', at, at + 5) === 'Libxl') {
    out.push({what: 'libxl header', layer: 'libxl', offset: at, length: 16})
    at += 16
    ended = records('libxl', (type) => type !== LibxlRec.LIBXC_CONTEXT || libxc())
  } else {
    ended = libxc()
  }
  if (ended && left() > 0) out.push({what: 'tail', layer: 'tail', offset: at, length: left()})
  return out
}

/** The `nth` part `what` names ("PAGE_DATA", "image header", "tail"), optionally in one layer. */
export function locate(bytes: Buffer, what: string, nth = 0, layer?: Located['layer']): Located {
  const found = locateV2(bytes).filter((l) => l.what === what && (layer === undefined || l.layer === layer))
  if (!found[nth]) throw new Error(`no ${what} #${nth} in this stream`)
  return found[nth]
}
