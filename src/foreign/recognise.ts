// Files an operator finds beside Xen save images, named instead of being
// called damaged: libvirt's QEMU/KVM save images, bare QEMU device state,
// Xen's ELF dump-cores and other ELF files (core files above all). None
// of them can start a legacy image: read as one, each magic leaves no PV
// marker after p2m_size, a 64-bit p2m_size over 2^32, and a 32-bit HVM
// image a first chunk type no saver writes (which is why QEVM is taken
// only with version 2 or 3, and ELF only with a sensible ident); so
// naming them takes nothing from legacy detection.
//
// Only a bounded prefix of the input is looked at (FOREIGN_PEEK), and
// only when its first bytes carry one of these magics.
import {type ErrorJson, FormatError} from '../errors.js'
import {plural} from '../text.js'
import {type ElfFacts, isElf, readElf} from './elf.js'
import {isLibvirtQemu, LIBVIRT_QEMU_PEEK, type LibvirtQemuFacts, readLibvirtQemu} from './libvirt-qemu.js'

/** "QEVM": QEMU's migration stream (QEMU_VM_FILE_MAGIC), then a big-endian u32 version. */
export const QEMU_VM_MAGIC = 'QEVM'
/** QEMU_VM_FILE_VERSION, and QEMU_VM_FILE_VERSION_COMPAT (older QEMU, qemu-traditional's era). */
export const QEMU_VM_VERSIONS: readonly number[] = [3, 2]
/** Bytes of an ELF file looked at: its headers and the notes near its start. */
export const ELF_PEEK = 64 << 10
/** The most any recognition here peeks. */
export const FOREIGN_PEEK = Math.max(ELF_PEEK, LIBVIRT_QEMU_PEEK)

export type ForeignKind = 'libvirt-qemu-save' | 'qemu-device-state' | 'xen-dump-core' | 'elf-core' | 'elf'

/** What a file that is not a Xen save image is, for reports (identify's `foreign`) and refusals. */
export interface ForeignSummary {
  kind: ForeignKind
  label: string
  /** What it is for, or what to do with it instead. */
  advice: string
  libvirtQemu?: LibvirtQemuFacts
  qemuDeviceState?: {version: number}
  elf?: ElfFacts
}

/**
 * What the input whose first bytes `peek` gives is, when it is one of the
 * formats here; undefined otherwise. `peek(n)` returns up to n bytes from
 * the start (fewer at the end of the input) and is asked for at most
 * FOREIGN_PEEK.
 */
export async function recogniseForeign(peek: (n: number) => Promise<Buffer>): Promise<ForeignSummary | undefined> {
  const head = Buffer.from(await peek(16))
  if (isLibvirtQemu(head)) return libvirtQemu(readLibvirtQemu(Buffer.from(await peek(LIBVIRT_QEMU_PEEK))))
  if (head.length >= 8 && head.toString('latin1', 0, 4) === QEMU_VM_MAGIC && QEMU_VM_VERSIONS.includes(head.readUInt32BE(4))) {
    return {
      kind: 'qemu-device-state',
      label: 'QEMU device state',
      advice: "QEMU's record of a guest's devices, such as the device-model state in a Xen HVM save; not a domain save image",
      qemuDeviceState: {version: head.readUInt32BE(4)},
    }
  }
  if (isElf(head)) return elf(readElf(Buffer.from(await peek(ELF_PEEK))))
  return undefined
}

function libvirtQemu(l: LibvirtQemuFacts): ForeignSummary {
  return {
    kind: 'libvirt-qemu-save',
    label: 'libvirt QEMU/KVM save image',
    advice: l.complete ? 'restore it with `virsh restore` on a KVM host' : 'the save did not finish: the header still says "LibvirtQemudPart", and `virsh restore` refuses it',
    libvirtQemu: l,
  }
}

const ELF_TYPE_WORDS: Record<string, string> = {relocatable: 'relocatable object', executable: 'executable', shared: 'shared object or PIE executable'}

function elf(e: ElfFacts): ForeignSummary {
  if (e.type !== 'core') {
    const what = ELF_TYPE_WORDS[e.type] ?? (e.typeCode === null ? 'file' : `file of type ${e.typeCode}`)
    return {kind: 'elf', label: `ELF ${what}`, advice: 'a program, library or object file', elf: e}
  }
  switch (e.producer) {
    case 'xen-dump-core':
      return {
        kind: 'xen-dump-core',
        label: 'Xen ELF dump-core',
        advice: "a domain's memory dump, as `xl dump-core`, `virsh dump` and `xst dump-core` write, for crash or libkdumpfile; a dump cannot be restored",
        elf: e,
      }
    case 'qemu':
      // QEMU's notes beside the cpus' NT_PRSTATUS: QEMU's own dump, or xst's kdump-style one, which writes them too.
      return {
        kind: 'elf-core',
        label: 'guest memory dump (kdump-style ELF core)',
        advice: "a guest's memory dump, as QEMU's dump-guest-memory (`virsh dump --memory-only`) and `xst dump-core --format vmcore` write, for crash or drgn; a dump cannot be restored",
        elf: e,
      }
    case 'xen-host':
      return {kind: 'elf-core', label: 'Xen host crash dump', advice: "a Xen host's crash dump (kexec/kdump) for crash; not a domain save image", elf: e}
    case 'linux-kernel':
      return {kind: 'elf-core', label: 'Linux kernel crash dump', advice: 'a kernel crash dump (vmcore) for crash; not a domain save image', elf: e}
    default:
      return {kind: 'elf-core', label: 'ELF core file', advice: 'a memory dump for a debugger; a dump cannot be restored', elf: e}
  }
}

/** The facts after the label, for one line: "version 2", "memory state zstd-compressed", ... */
export function foreignFacts(f: ForeignSummary): string[] {
  const out: string[] = []
  const l = f.libvirtQemu
  if (l) {
    if (l.version === null) out.push('header cut short')
    else out.push(`version ${l.version}`)
    if (!l.complete) out.push('incomplete')
    if (l.byteOrder === 'big') out.push('big-endian')
    if (l.memoryFormat !== null) out.push(`memory state ${MEMORY_FORMAT_WORDS[l.memoryFormat] ?? `${l.memoryFormat}-compressed`}`)
    else if (l.formatCode !== null) out.push(`memory state in format ${l.formatCode}, unknown to xst`)
  }
  if (f.qemuDeviceState) out.push(`QEVM stream version ${f.qemuDeviceState.version}`)
  const e = f.elf
  if (e) {
    const x = e.xen
    // A Xen dump-core is ELF64 whatever the guest; another core file's label says what wrote it, not that it is ELF.
    if (f.kind === 'elf-core' && e.producer) out.push(e.class ? `${e.class}-bit ELF core` : 'ELF core')
    else if (!x && e.class) out.push(`${e.class}-bit`)
    if (x) {
      if (x.formatVersion) out.push(`format ${x.formatVersion}`)
      // xst writes 0.0 for an image that does not say which Xen saved it.
      if (x.xenVersion && x.xenVersion !== '0.0') out.push(`Xen ${x.xenVersion}`)
      if (x.vcpus !== null) out.push(plural(x.vcpus, 'vcpu'))
      if (x.pages !== null) out.push(plural(x.pages, 'page'))
    }
  }
  return out
}

const MEMORY_FORMAT_WORDS: Record<string, string> = {raw: 'uncompressed', sparse: 'sparse (QEMU mapped-ram)'}

/** The guest a foreign file is of, when it says (a Xen dump-core's header note). */
export function foreignGuest(f: ForeignSummary): 'pv' | 'hvm' | null {
  return f.elf?.xen?.guest ?? null
}

/** The domain a foreign file is of, when it says (a libvirt QEMU image's XML). */
export function foreignDomainName(f: ForeignSummary): string | null {
  return f.libvirtQemu?.domainName ?? null
}

/** The one line a command refuses a foreign file with: "this is a ..., not a Xen save image: ...". */
export function foreignMessage(f: ForeignSummary, compressed: boolean): string {
  const what = (compressed ? 'gzip-compressed ' : '') + f.label
  const facts = foreignFacts(f)
  const guest = foreignGuest(f)
  if (guest) facts.push(`${guest.toUpperCase()} guest`)
  const name = foreignDomainName(f)
  if (name !== null) facts.push(`domain "${name}"`)
  return `this is ${/^[AEIOU]/i.test(what) ? 'an' : 'a'} ${what}${facts.length ? ` (${facts.join(', ')})` : ''}, not a Xen save image: ${f.advice}`
}

/** A file of a known format that is not a Xen save image. */
export class ForeignFormatError extends FormatError {
  constructor(
    readonly foreign: ForeignSummary,
    readonly compressed: boolean,
  ) {
    super('foreign-format', foreignMessage(foreign, compressed))
  }

  override toJSON(): ErrorJson & Record<string, unknown> {
    return {...super.toJSON(), foreign: this.foreign}
  }
}
