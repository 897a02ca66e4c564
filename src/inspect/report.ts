// Builds the inspect-legacy report from walker events. The text output and
// the --json document are both renderings of this one object.
import type {ByteReader} from '../io/reader.js'
import {HVM_PARAM_NAMES, PAGE_TYPE_NAMES} from '../format/x86.js'
import {NOT_CONVERTIBLE_CHUNKS} from '../legacy/chunks.js'
import {type LegacyEvent, unhandledEvent} from '../legacy/events.js'
import {decodeToolstack, physmapPairs} from '../legacy/toolstack.js'
import {isRunBatch} from '../legacy/batch-scan.js'
import {walkLegacy, type WalkOptions} from '../legacy/walker.js'
import {SpillList} from '../io/spill.js'
import {PfnSet} from '../legacy/pfn-set.js'
import {hvmVcpus} from '../dump/vcpu.js'
import {addWarning, hex} from '../text.js'

export interface ChunkLine {
  index: number | null
  offset: number
  what: string
  size: number | null
  detail: string
}

export interface InspectReport {
  input: string
  bytes: number
  xlHeader: null | {
    mandatoryFlags: number
    optionalFlags: number
    flags: string[]
    optionalDataLength: number
    config: null | {format: 'json' | 'xl'; length: number; domainName: string | null}
  }
  image: {
    offset: number
    guest: 'pv' | 'hvm'
    guestWidth: 32 | 64 | null
    pagetableLevels: 3 | 4 | null
    toolstackWidth: 32 | 64
    detected: {toolstackWidth: boolean; guest: boolean}
    p2mSize: number
  }
  extendedInfo: null | {offset: number; totalLength: number; blocks: Array<{id: string; offset: number; size: number}>; extendedContext: boolean; xsaveLength: number | null}
  p2mFrames: null | {offset: number; count: number}
  body: {
    chunks: number
    pageBatches: number
    emptyBatches: number
    pages: {count: number; withData: number; dropped: number; byType: Record<string, number>}
    pfnRange: null | {first: number; last: number}
    passes: number
    pagesResent: number
    verifyMode: boolean
    chunkCounts: Record<string, number>
    vcpuInfo: null | {maxVcpuId: number; online: number[]}
    tsc: null | {mode: number; nsec: string; khz: number; incarnation: number}
    hvmParams: Array<{param: number; name: string; value: string}>
    toolstack: null | {length: number; physmap: Array<{physOffset: string; startAddr: string; size: string; name: string}>}
    notConvertible: string[]
  }
  /** The first checkpoint's tail (the image's, when it is not checkpointed). */
  tail: null | PvTail | HvmTail
  /**
   * A Remus stream (FORMAT.md §7): the image is its first checkpoint
   * (`body` and `tail` above); each later one repeats body and tail.
   * Null when no checkpoint follows the image.
   */
  checkpoints: null | Checkpoints
  trailing: null | {offset: number; length: number}
  warnings: string[]
  /**
   * One line per chunk and tail part; present with --verbose. A SpillList:
   * past a few thousand rows they wait in a temporary file, so memory does
   * not grow with the image.
   */
  chunks?: SpillList<ChunkLine>
}

export interface Checkpoints {
  kind: 'remus'
  /** Checkpoints read whole: the receiver fails over from the last of them. */
  complete: number
  /** The checkpoints after the first send their pages compressed (enable_compression in the first). */
  compressed: boolean
  /** Where the stream ends inside a checkpoint, if it does. */
  cut: null | {checkpoint: number; start: number; at: number}
  /** Every checkpoint, the cut one too (its `end` null). A SpillList: a long capture's list waits in a temporary file. */
  list: SpillList<CheckpointLine>
}

export interface CheckpointLine {
  index: number
  start: number
  /** Where the next checkpoint starts; null for one the stream ends inside. */
  end: number | null
  pageBatches: number
  /** Page entries listed, and those with contents (sent inline, or compressed). */
  pages: number
  withData: number
  /** A compressed checkpoint: its pages by how they were sent, and the compressed bytes. */
  compressedPages: null | {unchanged: number; whole: number; runs: number; bytes: number}
  /** Where the tail starts (null when the stream ends before it). */
  tailOffset: number | null
  vcpus: number
}

export interface PvTail {
  kind: 'pv'
  offset: number
  unmappedPfns: number
  vcpus: Array<{id: number; parts: string[]; bytes: number}>
  sharedInfoOffset: number | null
}

export interface HvmTail {
  kind: 'hvm'
  offset: number
  magicPfns: null | {ioreq: string; bufioreq: string; store: string}
  hvmContext: null | {offset: number; length: number}
  qemu: null | {offset: number; signature: string; length: number | null}
  qemuAbsent: null | 'eof' | 'skipped'
}

/** Pages of each type in one batch (a scratch array reused from batch to batch). */
const batchTypes = new Float64Array(16)

/**
 * One batch's pfns: counts by type into batchTypes (each type's first
 * appearance pushed on `order`), the range widened, how many were sent
 * before in this pass, and every pfn added to `sent`. Plain functions, so
 * the loops are optimized on their own rather than inside inspectLegacy's
 * event loop.
 */
function tallyBatch(pfns: Uint32Array, types: Uint8Array, sent: PfnSet, order: number[], range: {first: number; last: number}): number {
  let first = range.first
  let last = range.last
  let prev = -1
  let ascending = true
  for (let i = 0; i < pfns.length; i++) {
    const pfn = pfns[i]
    const type = types[i]
    if (batchTypes[type]++ === 0) order.push(type)
    if (pfn < first) first = pfn
    if (pfn > last) last = pfn
    if (pfn <= prev) ascending = false
    prev = pfn
  }
  range.first = first
  range.last = last
  let resent = 0
  if (ascending) {
    // No pfn twice in the batch: look each up and add it in one go.
    for (let i = 0; i < pfns.length; i++) if (sent.testAndAdd(pfns[i])) resent++
  } else {
    // A pfn again with another type: only what came before the batch counts.
    for (let i = 0; i < pfns.length; i++) if (sent.has(pfns[i])) resent++
    addAll(sent, pfns)
  }
  return resent
}

/** True when the batch is one run: pfns[i] = pfns[0] + i, all of type types[0]. */
function isRun(pfns: Uint32Array, types: Uint8Array): boolean {
  const n = pfns.length
  if (n === 0 || pfns[n - 1] - pfns[0] !== n - 1) return false
  const p0 = pfns[0]
  const t0 = types[0]
  for (let i = 1; i < n; i++) if (pfns[i] !== p0 + i || types[i] !== t0) return false
  return true
}

/** tallyBatch for a run (see isRun). */
function tallyRun(pfns: Uint32Array, types: Uint8Array, sent: PfnSet, order: number[], range: {first: number; last: number}): number {
  const n = pfns.length
  const type = types[0]
  if (batchTypes[type] === 0) order.push(type)
  batchTypes[type] += n
  if (pfns[0] < range.first) range.first = pfns[0]
  if (pfns[n - 1] > range.last) range.last = pfns[n - 1]
  return sent.testAndAddRun(pfns[0], n)
}

function addAll(sent: PfnSet, pfns: Uint32Array): void {
  for (let i = 0; i < pfns.length; i++) sent.add(pfns[i])
}

export async function inspectLegacy(reader: ByteReader, name: string, opts: WalkOptions & {verbose?: boolean; onWarning?: (m: string) => void} = {}): Promise<InspectReport> {
  const rep: InspectReport = {
    input: name,
    bytes: 0,
    xlHeader: null,
    image: {offset: 0, guest: 'pv', guestWidth: null, pagetableLevels: null, toolstackWidth: 64, detected: {toolstackWidth: true, guest: true}, p2mSize: 0},
    extendedInfo: null,
    p2mFrames: null,
    body: {
      chunks: 0,
      pageBatches: 0,
      emptyBatches: 0,
      pages: {count: 0, withData: 0, dropped: 0, byType: {}},
      pfnRange: null,
      passes: 0,
      pagesResent: 0,
      verifyMode: false,
      chunkCounts: {},
      vcpuInfo: null,
      tsc: null,
      hvmParams: [],
      toolstack: null,
      notConvertible: [],
    },
    tail: null,
    checkpoints: null,
    trailing: null,
    warnings: [],
  }
  // The checkpoint being read after the first, and its line once it is listed.
  let cp: CheckpointLine | undefined
  let firstCheckpointCpus = 0
  const lines = opts.verbose ? new SpillList<ChunkLine>() : undefined
  const line = (l: ChunkLine) => lines?.push(l)
  const warn = (m: string) => {
    addWarning(rep.warnings, m)
    opts.onWarning?.(m)
  }
  const sent = new PfnSet()
  const body = rep.body

  // Every event is tallied before the next is asked for: batch arrays can be reused.
  for await (const ev of walkLegacy(reader, {...opts, transientBatches: true}) as AsyncGenerator<LegacyEvent>) {
    switch (ev.kind) {
      case 'xl-header': {
        const h = ev.header
        rep.xlHeader = {
          mandatoryFlags: h.mandatoryFlags,
          optionalFlags: h.optionalFlags,
          flags: h.flags,
          optionalDataLength: h.optionalDataLength,
          config: h.config ? {format: h.config.format, length: h.config.length, domainName: h.config.name ?? null} : null,
        }
        line({index: null, offset: ev.offset, what: 'xl header', size: h.raw.length, detail: `flags [${h.flags.join(', ')}]${h.config?.name ? `, domain "${h.config.name}"` : ''}`})
        break
      }
      case 'image':
        rep.image = {
          offset: ev.offset,
          guest: ev.guest,
          guestWidth: null,
          pagetableLevels: null,
          toolstackWidth: ev.toolstackWidth,
          detected: {toolstackWidth: ev.widthFrom === 'detected', guest: ev.guestFrom === 'detected'},
          p2mSize: ev.p2mSize,
        }
        line({index: null, offset: ev.offset, what: 'p2m_size', size: ev.toolstackWidth / 8, detail: `${ev.p2mSize} pfns`})
        break
      case 'extended-info':
        rep.image.guestWidth = ev.guestWidth === 8 ? 64 : 32
        rep.image.pagetableLevels = ev.ptLevels
        rep.extendedInfo = {offset: ev.offset, totalLength: ev.totalLength, blocks: ev.blocks, extendedContext: ev.extendedContext, xsaveLength: ev.xsaveLength ?? null}
        line({index: null, offset: ev.offset, what: 'extended info', size: null, detail: ev.blocks.map((b) => `${b.id}(${b.size})`).join(' ')})
        break
      case 'p2m-frames':
        rep.p2mFrames = {offset: ev.offset, count: ev.frames.length}
        line({index: null, offset: ev.offset, what: 'p2m frame list', size: null, detail: `${ev.frames.length} frames`})
        break
      case 'page-batch': {
        if (cp) {
          cp.pageBatches++
          cp.pages += ev.pfns.length
          cp.withData += ev.dataPages
          if (opts.verbose)
            line({
              index: ev.index,
              offset: ev.offset,
              what: 'page batch',
              size: null,
              detail: `${ev.count} entries, ${ev.dataPages} with data${ev.compressed ? ' (compressed)' : ''}${ev.dropped ? `, ${ev.dropped} dropped` : ''}`,
            })
          break
        }
        body.chunks++
        if (ev.pfns.length === 0) body.emptyBatches++
        body.pageBatches++
        body.pages.count += ev.pfns.length
        body.pages.withData += ev.dataPages
        body.pages.dropped += ev.dropped
        let newPass = false
        // Per pfn only typed-array work: counts by type (named, in the order
        // the types first appear, after the loop), the pfn range, repeats.
        const {pfns, types} = ev
        const order: number[] = []
        const range = {first: body.pfnRange?.first ?? Infinity, last: body.pfnRange?.last ?? -1}
        // A run (consecutive pfns, one type: most batches) is counted as one.
        const resent = isRunBatch(pfns) || isRun(pfns, types) ? tallyRun(pfns, types, sent, order, range) : tallyBatch(pfns, types, sent, order, range)
        // tallyBatch added the pfns too; a new pass starts from this batch alone.
        if (resent) {
          sent.clear()
          addAll(sent, pfns)
        }
        const {first, last} = range
        for (const type of order) {
          const t = PAGE_TYPE_NAMES[type]
          body.pages.byType[t] = (body.pages.byType[t] ?? 0) + batchTypes[type]
          batchTypes[type] = 0
        }
        if (pfns.length) body.pfnRange = {first, last}
        if (resent) {
          body.pagesResent += resent
          newPass = true
        }
        // A pfn sent again means the saver started another pass over memory.
        if (newPass || body.passes === 0) body.passes++
        if (opts.verbose)
          line({index: ev.index, offset: ev.offset, what: 'page batch', size: null, detail: `${ev.count} entries, ${ev.dataPages} with data${ev.dropped ? `, ${ev.dropped} dropped` : ''}`})
        break
      }
      case 'chunk': {
        const d = ev.detail
        if (cp) {
          if (d.chunk === 'compressed_data' && cp.compressedPages) cp.compressedPages.bytes += d.length
          line({index: ev.index, offset: ev.offset, what: ev.name, size: ev.size, detail: d.chunk === 'compressed_data' ? `${d.length} bytes` : ''})
          break
        }
        body.chunks++
        body.chunkCounts[ev.name] = (body.chunkCounts[ev.name] ?? 0) + 1
        let detail = ''
        switch (d.chunk) {
          case 'enable_verify_mode':
            body.verifyMode = true
            break
          case 'vcpu_info':
            body.vcpuInfo = {maxVcpuId: d.maxVcpuId, online: d.online}
            detail = `max id ${d.maxVcpuId}, ${d.online.length} online`
            break
          case 'hvm_param':
            body.hvmParams.push({param: d.param, name: HVM_PARAM_NAMES[d.param] ?? `param_${d.param}`, value: hex(d.value)})
            detail = `param ${d.param} = ${hex(d.value)}`
            break
          case 'tsc_info':
            body.tsc = {mode: d.mode, nsec: d.nsec.toString(), khz: d.khz, incarnation: d.incarnation}
            detail = `mode ${d.mode}, ${d.khz} kHz, incarnation ${d.incarnation}`
            break
          case 'toolstack': {
            const entries = decodeToolstack(d.data, rep.image.toolstackWidth, ev.offset + 8, ev.index, warn)
            body.toolstack = {
              length: d.length,
              physmap: entries.map((e) => ({physOffset: hex(e.physOffset), startAddr: hex(e.startAddr), size: hex(e.size), name: e.name})),
            }
            detail = `${d.length} bytes, ${entries.length} physmap entries (${physmapPairs(entries).length} xenstore keys)`
            break
          }
          case 'tmem':
            detail = `${d.pools} pools, ${d.pages} pages`
            break
          case 'tmem_extra':
            detail = `${d.entries} entries`
            break
          case 'compressed_data':
            detail = `${d.length} bytes`
            break
          case 'last_checkpoint':
          case 'enable_compression':
            // Counted in chunkCounts; nothing more to say.
            break
          default:
            d satisfies never
        }
        if (NOT_CONVERTIBLE_CHUNKS.has(ev.type) && !body.notConvertible.includes(ev.name)) {
          body.notConvertible.push(ev.name)
          // Inspecting it is fine; converting it is not: say so before anyone tries.
          warn(`byte ${ev.offset}, chunk ${ev.index}: the image holds a ${ev.name} chunk, which v2 streams have no equivalent for: it cannot be converted (xst convert will refuse it)`)
        }
        line({index: ev.index, offset: ev.offset, what: ev.name, size: ev.size, detail})
        break
      }
      case 'end-of-body':
        line({index: ev.index, offset: ev.offset, what: 'end', size: 4, detail: ''})
        if (cp) {
          cp.tailOffset = ev.offset + 4
          break
        }
        body.chunks++
        rep.tail =
          rep.image.guest === 'pv'
            ? {kind: 'pv', offset: reader.offset, unmappedPfns: 0, vcpus: [], sharedInfoOffset: null}
            : {kind: 'hvm', offset: reader.offset, magicPfns: null, hvmContext: null, qemu: null, qemuAbsent: null}
        break
      case 'unmapped-pfns':
        if (rep.tail?.kind === 'pv') rep.tail.unmappedPfns = ev.count
        line({index: null, offset: ev.offset, what: 'unmapped pfns', size: null, detail: `${ev.count}`})
        break
      case 'vcpu-context':
        if (cp) {
          if (ev.part === 'basic') cp.vcpus++
        } else if (rep.tail?.kind === 'pv') {
          let v = rep.tail.vcpus.find((x) => x.id === ev.vcpu)
          if (!v) rep.tail.vcpus.push((v = {id: ev.vcpu, parts: [], bytes: 0}))
          v.parts.push(ev.part)
          v.bytes += ev.data.length
        }
        line({index: null, offset: ev.offset, what: `vcpu ${ev.vcpu} ${ev.part}`, size: ev.data.length, detail: ev.xfeatureMask !== undefined ? `xfeature mask ${hex(ev.xfeatureMask)}` : ''})
        break
      case 'shared-info':
        if (!cp && rep.tail?.kind === 'pv') rep.tail.sharedInfoOffset = ev.offset
        line({index: null, offset: ev.offset, what: 'shared info', size: ev.data.length, detail: ''})
        break
      case 'hvm-magic-pfns':
        if (!cp && rep.tail?.kind === 'hvm') rep.tail.magicPfns = {ioreq: hex(ev.ioreq), bufioreq: hex(ev.bufioreq), store: hex(ev.store)}
        line({index: null, offset: ev.offset, what: 'hvm magic pfns', size: 24, detail: `ioreq ${hex(ev.ioreq)}, bufioreq ${hex(ev.bufioreq)}, store ${hex(ev.store)}`})
        break
      case 'hvm-context':
        // The vcpus whose registers it holds (a checkpoint's count, in the list of checkpoints).
        if (cp) cp.vcpus = hvmVcpus(await ev.data.read()).cpus.size
        else if (rep.tail?.kind === 'hvm') firstCheckpointCpus = hvmVcpus(await ev.data.read()).cpus.size
        if (!cp && rep.tail?.kind === 'hvm') rep.tail.hvmContext = {offset: ev.offset, length: ev.length}
        line({index: null, offset: ev.offset, what: 'hvm context', size: ev.length + 4, detail: `${ev.length} bytes`})
        break
      case 'qemu-record':
        if (!cp && rep.tail?.kind === 'hvm') rep.tail.qemu = {offset: ev.offset, signature: ev.signature, length: ev.length ?? null}
        line({index: null, offset: ev.offset, what: 'qemu record', size: null, detail: `${ev.signature}, ${ev.length ?? 'unknown'} bytes`})
        break
      case 'no-qemu-record':
        if (!cp && rep.tail?.kind === 'hvm') rep.tail.qemuAbsent = ev.reason
        if (ev.reason === 'eof' && !cp) warn('the HVM image ends after the HVM context: it has no device-model (qemu) record')
        break
      case 'checkpoint': {
        if (!rep.checkpoints) {
          // The image was the first checkpoint: listed from what was counted of it.
          const list = new SpillList<CheckpointLine>()
          const t = rep.tail
          list.push({
            index: 1,
            start: rep.image.offset,
            end: ev.offset,
            pageBatches: body.pageBatches,
            pages: body.pages.count,
            withData: body.pages.withData,
            compressedPages: null,
            tailOffset: t?.offset ?? null,
            vcpus: t?.kind === 'pv' ? t.vcpus.length : firstCheckpointCpus,
          })
          rep.checkpoints = {kind: 'remus', complete: 1, compressed: (body.chunkCounts.enable_compression ?? 0) > 0, cut: null, list}
        } else {
          cp!.end = ev.offset
          rep.checkpoints.list.push(cp!)
          rep.checkpoints.complete++
        }
        cp = {
          index: ev.index,
          start: ev.offset,
          end: null,
          pageBatches: 0,
          pages: 0,
          withData: 0,
          compressedPages: rep.checkpoints.compressed ? {unchanged: 0, whole: 0, runs: 0, bytes: 0} : null,
          tailOffset: null,
          vcpus: 0,
        }
        line({index: null, offset: ev.offset, what: `checkpoint ${ev.index}`, size: null, detail: ''})
        break
      }
      case 'compressed-pages':
        if (cp?.compressedPages) {
          cp.compressedPages.unchanged += ev.unchanged
          cp.compressedPages.whole += ev.whole
          cp.compressedPages.runs += ev.runs
        }
        break
      case 'checkpoint-cut':
        if (rep.checkpoints && cp) {
          rep.checkpoints.list.push(cp)
          rep.checkpoints.cut = {checkpoint: ev.index, start: ev.start, at: ev.offset}
          cp = undefined
        }
        warn(ev.message)
        break
      case 'trailing':
        rep.trailing = {offset: ev.offset, length: ev.length}
        warn(`${ev.length} bytes follow the end of the image at byte ${ev.offset}`)
        break
      case 'warning':
        warn(ev.message)
        break
      case 'done':
        rep.bytes = ev.offset
        // The last checkpoint read whole.
        if (cp && rep.checkpoints) {
          cp.end = ev.offset
          rep.checkpoints.list.push(cp)
          rep.checkpoints.complete++
          cp = undefined
        }
        break
      default:
        throw unhandledEvent(ev)
    }
  }
  if (lines) rep.chunks = lines
  return rep
}
