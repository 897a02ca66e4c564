// A whole dump as the CLI runs it: open the input and the output, read the
// image, write the dump, and make it visible only when everything worked.
// Aborting it (the CLI does on an interrupt: src/cli/signals.ts) removes the
// partial output at once.
//
// How the pages get to the output depends on what can be read twice and
// written out of order:
//
//   raw, CORE a file      one pass; each page is written at pfn × 4096 as it
//                         comes (a later copy overwrites an earlier one) and
//                         the size set at the end: what was never written
//                         stays a hole.
//   input a file          a first pass over the headers only (page data is
//                         seeked over) finds the pfns; then, window by
//                         window (1 Mi pages each, however spread), a header
//                         pass notes where each page's last copy is and the
//                         pages are copied out in pfn order (an ELF dump, or
//                         a raw dump to a pipe with zeros between pages).
//   input a pipe          the pages go to a spool beside CORE (raw layout,
//                         sparse, already unlinked), from which the dump is
//                         then written in pfn order.
//
// Memory stays flat whatever the guest's size: a bitmap of the pfns (32 KiB
// per GiB of guest memory), one window (at most 10 MiB), 1 MiB buffers.
import * as fs from 'node:fs'
import * as path from 'node:path'
import type {ContainerSummary} from '../container/describe.js'
import {OutputError} from '../errors.js'
import {PAGE_SIZE} from '../format/x86.js'
import {cancelNative} from '../io/native.js'
import {openOutput, type Output} from '../io/output.js'
import {ByteReader} from '../io/reader.js'
import {BoundedSource, openInput} from '../io/source.js'
import {indexChunks, planElf, type Section} from './elf.js'
import {openImageForDump, reopen} from './input.js'
import {guestP2m, type P2mRewrite} from './p2m.js'
import {emitPages, FilePlacer, Spool} from './pages.js'
import {PageWindow, type PfnBitmap, windowPfns} from './pfns.js'
import {type CheckpointChoice, chooseCheckpoint, legacyCheckpointed, locatePages, type ScanInput, type ScanResult, scanImage} from './scan.js'
import {hvmPrstatus, pvPrstatus} from './vcpu.js'
import {findKernel, type GuestMemory, hvmPaging, type KernelFacts, kernelSummary, type KernelSummary, type PagingState, pvPaging, VmcoreinfoSearch} from './kernel.js'
import {type CpuNotes, hvmCpuNotes, planVmcore, pvCpuNotes, segmentOf} from './vmcore.js'
import {addWarning} from '../text.js'

export type DumpFormat = 'elf' | 'raw' | 'vmcore'

export interface DumpProgress {
  /** read: the first pass; locate: a window's header pass; write: pages written. */
  phase: 'read' | 'locate' | 'write'
  done: number
  total: number | undefined
}

export interface DumpJob {
  input: string
  output: string
  /** Called once the output is in place (renamed, or flushed to its descriptor): an interrupt after this must not say it was not written. */
  onCommitted?: () => void
  format: DumpFormat
  force?: boolean
  /** A replication stream's checkpoint to dump (from 1); the last complete one without it. */
  checkpoint?: number
  /** PV: keep the guest's p2m pages as saved (source-host mfns) instead of rewriting them to the identity (src/dump/p2m.ts). */
  keepP2m?: boolean
  onWarning?: (message: string) => void
  onProgress?: (p: DumpProgress) => void
  /** Called once the output is open (every usage check has passed). */
  onStart?: (info: {output: string}) => void
  /** Called once the image is read and checked, before the dump is written. */
  onScanned?: (input: ScanInput, pages: number) => void
  /**
   * When it aborts, the partial output is removed at once (synchronously,
   * so that a signal handler can exit right after); the dump itself is not
   * stopped.
   */
  abort?: AbortSignal
}

export interface DumpSummary {
  /** The container is the one summary every command reports (src/container/describe.ts). */
  input: ScanInput & {path: string; size: number | null; container: ContainerSummary}
  output: {
    path: string
    format: DumpFormat
    /** Size of CORE (a raw dump's holes included). */
    bytes: number
    /** Bytes of CORE that hold data: all of it, but for a raw file's holes. */
    written: number
    /** ELF: the sections, as readelf -S lists them. */
    sections: Section[] | null
    /** vmcore: the PT_LOAD segments and the notes, as readelf -l and -n list them. */
    segments: number | null
    notes: Array<{name: string; type: number; bytes: number}> | null
  }
  /** The Linux kernel found in the guest's memory: release, KASLR offset, phys_base, and where they came from. */
  kernel: KernelSummary
  pages: {count: number; copies: number; pfnRange: {first: number; last: number} | null}
  vcpus: {count: number; ids: number[]}
  /** The Xen version note's version: from a native v2 stream, zeros (null) otherwise. */
  xenVersion: {major: number; minor: number} | null
  /** How the pages were moved: positional writes, header passes over the input, or a spool. */
  method: 'positional' | 'windows' | 'spool'
  /** Passes over the input's headers (the first included). */
  passes: number
  /** A replication stream (Remus, COLO): the checkpoint dumped, of how many complete; null for a plain stream. */
  checkpoint: Omit<CheckpointChoice, 'end'> | null
  /** PV: the guest's p2m leaf pages the dump holds, and whether they were rewritten to the identity (not with keepP2m); null for HVM. */
  p2m: {pages: number; rewritten: boolean} | null
  warnings: string[]
}

/** The vcpus whose registers the image holds, ascending. */
function vcpuIds(scan: ScanResult): number[] {
  const f = scan.facts
  const ids = scan.input.guest === 'pv' ? [...f.pvContexts.keys()] : [...(f.hvm?.cpus.keys() ?? [])]
  return ids.sort((a, b) => a - b)
}

/** The .xen_prstatus entries, in vcpu order, each made as it is written (up to 4096 of 5168 bytes). */
function* prstatusEntries(scan: ScanResult): Generator<Buffer> {
  const f = scan.facts
  for (const id of vcpuIds(scan)) yield scan.input.guest === 'pv' ? pvPrstatus(f.pvContexts.get(id)!) : hvmPrstatus(f.hvm!.cpus.get(id)!)
}

/** What each vcpu's registers say of its paging, for the kernel's page tables. */
function pagingStates(scan: ScanResult): PagingState[] {
  const f = scan.facts
  const out: PagingState[] = []
  for (const id of vcpuIds(scan)) {
    if (scan.input.guest === 'hvm') out.push(hvmPaging(id, f.hvm!.cpus.get(id)!))
    else if (scan.input.guestWidth === 64) {
      const p = pvPaging(id, f.pvContexts.get(id)!)
      if (p) out.push(p)
    }
  }
  return out
}

/** The per-cpu notes of a kdump-style core, in vcpu order. */
function cpuNotes(scan: ScanResult, warn: (m: string) => void): CpuNotes[] {
  const f = scan.facts
  if (scan.input.guest === 'pv' && scan.input.guestWidth !== 64) {
    if (f.pvContexts.size) warn('a 32-bit PV guest: the core holds no registers (its notes are 64-bit ones)')
    return []
  }
  return vcpuIds(scan).map((id) => (scan.input.guest === 'hvm' ? hvmCpuNotes(id, f.hvm!.cpus.get(id)!) : pvCpuNotes(id, f.pvContexts.get(id)!)))
}

/** Guest pages at pfn × 4096 of a file (a raw dump being written, or the spool). */
function fileMemory(pages: PfnBitmap, read: (buf: Buffer, off: number, len: number, position: number) => number): GuestMemory {
  return {
    read: async (pfn) => {
      if (!pages.has(pfn)) return undefined
      const buf = Buffer.alloc(PAGE_SIZE)
      read(buf, 0, PAGE_SIZE, pfn * PAGE_SIZE)
      return buf
    },
  }
}

/**
 * Guest pages read from the input file, located by header passes over a
 * page window (the one the dump is written with): a pass for each window
 * a read falls outside of, one in all for a guest of up to 4 GiB.
 */
function inputMemory(
  pages: PfnBitmap,
  window: PageWindow,
  read: (buf: Buffer, off: number, len: number, position: number) => Promise<number> | number,
  locate: (pfn: number) => Promise<void>,
): GuestMemory {
  return {
    read: async (pfn) => {
      if (!pages.has(pfn)) return undefined
      await locate(pfn)
      const at = window.get(pfn)
      if (at < 0) return undefined
      const buf = Buffer.alloc(PAGE_SIZE)
      let got = 0
      while (got < PAGE_SIZE) {
        const k = await read(buf, got, PAGE_SIZE - got, at + got)
        if (k === 0) return undefined
        got += k
      }
      return buf
    },
  }
}

/** Say so when an HVM image gives no (or not all) vcpu registers. */
function warnHvmRegisters(scan: ScanResult, warn: (m: string) => void): void {
  const hvm = scan.facts.hvm
  if (scan.input.guest !== 'hvm') return
  if (!hvm) warn('the image has no HVM context, so the dump holds no vcpu registers')
  else if (hvm.problem) warn(`${hvm.problem}${hvm.cpus.size ? '' : '; the dump holds no vcpu registers'}`)
}

export async function runDumpJob(job: DumpJob): Promise<DumpSummary> {
  const source = openInput(job.input)
  const reader = new ByteReader(source)
  let output: Output | undefined
  let spool: Spool | undefined
  const onAbort = () => {
    // A pool thread of the native addon waiting on a pipe would hold up the exit.
    cancelNative()
    output?.abort()
  }
  job.abort?.addEventListener('abort', onAbort)
  const warnings: string[] = []
  const warn = (m: string) => {
    addWarning(warnings, m)
    job.onWarning?.(m)
  }
  const progress = (phase: DumpProgress['phase'], total: number | undefined) => (done: number) => job.onProgress?.({phase, done, total})
  try {
    output = await openOutput(job.output, {force: job.force, input: source.identity})
    if (job.abort?.aborted) output.abort()
    job.onStart?.({output: output.name})
    const toFile = job.output !== '-'
    // Only a regular file (written beside it and renamed) takes positional writes, holes and a final size; a device or FIFO gets a stream.
    const toRegularFile = output.atomic
    const sink = output.sink
    let image = await openImageForDump(reader, warn)
    // A replication stream is dumped as the receiver fails over: at the end of
    // a checkpoint (the last complete one, or --checkpoint K), read as if the
    // input ended there.
    const checkpoint = await chooseCheckpoint(image, job.checkpoint, warn)
    if (checkpoint && checkpoint.end < (source.size ?? Number.POSITIVE_INFINITY)) image = await openImageForDump(new ByteReader(new BoundedSource(source, checkpoint.end)))
    const scanOpts = {onWarning: warn, onProgress: progress('read', source.size), checkpoint: job.checkpoint}
    // A legacy Remus stream's later pages come decoded from the record plan, not from the input: taken as they come.
    const fromPlan = image.kind === 'legacy' && (job.checkpoint !== undefined || (await legacyCheckpointed(image)))
    let scan: ScanResult
    let method: DumpSummary['method']
    let passes = 1
    let written = 0
    let sections: Section[] | null = null
    let bytes: number
    // PV: the guest's p2m pages, rewritten to the identity unless kept as saved.
    let p2m: P2mRewrite | undefined

    const rawSize = (s: ScanResult) => (s.facts.pages.last === undefined ? 0 : (s.facts.pages.last + 1) * PAGE_SIZE)

    // The kernel's vmcoreinfo is looked for in the pages as they are read (kernel.ts).
    const search = new VmcoreinfoSearch()
    let kernel: KernelFacts | undefined
    let segments: number | null = null
    let notes: DumpSummary['output']['notes'] = null
    const findKernelIn = async (s: ScanResult, memory: GuestMemory) => {
      kernel = await findKernel(memory, search, pagingStates(s), warn)
    }

    if (job.format === 'raw' && toRegularFile) {
      method = 'positional'
      const placer = new FilePlacer(sink.fd, output.name)
      scan = await scanImage(image, {...scanOpts, placer: search.placer(placer)})
      job.onScanned?.(scan.input, scan.facts.pages.count)
      placer.truncate(rawSize(scan))
      // Written as they came: rewritten in place once every page is known.
      p2m = guestP2m(scan)
      if (!job.keepP2m) p2m?.rewriteFile(placer)
      // The dump itself is the guest's memory: read back where the kernel's page tables lead.
      await findKernelIn(
        scan,
        fileMemory(scan.facts.pages, (b, o, l, at) => fs.readSync(sink.fd, b, o, l, at)),
      )
      // What holds data: one page per pfn (re-sent copies overwrote theirs); the rest are holes.
      written = scan.facts.pages.count * PAGE_SIZE
      bytes = rawSize(scan)
    } else {
      // Pages come from the input file itself, or from a spool.
      let windows: Iterable<[number, number]>
      let prepare: ((lo: number, hi: number) => Promise<void>) | undefined
      let locate: (pfn: number) => number
      let read: (buf: Buffer, off: number, len: number, position: number) => Promise<number> | number
      let memory: GuestMemory
      // Pages read only as they are written: they are looked at then.
      let lookWhileWriting = false
      if (image.seekable && !fromPlan) {
        method = 'windows'
        // A kdump-style core carries the kernel's vmcoreinfo in its head, so the pages are looked at in the first pass.
        const lookFirst = job.format === 'vmcore'
        lookWhileWriting = !lookFirst
        scan = await scanImage(image, lookFirst ? {...scanOpts, placer: search.placer()} : scanOpts)
        const pages = scan.facts.pages
        const window = new PageWindow(Math.max(1, Math.min(windowPfns(), pages.count)))
        // The pfns the window has located: a page the kernel search reads there needs no pass of its own,
        // and a window the search located is not located again for the writing.
        let located = [0, 0]
        // Windows are loaded one at a time, as the writing reaches them.
        windows = (function* () {
          for (let from = 0; ; from = window.end) {
            const first = pages.nextAt(from)
            if (first === undefined) break
            if (located[0] !== first || located[1] <= first) {
              window.load(pages, from)
              located = [0, 0]
            }
            yield [window.first, window.end] as [number, number]
          }
        })()
        const again = await reopen(image)
        const locateWindow = async () => {
          await locatePages(image, window, again, progress('locate', source.size))
          located = [window.first, window.end]
          passes++
        }
        prepare = async () => {
          if (located[1] <= located[0]) await locateWindow()
        }
        locate = (pfn) => window.get(pfn)
        read = (buf, off, len, position) => source.read(buf, off, len, position)
        memory = inputMemory(pages, window, read, async (pfn) => {
          if (pfn >= located[0] && pfn < located[1]) return
          // A guest that fits one window is located whole, once.
          window.load(pages, pages.count <= window.capacity ? 0 : pfn)
          await locateWindow()
        })
      } else {
        method = 'spool'
        spool = Spool.create(toRegularFile ? path.dirname(path.resolve(job.output)) : undefined)
        scan = await scanImage(image, {...scanOpts, placer: search.placer(spool)})
        spool.truncate(rawSize(scan))
        const s = spool
        windows = [[0, Infinity]]
        locate = (pfn) => pfn * PAGE_SIZE
        read = (buf, off, len, position) => s.read(buf, off, len, position)
        memory = fileMemory(scan.facts.pages, read as (buf: Buffer, off: number, len: number, position: number) => number)
      }
      job.onScanned?.(scan.input, scan.facts.pages.count)
      const pages = scan.facts.pages
      const guest = (p2m = guestP2m(scan))
      const rewrite = guest && !job.keepP2m ? (first: number, buf: Buffer) => guest.rewrite(first, buf) : undefined
      const onPages = progress('write', pages.count)
      const look = lookWhileWriting ? (first: number, n: number, buf: Buffer) => search.lookRun(first, n, buf, 0) : undefined
      const start = sink.bytesWritten
      if (job.format === 'elf') {
        warnHvmRegisters(scan, warn)
        const nrVcpus = vcpuIds(scan).length
        const guestWidth = scan.input.guestWidth === 32 ? 4 : scan.input.guestWidth === 64 ? 8 : undefined
        const plan = planElf({guest: scan.input.guest, guestWidth, nrPages: pages.count, nrVcpus, sharedInfo: scan.facts.sharedInfo, xenVersion: scan.xenVersion})
        await sink.write(plan.front)
        for (const entry of prstatusEntries(scan)) await sink.write(entry)
        await sink.write(plan.back)
        await emitPages({sink, pages, windows, prepare, locate, read, zeroGaps: false, look, rewrite, onPages})
        const spare: Buffer[] = []
        for (const chunk of indexChunks(pages, scan.input.guest, spare)) await sink.write(chunk, () => spare.push(chunk))
        await sink.write(plan.strtab)
        if (sink.bytesWritten - start !== plan.size) throw new Error(`internal: the ELF dump is ${sink.bytesWritten - start} bytes, planned ${plan.size}`)
        sections = plan.sections
        bytes = plan.size
        await findKernelIn(scan, memory)
      } else if (job.format === 'vmcore') {
        warnHvmRegisters(scan, warn)
        await findKernelIn(scan, memory)
        const plan = planVmcore(pages, cpuNotes(scan, warn), kernel!.noteText, kernel!.text)
        await sink.write(plan.head)
        const segmentStart = (pfn: number) => segmentOf(plan.segments, pfn)?.first ?? pfn
        await emitPages({sink, pages, windows, prepare, locate, read, zeroGaps: false, segmentStart, rewrite, onPages})
        if (sink.bytesWritten - start !== plan.size) throw new Error(`internal: the vmcore is ${sink.bytesWritten - start} bytes, planned ${plan.size}`)
        segments = plan.loads
        notes = plan.notes
        bytes = plan.size
      } else {
        await emitPages({sink, pages, windows, prepare, locate, read, zeroGaps: true, look, rewrite, onPages})
        bytes = rawSize(scan)
        await findKernelIn(scan, memory)
      }
      written = bytes
    }
    await output.commit()
    job.onCommitted?.()
    const f = scan.facts
    const ids = vcpuIds(scan)
    return {
      input: {path: job.input === '-' ? 'stdin' : job.input, size: source.size ?? null, ...scan.input, container: image.container},
      output: {path: toFile ? job.output : 'stdout', format: job.format, bytes, written, sections, segments, notes},
      kernel: kernelSummary(kernel!, job.format),
      pages: {count: f.pages.count, copies: f.copies, pfnRange: f.pages.first === undefined ? null : {first: f.pages.first, last: f.pages.last!}},
      vcpus: {count: ids.length, ids},
      xenVersion: scan.xenVersion,
      method,
      passes,
      checkpoint: checkpoint ? {kind: checkpoint.kind, dumped: checkpoint.dumped, complete: checkpoint.complete} : scan.checkpoint,
      p2m: p2m ? {pages: p2m.count, rewritten: !job.keepP2m && p2m.count > 0} : null,
      warnings,
    }
  } catch (err) {
    output?.abort()
    // A device too small for the core keeps what fitted.
    const written = output && !output.atomic ? await output.sink.abandon() : 0
    if (err instanceof OutputError && err.code === 'no-space' && written > 0) err.noteIncompleteOutput(output!.name, written)
    throw err
  } finally {
    spool?.close()
    job.abort?.removeEventListener('abort', onAbort)
    await reader.close()
  }
}
