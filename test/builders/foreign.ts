// Small files of the formats xst names but does not read (src/foreign):
// libvirt QEMU/KVM save images, bare QEMU device state, and ELF files laid
// out from a declaration (notes in a PT_NOTE segment or in SHT_NOTE
// sections, section names, ELF32 or ELF64, either byte order). Written from
// the formats' descriptions (libvirt's qemu_saveimage.h, QEMU's savevm.h,
// the ELF specification), not from the reader under test.

export interface LibvirtQemuSpec {
  /** 'Part' writes "LibvirtQemudPart" (a save that did not finish). */
  magic?: 'Save' | 'Part'
  version?: number
  /** virQEMUSaveFormat: 0 raw ... 5 zstd, 6 sparse. */
  format?: number
  xml?: string
  cookie?: string
  wasRunning?: boolean
  bigEndian?: boolean
  /** Zeros after the XML and cookie (libvirt leaves 64 KiB). */
  padding?: number
  /** Overrides data_len. */
  dataLength?: number
  /** Overrides cookieOffset. */
  cookieOffset?: number
  /** What follows the header's data: QEMU's stream by default. */
  body?: Buffer
}

export const KVM_XML = "<domain type='kvm'>\n  <name>kvm01</name>\n  <uuid>6f0e3c1e-2b9a-4b8e-9d57-7f3c1a2b3c4d</uuid>\n  <memory unit='KiB'>1048576</memory>\n</domain>\n"

export function libvirtQemuImage(s: LibvirtQemuSpec = {}): Buffer {
  const xml = Buffer.from((s.xml ?? KVM_XML) + '\0', 'utf8')
  const cookie = s.cookie === undefined ? Buffer.alloc(0) : Buffer.from(s.cookie + '\0', 'utf8')
  const padding = Buffer.alloc(s.padding ?? 4096)
  const h = Buffer.alloc(92)
  h.write(`LibvirtQemud${s.magic ?? 'Save'}`, 0, 'latin1')
  const put = (v: number, at: number) => (s.bigEndian ? h.writeUInt32BE(v >>> 0, at) : h.writeUInt32LE(v >>> 0, at))
  put(s.version ?? 2, 16)
  put(s.dataLength ?? xml.length + cookie.length + padding.length, 20)
  put(s.wasRunning === false ? 0 : 1, 24)
  put(s.format ?? 0, 28)
  put(s.cookieOffset ?? (cookie.length ? xml.length : 0), 32)
  return Buffer.concat([h, xml, cookie, padding, s.body ?? qemuDeviceState()])
}

/** "QEVM", a big-endian version, then a little of a stream (a QEMU_VM_CONFIGURATION section's start). */
export function qemuDeviceState(version = 3): Buffer {
  const h = Buffer.alloc(8)
  h.write('QEVM', 0, 'latin1')
  h.writeUInt32BE(version, 4)
  return Buffer.concat([h, Buffer.from([0x07, 0, 0, 0, 0x0c]), Buffer.from('pc-i440fx-8.2', 'latin1'), Buffer.alloc(64, 0x5a)])
}

export interface ElfNoteSpec {
  name: string
  type: number
  desc: Buffer
}

export interface ElfSpec {
  class?: 32 | 64
  order?: 'little' | 'big'
  /** e_type: 1 relocatable, 2 executable, 3 shared, 4 core. */
  type?: number
  machine?: number
  /** Notes in one PT_NOTE segment (a process or guest core's layout). */
  segmentNotes?: ElfNoteSpec[]
  /** Sections after the null one; a .shstrtab is added after them, at the end of the file. */
  sections?: Array<{name: string; type: number; body: Buffer}>
  /** Zeros before the section name table (to put it out of a reader's reach). */
  gapBeforeNames?: number
}

export const SHT_PROGBITS = 1
export const SHT_STRTAB = 3
export const SHT_NOTE = 7

export function elfNotes(notes: ElfNoteSpec[], order: 'little' | 'big' = 'little'): Buffer {
  const pad4 = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)])
  return Buffer.concat(
    notes.map((n) => {
      const name = Buffer.from(n.name + '\0', 'latin1')
      const h = Buffer.alloc(12)
      const put = (v: number, at: number) => (order === 'little' ? h.writeUInt32LE(v >>> 0, at) : h.writeUInt32BE(v >>> 0, at))
      put(name.length, 0)
      put(n.desc.length, 4)
      put(n.type, 8)
      return Buffer.concat([h, pad4(name), pad4(n.desc)])
    }),
  )
}

export function elfFile(s: ElfSpec = {}): Buffer {
  const w = (s.class ?? 64) === 64
  const le = (s.order ?? 'little') === 'little'
  const ehsize = w ? 64 : 52
  const phentsize = w ? 56 : 32
  const shentsize = w ? 64 : 40
  const notes = s.segmentNotes ? elfNotes(s.segmentNotes, s.order) : undefined
  const sections = s.sections ? [...s.sections] : undefined
  const phnum = notes ? 1 : 0
  const shnum = sections ? sections.length + 2 : 0
  const phoff = phnum ? ehsize : 0
  const shoff = shnum ? ehsize + phnum * phentsize : 0
  let at = ehsize + phnum * phentsize + shnum * shentsize
  const notesAt = at
  at += notes?.length ?? 0
  const bodies: Buffer[] = []
  const placed: Array<{name: number; type: number; offset: number; size: number}> = []
  let names = Buffer.from([0])
  const nameOf = (n: string) => {
    const i = names.length
    names = Buffer.concat([names, Buffer.from(n + '\0', 'latin1')])
    return i
  }
  for (const sec of sections ?? []) {
    placed.push({name: nameOf(sec.name), type: sec.type, offset: at, size: sec.body.length})
    bodies.push(sec.body)
    at += sec.body.length
  }
  const gap = Buffer.alloc(s.gapBeforeNames ?? 0)
  at += gap.length
  if (sections) placed.push({name: nameOf('.shstrtab'), type: SHT_STRTAB, offset: at, size: 0})
  if (sections) placed[placed.length - 1].size = names.length

  const b = Buffer.alloc(ehsize + phnum * phentsize + shnum * shentsize)
  const u16 = (v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o))
  const u32 = (v: number, o: number) => (le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o))
  const word = (v: number, o: number) => (w ? (le ? b.writeBigUInt64LE(BigInt(v), o) : b.writeBigUInt64BE(BigInt(v), o)) : u32(v, o))
  b.write('\x7fELF', 0, 'latin1')
  b[4] = w ? 2 : 1
  b[5] = le ? 1 : 2
  b[6] = 1
  u16(s.type ?? 4, 16)
  u16(s.machine ?? (w ? 62 : 3), 18)
  u32(1, 20)
  word(phoff, w ? 32 : 28)
  word(shoff, w ? 40 : 32)
  u16(ehsize, w ? 52 : 40)
  u16(phentsize, w ? 54 : 42)
  u16(phnum, w ? 56 : 44)
  u16(shentsize, w ? 58 : 46)
  u16(shnum, w ? 60 : 48)
  u16(shnum ? shnum - 1 : 0, w ? 62 : 50)
  if (notes) {
    u32(4, phoff) // PT_NOTE
    if (w) {
      word(notesAt, phoff + 8)
      word(notes.length, phoff + 32)
    } else {
      u32(notesAt, phoff + 4)
      u32(notes.length, phoff + 16)
    }
  }
  placed.forEach((p, i) => {
    const o = shoff + (i + 1) * shentsize
    u32(p.name, o)
    u32(p.type, o + 4)
    if (w) {
      word(p.offset, o + 24)
      word(p.size, o + 32)
    } else {
      u32(p.offset, o + 16)
      u32(p.size, o + 20)
    }
  })
  return Buffer.concat([b, notes ?? Buffer.alloc(0), ...bodies, gap, sections ? names : Buffer.alloc(0)])
}

/** A u64 descriptor of little-endian words. */
export function u64s(...v: Array<number | bigint>): Buffer {
  const b = Buffer.alloc(8 * v.length)
  v.forEach((x, i) => b.writeBigUInt64LE(BigInt(x), 8 * i))
  return b
}
