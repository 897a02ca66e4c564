// libxl's toolstack data (legacy chunk -18), version 1: the HVM physmap.
// Each entry becomes three xenstore key/value pairs in the v2 stream.
import {FormatError} from '../errors.js'
import {hex} from '../text.js'
import {PhysmapEntryHeader, ToolstackHeader} from './layout.js'
import type {ToolstackWidth} from './events.js'

export interface PhysmapEntry {
  physOffset: bigint
  startAddr: bigint
  size: bigint
  name: string
}

export const TOOLSTACK_VERSION = 1

/**
 * Decode toolstack data found at `offset`. A 64-bit toolstack wrote 4 bytes
 * of struct padding after each name; they are read and dropped. Bytes after
 * the last entry are ignored, as libxl ignores them (it checks only that the
 * data is long enough); `warn` hears of them.
 */
export function decodeToolstack(data: Buffer, width: ToolstackWidth, offset: number, chunkIndex?: number, warn?: (message: string, offset: number) => void): PhysmapEntry[] {
  const where = (at: number) => ({offset: offset + at, index: chunkIndex, indexKind: 'chunk', context: 'toolstack data'})
  if (data.length < ToolstackHeader.size) {
    throw new FormatError('bad-toolstack', 'toolstack data is shorter than its header', {...where(0), expected: `at least ${ToolstackHeader.size} bytes`, got: `${data.length}`})
  }
  const {version, count} = ToolstackHeader.get(data)
  if (version !== TOOLSTACK_VERSION) {
    throw new FormatError('bad-toolstack', 'unknown toolstack data version', {...where(0), expected: `${TOOLSTACK_VERSION}`, got: `${version}`})
  }
  const entries: PhysmapEntry[] = []
  let at = ToolstackHeader.size
  const stray = width === 64 ? 4 : 0
  for (let i = 0; i < count; i++) {
    if (data.length - at < PhysmapEntryHeader.size) {
      throw new FormatError('bad-toolstack', `toolstack data ends inside physmap entry ${i} of ${count}`, {...where(at), expected: `${PhysmapEntryHeader.size} more bytes`, got: `${data.length - at}`})
    }
    const e = PhysmapEntryHeader.get(data, at)
    const nameAt = at + PhysmapEntryHeader.size
    if (e.nameLen > data.length - nameAt - stray) {
      throw new FormatError('bad-toolstack', `physmap entry ${i} name runs past the toolstack data`, {
        ...where(at + PhysmapEntryHeader.offsets.nameLen),
        expected: `at most ${Math.max(0, data.length - nameAt - stray)}`,
        got: `${e.nameLen}`,
      })
    }
    if (e.nameLen === 0 || data[nameAt + e.nameLen - 1] !== 0) {
      throw new FormatError('physmap-name-not-nul', `physmap entry ${i} name is not NUL-terminated`, {
        ...where(nameAt),
        expected: 'a NUL as the last name byte',
        got: e.nameLen === 0 ? 'an empty name' : hex(data[nameAt + e.nameLen - 1], 2),
      })
    }
    const name = data.toString('latin1', nameAt, nameAt + e.nameLen - 1)
    entries.push({physOffset: e.physOffset, startAddr: e.startAddr, size: e.size, name})
    at = nameAt + e.nameLen + stray
  }
  if (at !== data.length) {
    warn?.(`toolstack data at byte ${offset} has ${data.length - at} bytes after its last physmap entry; they were ignored, as libxl ignores them`, offset + at)
  }
  return entries
}

/** The xenstore pairs libxl restores the physmap from. */
export function physmapPairs(entries: PhysmapEntry[]): Array<[string, string]> {
  const hex = (v: bigint) => v.toString(16)
  const pairs: Array<[string, string]> = []
  for (const e of entries) {
    const base = `physmap/${hex(e.physOffset)}`
    pairs.push([`${base}/start_addr`, hex(e.startAddr)], [`${base}/size`, hex(e.size)], [`${base}/name`, e.name])
  }
  return pairs
}
