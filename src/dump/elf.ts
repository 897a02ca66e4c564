// The ELF dump-core file, laid out as Xen's `xl dump-core` lays it out
// (docs/misc/dump-core-format.txt, tools/libs/guest/xg_core.c):
//
//   ELF64 header (ET_CORE, EM_X86_64, no program headers)
//   section headers: null, .shstrtab, .note.Xen, .xen_prstatus,
//                    [.xen_shared_info,] .xen_pages, .xen_p2m | .xen_pfn
//   .note.Xen        notes named "Xen": none, header {magic, vcpus, pages,
//                    page size}, Xen version, format version (0, 1)
//   .xen_prstatus    one 5168-byte vcpu_guest_context per vcpu (vcpu.ts)
//   .xen_shared_info PV only: the shared-info page
//   (zeros to a page boundary)
//   .xen_pages       the pages, in pfn order
//   .xen_p2m         PV: {u64 pfn, u64 gmfn} per page, in the same order.
//                    A saved PV image's page tables hold pfns (the saver
//                    rewrote every mfn), and the machine frames it ran on
//                    are gone, so gmfn = pfn.
//   .xen_pfn         HVM: u64 pfn per page, in the same order
//   .shstrtab        section names
import {PAGE_SIZE} from '../format/x86.js'
import {
  DUMPCORE_FORMAT_VERSION,
  DumpcoreHeaderDesc,
  DumpcoreNote,
  ELF64_PHDR_SIZE,
  ELF_MAGIC,
  ELFCLASS64,
  ELFDATA2LSB,
  ElfHeader,
  ELFOSABI_SYSV,
  EM_X86_64,
  ET_CORE,
  EV_CURRENT,
  FormatVersionDesc,
  P2mEntry,
  PfnEntry,
  PRSTATUS_ENTRY_SIZE,
  SectionHeader,
  SHT_NOTE,
  SHT_PROGBITS,
  SHT_STRTAB,
  XC_CORE_MAGIC,
  XC_CORE_MAGIC_HVM,
  XEN_NOTE_NAME,
  XEN_VERSION_PAGESIZE_32,
  XenNoteHeader,
  XenVersionDesc,
} from './layouts.js'
import type {PfnBitmap} from './pfns.js'

export interface ElfInput {
  guest: 'pv' | 'hvm'
  /** PV guest word size in bytes (4 or 8); decides where the version note keeps the page size. */
  guestWidth?: 4 | 8
  nrPages: number
  /** .xen_prstatus entries (PRSTATUS_ENTRY_SIZE bytes each, written by the caller after `front`). */
  nrVcpus: number
  sharedInfo?: Buffer
  /** What the image says (a native v2 stream's domain header); null for a converted or legacy image. */
  xenVersion: {major: number; minor: number} | null
}

export interface Section {
  name: string
  type: number
  offset: number
  size: number
  addralign: number
  entsize: number
}

export interface ElfPlan {
  /** The file up to .xen_prstatus: ELF header, section headers, notes. */
  front: Buffer
  /** After the nrVcpus .xen_prstatus entries, up to .xen_pages: the shared-info page, zeros to a page boundary. */
  back: Buffer
  pagesOffset: number
  /** Bytes per .xen_p2m / .xen_pfn entry. */
  indexEntrySize: number
  indexOffset: number
  /** .shstrtab, the last bytes of the file. */
  strtab: Buffer
  size: number
  sections: Section[]
}

function note(type: number, desc: Buffer): Buffer {
  return Buffer.concat([XenNoteHeader.encode({namesz: 4, descsz: desc.length, type, name: XEN_NOTE_NAME}), desc])
}

/** The .note.Xen notes, in Xen's order. */
export function xenNotes(o: ElfInput): Buffer {
  const header = DumpcoreHeaderDesc.encode({
    magic: o.guest === 'pv' ? XC_CORE_MAGIC : XC_CORE_MAGIC_HVM,
    nrVcpus: BigInt(o.nrVcpus),
    nrPages: BigInt(o.nrPages),
    pageSize: BigInt(PAGE_SIZE),
  })
  const version = Buffer.alloc(XenVersionDesc.size)
  XenVersionDesc.fields.major.put(version, XenVersionDesc.offsets.major, BigInt(o.xenVersion?.major ?? 0))
  XenVersionDesc.fields.minor.put(version, XenVersionDesc.offsets.minor, BigInt(o.xenVersion?.minor ?? 0))
  const pageSizeAt = o.guest === 'pv' && o.guestWidth === 4 ? XEN_VERSION_PAGESIZE_32 : XenVersionDesc.offsets.pageSize
  version.writeBigUInt64LE(BigInt(PAGE_SIZE), pageSizeAt)
  return Buffer.concat([
    note(DumpcoreNote.NONE, Buffer.alloc(0)),
    note(DumpcoreNote.HEADER, header),
    note(DumpcoreNote.XEN_VERSION, version),
    note(DumpcoreNote.FORMAT_VERSION, FormatVersionDesc.encode({version: DUMPCORE_FORMAT_VERSION})),
  ])
}

export function planElf(o: ElfInput): ElfPlan {
  const names: string[] = []
  const strtabParts: Buffer[] = [Buffer.from([0])]
  let strtabLength = 1
  const nameAt = (name: string) => {
    const at = strtabLength
    names.push(name)
    const b = Buffer.from(name + '\0', 'latin1')
    strtabParts.push(b)
    strtabLength += b.length
    return at
  }
  const pv = o.guest === 'pv'
  const shinfo = pv && o.sharedInfo !== undefined
  const shnum = shinfo ? 7 : 6
  const notes = xenNotes(o)
  const prstatusSize = o.nrVcpus * PRSTATUS_ENTRY_SIZE
  let at = ElfHeader.size + shnum * SectionHeader.size
  const notesAt = at
  at += notes.length
  const prstatusAt = at
  at += prstatusSize
  const shinfoAt = at
  if (shinfo) at += PAGE_SIZE
  const pad = (PAGE_SIZE - (at % PAGE_SIZE)) % PAGE_SIZE
  const pagesOffset = at + pad
  const indexEntrySize = pv ? P2mEntry.size : PfnEntry.size
  const indexOffset = pagesOffset + o.nrPages * PAGE_SIZE
  const strtabAt = indexOffset + o.nrPages * indexEntrySize

  const sections: Section[] = []
  const shdrs: Buffer[] = [Buffer.alloc(SectionHeader.size)]
  const add = (name: string, type: number, offset: number, size: number, addralign: number, entsize: number) => {
    sections.push({name, type, offset, size, addralign, entsize})
    shdrs.push(
      SectionHeader.encode({
        name: nameAt(name),
        type,
        flags: 0n,
        addr: 0n,
        offset: BigInt(offset),
        size: BigInt(size),
        link: 0,
        info: 0,
        addralign: BigInt(addralign),
        entsize: BigInt(entsize),
      }),
    )
  }
  // .shstrtab's own name comes first in the table, as Xen writes it; its size is the table's.
  const strtabSize = 1 + ['.shstrtab', '.note.Xen', '.xen_prstatus', ...(shinfo ? ['.xen_shared_info'] : []), '.xen_pages', pv ? '.xen_p2m' : '.xen_pfn'].reduce((n, s) => n + s.length + 1, 0)
  add('.shstrtab', SHT_STRTAB, strtabAt, strtabSize, 0, 0)
  add('.note.Xen', SHT_NOTE, notesAt, notes.length, 0, 0)
  add('.xen_prstatus', SHT_PROGBITS, prstatusAt, prstatusSize, 8, PRSTATUS_ENTRY_SIZE)
  if (shinfo) add('.xen_shared_info', SHT_PROGBITS, shinfoAt, PAGE_SIZE, 8, PAGE_SIZE)
  add('.xen_pages', SHT_PROGBITS, pagesOffset, o.nrPages * PAGE_SIZE, PAGE_SIZE, PAGE_SIZE)
  add(pv ? '.xen_p2m' : '.xen_pfn', SHT_PROGBITS, indexOffset, o.nrPages * indexEntrySize, 8, indexEntrySize)
  const strtab = Buffer.concat(strtabParts)
  if (strtab.length !== strtabSize) throw new Error('internal: section name table size')

  const ehdr = ElfHeader.encode({
    magic: ELF_MAGIC,
    class: ELFCLASS64,
    data: ELFDATA2LSB,
    identVersion: EV_CURRENT,
    osabi: ELFOSABI_SYSV,
    abiVersion: EV_CURRENT,
    identPad: Buffer.alloc(7),
    type: ET_CORE,
    machine: EM_X86_64,
    version: EV_CURRENT,
    entry: 0n,
    phoff: 0n,
    shoff: BigInt(ElfHeader.size),
    flags: 0,
    ehsize: ElfHeader.size,
    phentsize: ELF64_PHDR_SIZE,
    phnum: 0,
    shentsize: SectionHeader.size,
    shnum,
    shstrndx: 1,
  })
  const front = Buffer.concat([ehdr, ...shdrs, notes])
  const back = Buffer.concat([shinfo ? o.sharedInfo! : Buffer.alloc(0), Buffer.alloc(pad)])
  if (front.length + prstatusSize + back.length !== pagesOffset) throw new Error('internal: ELF head size')
  return {front, back, pagesOffset, indexEntrySize, indexOffset, strtab, size: strtabAt + strtab.length, sections}
}

/**
 * The .xen_p2m / .xen_pfn entries for the pfns of `pages`, ascending, in
 * buffers of up to 64 Ki entries. A buffer the caller puts back in `spare`
 * (once its sink has released it) is filled again: a 64 GiB guest's index
 * is 256 MiB, which as fresh buffers piled up as garbage faster than the
 * collector returned it.
 */
export function* indexChunks(pages: PfnBitmap, guest: 'pv' | 'hvm', spare: Buffer[] = []): Generator<Buffer> {
  const size = guest === 'pv' ? P2mEntry.size : PfnEntry.size
  const per = 1 << 16
  const next = () => spare.pop() ?? Buffer.allocUnsafe(per * size)
  let buf = next()
  let n = 0
  const TWO_32 = 2 ** 32
  for (const [s, e] of pages.runs(0, Infinity)) {
    for (let p = s; p < e; p++) {
      const at = n * size
      const lo = p % TWO_32
      const hi = Math.floor(p / TWO_32)
      buf.writeUInt32LE(lo, at)
      buf.writeUInt32LE(hi, at + 4)
      if (size === 16) {
        // gmfn = pfn: see the file comment.
        buf.writeUInt32LE(lo, at + 8)
        buf.writeUInt32LE(hi, at + 12)
      }
      if (++n === per) {
        yield buf
        buf = next()
        n = 0
      }
    }
  }
  if (n) yield buf.subarray(0, n * size)
}
