// The kdump-style core (--format vmcore): the ELF64 core Linux's
// /proc/vmcore and QEMU's dump-guest-memory write, which crash, gdb,
// drgn/libkdumpfile and Volatility 3 open with no options.
//
//   ELF64 header      ET_CORE, EM_X86_64, program headers only
//   program headers   PT_NOTE, then one PT_LOAD per run of guest-physical
//                     pages (p_paddr the run's address, p_vaddr the same,
//                     as QEMU writes them without paging; p_align 0, which
//                     crash takes for a kdump core)
//                     With the kernel's image found in the page tables, the
//                     run holding it is cut in up to three PT_LOADs, the
//                     middle one the kernel image's with its virtual address
//                     as p_vaddr (kdump gives the image a segment of its own
//                     too): readers that reach the kernel's page tables
//                     through its virtual address (drgn) need it, and no two
//                     segments overlap, as Volatility 3 needs.
//   notes             "CORE" NT_PRSTATUS per vcpu (ascending vcpu ids, the
//                     saved registers), "QEMU" per vcpu (QEMUCPUState:
//                     segments and control registers), then "VMCOREINFO"
//                     (the kernel's own text, found in its memory:
//                     kernel.ts), in QEMU's order

//   (zeros to a page boundary)
//   segment data      the runs' pages, in pfn order; nothing for the holes
//                     between runs
//
// A guest whose memory is cut into more runs than MAX_LOADS gets its
// smallest gaps filled with zeros instead, so the header stays small.
import {PAGE_SIZE} from '../format/x86.js'
import {
  ElfHeader,
  ELF64_PHDR_SIZE,
  ELF_MAGIC,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFOSABI_SYSV,
  ElfPrstatus64,
  EM_X86_64,
  ET_CORE,
  EV_CURRENT,
  HvmCpuPrefix,
  NoteHeader,
  NT_PRSTATUS,
  NT_QEMU,
  NT_VMCOREINFO,
  PF_RWX,
  ProgramHeader,
  PT_LOAD,
  PT_NOTE,
  QEMU_CPU_STATE_VERSION,
  QEMU_SEGMENTS,
  QemuCpuState,
  QemuSegment,
  VcpuGuestContext64,
} from './layouts.js'
import type {PfnBitmap} from './pfns.js'

/** PT_LOAD segments at most (e_phnum must stay below PN_XNUM, 0xffff). */
export const MAX_LOADS = 16384

/** A PT_LOAD: pfns [first, end), its data at `offset` of the file. */
export interface Segment {
  first: number
  end: number
  offset: number
}

export interface VmcorePlan {
  /** Everything before the first segment's data: headers, notes, padding. */
  head: Buffer
  /** The segments over guest-physical memory, whose data the file holds in order. */
  segments: Segment[]
  /** PT_LOAD headers in all: the segments, and the kernel text's when there is one. */
  loads: number
  /** Pages of zeros the segments hold for holes merged into them. */
  zeroPages: number
  size: number
  /** The notes, as readelf -n would list them: name, type, size. */
  notes: Array<{name: string; type: number; bytes: number}>
}

const pad4 = (n: number) => (n + 3) & ~3

/** One ELF note: header, name (NUL-terminated, padded), descriptor (padded). */
export function elfNote(name: string, type: number, desc: Buffer): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'latin1')
  const out = Buffer.alloc(NoteHeader.size + pad4(nameBytes.length) + pad4(desc.length))
  NoteHeader.put(out, 0, {namesz: nameBytes.length, descsz: desc.length, type})
  nameBytes.copy(out, NoteHeader.size)
  desc.copy(out, NoteHeader.size + pad4(nameBytes.length))
  return out
}

/**
 * The runs of `pages` as segments, gaps of fewer than `gap` pages filled
 * (gap 0: the runs as they are).
 */
function* mergedRuns(pages: PfnBitmap, gap: number): Generator<[number, number]> {
  let cur: [number, number] | undefined
  for (const [s, e] of pages.runs(0, Infinity)) {
    if (cur && s - cur[1] < gap) cur[1] = e
    else {
      if (cur) yield cur
      cur = [s, e]
    }
  }
  if (cur) yield cur
}

function count(it: Iterable<unknown>, limit: number): number {
  let n = 0
  for (const _ of it) if (++n > limit) break
  return n
}

/** A vcpu's notes: its NT_PRSTATUS and QEMUCPUState descriptors. */
export interface CpuNotes {
  prstatus: Buffer
  qemu: Buffer
}

/** The kernel image's mapping (kernel.ts TextMapping): its virtual and physical start and length. */
export interface KernelText {
  virt: bigint
  phys: bigint
  bytes: bigint
}

export function planVmcore(pages: PfnBitmap, cpus: CpuNotes[], vmcoreinfo: string | null, text: KernelText | null = null, maxLoads = MAX_LOADS): VmcorePlan {
  // The smallest gap filling (0, then powers of two) that keeps the segments within maxLoads.
  let gap = 0
  while (count(mergedRuns(pages, gap), maxLoads) > maxLoads) gap = gap ? gap * 2 : 2
  const runs = [...mergedRuns(pages, gap)]

  const notes: VmcorePlan['notes'] = []
  const noteBufs: Buffer[] = []
  const add = (name: string, type: number, desc: Buffer) => {
    notes.push({name, type, bytes: desc.length})
    noteBufs.push(elfNote(name, type, desc))
  }
  for (const c of cpus) add('CORE', NT_PRSTATUS, c.prstatus)
  for (const c of cpus) add('QEMU', NT_QEMU, c.qemu)
  if (vmcoreinfo !== null) add('VMCOREINFO', NT_VMCOREINFO, Buffer.from(vmcoreinfo, 'latin1'))
  const noteData = Buffer.concat(noteBufs)

  // The kernel text's segment lies in the one run that holds its first page, as far as that run goes;
  // that run's PT_LOAD is cut around it, so that no two segments overlap (Volatility 3 looks a
  // physical address up among them, sorted, and takes the last one starting at or below it).
  const P = BigInt(PAGE_SIZE)
  const textRun = text && text.phys % P === 0n && text.bytes > 0n ? runs.findIndex(([s, e]) => BigInt(s) * P <= text.phys && text.phys < BigInt(e) * P) : -1
  type Load = {paddr: bigint; vaddr: bigint; bytes: bigint}
  const loadsOf = ([s, e]: [number, number], i: number): Load[] => {
    const start = BigInt(s) * P
    const end = BigInt(e) * P
    if (i !== textRun || !text) return [{paddr: start, vaddr: start, bytes: end - start}]
    const textEnd = text.phys + text.bytes < end ? text.phys + text.bytes : end
    const pieces: Load[] = []
    if (text.phys > start) pieces.push({paddr: start, vaddr: start, bytes: text.phys - start})
    pieces.push({paddr: text.phys, vaddr: text.virt, bytes: textEnd - text.phys})
    if (textEnd < end) pieces.push({paddr: textEnd, vaddr: textEnd, bytes: end - textEnd})
    return pieces
  }
  const phnum = 1 + runs.length + (textRun >= 0 ? loadsOf(runs[textRun], textRun).length - 1 : 0)
  const notesAt = ElfHeader.size + phnum * ELF64_PHDR_SIZE
  const headEnd = notesAt + noteData.length
  const dataAt = Math.ceil(headEnd / PAGE_SIZE) * PAGE_SIZE
  const head = Buffer.alloc(dataAt)
  ElfHeader.put(head, 0, {
    magic: ELF_MAGIC,
    class: ELFCLASS64,
    data: ELFDATA2LSB,
    identVersion: EV_CURRENT,
    osabi: ELFOSABI_SYSV,
    abiVersion: 0,
    identPad: Buffer.alloc(7),
    type: ET_CORE,
    machine: EM_X86_64,
    version: EV_CURRENT,
    entry: 0n,
    phoff: BigInt(ElfHeader.size),
    shoff: 0n,
    flags: 0,
    ehsize: ElfHeader.size,
    phentsize: ELF64_PHDR_SIZE,
    phnum,
    shentsize: 0,
    shnum: 0,
    shstrndx: 0,
  })
  const phdr = (i: number, v: Parameters<typeof ProgramHeader.encode>[0]) => ProgramHeader.put(head, ElfHeader.size + i * ELF64_PHDR_SIZE, v)
  const n = BigInt(noteData.length)
  phdr(0, {type: PT_NOTE, flags: 0, offset: BigInt(notesAt), vaddr: 0n, paddr: 0n, filesz: n, memsz: n, align: 0n})
  noteData.copy(head, notesAt)

  const segments: Segment[] = []
  let at = dataAt
  let zeroPages = 0
  let covered = 0
  let ph = 1
  runs.forEach(([s, e], i) => {
    const runAt = BigInt(at)
    const runStart = BigInt(s) * P
    for (const l of loadsOf([s, e], i)) {
      phdr(ph++, {type: PT_LOAD, flags: PF_RWX, offset: runAt + (l.paddr - runStart), vaddr: l.vaddr, paddr: l.paddr, filesz: l.bytes, memsz: l.bytes, align: 0n})
    }
    segments.push({first: s, end: e, offset: at})
    at += (e - s) * PAGE_SIZE
    covered += e - s
  })
  zeroPages = covered - pages.count
  return {head, segments, loads: phnum - 1, zeroPages, size: at, notes}
}

/** The segment holding `pfn` (binary search), for where zeros start before a run. */
export function segmentOf(segments: Segment[], pfn: number): Segment | undefined {
  let lo = 0
  let hi = segments.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const s = segments[mid]
    if (pfn < s.first) hi = mid - 1
    else if (pfn >= s.end) lo = mid + 1
    else return s
  }
  return undefined
}

// ---- NT_PRSTATUS -------------------------------------------------------------

/** The registers the HVM CPU record and vcpu_guest_context both name as pr_reg does. */
const GPRS = ['r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi', 'rip', 'rsp'] as const
type Gprs = Record<(typeof GPRS)[number] | 'rflags', bigint>
type Selectors = Record<'cs' | 'ss' | 'ds' | 'es' | 'fs' | 'gs', number>

/** No system call in progress: orig_rax as the kernel keeps it then (-1). */
const NO_SYSCALL = 0xffffffffffffffffn

/** An NT_PRSTATUS descriptor: the registers, the 16-bit segment selectors, and the fs and gs bases. */
function prstatusNote(pid: number, r: Gprs, sel: Selectors, fsBase: bigint, gsBase: bigint): Buffer {
  const s = (v: number) => BigInt(v & 0xffff)
  return ElfPrstatus64.encode({
    siSigno: 0,
    siCode: 0,
    siErrno: 0,
    cursig: 0,
    pad0: 0,
    sigpend: 0n,
    sighold: 0n,
    pid,
    ppid: 0,
    pgrp: 0,
    sid: 0,
    times: Buffer.alloc(64),
    ...(Object.fromEntries(GPRS.map((k) => [k, r[k]])) as Record<(typeof GPRS)[number], bigint>),
    origRax: NO_SYSCALL,
    eflags: r.rflags,
    cs: s(sel.cs),
    ss: s(sel.ss),
    ds: s(sel.ds),
    es: s(sel.es),
    fs: s(sel.fs),
    gs: s(sel.gs),
    fsBase,
    gsBase,
    fpvalid: 0,
    pad1: 0,
  })
}

/** Xen's packed segment attributes (type, s, dpl, p, avl, l, db, g) as QEMU keeps them: the descriptor's bits 8-23. */
export function qemuSegmentFlags(arbytes: number): number {
  return ((arbytes & 0xff) << 8) | (((arbytes >> 8) & 0xf) << 20)
}

type Segs = Partial<Record<(typeof QEMU_SEGMENTS)[number], {selector: number; limit: number; flags: number; base: bigint}>>

function qemuNote(
  r: {[K in 'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi' | 'rdi' | 'rsp' | 'rbp' | 'r8' | 'r9' | 'r10' | 'r11' | 'r12' | 'r13' | 'r14' | 'r15' | 'rip' | 'rflags' | 'cr0' | 'cr2' | 'cr3' | 'cr4']: bigint},
  segs: Segs,
): Buffer {
  const segments = Buffer.alloc(QEMU_SEGMENTS.length * QemuSegment.size)
  QEMU_SEGMENTS.forEach((name, i) => {
    const v = segs[name]
    if (v) QemuSegment.put(segments, i * QemuSegment.size, {...v, pad: 0})
  })
  return QemuCpuState.encode({version: QEMU_CPU_STATE_VERSION, size: QemuCpuState.size, ...r, segments, cr1: 0n})
}

/**
 * An HVM vcpu's notes, from its CPU save record. NT_PRSTATUS: the general
 * registers, rip, rflags, the segment selectors and the fs and gs bases the
 * vcpu had loaded; pr_pid is the vcpu id + 1, as QEMU numbers its cpus
 * (drgn matches notes to cpus by it; the task running there is not known
 * without the kernel's symbols). QEMUCPUState: the same registers, every
 * segment, the descriptor tables and cr0-cr4.
 */
export function hvmCpuNotes(vcpu: number, cpuRecord: Buffer): CpuNotes {
  const c = HvmCpuPrefix.get(cpuRecord)
  const prstatus = prstatusNote(vcpu + 1, c, {cs: c.csSel, ss: c.ssSel, ds: c.dsSel, es: c.esSel, fs: c.fsSel, gs: c.gsSel}, c.fsBase, c.gsBase)
  const seg = (selector: number, limit: number, arbytes: number, base: bigint) => ({selector: selector & 0xffff, limit, flags: qemuSegmentFlags(arbytes), base})
  const qemu = qemuNote(c, {
    cs: seg(c.csSel, c.csLimit, c.csArbytes, c.csBase),
    ds: seg(c.dsSel, c.dsLimit, c.dsArbytes, c.dsBase),
    es: seg(c.esSel, c.esLimit, c.esArbytes, c.esBase),
    fs: seg(c.fsSel, c.fsLimit, c.fsArbytes, c.fsBase),
    gs: seg(c.gsSel, c.gsLimit, c.gsArbytes, c.gsBase),
    ss: seg(c.ssSel, c.ssLimit, c.ssArbytes, c.ssBase),
    ldt: seg(c.ldtrSel, c.ldtrLimit, c.ldtrArbytes, c.ldtrBase),
    tr: seg(c.trSel, c.trLimit, c.trArbytes, c.trBase),
    gdt: {selector: 0, limit: c.gdtrLimit, flags: 0, base: c.gdtrBase},
    idt: {selector: 0, limit: c.idtrLimit, flags: 0, base: c.idtrBase},
  })
  return {prstatus, qemu}
}

/**
 * A 64-bit PV vcpu's notes, from its saved vcpu_guest_context: user_regs,
 * fs_base and the kernel's gs base (a PV guest's kernel runs in ring 3, so
 * its mode is not told by cs; a kernel reader wants the kernel's), and in
 * the QEMU note its control registers (cr3 holds a pfn, as the dump's
 * addresses are). A PV vcpu has no descriptor tables of its own to give.
 */
export function pvCpuNotes(vcpu: number, context: Buffer): CpuNotes {
  const slot = Buffer.alloc(VcpuGuestContext64.size)
  context.copy(slot, 0, 0, Math.min(context.length, slot.length))
  const g = VcpuGuestContext64.get(slot)
  const prstatus = prstatusNote(vcpu + 1, g, g, g.fsBase, g.gsBaseKernel)
  const s = (selector: number, base = 0n) => ({selector, limit: 0, flags: 0, base})
  const qemu = qemuNote(g, {cs: s(g.cs), ds: s(g.ds), es: s(g.es), fs: s(g.fs, g.fsBase), gs: s(g.gs, g.gsBaseKernel), ss: s(g.ss)})
  return {prstatus, qemu}
}
