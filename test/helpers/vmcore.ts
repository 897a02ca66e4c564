// An independent reader of a kdump-style ELF core, for tests: the ELF
// header, the program headers, the notes of the PT_NOTE segment, and the
// guest-physical memory the PT_LOAD segments map, written from the ELF
// specification and Linux's elf_prstatus, not from xst's layouts.
import {spawnSync} from 'node:child_process'

export interface VmcoreLoad {
  offset: number
  vaddr: bigint
  paddr: number
  filesz: number
  memsz: number
  align: number
  flags: number
}

export interface VmcoreNote {
  name: string
  type: number
  desc: Buffer
}

export interface ParsedVmcore {
  class: number
  data: number
  type: number
  machine: number
  phnum: number
  shnum: number
  noteSegment: {offset: number; filesz: number; align: number}
  loads: VmcoreLoad[]
  notes: VmcoreNote[]
  /** The memory the loads map, as a raw image (page N at N × 4096), up to the highest load's end. */
  raw(): Buffer
}

const num = (v: bigint) => {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`value ${v} too large`)
  return Number(v)
}

export function parseVmcore(b: Buffer): ParsedVmcore {
  if (b.toString('latin1', 0, 4) !== '\x7fELF') throw new Error('not ELF')
  const phoff = num(b.readBigUInt64LE(32))
  const phentsize = b.readUInt16LE(54)
  const phnum = b.readUInt16LE(56)
  if (phentsize !== 56) throw new Error(`e_phentsize ${phentsize}`)
  const phdrs = Array.from({length: phnum}, (_, i) => {
    const at = phoff + i * 56
    return {
      type: b.readUInt32LE(at),
      flags: b.readUInt32LE(at + 4),
      offset: num(b.readBigUInt64LE(at + 8)),
      vaddr: b.readBigUInt64LE(at + 16),
      paddr: num(b.readBigUInt64LE(at + 24)),
      filesz: num(b.readBigUInt64LE(at + 32)),
      memsz: num(b.readBigUInt64LE(at + 40)),
      align: num(b.readBigUInt64LE(at + 48)),
    }
  })
  const noteHdrs = phdrs.filter((p) => p.type === 4)
  if (noteHdrs.length !== 1) throw new Error(`${noteHdrs.length} PT_NOTE segments`)
  const n = noteHdrs[0]
  const notes: VmcoreNote[] = []
  const pad = (x: number) => (x + 3) & ~3
  for (let at = n.offset; at < n.offset + n.filesz; ) {
    const namesz = b.readUInt32LE(at)
    const descsz = b.readUInt32LE(at + 4)
    const type = b.readUInt32LE(at + 8)
    const name = b.toString('latin1', at + 12, at + 12 + namesz).replace(/\0$/, '')
    const descAt = at + 12 + pad(namesz)
    notes.push({name, type, desc: Buffer.from(b.subarray(descAt, descAt + descsz))})
    at = descAt + pad(descsz)
    if (at > n.offset + n.filesz) throw new Error('a note runs past its segment')
  }
  const loads = phdrs.filter((p) => p.type === 1)
  return {
    class: b[4],
    data: b[5],
    type: b.readUInt16LE(16),
    machine: b.readUInt16LE(18),
    phnum,
    shnum: b.readUInt16LE(60),
    noteSegment: {offset: n.offset, filesz: n.filesz, align: n.align},
    loads,
    notes,
    raw() {
      const end = Math.max(0, ...loads.map((l) => l.paddr + l.memsz))
      const out = Buffer.alloc(end)
      for (const l of loads) b.copy(out, l.paddr, l.offset, l.offset + l.filesz)
      return out
    },
  }
}

/** x86_64 elf_prstatus: pr_pid at 32, pr_reg (user_regs_struct) at 112, in the kernel's order. */
const REGS = [
  'r15',
  'r14',
  'r13',
  'r12',
  'rbp',
  'rbx',
  'r11',
  'r10',
  'r9',
  'r8',
  'rax',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'orig_rax',
  'rip',
  'cs',
  'eflags',
  'rsp',
  'ss',
  'fs_base',
  'gs_base',
  'ds',
  'es',
  'fs',
  'gs',
] as const

export function prstatusRegs(desc: Buffer): {pid: number} & Record<(typeof REGS)[number], bigint> {
  if (desc.length !== 336) throw new Error(`NT_PRSTATUS of ${desc.length} bytes`)
  const out: Record<string, bigint | number> = {pid: desc.readInt32LE(32)}
  REGS.forEach((r, i) => {
    out[r] = desc.readBigUInt64LE(112 + i * 8)
  })
  return out as {pid: number} & Record<(typeof REGS)[number], bigint>
}

/** QEMUCPUState (version 1): cr3 and the idt base, which is what a reader takes from it. */
export function qemuCpuState(desc: Buffer): {version: number; size: number; rip: bigint; cr3: bigint; cs: {selector: number; flags: number}; idtBase: bigint} {
  // version, size, 18 registers, 10 segments of 24 bytes (cs first, idt last), cr0-cr4.
  const seg = (i: number) => 8 + 18 * 8 + i * 24
  return {
    version: desc.readUInt32LE(0),
    size: desc.readUInt32LE(4),
    rip: desc.readBigUInt64LE(8 + 16 * 8),
    cr3: desc.readBigUInt64LE(8 + 18 * 8 + 240 + 24),
    cs: {selector: desc.readUInt32LE(seg(0)), flags: desc.readUInt32LE(seg(0) + 8)},
    idtBase: desc.readBigUInt64LE(seg(9) + 16),
  }
}

/** binutils' readelf on a core: program headers and notes. */
export function readelfVmcore(file: string): {status: number | null; stdout: string; stderr: string} {
  const r = spawnSync('readelf', ['-h', '-l', '-n', '-W', file], {encoding: 'utf8'})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}
