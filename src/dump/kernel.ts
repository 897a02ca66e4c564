// The Linux kernel in a dump: its release, its KASLR offset and phys_base,
// found in the guest's own memory, so that a reader of the dump needs no
// hand-given offsets.
//
// First choice: the kernel's vmcoreinfo. A kernel built with crash-dump
// support writes a text describing itself at boot (kernel/crash_core.c,
// crash_save_vmcoreinfo_init(): "OSRELEASE=…" first, then PAGESIZE, symbol
// addresses, struct offsets; on x86_64 arch_crash_save_vmcoreinfo() adds
// NUMBER(phys_base) and KERNELOFFSET). It stays in memory twice (the text,
// and the ELF note made of it), and is what kdump puts in /proc/vmcore's
// VMCOREINFO note. Pages are searched for it as they are read.
//
// Otherwise (no crash-dump support, or a kernel too old for some keys):
// the kernel-text mapping of the saved vcpus' page tables. x86_64 Linux
// maps its image at __START_KERNEL_map (0xffffffff80000000) + its physical
// offset - phys_base, and clears the entries below _text
// (cleanup_highmap()); _text sits at __START_KERNEL (0xffffffff81000000)
// + the KASLR offset. So the first mapped 2 MiB slot at or above
// __START_KERNEL gives both: offset = V - __START_KERNEL and
// phys_base = P - (V - __START_KERNEL_map).
import {PAGE_SIZE} from '../format/x86.js'
import {ranges} from '../text.js'
import {HvmCpuPrefix, VcpuGuestContext64} from './layouts.js'
import type {PagePlacer} from './pages.js'

export const START_KERNEL_MAP = 0xffffffff80000000n
export const START_KERNEL = 0xffffffff81000000n
/** The kernel image's virtual window (KERNEL_IMAGE_SIZE, 1 GiB with KASLR). */
const KERNEL_IMAGE_END = 0xffffffffc0000000n
/** The kernel's limit for its vmcoreinfo text (VMCOREINFO_BYTES, a page). */
export const VMCOREINFO_MAX = PAGE_SIZE

const NEEDLE = Buffer.from('OSRELEASE=', 'latin1')
/** Places looked at: the text and its note, and a few stale copies (a kexec'd kernel's) at most. */
const MAX_CANDIDATES = 32

/** A page of guest memory by pfn; undefined where the dump has none. */
export interface GuestMemory {
  read(pfn: number): Promise<Buffer | undefined>
}

/**
 * Notes where "OSRELEASE=" starts, in the pages as they are read (in
 * stream order: a page re-sent later is looked at again, and where the text
 * is is re-read from the final copy anyway).
 */
export class VmcoreinfoSearch {
  readonly candidates: Array<{pfn: number; offset: number}> = []
  private seen = new Set<number>()

  /** The `count` pages of `pfns[from…]`, packed in `buf` from byte `at`. */
  look(pfns: Float64Array, from: number, count: number, buf: Buffer, at: number): void {
    this.lookAt((k) => pfns[from + k], count, buf, at)
  }

  /** `count` pages of consecutive pfns from `first`, packed in `buf` from byte `at`. */
  lookRun(first: number, count: number, buf: Buffer, at: number): void {
    this.lookAt((k) => first + k, count, buf, at)
  }

  private lookAt(pfnOf: (k: number) => number, count: number, buf: Buffer, at: number): void {
    if (this.candidates.length >= MAX_CANDIDATES) return
    const end = at + count * PAGE_SIZE
    for (let i = buf.indexOf(NEEDLE, at); i >= 0 && i < end; i = buf.indexOf(NEEDLE, i + 1)) {
      const k = Math.floor((i - at) / PAGE_SIZE)
      const pfn = pfnOf(k)
      const offset = (i - at) % PAGE_SIZE
      // The text starts a line: at its buffer's start, or after a note header.
      if (offset > 0 && buf[i - 1] !== 0) continue
      const key = pfn * PAGE_SIZE + offset
      if (this.seen.has(key)) continue
      this.seen.add(key)
      this.candidates.push({pfn, offset})
      if (this.candidates.length >= MAX_CANDIDATES) return
    }
  }

  /** A placer that looks at each page, then hands it on (to `inner`, if any). */
  placer(inner?: PagePlacer): PagePlacer {
    return {
      place: (pfns, from, count, buf, at) => {
        this.look(pfns, from, count, buf, at)
        inner?.place(pfns, from, count, buf, at)
      },
    }
  }
}

/** The lines of a vmcoreinfo text, key -> value (the last one of a key). */
export function parseVmcoreinfo(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1))
  }
  return out
}

const LINE = /^[A-Za-z0-9_().-]+=[\x20-\x7e]*$/

/**
 * The vmcoreinfo text at `offset` of `pfn`, read on into the next pfns (it
 * is one allocation, contiguous in the guest's physical memory): printable
 * lines of KEY=value, up to the first NUL, at most VMCOREINFO_MAX bytes,
 * starting OSRELEASE= and with PAGESIZE=4096. Undefined when not that.
 */
export async function readVmcoreinfo(mem: GuestMemory, pfn: number, offset: number): Promise<string | undefined> {
  const parts: Buffer[] = []
  let length = 0
  for (let p = pfn; length < VMCOREINFO_MAX + 1; p++) {
    const page = await mem.read(p)
    if (!page) break
    const piece = page.subarray(p === pfn ? offset : 0)
    const nul = piece.indexOf(0)
    parts.push(nul >= 0 ? piece.subarray(0, nul) : piece)
    length += nul >= 0 ? nul : piece.length
    if (nul >= 0) break
  }
  const bytes = Buffer.concat(parts)
  if (bytes.length === 0 || bytes.length > VMCOREINFO_MAX || bytes[bytes.length - 1] !== 0x0a) return undefined
  const text = bytes.toString('latin1')
  const lines = text.slice(0, -1).split('\n')
  if (!lines.every((l) => LINE.test(l))) return undefined
  const keys = parseVmcoreinfo(text)
  if (!keys.has('OSRELEASE') || keys.get('PAGESIZE') !== String(PAGE_SIZE)) return undefined
  return text
}

/** What a vcpu's saved registers say of its paging. */
export interface PagingState {
  vcpu: number
  cr3: bigint
  /** 64-bit paging (long mode): the only mode this walk reads. */
  longMode: boolean
  /** 5-level paging (CR4.LA57). */
  la57: boolean
}

const CR0_PG = 1n << 31n
const CR4_PAE = 1n << 5n
const CR4_LA57 = 1n << 12n
const EFER_LMA = 1n << 10n

/** An HVM vcpu's paging, from its CPU save record. */
export function hvmPaging(vcpu: number, cpuRecord: Buffer): PagingState {
  const c = HvmCpuPrefix.get(cpuRecord)
  const longMode = (c.cr0 & CR0_PG) !== 0n && (c.cr4 & CR4_PAE) !== 0n && (c.msrEfer & EFER_LMA) !== 0n
  return {vcpu, cr3: c.cr3, longMode, la57: (c.cr4 & CR4_LA57) !== 0n}
}

/**
 * A 64-bit PV vcpu's kernel page table, from its saved context: ctrlreg[3]
 * holds the pfn (the saver turned the frame into one) shifted as a cr3.
 */
export function pvPaging(vcpu: number, context: Buffer): PagingState | undefined {
  if (context.length < VcpuGuestContext64.offsets.cr3 + 8) return undefined
  const cr3 = context.readBigUInt64LE(VcpuGuestContext64.offsets.cr3)
  return {vcpu, cr3, longMode: true, la57: false}
}

const ADDR = 0x000ffffffffff000n
const PRESENT = 1n
const LARGE = 0x80n
const SIZE_2M = 0x200000n

async function entry(mem: GuestMemory, tablePfn: bigint, index: number): Promise<bigint | undefined> {
  if (tablePfn > BigInt(Number.MAX_SAFE_INTEGER)) return undefined
  const page = await mem.read(Number(tablePfn))
  if (!page) return undefined
  const e = page.readBigUInt64LE(index * 8)
  return e & PRESENT ? e : undefined
}

export interface TextMapping {
  /** The first mapped address at or above __START_KERNEL, and its physical address. */
  virt: bigint
  phys: bigint
  /** How far the mapping goes on from there, physically contiguous: the kernel image (kdump's kernel-text segment). */
  bytes: bigint
}

/** Whether a page table maps all its 512 pages, contiguous from `phys`. */
function contiguousTable(pt: Buffer, phys: bigint): boolean {
  for (let j = 0; j < 512; j++) {
    const e = pt.readBigUInt64LE(j * 8)
    if (!(e & PRESENT) || (e & ADDR) !== phys + BigInt(j * PAGE_SIZE)) return false
  }
  return true
}

/** Where the kernel text is mapped in the page tables at `root` (a pfn), or why it was not found. */
export async function kernelTextMapping(mem: GuestMemory, rootPfn: bigint, la57: boolean): Promise<TextMapping | string> {
  let table = rootPfn
  if (!(await mem.read(Number(table)))) return `the page table at pfn ${table} is not in the image`
  // 0xffffffff80000000: index 511 at the top levels, 510 in the PDPT.
  if (la57) {
    const e5 = await entry(mem, table, 511)
    if (e5 === undefined) return 'no kernel mapping in the top-level page table'
    table = (e5 & ADDR) >> 12n
  }
  const e4 = await entry(mem, table, 511)
  if (e4 === undefined) return 'no kernel mapping in the top-level page table (entry 511 not present)'
  const e3 = await entry(mem, (e4 & ADDR) >> 12n, 510)
  if (e3 === undefined) return 'no kernel-text mapping (PDPT entry 510 not present, or its page not in the image)'
  if (e3 & LARGE) return 'the kernel text is mapped with a 1 GiB page, which does not show its start'
  const pd = (e3 & ADDR) >> 12n
  const pdPage = await mem.read(Number(pd))
  if (!pdPage) return `the kernel-text page directory (pfn ${pd}) is not in the image`
  const first = Number((START_KERNEL - START_KERNEL_MAP) / SIZE_2M)
  const last = Number((KERNEL_IMAGE_END - START_KERNEL_MAP) / SIZE_2M)
  // The 2 MiB slots from `i` on that go on mapping physically contiguous memory from `phys`.
  const extent = async (i: number, phys: bigint): Promise<bigint> => {
    let n = 0n
    for (let k = i; k < last; k++, n += SIZE_2M) {
      const e = pdPage.readBigUInt64LE(k * 8)
      if (!(e & PRESENT)) break
      const want = phys + n
      if (e & LARGE) {
        if ((e & ADDR & ~(SIZE_2M - 1n)) !== want) break
        continue
      }
      const pt = await mem.read(Number((e & ADDR) >> 12n))
      if (!pt || !contiguousTable(pt, want)) break
    }
    return n
  }
  for (let i = first; i < last; i++) {
    const e2 = pdPage.readBigUInt64LE(i * 8)
    if (!(e2 & PRESENT)) continue
    const virt = START_KERNEL_MAP + BigInt(i) * SIZE_2M
    if (e2 & LARGE) {
      const phys = e2 & ADDR & ~(SIZE_2M - 1n)
      return {virt, phys, bytes: await extent(i, phys)}
    }
    const ptPage = await mem.read(Number((e2 & ADDR) >> 12n))
    if (!ptPage) continue
    for (let j = 0; j < 512; j++) {
      const e1 = ptPage.readBigUInt64LE(j * 8)
      if (!(e1 & PRESENT)) continue
      // Mapped page by page (a PV kernel's always are: no large pages): as far as its pages run on
      // contiguously, into the next slots when they reach this one's end.
      const phys = e1 & ADDR
      let k = j + 1
      while (k < 512) {
        const e = ptPage.readBigUInt64LE(k * 8)
        if (!(e & PRESENT) || (e & ADDR) !== phys + BigInt((k - j) * PAGE_SIZE)) break
        k++
      }
      const here = BigInt((k - j) * PAGE_SIZE)
      return {virt: virt + BigInt(j * PAGE_SIZE), phys, bytes: k === 512 ? here + (await extent(i + 1, phys + here)) : here}
    }
  }
  return 'no kernel-text mapping between 0xffffffff81000000 and 0xffffffffc0000000'
}

export type KernelSource = 'vmcoreinfo' | 'page-tables'

export interface KernelFacts {
  /** The kernel's release (uname -r), from its vmcoreinfo. */
  release: string | null
  kaslrOffset: bigint | null
  physBase: bigint | null
  from: {kaslrOffset: KernelSource | null; physBase: KernelSource | null}
  /** Where the vmcoreinfo text is (its first byte), and its length. */
  vmcoreinfo: {pfn: number; offset: number; bytes: number} | null
  /** The text a VMCOREINFO note carries: the kernel's, with what the page tables gave added when it lacks it. */
  noteText: string | null
  /** The vcpu whose page tables were read, and what they gave. */
  pageTables: {vcpu: number; kaslrOffset: bigint; physBase: bigint} | null
  /** The kernel image's mapping, from the page tables: the kdump-style core's kernel-text segment. */
  text: TextMapping | null
  /** Why something was not found (null when both offsets were). */
  problem: string | null
}

const hexOf = (v: bigint) => v.toString(16)

function parseHex(v: string | undefined): bigint | undefined {
  return v !== undefined && /^[0-9a-fA-F]{1,16}$/.test(v) ? BigInt(`0x${v}`) : undefined
}

/** A decimal NUMBER(...) value, as the kernel prints a long (signed), as the 64-bit word it is. */
function parseDec(v: string | undefined): bigint | undefined {
  return v !== undefined && /^-?[0-9]{1,20}$/.test(v) ? BigInt.asUintN(64, BigInt(v)) : undefined
}

/**
 * The kernel's facts: vmcoreinfo where one of the searched places holds a
 * well-formed one, the page tables of the first vcpu (ascending ids) whose
 * walk succeeds for what vmcoreinfo does not give, or to choose between
 * vmcoreinfo texts that disagree.
 */
export async function findKernel(mem: GuestMemory, search: VmcoreinfoSearch, vcpus: PagingState[], warn?: (m: string) => void): Promise<KernelFacts> {
  const problems: string[] = []
  let tables: KernelFacts['pageTables'] = null
  let text: TextMapping | null = null
  const longMode = vcpus.filter((v) => v.longMode)
  if (vcpus.length === 0) problems.push('no vcpu registers in the image to read page tables from')
  else if (longMode.length === 0) problems.push('no vcpu is in 64-bit paging mode')
  const walkFailures = new Map<string, number[]>()
  for (const v of longMode) {
    // With page-table isolation a vcpu in user mode runs on the user half of an 8 KiB pgd; the kernel's is the page below.
    const roots = [(v.cr3 & ADDR) >> 12n]
    if (roots[0] & 1n) roots.push(roots[0] & ~1n)
    let why = ''
    for (const root of roots) {
      const m = await kernelTextMapping(mem, root, v.la57)
      if (typeof m === 'string') {
        why ||= m
        continue
      }
      // Below zero where KASLR put the kernel lower in physical memory than in its virtual window: the
      // kernel's own phys_base is then a 64-bit two's complement (vmcoreinfo prints it signed).
      const physBase = BigInt.asUintN(64, m.phys - (m.virt - START_KERNEL_MAP))
      tables = {vcpu: v.vcpu, kaslrOffset: m.virt - START_KERNEL, physBase}
      text = m
      break
    }
    if (tables) break
    const same = walkFailures.get(why)
    if (same) same.push(v.vcpu)
    else walkFailures.set(why, [v.vcpu])
  }
  if (!tables) for (const [why, ids] of walkFailures) problems.push(`${ids.length > 1 ? `vcpus ${ranges(ids)}` : `vcpu ${ids[0]}`}: page tables: ${why}`)

  // Every well-formed text; where they differ, the one that agrees with the page tables.
  const found: Array<{pfn: number; offset: number; text: string; keys: Map<string, string>}> = []
  for (const c of search.candidates) {
    const text = await readVmcoreinfo(mem, c.pfn, c.offset)
    if (text !== undefined) found.push({...c, text, keys: parseVmcoreinfo(text)})
  }
  found.sort((a, b) => a.pfn - b.pfn || a.offset - b.offset)
  const agrees = (keys: Map<string, string>) => {
    const off = parseHex(keys.get('KERNELOFFSET'))
    return tables === null || off === undefined || off === tables.kaslrOffset
  }
  const chosen = found.find((f) => agrees(f.keys)) ?? found[0]
  const releases = new Set(found.map((f) => f.keys.get('OSRELEASE')))
  if (chosen && releases.size > 1) {
    warn?.(`the guest's memory holds vmcoreinfo texts of more than one kernel (${[...releases].join(', ')}); the one at pfn ${chosen.pfn} is used`)
  }
  if (!chosen)
    problems.unshift(search.candidates.length ? 'no well-formed vmcoreinfo text in the guest memory' : 'no vmcoreinfo text in the guest memory (a kernel without crash-dump support, or not Linux)')

  const keys = chosen?.keys ?? new Map<string, string>()
  const infoOffset = parseHex(keys.get('KERNELOFFSET'))
  const infoPhysBase = parseDec(keys.get('NUMBER(phys_base)'))
  if (tables && infoOffset !== undefined && infoOffset !== tables.kaslrOffset) {
    warn?.(`the kernel's vmcoreinfo gives KASLR offset 0x${hexOf(infoOffset)}, its page tables 0x${hexOf(tables.kaslrOffset)}; the vmcoreinfo's is used`)
  }
  const kaslrOffset = infoOffset ?? tables?.kaslrOffset ?? null
  const physBase = infoPhysBase ?? tables?.physBase ?? null
  // What a reader of the note needs and the kernel did not write, from the page tables.
  let noteText = chosen?.text ?? null
  if (noteText !== null && tables) {
    if (infoPhysBase === undefined) noteText += `NUMBER(phys_base)=${BigInt.asIntN(64, tables.physBase)}\n`
    if (infoOffset === undefined && tables.kaslrOffset !== 0n) noteText += `KERNELOFFSET=${hexOf(tables.kaslrOffset)}\n`
  }
  return {
    release: keys.get('OSRELEASE') ?? null,
    kaslrOffset,
    physBase,
    from: {
      kaslrOffset: infoOffset !== undefined ? 'vmcoreinfo' : tables ? 'page-tables' : null,
      physBase: infoPhysBase !== undefined ? 'vmcoreinfo' : tables ? 'page-tables' : null,
    },
    vmcoreinfo: chosen ? {pfn: chosen.pfn, offset: chosen.offset, bytes: chosen.text.length} : null,
    noteText,
    pageTables: tables,
    text,
    problem: kaslrOffset !== null && physBase !== null && chosen ? null : problems.join('; ') || null,
  }
}

const hex0x = (v: bigint | null) => (v === null ? null : `0x${v.toString(16)}`)

/** The kernel's facts as dump-core reports them (addresses as 0x-prefixed hex: a JSON number cannot hold every 64-bit value). */
export interface KernelSummary {
  release: string | null
  kaslrOffset: string | null
  physBase: string | null
  from: KernelFacts['from']
  vmcoreinfo: KernelFacts['vmcoreinfo']
  pageTables: {vcpu: number; kaslrOffset: string; physBase: string} | null
  problem: string | null
  /** What crash needs besides the vmlinux and the dump to open this format: none for a kdump-style core that carries vmcoreinfo. */
  crashOptions: string[]
  /** The file argument crash takes for this format (a raw image is given with its physical start: FILE@0x0). */
  crashFile: '{core}' | '{core}@0x0'
}

export function kernelSummary(k: KernelFacts, format: 'elf' | 'raw' | 'vmcore'): KernelSummary {
  const options: string[] = []
  // A kdump-style core's VMCOREINFO note tells crash both (SYMBOL(_stext) and NUMBER(phys_base)); other formats carry neither.
  if (!(format === 'vmcore' && k.noteText !== null)) {
    if (k.kaslrOffset !== null && k.kaslrOffset !== 0n) options.push(`--kaslr=${hex0x(k.kaslrOffset)}`)
    if (k.physBase !== null) options.push('--machdep', `phys_base=${hex0x(k.physBase)}`)
  }
  return {
    release: k.release,
    kaslrOffset: hex0x(k.kaslrOffset),
    physBase: hex0x(k.physBase),
    from: k.from,
    vmcoreinfo: k.vmcoreinfo,
    pageTables: k.pageTables && {vcpu: k.pageTables.vcpu, kaslrOffset: hex0x(k.pageTables.kaslrOffset)!, physBase: hex0x(k.pageTables.physBase)!},
    problem: k.problem,
    crashOptions: options,
    crashFile: format === 'raw' ? '{core}@0x0' : '{core}',
  }
}
