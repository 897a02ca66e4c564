// libvirt's QEMU/KVM save image (`virsh save`, `managedsave` on a KVM
// host; libvirt's src/qemu/qemu_saveimage.h and qemu_saveimage.c): a
// 92-byte header, the domain XML (with a NUL), an optional migration
// cookie (with a NUL), zeros, then QEMU's migration stream, compressed
// by an external program when the header's format says so.
//
//   magic[16]       "LibvirtQemudSave", or "LibvirtQemudPart" while the
//                   save is being written (rewritten to Save when done)
//   u32 version     1 or 2 (2 adds the format and the cookie offset); in
//                   the saving host's byte order, so a version over 2
//                   that reads 1 or 2 byte-swapped is a big-endian header
//   u32 data_len    XML + cookie + the zeros after them
//   u32 was_running
//   u32 format      0 raw, 1 gzip, 2 bzip2, 3 xz, 4 lzop, 5 zstd,
//                   6 sparse (QEMU's mapped-ram layout, not compressed)
//   u32 cookieOffset  where in the data the cookie starts (0: no cookie)
//   u32 unused[14]
//
// Only the header and the start of the XML (for the domain's <name>) are
// read, within a fixed bound.
import {domainName} from '../container/libvirt.js'
import {type ByteOrder, Fields} from './bytes.js'

export const LIBVIRT_QEMU_MAGIC = 'LibvirtQemudSave'
export const LIBVIRT_QEMU_PARTIAL = 'LibvirtQemudPart'
export const LIBVIRT_QEMU_HEADER_SIZE = 92
/** The newest version libvirt writes (and reads). */
const LIBVIRT_QEMU_VERSION = 2
/** Most bytes of the XML looked at for the domain's name (it is the root's first child). */
export const LIBVIRT_QEMU_XML_PEEK = 8 << 10

/** libvirt's virQEMUSaveFormat, by value (qemu_saveimage_format.h: values are on-disk ABI). */
export const LIBVIRT_QEMU_FORMATS: readonly string[] = ['raw', 'gzip', 'bzip2', 'xz', 'lzop', 'zstd', 'sparse']

export interface LibvirtQemuFacts {
  /** False for a "LibvirtQemudPart" header: the save did not finish, and libvirt refuses the image. */
  complete: boolean
  /** null when the input ends inside the header. */
  version: number | null
  byteOrder: ByteOrder | null
  /** The header's format value (version 2). */
  formatCode: number | null
  /** How the memory state after the header is stored: raw, a compressor's name, or sparse; null when unknown. */
  memoryFormat: string | null
  wasRunning: boolean | null
  /** Bytes of XML, cookie and padding after the header, as the header says. */
  dataLength: number | null
  /** The header says a migration cookie follows the XML. */
  cookie: boolean | null
  domainName: string | null
}

export function isLibvirtQemu(head: Buffer): boolean {
  const m = head.toString('latin1', 0, 16)
  return m === LIBVIRT_QEMU_MAGIC || m === LIBVIRT_QEMU_PARTIAL
}

/** Bytes to peek for readLibvirtQemu: the header, and the XML's start. */
export const LIBVIRT_QEMU_PEEK = LIBVIRT_QEMU_HEADER_SIZE + LIBVIRT_QEMU_XML_PEEK

/** The facts of the header at the start of `b` (which holds at most LIBVIRT_QEMU_PEEK bytes of the input). */
export function readLibvirtQemu(b: Buffer): LibvirtQemuFacts {
  const out: LibvirtQemuFacts = {
    complete: b.toString('latin1', 0, 16) === LIBVIRT_QEMU_MAGIC,
    version: null,
    byteOrder: null,
    formatCode: null,
    memoryFormat: null,
    wasRunning: null,
    dataLength: null,
    cookie: null,
    domainName: null,
  }
  if (b.length < LIBVIRT_QEMU_HEADER_SIZE) return out
  let f = new Fields(b, 'little')
  // As libvirt reads it: a version above its own is tried byte-swapped.
  if (f.u32(16)! > LIBVIRT_QEMU_VERSION && new Fields(b, 'big').u32(16)! <= LIBVIRT_QEMU_VERSION) f = new Fields(b, 'big')
  const version = f.u32(16)!
  out.version = version
  out.byteOrder = f.order
  out.dataLength = f.u32(20)!
  out.wasRunning = f.u32(24)! !== 0
  if (version >= 2) {
    out.formatCode = f.u32(28)!
    out.memoryFormat = LIBVIRT_QEMU_FORMATS[out.formatCode] ?? null
    out.cookie = f.u32(32)! !== 0
  } else if (version === 1) {
    // Version 1 has no format: libvirt reads what follows as it is.
    out.memoryFormat = 'raw'
    out.cookie = false
  }
  // The XML runs to the cookie, or through the data; only its start is looked at.
  const cookieAt = version >= 2 ? f.u32(32)! : 0
  const xmlLength = Math.min(cookieAt || out.dataLength, LIBVIRT_QEMU_XML_PEEK)
  const xml = b.subarray(LIBVIRT_QEMU_HEADER_SIZE, LIBVIRT_QEMU_HEADER_SIZE + xmlLength)
  const nul = xml.indexOf(0)
  out.domainName = domainName(xml.toString('utf8', 0, nul < 0 ? xml.length : nul)) ?? null
  return out
}
