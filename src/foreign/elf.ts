// What an ELF file is, from its first bytes only: its type (a core file,
// an executable, ...) and, for a core file, who wrote it, told by its
// notes:
//
// - a Xen dump-core (`xl dump-core`, `virsh dump` of a Xen guest, `xst
//   dump-core`; Xen's docs/misc/dump-core-format.txt): ET_CORE, no program
//   headers, section headers right after the ELF header and the
//   .note.Xen section right after them, whose notes are named "Xen" with
//   types XEN_ELFNOTE_DUMPCORE_* (0x2000000-0x2000003; the header note
//   holds the magic 0xF00FEBED PV / 0xF00FEBEE HVM, the vcpu and page
//   counts and the page size). Its section name table comes last in the
//   file, so the names (.xen_pages, .xen_p2m, ...) are only a second clue,
//   when that table is within reach;
// - QEMU's dump-guest-memory (`virsh dump --memory-only` on a KVM host),
//   and `xst dump-core --format vmcore`, which writes the same notes:
//   notes named "QEMU" beside the "CORE" ones;
// - Xen's own crash dump (kexec/kdump of the host): "Xen" notes of types
//   XEN_ELFNOTE_CRASH_INFO and _CRASH_REGS (0x1000001, 0x1000002);
// - a Linux kernel crash dump (/proc/vmcore, makedumpfile -E): a
//   "VMCOREINFO" note.
//
// The caller hands over a bounded prefix of the file; headers, notes and
// names are read only where they lie inside it, each count capped, so a
// hostile file (offsets past the end, counts of 65535) costs no more than
// a clean one.
import {type ByteOrder, cName, Fields} from './bytes.js'

export const ELF_MAGIC = Buffer.from('\x7fELF', 'latin1')

/** Most section or program headers looked at. */
const MAX_HEADERS = 256
/** Most notes read in one note section or segment. */
const MAX_NOTES = 256

const ET_NAMES: Record<number, ElfType> = {1: 'relocatable', 2: 'executable', 3: 'shared', 4: 'core'}
const SHT_NOTE = 7
const PT_NOTE = 4

/** Xen's public/elfnote.h. */
const XEN_ELFNOTE_DUMPCORE_NONE = 0x2000000
const XEN_ELFNOTE_DUMPCORE_HEADER = 0x2000001
const XEN_ELFNOTE_DUMPCORE_XEN_VERSION = 0x2000002
const XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION = 0x2000003
const XEN_ELFNOTE_CRASH_INFO = 0x1000001
const XEN_ELFNOTE_CRASH_REGS = 0x1000002
const XC_CORE_MAGIC = 0xf00febed
const XC_CORE_MAGIC_HVM = 0xf00febee
/** Sections only a Xen dump-core has (xg_core.h). */
const XEN_SECTIONS = ['.note.Xen', '.xen_prstatus', '.xen_shared_info', '.xen_pages', '.xen_p2m', '.xen_pfn']

export type ElfType = 'relocatable' | 'executable' | 'shared' | 'core' | 'other'

/** Who wrote a core file, as far as its notes tell. */
export type CoreProducer = 'xen-dump-core' | 'qemu' | 'xen-host' | 'linux-kernel'

export interface XenDumpCoreFacts {
  guest: 'pv' | 'hvm' | null
  vcpus: number | null
  pages: number | null
  pageSize: number | null
  /** "major.minor" of the dump-core format (0.1 today). */
  formatVersion: string | null
  /** "major.minor" of the Xen that wrote it (0.0 when unknown, as xst writes for an image that does not say). */
  xenVersion: string | null
}

export interface ElfFacts {
  class: 32 | 64 | null
  byteOrder: ByteOrder | null
  type: ElfType
  /** e_type as written. */
  typeCode: number | null
  /** e_machine as written. */
  machine: number | null
  /** Names of the notes read, each once, in the order first seen. */
  notes: string[]
  /** Section names, when the name table lies within the bytes read; null otherwise. */
  sections: string[] | null
  producer: CoreProducer | null
  xen: XenDumpCoreFacts | null
}

/**
 * The ELF magic and an ident that makes sense (class 32 or 64, either byte
 * order, EV_CURRENT): bytes a legacy image cannot start with (read as a
 * 32-bit HVM image, bytes 4-7 are then a chunk type over 0x10000; a 64-bit
 * p2m_size's upper half is zero).
 */
export function isElf(head: Buffer): boolean {
  return head.length >= 7 && head.subarray(0, 4).equals(ELF_MAGIC) && (head[4] === 1 || head[4] === 2) && (head[5] === 1 || head[5] === 2) && head[6] === 1
}

interface Note {
  name: string
  type: number
  desc: Buffer
}

/** The notes in [at, at + size), as far as `f` holds them. */
function notesIn(f: Fields, at: number, size: number): Note[] {
  const out: Note[] = []
  if (!Number.isSafeInteger(at)) return out
  const end = Math.min(at + size, f.b.length)
  while (out.length < MAX_NOTES && at + 12 <= end) {
    const namesz = f.u32(at)!
    const descsz = f.u32(at + 4)!
    const type = f.u32(at + 8)!
    const nameAt = at + 12
    const descAt = nameAt + align4(namesz)
    if (nameAt + namesz > end || descAt + descsz > end) break
    out.push({name: cName(f.b.subarray(nameAt, nameAt + namesz)), type, desc: f.b.subarray(descAt, descAt + descsz)})
    at = descAt + align4(descsz)
  }
  return out
}

const align4 = (n: number) => n + ((4 - (n % 4)) % 4)

/** The facts of the ELF file starting `b` (a bounded prefix of it). */
export function readElf(b: Buffer): ElfFacts {
  const cls = b[4] === 1 ? 32 : b[4] === 2 ? 64 : null
  const order: ByteOrder | null = b[5] === 1 ? 'little' : b[5] === 2 ? 'big' : null
  const out: ElfFacts = {class: cls, byteOrder: order, type: 'other', typeCode: null, machine: null, notes: [], sections: null, producer: null, xen: null}
  if (!cls || !order) return out
  const f = new Fields(b, order)
  const typeCode = f.u16(16)
  if (typeCode === undefined) return out
  out.typeCode = typeCode
  out.type = ET_NAMES[typeCode] ?? 'other'
  out.machine = f.u16(18) ?? null
  const w = cls === 64
  const word = (at: number) => (w ? f.u64(at) : f.u32(at))
  // Where the headers are, from the ELF header (ELF32 and ELF64 lay it out differently).
  const phoff = word(w ? 32 : 28)
  const shoff = word(w ? 40 : 32)
  const [phentsize, phnum, shentsize, shnum, shstrndx] = (w ? [54, 56, 58, 60, 62] : [42, 44, 46, 48, 50]).map((at) => f.u16(at))
  if (shstrndx === undefined) return out

  const notes: Note[] = []
  // Program headers: PT_NOTE segments (p_offset, p_filesz).
  const phMin = w ? 56 : 32
  if (phoff && phnum && phentsize && phentsize >= phMin) {
    for (let i = 0; i < Math.min(phnum, MAX_HEADERS); i++) {
      const at = phoff + i * phentsize
      if (!f.has(at, phMin)) break
      if (f.u32(at) !== PT_NOTE) continue
      notes.push(...notesIn(f, w ? f.u64(at + 8)! : f.u32(at + 4)!, w ? f.u64(at + 32)! : f.u32(at + 16)!))
    }
  }
  // Section headers: SHT_NOTE sections (sh_offset, sh_size), and the name table.
  const shMin = w ? 64 : 40
  const sections: Array<{name: number; type: number; offset: number; size: number}> = []
  if (shoff && shnum && shentsize && shentsize >= shMin) {
    for (let i = 0; i < Math.min(shnum, MAX_HEADERS); i++) {
      const at = shoff + i * shentsize
      if (!f.has(at, shMin)) break
      const s = {name: f.u32(at)!, type: f.u32(at + 4)!, offset: (w ? f.u64(at + 24) : f.u32(at + 16))!, size: (w ? f.u64(at + 32) : f.u32(at + 20))!}
      sections.push(s)
      if (s.type === SHT_NOTE) notes.push(...notesIn(f, s.offset, s.size))
    }
    const strtab = sections[shstrndx]
    if (strtab && f.has(strtab.offset, strtab.size)) {
      const table = f.b.subarray(strtab.offset, strtab.offset + strtab.size)
      out.sections = sections.slice(1).map((s) => (s.name < table.length ? cName(table.subarray(s.name, s.name + 256)) : ''))
    }
  }
  out.notes = [...new Set(notes.map((n) => n.name))]
  if (out.type !== 'core') return out

  const xenNotes = notes.filter((n) => n.name === 'Xen')
  const dumpNotes = xenNotes.filter((n) => n.type >= XEN_ELFNOTE_DUMPCORE_NONE && n.type <= XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION)
  if (dumpNotes.length || out.sections?.some((s) => XEN_SECTIONS.includes(s))) {
    out.producer = 'xen-dump-core'
    out.xen = xenDumpCore(dumpNotes, order)
  } else if (out.notes.includes('QEMU')) out.producer = 'qemu'
  else if (xenNotes.some((n) => n.type === XEN_ELFNOTE_CRASH_INFO || n.type === XEN_ELFNOTE_CRASH_REGS)) out.producer = 'xen-host'
  else if (out.notes.includes('VMCOREINFO')) out.producer = 'linux-kernel'
  return out
}

function xenDumpCore(notes: Note[], order: ByteOrder): XenDumpCoreFacts {
  const x: XenDumpCoreFacts = {guest: null, vcpus: null, pages: null, pageSize: null, formatVersion: null, xenVersion: null}
  for (const n of notes) {
    const d = new Fields(n.desc, order)
    if (n.type === XEN_ELFNOTE_DUMPCORE_HEADER && n.desc.length >= 32) {
      const magic = d.u64(0)
      x.guest = magic === XC_CORE_MAGIC ? 'pv' : magic === XC_CORE_MAGIC_HVM ? 'hvm' : null
      x.vcpus = finite(d.u64(8))
      x.pages = finite(d.u64(16))
      x.pageSize = finite(d.u64(24))
    } else if (n.type === XEN_ELFNOTE_DUMPCORE_XEN_VERSION && n.desc.length >= 16) {
      const [major, minor] = [d.u64(0)!, d.u64(8)!]
      if (major <= 0xffff && minor <= 0xffff) x.xenVersion = `${major}.${minor}`
    } else if (n.type === XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION && n.desc.length >= 8) {
      const v = n.desc.subarray(0, 8)
      const [hi, lo] = order === 'little' ? [v.readUInt32LE(4), v.readUInt32LE(0)] : [v.readUInt32BE(0), v.readUInt32BE(4)]
      x.formatVersion = `${hi}.${lo}`
    }
  }
  return x
}

const finite = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? null : n)
