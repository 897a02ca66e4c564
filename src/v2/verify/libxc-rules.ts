// The per-type checks of libxc records, one per type of the libxc record
// table (../libxc/records.ts), mapped to their types in checks.ts. What a
// record holds is Xen's docs/specs/libxc-migration-stream.pandoc; what is
// an error and what a warning is what the restorer does with it
// (restorer.ts names the function each rule mirrors). Each check reports
// through the context and returns what the listing shows.
import {
  CPUID_POLICY_ENTRY_SIZE,
  HvmParamEntry,
  HvmParamsHeader,
  MAX_PAGE_DATA_PFNS,
  MSR_POLICY_ENTRY_SIZE,
  PageDataHeader,
  Rec,
  SHARED_INFO_SIZE,
  VCPU_MSR_ENTRY_SIZE,
  VcpuHeader,
  X86PvInfo,
  X86PvP2mFramesHeader,
  X86TscInfo,
} from '../libxc/layout.js'
import {EXT_VCPU_32, EXT_VCPU_64, EXTENDED_VCPU_CONTEXT_SIZE, MAX_VCPU_ID, MIN_XSAVE_CONTEXT_SIZE, PAGE_SIZE, PAGE_TYPE_NAMES, pageTypeHasData} from '../../format/x86.js'
import {paddedLength, PfnWord, type RecordInfo, type RecordKind} from '../record.js'
import {hex, plural} from '../../text.js'
import {u32Words} from '../../io/words.js'
import type {Checked, VerifyContext} from './context.js'
import type {Location} from './verifier.js'
import type {RuleCode} from './restorer.js'

type RecName = keyof typeof Rec

/** Per page type (0-15): defined (VALID), followed by a page of contents (HAS_DATA). */
const VALID = 1
const HAS_DATA = 2
const PAGE_TYPE_FLAGS = Uint8Array.from({length: 16}, (_, t) => (PAGE_TYPE_NAMES[t] === undefined ? 0 : VALID | (pageTypeHasData(t) ? HAS_DATA : 0)))

/** The key once() reports "`need` missing before a record" under: one report per rule and record type. */
const needKey = (code: RuleCode, need: RecName) => `${code}:${need}`

/** PV ordering: `rec` needs a record of type `need` before it, or `code` is reported (once). */
function requirePv(v: VerifyContext, rec: RecordInfo, kind: RecordKind, need: 'X86_PV_INFO' | 'X86_PV_P2M_FRAMES' | 'PAGE_DATA', code: RuleCode, why: string): void {
  if (v.lx.guest !== 'pv' || v.lx.seen(Rec[need])) return
  v.once(needKey(code, need), code, `${kind.name} before any ${need}: ${why}`, v.at(rec))
}

/**
 * The records END checks were sent: the code of a stream without one, and
 * the ordering error that already said so (then END says nothing more).
 */
const MISSING = {
  STATIC_DATA_END: {code: 'missing-static-data-end', orderCode: 'order-static-data-end'},
  X86_PV_INFO: {code: 'missing-x86-pv-info', orderCode: 'order-x86-pv-info'},
  X86_PV_P2M_FRAMES: {code: 'missing-x86-pv-p2m-frames', orderCode: 'order-x86-pv-p2m-frames'},
  SHARED_INFO: {code: 'missing-shared-info', orderCode: undefined},
  HVM_CONTEXT: {code: 'missing-hvm-context', orderCode: undefined},
} as const satisfies Partial<Record<RecName, {code: RuleCode; orderCode: RuleCode | undefined}>>

/**
 * Memory and the p2m come after STATIC_DATA_END. A version 3 stream must
 * send it first; in a version 2 stream the restorer takes the first such
 * record as its place (handle_page_data(), handle_x86_pv_p2m_frames()).
 */
function requireStaticDataEnd(v: VerifyContext, rec: RecordInfo, kind: RecordKind): void {
  const lx = v.lx
  if (lx.staticDataEnd) return
  if (lx.version === 2) lx.staticDataEnd = {index: rec.index, inferred: true}
  else if (lx.version === 3)
    v.once(
      needKey('order-static-data-end', 'STATIC_DATA_END'),
      'order-static-data-end',
      `${kind.name} before STATIC_DATA_END: a version 3 stream ends its static data before any memory or p2m`,
      v.at(rec),
    )
}

/** Pfns of each type in one record (scratch, emptied after each). */
const byType = new Float64Array(16)
const scanned = {withData: 0, undefinedTypes: 0, maxPfn: 0}

/**
 * One PAGE_DATA record's pfn words (two u32 halves each, see PfnWord):
 * counts by type into byType, the words with reserved bits or an undefined
 * type into `bad`, the pages with data and the highest pfn. A plain
 * function with one small loop, so it is optimized on its own.
 */
function scanPfnWords(words: Uint32Array, count: number, bad: {reserved: number[]; type: number[]}): typeof scanned {
  // Most records: every word of one defined type, no reserved bit, pfns
  // below 2^32. Then only that is checked per word, and the highest pfn kept.
  const top = words[1] & 0xfff00000
  const flags0 = PAGE_TYPE_FLAGS[top >>> 28]
  if (flags0 !== 0 && (top & 0x0ff00000) === 0) {
    let maxLow = 0
    let i = 0
    for (; i < count; i++) {
      if (words[2 * i + 1] !== top) break
      const lo = words[2 * i]
      if (lo > maxLow) maxLow = lo
    }
    if (i === count) {
      byType[top >>> 28] += count
      scanned.withData = flags0 & HAS_DATA ? count : 0
      scanned.undefinedTypes = 0
      scanned.maxPfn = maxLow
      return scanned
    }
  }
  let withData = 0
  let undefinedTypes = 0
  let maxHigh = 0
  let maxLow = 0
  for (let i = 0; i < count; i++) {
    const lo = words[2 * i]
    const hi = words[2 * i + 1]
    const type = hi >>> 28
    byType[type]++
    if (hi & 0x0ff00000) bad.reserved.push(i)
    const flags = PAGE_TYPE_FLAGS[type]
    if (flags === 0) {
      bad.type.push(i)
      undefinedTypes++
    } else if (flags & HAS_DATA) withData++
    const high = hi & 0xfffff
    if (high > maxHigh || (high === maxHigh && lo > maxLow)) {
      maxHigh = high
      maxLow = lo
    }
  }
  scanned.withData = withData
  scanned.undefinedTypes = undefinedTypes
  scanned.maxPfn = maxHigh * 2 ** 32 + maxLow
  return scanned
}

export function pageData(v: VerifyContext, rec: RecordInfo, kind: RecordKind): Checked | void {
  const lx = v.lx
  requirePv(v, rec, kind, 'X86_PV_INFO', 'order-x86-pv-info', 'the restorer needs the guest width first')
  requirePv(v, rec, kind, 'X86_PV_P2M_FRAMES', 'order-x86-pv-p2m-frames', 'the restorer refuses pfns beyond a p2m it has not been sent')
  requireStaticDataEnd(v, rec, kind)
  if (v.short(rec, kind)) return
  const {count, reserved} = PageDataHeader.get(rec.head)
  if (reserved !== 0) v.report('reserved-field', `PAGE_DATA reserved field is ${hex(reserved)}, not zero`, v.at(rec, 8 + PageDataHeader.offsets.reserved))
  if (count === 0) {
    v.report('page-data-empty', 'PAGE_DATA count is 0; a record carries at least one pfn', v.at(rec, 8))
    return
  }
  if (count > MAX_PAGE_DATA_PFNS) {
    v.report('page-data-count', `PAGE_DATA count ${count} is more than xst checks in one record (${MAX_PAGE_DATA_PFNS}; Xen writes at most 1024)`, v.at(rec, 8))
    return
  }
  const pfnBytes = PageDataHeader.size + PfnWord.size * count
  if (pfnBytes > rec.length) {
    v.report('page-data-size', `PAGE_DATA count ${count} needs ${pfnBytes} bytes of header and pfns, but the body is only ${rec.length} bytes`, v.at(rec))
    return
  }
  if (rec.head.length < pfnBytes) throw new Error(`internal: PAGE_DATA record ${rec.index} was shown without its pfns`)

  const bad = {reserved: [] as number[], type: [] as number[], range: [] as number[]}
  const end = lx.guest === 'pv' ? lx.p2mEndPfn : undefined
  const wordAt = (i: number) => PageDataHeader.size + PfnWord.size * i
  // Each pfn word as two u32 halves over the record's bytes (see PfnWord):
  // no call and no object per pfn.
  const words = u32Words(rec.head, PageDataHeader.size, count * 2)
  const {withData, undefinedTypes, maxPfn} = scanPfnWords(words, count, bad)
  if (end !== undefined && maxPfn > end) {
    for (let i = 0; i < count; i++) if ((words[2 * i + 1] & 0xfffff) * 2 ** 32 + words[2 * i] > end) bad.range.push(i)
  }
  for (let t = 0; t < 16; t++) {
    if (byType[t]) lx.pages.byType.set(t, (lx.pages.byType.get(t) ?? 0) + byType[t])
    byType[t] = 0
  }
  lx.pages.pfns += count
  lx.pages.withData += withData

  const word = (i: number) => hex(rec.head.readBigUInt64LE(wordAt(i)), 16)
  const pfnAt = (i: number) => v.at(rec, 8 + wordAt(i))
  const more = (list: number[]) => (list.length > 1 ? ` (and ${plural(list.length - 1, 'more pfn')} in this record)` : '')
  if (bad.reserved.length) {
    const i = bad.reserved[0]
    v.report('pfn-reserved-bits', `pfn[${i}] ${word(i)} sets reserved bits 59-52${more(bad.reserved)}`, pfnAt(i))
  }
  if (bad.type.length) {
    const i = bad.type[0]
    v.report('pfn-type-invalid', `pfn[${i}] ${word(i)} has page type ${PfnWord.type(rec.head, wordAt(i))}; types 5-8 are not defined${more(bad.type)}`, pfnAt(i))
  }
  if (bad.range.length) {
    const i = bad.range[0]
    v.report('pfn-out-of-range', `pfn[${i}] is ${hex(PfnWord.pfn(rec.head, wordAt(i)))}, beyond the last pfn of the p2m (${hex(end!)}, from X86_PV_P2M_FRAMES)${more(bad.range)}`, pfnAt(i))
  }
  // Pages of an undefined type may or may not have been given data: accept either.
  const dataBytes = rec.length - pfnBytes
  const pages = dataBytes / PAGE_SIZE
  if (!Number.isInteger(pages) || pages < withData || pages > withData + undefinedTypes) {
    const expected = pfnBytes + PAGE_SIZE * withData
    v.report('page-data-size', `PAGE_DATA body is ${rec.length} bytes, but ${plural(count, 'pfn')} with ${withData} data pages make 8 + 8·${count} + 4096·${withData} = ${expected}`, v.at(rec))
  }
  return {detail: `${plural(count, 'pfn')}, ${withData} with data`, pages: {pfns: count, withData}}
}

export function pvInfo(v: VerifyContext, rec: RecordInfo): Checked | void {
  const lx = v.lx
  const first = lx.firstIndex.get(Rec.X86_PV_INFO)
  if (first !== undefined) {
    v.report('duplicate-pv-info', `a second X86_PV_INFO (the first is record ${first}); the restorer refuses it`, v.at(rec))
    return
  }
  if (rec.length < X86PvInfo.size) {
    v.report('record-size', `X86_PV_INFO body is ${rec.length} bytes; it must be ${X86PvInfo.size}`, v.at(rec))
    return
  }
  if (rec.length > X86PvInfo.size) {
    v.report('record-longer', `X86_PV_INFO body is ${rec.length} bytes; the restorer reads its first ${X86PvInfo.size} and ignores the rest`, v.at(rec))
  }
  const info = X86PvInfo.get(rec.head)
  const widthOk = info.guestWidth === 4 || info.guestWidth === 8
  const levelsOk = info.ptLevels === 3 || info.ptLevels === 4
  if (!widthOk) v.report('pv-info-width', `guest width ${info.guestWidth} is not 4 or 8`, v.at(rec, 8))
  if (!levelsOk) v.report('pv-info-levels', `${info.ptLevels} pagetable levels; a PV guest has 3 or 4`, v.at(rec, 9))
  if (widthOk && levelsOk && (info.guestWidth === 8) !== (info.ptLevels === 4)) {
    v.report('pv-info-levels', `guest width ${info.guestWidth} with ${info.ptLevels} pagetable levels: a 64-bit guest has 4 levels, a 32-bit (PAE) guest 3`, v.at(rec, 9))
  }
  if (info.reserved1 !== 0 || info.reserved2 !== 0) v.report('reserved-field', 'X86_PV_INFO reserved fields are not zero', v.at(rec, 10))
  if (widthOk) lx.width = info.guestWidth as 4 | 8
  if (levelsOk) lx.levels = info.ptLevels
  return {detail: `${info.guestWidth * 8}-bit guest, ${info.ptLevels} pagetable levels`}
}

export function p2mFrames(v: VerifyContext, rec: RecordInfo, kind: RecordKind): Checked | void {
  const lx = v.lx
  requirePv(v, rec, kind, 'X86_PV_INFO', 'order-x86-pv-info', 'the restorer needs the guest width to read it')
  requireStaticDataEnd(v, rec, kind)
  if (v.short(rec, kind)) return
  const {startPfn, endPfn} = X86PvP2mFramesHeader.get(rec.head)
  if (startPfn > endPfn) {
    v.report('p2m-frames-range', `start_pfn ${hex(startPfn)} is after end_pfn ${hex(endPfn)}`, v.at(rec, 8))
    return
  }
  if (lx.width) {
    const perFrame = PAGE_SIZE / lx.width
    const frames = Math.floor(endPfn / perFrame) + 1 - Math.floor(startPfn / perFrame)
    const expected = X86PvP2mFramesHeader.size + 8 * frames
    if (rec.length !== expected) {
      v.report(
        'p2m-frames-size',
        `X86_PV_P2M_FRAMES body is ${rec.length} bytes; pfns ${hex(startPfn)}-${hex(endPfn)} of a ${lx.width * 8}-bit guest (${perFrame} per frame) need ${plural(frames, 'frame')}: 8 + 8·${frames} = ${expected}`,
        v.at(rec),
      )
    }
  } else if (rec.length % 8 !== 0) {
    v.report('p2m-frames-size', `X86_PV_P2M_FRAMES body is ${rec.length} bytes, not a whole number of 8-byte frames`, v.at(rec))
  }
  lx.p2mEndPfn = Math.max(lx.p2mEndPfn ?? 0, endPfn)
  return {detail: `pfns ${hex(startPfn)}-${hex(endPfn)}, ${plural((rec.length - 8) >> 3, 'frame')}`}
}

/** X86_PV_VCPU_BASIC, _EXTENDED, _XSAVE and _MSRS. */
export function vcpu(v: VerifyContext, rec: RecordInfo, kind: RecordKind): Checked | void {
  const lx = v.lx
  const name = kind.name
  requirePv(v, rec, kind, 'X86_PV_INFO', 'order-x86-pv-info', 'the restorer sizes vcpu state by the guest width X86_PV_INFO gives')
  // (Memory needs the p2m before it: that is PAGE_DATA's rule, not this one's.)
  requirePv(v, rec, kind, 'PAGE_DATA', 'order-page-data', 'Xen sends vcpu state after guest memory (the restorer keeps it until the end, so it reads on)')
  if (v.short(rec, kind)) return
  const {vcpuId, reserved} = VcpuHeader.get(rec.head)
  if (reserved !== 0) v.report('reserved-field', `${name} reserved field is ${hex(reserved)}, not zero`, v.at(rec, 12))
  const size = rec.length - VcpuHeader.size
  if (size === 0) {
    // Xen 4.6-4.8 wrote these; the restorer skips them.
    v.report('vcpu-record-empty', `${name} for vcpu ${vcpuId} has no context (written by Xen 4.6-4.8; tolerated, see the spec's errata)`, v.at(rec))
    return {detail: `vcpu ${vcpuId}, empty`}
  }
  if (vcpuId > MAX_VCPU_ID) {
    v.report('vcpu-id-range', `vcpu id ${vcpuId} is beyond the ${MAX_VCPU_ID + 1} vcpus a Xen guest can have`, v.at(rec, 8))
    return
  }
  if (rec.type === Rec.X86_PV_VCPU_BASIC) {
    const expected = lx.width === 8 ? EXT_VCPU_64 : lx.width === 4 ? EXT_VCPU_32 : undefined
    if (expected !== undefined && size !== expected) {
      v.report('vcpu-context-size', `${name} context for vcpu ${vcpuId} is ${size} bytes; a ${lx.width! * 8}-bit guest's is ${expected}`, v.at(rec))
    }
    lx.vcpusWithBasic.add(vcpuId)
  } else {
    if (rec.type === Rec.X86_PV_VCPU_XSAVE && size < MIN_XSAVE_CONTEXT_SIZE) {
      v.report('vcpu-context-size', `${name} context for vcpu ${vcpuId} is ${size} bytes; it is at least ${MIN_XSAVE_CONTEXT_SIZE} (the xfeature mask and size words)`, v.at(rec))
    }
    if (rec.type === Rec.X86_PV_VCPU_EXTENDED && size > EXTENDED_VCPU_CONTEXT_SIZE) {
      v.report('vcpu-context-size', `${name} context for vcpu ${vcpuId} is ${size} bytes; it is at most ${EXTENDED_VCPU_CONTEXT_SIZE}`, v.at(rec))
    }
    if (rec.type === Rec.X86_PV_VCPU_MSRS && size % VCPU_MSR_ENTRY_SIZE !== 0) {
      v.report('vcpu-context-size', `${name} for vcpu ${vcpuId} holds ${size} bytes, not a whole number of ${VCPU_MSR_ENTRY_SIZE}-byte MSR entries`, v.at(rec))
    }
    if (!lx.vcpusWithBasic.has(vcpuId)) {
      const seen = lx.vcpuOrphans.get(vcpuId)
      if (seen) seen.more++
      else lx.vcpuOrphans.set(vcpuId, {at: v.at(rec), name, more: 0})
    }
  }
  return {detail: `vcpu ${vcpuId}`}
}

export function sharedInfo(v: VerifyContext, rec: RecordInfo, kind: RecordKind): void {
  requirePv(v, rec, kind, 'X86_PV_INFO', 'order-x86-pv-info', 'the restorer needs the guest width to read it')
  if (rec.length !== SHARED_INFO_SIZE) {
    v.report('record-size', `SHARED_INFO body is ${rec.length} bytes; it must be one ${SHARED_INFO_SIZE}-byte page`, v.at(rec))
  }
}

export function tscInfo(v: VerifyContext, rec: RecordInfo): Checked | void {
  if (rec.length !== X86TscInfo.size) {
    v.report('record-size', `X86_TSC_INFO body is ${rec.length} bytes; it must be ${X86TscInfo.size}`, v.at(rec))
    return
  }
  const tsc = X86TscInfo.get(rec.head)
  if (tsc.reserved !== 0) v.report('reserved-field', `X86_TSC_INFO reserved field is ${hex(tsc.reserved)}, not zero`, v.at(rec, 8 + X86TscInfo.offsets.reserved))
  return {detail: `mode ${tsc.mode}, ${tsc.khz} kHz`}
}

export function hvmContext(v: VerifyContext, rec: RecordInfo): void {
  if (rec.length === 0) v.report('hvm-context-empty', 'HVM_CONTEXT is empty; it must hold the HVM context blob', v.at(rec))
}

export function hvmParams(v: VerifyContext, rec: RecordInfo, kind: RecordKind): Checked | void {
  if (v.short(rec, kind)) return
  const {count, reserved} = HvmParamsHeader.get(rec.head)
  if (reserved !== 0) v.report('reserved-field', `HVM_PARAMS reserved field is ${hex(reserved)}, not zero`, v.at(rec, 12))
  const expected = HvmParamsHeader.size + HvmParamEntry.size * count
  if (rec.length !== expected) {
    const held = (rec.length - HvmParamsHeader.size) / HvmParamEntry.size
    v.report(
      'hvm-params-size',
      `HVM_PARAMS count ${count} needs 8 + 16·${count} = ${expected} bytes, but the body is ${rec.length} (room for ${Number.isInteger(held) ? held : held.toFixed(1)} parameters)`,
      v.at(rec, 8),
    )
  } else if (count === 0) {
    v.report('hvm-params-empty', "HVM_PARAMS holds no parameters (written by Xen 4.6-4.8; tolerated, see the spec's errata)", v.at(rec))
  }
  return {detail: plural(count, 'parameter')}
}

export function toolstack(v: VerifyContext, rec: RecordInfo): void {
  v.report('toolstack-record', 'TOOLSTACK records are deprecated and must not appear in a stream', v.at(rec))
}

export function verify(): Checked {
  return {detail: 'more PAGE_DATA follows for checking'}
}

/**
 * A checkpoint ends (Remus, COLO; FORMAT.md §7): the receiver buffers what
 * follows until the next one, and fails over from the last complete one
 * (xg_sr_restore.c handle_checkpoint()). In a libxl stream the checkpoint
 * is complete at libxl's CHECKPOINT_END (libxl_stream_read.c drops one
 * without it).
 */
export function checkpoint(v: VerifyContext, rec: RecordInfo): Checked {
  v.cp.kind ??= 'remus'
  restoreNeeds(v, v.at(rec))
  if (v.top === 'libxl') {
    v.ll.inCheckpoint = true
    return {detail: `checkpoint ${v.cp.complete + 1}: libxl records follow until CHECKPOINT_END`, next: 'libxl-record'}
  }
  v.cp.close(rec.offset + 8 + paddedLength(rec.length))
  return {detail: `end of checkpoint ${v.cp.complete}`}
}

export function checkpointDirtyPfnList(v: VerifyContext, rec: RecordInfo): void {
  v.report('back-channel-record', 'CHECKPOINT_DIRTY_PFN_LIST belongs to the COLO back channel, never to a saved stream', v.at(rec))
}

export function staticDataEnd(v: VerifyContext, rec: RecordInfo): void {
  const lx = v.lx
  const first = lx.staticDataEnd
  if (first) {
    const which = first.inferred ? `a version 2 stream's restorer takes record ${first.index} for it` : `the first is record ${first.index}`
    v.report('duplicate-static-data-end', `a second STATIC_DATA_END (${which}); the restorer refuses more than one`, v.at(rec))
    return
  }
  lx.staticDataEnd = {index: rec.index, inferred: false}
}

/** X86_CPUID_POLICY and X86_MSR_POLICY: whole entries, before STATIC_DATA_END. */
function policy(entry: number, one: string, many?: string) {
  return (v: VerifyContext, rec: RecordInfo, kind: RecordKind): Checked | void => {
    const sde = v.lx.staticDataEnd
    if (sde) {
      const at = sde.inferred ? `the first memory or p2m record, ${sde.index}, stands for it in a version 2 stream` : `record ${sde.index}`
      v.report('policy-after-static-data-end', `${kind.name} after STATIC_DATA_END (${at}); the restorer has already applied the CPU policy and ignores this one`, v.at(rec))
    }
    if (rec.length === 0 || rec.length % entry !== 0) {
      v.report('record-size', `${kind.name} body is ${rec.length} bytes; it must be a non-zero multiple of ${entry} (one ${one})`, v.at(rec))
      return
    }
    return {detail: plural(rec.length / entry, one, many)}
  }
}

export const cpuidPolicy = policy(CPUID_POLICY_ENTRY_SIZE, 'leaf', 'leaves')
export const msrPolicy = policy(MSR_POLICY_ENTRY_SIZE, 'MSR')

/**
 * What the restorer needs has all been sent, by the END of a plain stream or
 * the first CHECKPOINT of a checkpointed one (a checkpoint is a whole image
 * the receiver may fail over from). Checked once.
 */
function restoreNeeds(v: VerifyContext, at: Location): void {
  const lx = v.lx
  if (lx.needsChecked) return
  lx.needsChecked = true
  const missing = (name: keyof typeof MISSING, why: string) => {
    const {code, orderCode} = MISSING[name]
    if (lx.seen(Rec[name]) || (orderCode && v.reported(needKey(orderCode, name)))) return
    v.report(code, `the stream has no ${name} record: ${why}`, at)
  }
  if (lx.version === 3) missing('STATIC_DATA_END', 'a version 3 stream sends one before its memory (this one sends no memory, so the restorer never needs it)')
  if (lx.guest === 'pv') {
    missing('X86_PV_INFO', 'a PV stream starts with it')
    missing('X86_PV_P2M_FRAMES', 'the restorer cannot rebuild the p2m without it')
    missing('SHARED_INFO', 'a PV guest needs its shared info page')
    if (!lx.vcpusWithBasic.has(0)) v.report('missing-vcpu0', 'the stream has no X86_PV_VCPU_BASIC for vcpu 0; the restorer refuses such a stream', at)
    // One error per vcpu: its first record, and how many more there are.
    for (const [id, first] of lx.vcpuOrphans) {
      if (id === 0 || lx.vcpusWithBasic.has(id)) continue
      const others = first.more ? ` (and ${plural(first.more, 'more record')})` : ''
      v.report('vcpu-without-basic', `${first.name} for vcpu ${id}${others}, but the stream has no X86_PV_VCPU_BASIC for vcpu ${id}`, first.at)
    }
  } else if (lx.guest === 'hvm') {
    missing('HVM_CONTEXT', 'an HVM guest cannot be restored without its context')
    if (!lx.seen(Rec.HVM_PARAMS)) v.report('missing-hvm-params', 'the stream has no HVM_PARAMS record (no ioreq or xenstore pfns)', at)
  }
}

/** The libxc END: what the restorer needs must all have been sent. */
export function end(v: VerifyContext, rec: RecordInfo): Checked {
  restoreNeeds(v, v.at(rec))
  return {next: v.top === 'libxl' ? 'libxl-record' : 'tail'}
}
