// A PV image's extended info, after p2m_size: a word of all ones, a u32
// length, then blocks (a 4-character id, a u32 size, that many bytes) that
// fill the length exactly. The vcpu block's size gives the guest's width;
// extv and xcnt say what else each vcpu's state holds in the tail.
import {FormatError} from '../errors.js'
import {type Token, u32le} from '../format/layout.js'
import {EXT_VCPU_32, EXT_VCPU_64} from '../format/x86.js'
import type {ByteReader} from '../io/reader.js'
import {hex, printable} from '../text.js'
import type {ExtendedInfoEvent, WarningEvent} from './events.js'
import {ExtInfoBlock, MAX_EXTENDED_INFO} from './layout.js'

/** Read the extended info at the reader's offset; `word` is the toolstack's `unsigned long`. */
export async function readExtendedInfo(r: ByteReader, word: Token<bigint>): Promise<{ext: ExtendedInfoEvent; warnings: WarningEvent[]}> {
  const offset = r.offset
  const marker = await r.readLayout(word, 'extended-info marker')
  const allOnes = (1n << BigInt(word.size * 8)) - 1n
  if (marker !== allOnes) {
    throw new FormatError('no-extended-info', 'a PV image must have an extended-info block after p2m_size', {offset, context: 'extended info', expected: 'marker of all ones', got: hex(marker)})
  }
  const totalAt = r.offset
  const total = await r.readLayout(u32le, 'extended-info length')
  r.checkLength(total, 'extended info', MAX_EXTENDED_INFO, 'MAX_EXTENDED_INFO', {offset: totalAt})
  const blocks: ExtendedInfoEvent['blocks'] = []
  const warnings: WarningEvent[] = []
  let vcpuSize: number | undefined
  let extv = false
  let xsaveLength: number | undefined
  let used = 0
  // Blocks come in any order (the 4.5 restorer loops over them by id).
  while (used < total) {
    const at = r.offset
    if (total - used < ExtInfoBlock.size) {
      throw new FormatError('extended-info-length', 'extended-info length ends inside a block header', {
        offset: at,
        context: 'extended info',
        expected: `a multiple of whole blocks (${total} bytes)`,
        got: `${total - used} stray bytes`,
      })
    }
    const {id, size} = await r.readLayout(ExtInfoBlock, 'extended-info block header')
    used += ExtInfoBlock.size
    if (size > total - used) {
      throw new FormatError('extended-info-length', `extended-info block "${printable(id)}" runs past the extended-info length`, {
        offset: at,
        context: 'extended info',
        expected: `at most ${total - used} bytes`,
        got: `${size}`,
      })
    }
    blocks.push({id, offset: at, size})
    switch (id) {
      case 'vcpu':
        if (size !== EXT_VCPU_64 && size !== EXT_VCPU_32) {
          throw new FormatError('bad-vcpu-block', 'extended-info vcpu block size gives no known guest', {
            offset: at,
            context: 'extended info',
            expected: `${hex(EXT_VCPU_64)} (64-bit guest) or ${hex(EXT_VCPU_32)} (32-bit guest)`,
            got: hex(size),
          })
        }
        vcpuSize = size
        await r.skip(size, 'extended-info vcpu block')
        break
      case 'extv':
        // Its presence is the flag; the restorer reads and discards any bytes it carries.
        if (size !== 0) {
          warnings.push({
            kind: 'warning',
            offset: at,
            code: 'extv-block-data',
            message: `extended-info extv block at byte ${at} carries ${size} bytes; they were ignored, as the Xen 4.5 restorer ignores them`,
          })
          await r.skip(size, 'extended-info extv block')
        }
        extv = true
        break
      case 'xcnt':
        // The restorer reads 4 bytes but counts the whole block as read: any
        // other size leaves it reading the p2m frame list from the wrong place.
        if (size !== 4) {
          throw new FormatError('bad-xcnt-block', 'extended-info xcnt block must hold one u32 (the Xen 4.5 restorer reads 4 bytes whatever its size, and would misread the rest of the image)', {
            offset: at,
            context: 'extended info',
            expected: '4',
            got: `${size}`,
          })
        }
        xsaveLength = await r.readLayout(u32le, 'extended-info xcnt block')
        break
      default:
        warnings.push({
          kind: 'warning',
          offset: at,
          code: 'unknown-extended-info-block',
          message: `unknown extended-info block "${printable(id)}" (${size} bytes) at byte ${at} was skipped, as the Xen 4.5 restorer skips it`,
        })
        await r.skip(size, 'extended-info block')
    }
    used += size
  }
  if (vcpuSize === undefined) {
    throw new FormatError('no-vcpu-block', 'extended info has no vcpu block, so the guest width is unknown', {offset, context: 'extended info'})
  }
  const is64 = vcpuSize === EXT_VCPU_64
  const ext: ExtendedInfoEvent = {
    kind: 'extended-info',
    offset,
    totalLength: total,
    blocks,
    guestWidth: is64 ? 8 : 4,
    ptLevels: is64 ? 4 : 3,
    vcpuContextSize: vcpuSize,
    extendedContext: extv,
    xsaveLength,
  }
  return {ext, warnings}
}
