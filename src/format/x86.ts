// Facts about x86 Xen guests that the legacy and the v2 formats share: the
// page size, the page types (a legacy pfn_type entry and a v2 PAGE_DATA pfn
// word carry the same 4-bit values; Xen's
// docs/specs/libxc-migration-stream.pandoc, "PAGE_DATA"), the vcpu limits
// and context sizes, and the signatures of the device-model (qemu) record
// that follows an HVM image, and the HVM parameters a legacy image carries.
import {namesOf} from './layout.js'

export const PAGE_SIZE = 4096

/** Highest vcpu id: a legacy vcpu_info chunk's max id is below XC_SR_MAX_VCPUS (4096); v2 vcpu records are held to the same. */
export const MAX_VCPU_ID = 4095

/** Page types by their 4-bit value (both formats use the same values). */
export const PAGE_TYPE_NAMES: Record<number, string> = {
  0x0: 'normal',
  0x1: 'l1',
  0x2: 'l2',
  0x3: 'l3',
  0x4: 'l4',
  0x9: 'l1-pinned',
  0xa: 'l2-pinned',
  0xb: 'l3-pinned',
  0xc: 'l4-pinned',
  0xd: 'broken',
  0xe: 'xalloc',
  0xf: 'xtab',
}

/** Types 5-8 were never defined. */
export function isValidPageType(t: number): boolean {
  return t in PAGE_TYPE_NAMES
}

/** Only these types are followed by 4096 bytes of page contents. */
export function pageTypeHasData(t: number): boolean {
  return t <= 0x4 || (t >= 0x9 && t <= 0xc)
}

/** Size of a PV vcpu's basic context (vcpu_guest_context) for a 64-bit guest, and for a 32-bit (PAE) one. */
export const EXT_VCPU_64 = 0x1430
export const EXT_VCPU_32 = 0xaf0
/** A PV vcpu's extended context: this long in a legacy image, at most this long in a v2 stream. */
export const EXTENDED_VCPU_CONTEXT_SIZE = 128
/** A v2 X86_PV_VCPU_XSAVE context holds at least its xfeature mask and size (two u64), as the restorer checks. */
export const MIN_XSAVE_CONTEXT_SIZE = 16

/** The device-model record: a signature of QEMU_SIG_LEN bytes. */
export const QEMU_SIG_LEN = 21
/** Followed by a u32 length and that much qemu state. */
export const QEMU_SIG_DM_0002 = 'DeviceModelRecord0002'
/** The same layout, written by Remus. */
export const QEMU_SIG_REMUS = 'RemusDeviceModelState'
/** Followed by qemu state to the end of the image. */
export const QEMU_SIG_REST = 'QemuDeviceModelRecord'

/**
 * The HVM parameters a legacy image carries (body chunks and the magic pfns
 * of its tail), by their index in Xen's public hvm/params.h: a v2
 * HVM_PARAMS record carries the same indices.
 */
export const HvmParam = {
  STORE_PFN: 1,
  IOREQ_PFN: 5,
  BUFIOREQ_PFN: 6,
  VIRIDIAN: 9,
  IDENT_PT: 12,
  VM86_TSS: 15,
  CONSOLE_PFN: 17,
  ACPI_IOPORTS_LOCATION: 19,
  PAGING_RING_PFN: 27,
  MONITOR_RING_PFN: 28,
  SHARING_RING_PFN: 29,
  IOREQ_SERVER_PFN: 32,
  NR_IOREQ_SERVER_PAGES: 33,
  VM_GENERATION_ID_ADDR: 34,
} as const

/** HVM parameter names by index ("store_pfn", "viridian", ...). */
export const HVM_PARAM_NAMES = namesOf(HvmParam, (key) => key.toLowerCase())
