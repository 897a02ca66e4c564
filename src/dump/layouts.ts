// The layouts dump-core writes and reads, declared once:
//
// - the ELF64 file, section and note headers of Xen's dump-core format
//   (Xen's docs/misc/dump-core-format.txt; the writer is
//   tools/libs/guest/xg_core.c, the note descriptors xg_core.h);
// - the HVM save records inside an HVM context blob, and the CPU record's
//   fields up to the ones a dump uses (Xen's public/hvm/save.h and
//   public/arch-x86/hvm/save.h);
// - the 64-bit x86 vcpu_guest_context (public/arch-x86/xen.h and
//   xen-x86_64.h), which .xen_prstatus holds per vcpu.
import {bytes, chars, layout, u16le, u32le, u64le, u8} from '../format/layout.js'

// ---- ELF -------------------------------------------------------------------

export const ELF_MAGIC = '\x7fELF'
export const ELFCLASS64 = 2
export const ELFDATA2LSB = 1
export const EV_CURRENT = 1
export const ELFOSABI_SYSV = 0
export const ET_CORE = 4
export const EM_X86_64 = 62
export const SHT_PROGBITS = 1
export const SHT_STRTAB = 3
export const SHT_NOTE = 7

export const ElfHeader = layout('ELF64 header', {
  magic: chars(4),
  class: u8,
  data: u8,
  identVersion: u8,
  osabi: u8,
  abiVersion: u8,
  identPad: bytes(7),
  type: u16le,
  machine: u16le,
  version: u32le,
  entry: u64le,
  phoff: u64le,
  shoff: u64le,
  flags: u32le,
  ehsize: u16le,
  phentsize: u16le,
  phnum: u16le,
  shentsize: u16le,
  shnum: u16le,
  shstrndx: u16le,
})

/** An ELF64 program header's size: e_phentsize, though a dump has none. */
export const ELF64_PHDR_SIZE = 56

export const SectionHeader = layout('ELF64 section header', {
  name: u32le,
  type: u32le,
  flags: u64le,
  addr: u64le,
  offset: u64le,
  size: u64le,
  link: u32le,
  info: u32le,
  addralign: u64le,
  entsize: u64le,
})

/** An ELF note header as Xen writes it: the 4-byte name "Xen\0" included, so the descriptor starts 8-aligned. */
export const XenNoteHeader = layout('Xen ELF note header', {namesz: u32le, descsz: u32le, type: u32le, name: chars(4)})
export const XEN_NOTE_NAME = 'Xen\0'

/** Note types of .note.Xen (Xen's public/elfnote.h, XEN_ELFNOTE_DUMPCORE_*). */
export const DumpcoreNote = {NONE: 0x2000000, HEADER: 0x2000001, XEN_VERSION: 0x2000002, FORMAT_VERSION: 0x2000003} as const

/** Header note magic: a PV guest, an HVM (auto-translated) guest. */
export const XC_CORE_MAGIC = 0xf00febedn
export const XC_CORE_MAGIC_HVM = 0xf00febeen

export const DumpcoreHeaderDesc = layout('dump-core header note', {magic: u64le, nrVcpus: u64le, nrPages: u64le, pageSize: u64le})

/**
 * The Xen version note: what the hypervisor said when the dump was taken.
 * extra_version char[16], compile_info (compiler[64], compile_by[16],
 * compile_domain[32], compile_date[32]), capabilities char[1024],
 * changeset char[64], platform_parameters (u64 virt_start), pagesize.
 */
export const XenVersionDesc = layout('dump-core Xen version note', {
  major: u64le,
  minor: u64le,
  extraVersion: bytes(16),
  compileInfo: bytes(144),
  capabilities: bytes(1024),
  changeset: bytes(64),
  virtStart: u64le,
  pageSize: u64le,
})
/**
 * Xen's dumper moves pagesize 4 bytes down for a guest narrower than the
 * toolstack (a 32-bit PV guest dumped by a 64-bit dom0), where a 32-bit
 * layout of the struct has it.
 */
export const XEN_VERSION_PAGESIZE_32 = XenVersionDesc.offsets.pageSize - 4

/** Format version (major << 32 | minor); Xen writes (0, 1). */
export const FormatVersionDesc = layout('dump-core format version note', {version: u64le})
export const DUMPCORE_FORMAT_VERSION = 1n

/** .xen_p2m entry: a PV guest's pfn and the machine frame behind it. */
export const P2mEntry = layout('.xen_p2m entry', {pfn: u64le, gmfn: u64le})
/** .xen_pfn entry: an HVM guest's pfn. */
export const PfnEntry = layout('.xen_pfn entry', {pfn: u64le})

// ---- HVM context -----------------------------------------------------------

/** Each HVM save record starts with this descriptor; a zero typecode ends the list. */
export const HvmSaveDescriptor = layout('HVM save descriptor', {typecode: u16le, instance: u16le, length: u32le})
export const HvmSaveType = {END: 0, HEADER: 1, CPU: 2} as const
export const HVM_FILE_MAGIC = 0x54381286
export const HvmSaveHeader = layout('HVM save header', {magic: u32le, version: u32le, changeset: u64le, cpuid: u32le, gtscKhz: u32le})

/**
 * The CPU save record (struct hvm_hw_cpu) up to msr_efer: every field a
 * dump's vcpu context takes, and EFER, which says whether the vcpu pages in
 * long mode. Later fields (MSRs, tsc, pending event) grew
 * over Xen versions (1016, 1024, 1032 bytes); any record this long is read.
 */
export const HvmCpuPrefix = layout('HVM CPU save record', {
  fpuRegs: bytes(512),
  rax: u64le,
  rbx: u64le,
  rcx: u64le,
  rdx: u64le,
  rbp: u64le,
  rsi: u64le,
  rdi: u64le,
  rsp: u64le,
  r8: u64le,
  r9: u64le,
  r10: u64le,
  r11: u64le,
  r12: u64le,
  r13: u64le,
  r14: u64le,
  r15: u64le,
  rip: u64le,
  rflags: u64le,
  cr0: u64le,
  cr2: u64le,
  cr3: u64le,
  cr4: u64le,
  dr0: u64le,
  dr1: u64le,
  dr2: u64le,
  dr3: u64le,
  dr6: u64le,
  dr7: u64le,
  csSel: u32le,
  dsSel: u32le,
  esSel: u32le,
  fsSel: u32le,
  gsSel: u32le,
  ssSel: u32le,
  trSel: u32le,
  ldtrSel: u32le,
  csLimit: u32le,
  dsLimit: u32le,
  esLimit: u32le,
  fsLimit: u32le,
  gsLimit: u32le,
  ssLimit: u32le,
  trLimit: u32le,
  ldtrLimit: u32le,
  idtrLimit: u32le,
  gdtrLimit: u32le,
  csBase: u64le,
  dsBase: u64le,
  esBase: u64le,
  fsBase: u64le,
  gsBase: u64le,
  ssBase: u64le,
  trBase: u64le,
  ldtrBase: u64le,
  idtrBase: u64le,
  gdtrBase: u64le,
  csArbytes: u32le,
  dsArbytes: u32le,
  esArbytes: u32le,
  fsArbytes: u32le,
  gsArbytes: u32le,
  ssArbytes: u32le,
  trArbytes: u32le,
  ldtrArbytes: u32le,
  sysenterCs: u64le,
  sysenterEsp: u64le,
  sysenterEip: u64le,
  shadowGs: u64le,
  msrFlags: u64le,
  msrLstar: u64le,
  msrStar: u64le,
  msrCstar: u64le,
  msrSyscallMask: u64le,
  msrEfer: u64le,
})

// ---- vcpu context ----------------------------------------------------------

/**
 * struct vcpu_guest_context of a 64-bit toolstack (5168 bytes, the size of
 * vcpu_guest_context_any_t on x86, so also the slot a 32-bit PV guest's
 * 2800-byte context sits in). user_regs is struct cpu_user_regs;
 * trap_ctxt[256] and gdt_frames[16] are left as bytes.
 */
export const VcpuGuestContext64 = layout('vcpu_guest_context (x86_64)', {
  fpuCtxt: bytes(512),
  flags: u64le,
  r15: u64le,
  r14: u64le,
  r13: u64le,
  r12: u64le,
  rbp: u64le,
  rbx: u64le,
  r11: u64le,
  r10: u64le,
  r9: u64le,
  r8: u64le,
  rax: u64le,
  rcx: u64le,
  rdx: u64le,
  rsi: u64le,
  rdi: u64le,
  errorCode: u32le,
  entryVector: u32le,
  rip: u64le,
  cs: u16le,
  pad0: u16le,
  savedUpcallMask: u8,
  pad1: bytes(3),
  rflags: u64le,
  rsp: u64le,
  ss: u16le,
  pad2: bytes(6),
  es: u16le,
  pad3: bytes(6),
  ds: u16le,
  pad4: bytes(6),
  fs: u16le,
  pad5: bytes(6),
  gs: u16le,
  pad6: bytes(6),
  trapCtxt: bytes(256 * 16),
  ldtBase: u64le,
  ldtEnts: u64le,
  gdtFrames: bytes(16 * 8),
  gdtEnts: u64le,
  kernelSs: u64le,
  kernelSp: u64le,
  cr0: u64le,
  cr1: u64le,
  cr2: u64le,
  cr3: u64le,
  cr4: u64le,
  cr5: u64le,
  cr6: u64le,
  cr7: u64le,
  dr0: u64le,
  dr1: u64le,
  dr2: u64le,
  dr3: u64le,
  dr4: u64le,
  dr5: u64le,
  dr6: u64le,
  dr7: u64le,
  eventCallbackEip: u64le,
  failsafeCallbackEip: u64le,
  syscallCallbackEip: u64le,
  vmAssist: u64le,
  fsBase: u64le,
  gsBaseKernel: u64le,
  gsBaseUser: u64le,
})

/** One .xen_prstatus entry: sizeof(vcpu_guest_context_any_t) on x86. */
export const PRSTATUS_ENTRY_SIZE = VcpuGuestContext64.size

/** vcpu_guest_context flags: the FPU state is valid; the vcpu is up. */
export const VGCF_I387_VALID = 1n << 0n
export const VGCF_ONLINE = 1n << 5n

// ---- kdump-style core (--format vmcore) --------------------------------------
//
// The ELF64 core the Linux kernel's /proc/vmcore and QEMU's
// dump-guest-memory write: program headers only (a PT_NOTE, then PT_LOADs
// over guest-physical memory), notes named "CORE" (NT_PRSTATUS, one per
// cpu) and "VMCOREINFO" (the kernel's own description of itself).

export const PT_LOAD = 1
export const PT_NOTE = 4
/** PT_LOAD flags: readable, writable, executable, as kdump and QEMU mark guest memory. */
export const PF_RWX = 7

export const ProgramHeader = layout('ELF64 program header', {
  type: u32le,
  flags: u32le,
  offset: u64le,
  vaddr: u64le,
  paddr: u64le,
  filesz: u64le,
  memsz: u64le,
  align: u64le,
})

/** An ELF note's header; the name follows, then the descriptor, each padded to 4 bytes. */
export const NoteHeader = layout('ELF note header', {namesz: u32le, descsz: u32le, type: u32le})
export const NT_PRSTATUS = 1
/** The VMCOREINFO note's type: the kernel's own note has 0. */
export const NT_VMCOREINFO = 0
/** The "QEMU" note's type (QEMU writes 0). */
export const NT_QEMU = 0

/**
 * struct elf_prstatus of x86_64 Linux (336 bytes): the signal info, the
 * task ids, four timevals, then pr_reg (struct user_regs_struct) and
 * pr_fpvalid.
 */
export const ElfPrstatus64 = layout('x86_64 elf_prstatus', {
  siSigno: u32le,
  siCode: u32le,
  siErrno: u32le,
  cursig: u16le,
  pad0: u16le,
  sigpend: u64le,
  sighold: u64le,
  pid: u32le,
  ppid: u32le,
  pgrp: u32le,
  sid: u32le,
  times: bytes(64),
  r15: u64le,
  r14: u64le,
  r13: u64le,
  r12: u64le,
  rbp: u64le,
  rbx: u64le,
  r11: u64le,
  r10: u64le,
  r9: u64le,
  r8: u64le,
  rax: u64le,
  rcx: u64le,
  rdx: u64le,
  rsi: u64le,
  rdi: u64le,
  origRax: u64le,
  rip: u64le,
  cs: u64le,
  eflags: u64le,
  rsp: u64le,
  ss: u64le,
  fsBase: u64le,
  gsBase: u64le,
  ds: u64le,
  es: u64le,
  fs: u64le,
  gs: u64le,
  fpvalid: u32le,
  pad1: u32le,
})

/**
 * QEMU's per-cpu "QEMU" note (QEMUCPUState, version 1): the registers,
 * segments (cs ds es fs gs ss ldt tr gdt idt, each selector, limit, flags,
 * base) and cr0-cr4 of each cpu. With it, crash takes every cpu's
 * NT_PRSTATUS as where that cpu was (not only the panicking one's), and can
 * find a kernel's KASLR offset from cr3 and the IDT when no vmcoreinfo says.
 */
export const QEMU_CPU_STATE_VERSION = 1
export const QemuSegment = layout('QEMUCPUSegment', {selector: u32le, limit: u32le, flags: u32le, pad: u32le, base: u64le})
export const QEMU_SEGMENTS = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'ldt', 'tr', 'gdt', 'idt'] as const
export const QemuCpuState = layout('QEMUCPUState', {
  version: u32le,
  size: u32le,
  rax: u64le,
  rbx: u64le,
  rcx: u64le,
  rdx: u64le,
  rsi: u64le,
  rdi: u64le,
  rsp: u64le,
  rbp: u64le,
  r8: u64le,
  r9: u64le,
  r10: u64le,
  r11: u64le,
  r12: u64le,
  r13: u64le,
  r14: u64le,
  r15: u64le,
  rip: u64le,
  rflags: u64le,
  segments: bytes(QEMU_SEGMENTS.length * QemuSegment.size),
  cr0: u64le,
  cr1: u64le,
  cr2: u64le,
  cr3: u64le,
  cr4: u64le,
})
