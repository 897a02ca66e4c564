// Wraps a QEMU `dump-guest-memory` ELF (paging off) in a legacy (Xen <= 4.5)
// HVM save image, with the project's test builder (test/builders/legacy.ts).
//
//   node qemu-elf-to-legacy.mjs QEMU.elf OUT.save
//
// (bundled by run.sh with the esbuild the project already has.)
//
// - Guest pages: every page of every PT_LOAD segment, at pfn p_paddr / 4096.
//   Physical addresses QEMU has no segment for (the PCI hole, ...) get no
//   page, as a saved HVM guest has none there.
// - HVM context: an HVM save header record, one CPU record (struct
//   hvm_hw_cpu, the 1032-byte Xen 4.4/4.5 layout) per vcpu, built from
//   QEMU's per-cpu "QEMU" note (QEMUCPUState: general registers, rip,
//   rflags, segments with selector/limit/flags/base, cr0-cr4,
//   kernel_gs_base when the note is long enough), falling back to the
//   registers of the vcpu's NT_PRSTATUS note where there is no QEMU note.
// - The rest (xl header, tsc_info, vcpu_info, HVM params, device-model
//   record) is made up but well formed: what xst convert needs.
//
// Prints a one-line JSON summary on stdout.
import {closeSync, fstatSync, openSync, readSync, writeSync} from 'node:fs'
import {HvmCpuPrefix, HvmSaveType} from '../../src/dump/layouts.js'
import {hvmContext} from '../../test/builders/hvm-context.js'
import {type ChunkSpec, QEMU_SIG_DM_0002, writeLegacy} from '../../test/builders/legacy.js'
import {prstatusRegs} from '../../test/helpers/vmcore.js'

const PAGE = 4096
const BATCH = 1024
const PT_LOAD = 1
const PT_NOTE = 4
const NT_PRSTATUS = 1
/** QEMU's own note (target/i386/arch_dump.c) has type 0 and name "QEMU". */
const QEMU_NOTE_TYPE = 0

interface Load {
  offset: number
  paddr: number
  filesz: number
}
interface Note {
  name: string
  type: number
  desc: Buffer
}

function readAt(fd: number, at: number, n: number): Buffer {
  const b = Buffer.alloc(n)
  let got = 0
  while (got < n) {
    const r = readSync(fd, b, got, n - got, at + got)
    if (r === 0) throw new Error(`short read at ${at + got}`)
    got += r
  }
  return b
}

function parseElf(fd: number): {loads: Load[]; notes: Note[]} {
  const eh = readAt(fd, 0, 64)
  if (eh.toString('latin1', 0, 4) !== '\x7fELF' || eh[4] !== 2 || eh[5] !== 1) throw new Error('not a little-endian ELF64 file')
  if (eh.readUInt16LE(16) !== 4 || eh.readUInt16LE(18) !== 62) throw new Error('not an x86_64 ELF core file')
  const phoff = Number(eh.readBigUInt64LE(32))
  const phentsize = eh.readUInt16LE(54)
  const phnum = eh.readUInt16LE(56)
  const loads: Load[] = []
  const notes: Note[] = []
  for (let i = 0; i < phnum; i++) {
    const ph = readAt(fd, phoff + i * phentsize, 56)
    const type = ph.readUInt32LE(0)
    const offset = Number(ph.readBigUInt64LE(8))
    const paddr = Number(ph.readBigUInt64LE(24))
    const filesz = Number(ph.readBigUInt64LE(32))
    if (type === PT_LOAD) {
      if (paddr % PAGE || filesz % PAGE) throw new Error(`PT_LOAD at paddr 0x${paddr.toString(16)} (0x${filesz.toString(16)} bytes) is not page aligned`)
      loads.push({offset, paddr, filesz})
    } else if (type === PT_NOTE) {
      const b = readAt(fd, offset, filesz)
      let at = 0
      while (at + 12 <= b.length) {
        const namesz = b.readUInt32LE(at)
        const descsz = b.readUInt32LE(at + 4)
        const ntype = b.readUInt32LE(at + 8)
        const name = b.toString('latin1', at + 12, at + 12 + namesz).replace(/\0+$/, '')
        const d = at + 12 + align4(namesz)
        notes.push({name, type: ntype, desc: b.subarray(d, d + descsz)})
        at = d + align4(descsz)
      }
    }
  }
  return {loads, notes}
}

const align4 = (n: number): number => (n + 3) & ~3

interface Seg {
  sel: number
  limit: number
  flags: number
  base: bigint
}
interface Cpu {
  gpr: Record<string, bigint>
  rip: bigint
  rflags: bigint
  seg: Record<'cs' | 'ds' | 'es' | 'fs' | 'gs' | 'ss' | 'ldt' | 'tr' | 'gdt' | 'idt', Seg>
  cr: bigint[]
  kernelGsBase: bigint
}

const SEGS = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'ldt', 'tr', 'gdt', 'idt'] as const
const NOSEG: Seg = {sel: 0, limit: 0, flags: 0, base: 0n}

/** QEMUCPUState (QEMU target/i386/arch_dump.c), version 1. */
function fromQemuNote(d: Buffer): Cpu {
  const size = d.readUInt32LE(4)
  const q = (i: number) => d.readBigUInt64LE(8 + i * 8)
  const names = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15']
  const gpr: Record<string, bigint> = {}
  names.forEach((n, i) => {
    gpr[n] = q(i)
  })
  const seg = {} as Cpu['seg']
  SEGS.forEach((s, i) => {
    const at = 152 + i * 24
    seg[s] = {sel: d.readUInt32LE(at), limit: d.readUInt32LE(at + 4), flags: d.readUInt32LE(at + 8), base: d.readBigUInt64LE(at + 16)}
  })
  const cr = [0, 1, 2, 3, 4].map((i) => d.readBigUInt64LE(392 + i * 8))
  return {gpr, rip: q(16), rflags: q(17), seg, cr, kernelGsBase: size >= 440 && d.length >= 440 ? d.readBigUInt64LE(432) : 0n}
}

/** struct elf_prstatus (x86_64), read by the tests' reader of kdump-style cores. */
function fromPrstatus(d: Buffer): Cpu {
  const {pid: _, ...r} = prstatusRegs(d)
  const seg = Object.fromEntries(SEGS.map((s) => [s, {...NOSEG}])) as Cpu['seg']
  seg.cs = {sel: Number(r.cs), limit: 0xffffffff, flags: 0xaf9b00, base: 0n}
  seg.ss = {sel: Number(r.ss), limit: 0xffffffff, flags: 0xcf9300, base: 0n}
  seg.fs.base = r.fs_base
  seg.gs.base = r.gs_base
  return {gpr: r, rip: r.rip, rflags: r.eflags, seg, cr: [0n, 0n, 0n, 0n, 0n], kernelGsBase: 0n}
}

/** QEMU's SegmentCache flags are the descriptor's high word; Xen's arbytes are its bits 8-15 and 20-23 packed into 12 bits. */
const arbytes = (flags: number): number => ((flags >>> 8) & 0xff) | ((flags >>> 12) & 0xf00)

const EFER_SCE = 1n << 0n
const EFER_LME = 1n << 8n
const EFER_LMA = 1n << 10n
const EFER_NX = 1n << 11n

/** struct hvm_hw_cpu as Xen 4.4/4.5 save it: 1032 bytes. */
function hvmHwCpu(c: Cpu): Buffer {
  const fpu = Buffer.alloc(512)
  fpu.writeUInt16LE(0x37f, 0) // fcw
  fpu.writeUInt32LE(0x1f80, 24) // mxcsr
  fpu.writeUInt32LE(0xffff, 28) // mxcsr_mask
  const s = c.seg
  const longMode = (s.cs.flags & (1 << 21)) !== 0
  const prefix = HvmCpuPrefix.encode({
    fpuRegs: fpu,
    rax: c.gpr.rax,
    rbx: c.gpr.rbx,
    rcx: c.gpr.rcx,
    rdx: c.gpr.rdx,
    rbp: c.gpr.rbp,
    rsi: c.gpr.rsi,
    rdi: c.gpr.rdi,
    rsp: c.gpr.rsp,
    r8: c.gpr.r8,
    r9: c.gpr.r9,
    r10: c.gpr.r10,
    r11: c.gpr.r11,
    r12: c.gpr.r12,
    r13: c.gpr.r13,
    r14: c.gpr.r14,
    r15: c.gpr.r15,
    rip: c.rip,
    rflags: c.rflags,
    cr0: c.cr[0],
    cr2: c.cr[2],
    cr3: c.cr[3],
    cr4: c.cr[4],
    dr0: 0n,
    dr1: 0n,
    dr2: 0n,
    dr3: 0n,
    dr6: 0xffff0ff0n,
    dr7: 0x400n,
    csSel: s.cs.sel,
    dsSel: s.ds.sel,
    esSel: s.es.sel,
    fsSel: s.fs.sel,
    gsSel: s.gs.sel,
    ssSel: s.ss.sel,
    trSel: s.tr.sel,
    ldtrSel: s.ldt.sel,
    csLimit: s.cs.limit,
    dsLimit: s.ds.limit,
    esLimit: s.es.limit,
    fsLimit: s.fs.limit,
    gsLimit: s.gs.limit,
    ssLimit: s.ss.limit,
    trLimit: s.tr.limit,
    ldtrLimit: s.ldt.limit,
    idtrLimit: s.idt.limit,
    gdtrLimit: s.gdt.limit,
    csBase: s.cs.base,
    dsBase: s.ds.base,
    esBase: s.es.base,
    fsBase: s.fs.base,
    gsBase: s.gs.base,
    ssBase: s.ss.base,
    trBase: s.tr.base,
    ldtrBase: s.ldt.base,
    idtrBase: s.idt.base,
    gdtrBase: s.gdt.base,
    csArbytes: arbytes(s.cs.flags),
    dsArbytes: arbytes(s.ds.flags),
    esArbytes: arbytes(s.es.flags),
    fsArbytes: arbytes(s.fs.flags),
    gsArbytes: arbytes(s.gs.flags),
    ssArbytes: arbytes(s.ss.flags),
    trArbytes: arbytes(s.tr.flags),
    ldtrArbytes: arbytes(s.ldt.flags),
    sysenterCs: 0n,
    sysenterEsp: 0n,
    sysenterEip: 0n,
    shadowGs: c.kernelGsBase,
    msrFlags: 0n,
    msrLstar: 0n,
    msrStar: 0n,
    msrCstar: 0n,
    msrSyscallMask: 0n,
    msrEfer: longMode ? EFER_SCE | EFER_LME | EFER_LMA | EFER_NX : 0n,
  })
  // After msr_efer: tsc_aux, tsc, pending_event + error_code, flags (XEN_X86_FPU_INITIALISED) + pad.
  const tail = Buffer.alloc(1032 - prefix.length)
  tail.writeUInt32LE(1, 1024 - prefix.length)
  return Buffer.concat([prefix, tail])
}

async function main(): Promise<void> {
  const [input, output] = process.argv.slice(2)
  if (!input || !output) throw new Error('usage: qemu-elf-to-legacy QEMU.elf OUT.save')
  const fd = openSync(input, 'r')
  const {loads, notes} = parseElf(fd)
  if (!loads.length) throw new Error('no PT_LOAD segment')
  if (fstatSync(fd).size < Math.max(...loads.map((l) => l.offset + l.filesz))) throw new Error('the ELF file is shorter than its PT_LOAD segments')

  // Notes come per cpu in cpu order: NT_PRSTATUS ("CORE") for each, then "QEMU" for each.
  const prstatus = notes.filter((n) => n.name === 'CORE' && n.type === NT_PRSTATUS)
  const qemu = notes.filter((n) => n.name === 'QEMU' && n.type === QEMU_NOTE_TYPE)
  const nCpus = Math.max(prstatus.length, qemu.length)
  if (!nCpus) throw new Error('no NT_PRSTATUS or QEMU note: no vcpu state')
  const cpus: Cpu[] = []
  for (let i = 0; i < nCpus; i++) cpus.push(qemu[i] ? fromQemuNote(qemu[i].desc) : fromPrstatus(prstatus[i].desc))

  const chunks: ChunkSpec[] = [{kind: 'tsc_info'}]
  let pages = 0
  let maxPfn = 0
  for (const l of loads) {
    const first = l.paddr / PAGE
    const count = l.filesz / PAGE
    for (let i = 0; i < count; i += BATCH) {
      const n = Math.min(BATCH, count - i)
      chunks.push({kind: 'pages', range: {start: first + i, count: n}, data: readAt(fd, l.offset + i * PAGE, n * PAGE)})
    }
    pages += count
    maxPfn = Math.max(maxPfn, first + count - 1)
  }
  closeSync(fd)
  chunks.push(
    {kind: 'vcpu_info', online: cpus.map((_, i) => i)},
    {kind: 'hvm_param', chunk: 'hvm_ident_pt', value: 0xfeffd000n},
    {kind: 'hvm_param', chunk: 'hvm_vm86_tss', value: 0xfeffa000n},
    {kind: 'hvm_param', chunk: 'hvm_acpi_ioports_location', value: 1n},
    {kind: 'last_checkpoint'},
  )
  const context = hvmContext(cpus.map((c, i) => ({typecode: HvmSaveType.CPU, instance: i, body: hvmHwCpu(c)})))
  // A qemu-upstream device-model record: "QEVM", version 3, QEMU_VM_EOF.
  const qemuState = Buffer.from([0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0])
  const memMiB = Math.round((pages * PAGE) / (1 << 20))
  const config = `name = "xst-real-readers"\nbuilder = "hvm"\nmemory = ${memMiB}\nvcpus = ${nCpus}\n`
  const out = openSync(output, 'w')
  await writeLegacy(
    {
      width: 64,
      guest: 'hvm',
      xl: {config},
      p2mSize: maxPfn + 1,
      chunks,
      hvm: {context, qemu: {signature: QEMU_SIG_DM_0002, data: qemuState}},
    },
    (b) => {
      writeSync(out, b)
    },
  )
  closeSync(out)
  const cpuSummary = cpus.map((c) => ({rip: `0x${c.rip.toString(16)}`, cr3: `0x${c.cr[3].toString(16)}`, idtr: `0x${c.seg.idt.base.toString(16)}`}))
  console.log(
    JSON.stringify({
      vcpus: nCpus,
      source: qemu.length ? 'QEMU note' : 'NT_PRSTATUS',
      pages,
      p2mSize: maxPfn + 1,
      segments: loads.map((l) => ({paddr: `0x${l.paddr.toString(16)}`, bytes: l.filesz})),
      cpus: cpuSummary,
    }),
  )
}

main().catch((e) => {
  console.error(`qemu-elf-to-legacy: ${e instanceof Error ? e.message : e}`)
  process.exit(1)
})
