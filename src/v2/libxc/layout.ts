// The libxc stream of Xen 4.6+ (version 2; version 3 since Xen 4.14): its
// image and domain headers and the bodies of its records, as Xen's
// docs/specs/libxc-migration-stream.pandoc describes them ("Headers",
// "Records"). The image header is big-endian, everything after it
// little-endian on x86.
import {layout, namesOf, u16be, u16le, u32be, u32le, u64be, u64le, u8} from '../../format/layout.js'

export const IHDR_MARKER = 0xffffffffffffffffn
export const IHDR_IDENT = 0x58454e46 // "XENF"
export const IHDR_OPT_BIG_ENDIAN = 1 << 0
export const IHDR_OPT_RESERVED = 0xfffe

export const ImageHeader = layout('libxc image header', {
  marker: u64be,
  id: u32be,
  version: u32be,
  options: u16be,
  reserved1: u16be,
  reserved2: u32be,
})

export const DomainType = {X86_PV: 1, X86_HVM: 2, X86_PVH: 3, ARM: 4} as const
/** "x86 PV", "x86 HVM", "x86 PVH", "ARM". */
export const DOMAIN_TYPE_NAMES = namesOf(DomainType, (key) => key.replace(/^X86_/, 'x86 '))

export const DomainHeader = layout('libxc domain header', {
  type: u32le,
  pageShift: u16le,
  reserved: u16le,
  xenMajor: u32le,
  xenMinor: u32le,
})

/** libxc record types, named as in the spec; records.ts says what each holds and how it is checked. */
export const Rec = {
  END: 0x00,
  PAGE_DATA: 0x01,
  X86_PV_INFO: 0x02,
  X86_PV_P2M_FRAMES: 0x03,
  X86_PV_VCPU_BASIC: 0x04,
  X86_PV_VCPU_EXTENDED: 0x05,
  X86_PV_VCPU_XSAVE: 0x06,
  SHARED_INFO: 0x07,
  X86_TSC_INFO: 0x08,
  HVM_CONTEXT: 0x09,
  HVM_PARAMS: 0x0a,
  TOOLSTACK: 0x0b,
  X86_PV_VCPU_MSRS: 0x0c,
  VERIFY: 0x0d,
  CHECKPOINT: 0x0e,
  CHECKPOINT_DIRTY_PFN_LIST: 0x0f,
  STATIC_DATA_END: 0x10,
  X86_CPUID_POLICY: 0x11,
  X86_MSR_POLICY: 0x12,
} as const

/** PAGE_DATA starts with this header; `count` pfn words follow (PfnWord in ../record.ts), then the pages. */
export const PageDataHeader = layout('PAGE_DATA header', {count: u32le, reserved: u32le})
/** Most pfns xst checks in one PAGE_DATA record (Xen writes at most 1024). */
export const MAX_PAGE_DATA_PFNS = 1 << 20

export const X86PvInfo = layout('X86_PV_INFO', {guestWidth: u8, ptLevels: u8, reserved1: u16le, reserved2: u32le})
export const X86PvP2mFramesHeader = layout('X86_PV_P2M_FRAMES header', {startPfn: u32le, endPfn: u32le})
export const VcpuHeader = layout('vcpu record header', {vcpuId: u32le, reserved: u32le})
export const X86TscInfo = layout('X86_TSC_INFO', {mode: u32le, khz: u32le, nsec: u64le, incarnation: u32le, reserved: u32le})
export const HvmParamsHeader = layout('HVM_PARAMS header', {count: u32le, reserved: u32le})
export const HvmParamEntry = layout('HVM_PARAMS entry', {index: u64le, value: u64le})

export const CPUID_POLICY_ENTRY_SIZE = 24
export const MSR_POLICY_ENTRY_SIZE = 16
export const SHARED_INFO_SIZE = 4096

/** The libxc stream version a conversion writes: 3, as Xen's own converter has since 4.14. */
export const CONVERTED_LIBXC_VERSION = 3
/** Domain header minor version a converter writes: its own format version. */
export const CONVERTER_XEN_MAJOR = 0
export const CONVERTER_XEN_MINOR = 1

/** The restorer refuses a libxc record whose body is longer than this (128 MiB). */
export const REC_LENGTH_MAX = 128 << 20
/** One X86_PV_VCPU_MSRS entry: u32 index, u32 reserved, u64 value. */
export const VCPU_MSR_ENTRY_SIZE = 16
/** Header of a libxc stream: image header then domain header. */
export const LIBXC_HEADERS_SIZE = ImageHeader.size + DomainHeader.size
