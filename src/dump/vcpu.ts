// The vcpu contexts of .xen_prstatus.
//
// PV: the saved basic contexts (X86_PV_VCPU_BASIC, or the legacy tail's),
// byte for byte, each in a slot of vcpu_guest_context_any_t's size (5168
// bytes): a 64-bit guest's context fills it, a 32-bit guest's 2800 bytes
// are followed by zeros, as in Xen's own dumps.
//
// HVM: Xen keeps an HVM guest's registers in its HVM context, a list of
// typed save records. Each CPU record (one per online vcpu, its instance
// being the vcpu id) becomes a 64-bit vcpu_guest_context filled as Xen's
// XEN_DOMCTL_getvcpucontext fills one for an HVM vcpu:
//
//   fpu_ctxt            the record's 512-byte FXSAVE area
//   flags               VGCF_i387_valid | VGCF_online
//   user_regs           rax..r15, rip, rflags, rsp; cs ss ds es fs gs = the
//                       segment selectors
//   ctrlreg[0,2,3,4]    cr0, cr2, cr3, cr4 (cr3 as the guest loaded it)
//   debugreg[0-3,6,7]   dr0-dr3, dr6, dr7
//   fs_base             the fs segment base
//   gs_base_kernel/user the gs base and the shadow gs base (MSR
//                       KERNEL_GS_BASE): the gs base is the kernel's when
//                       the vcpu was in ring 0 (cs & 3 == 0), the user's
//                       otherwise
//
// Everything else (trap table, LDT/GDT, callbacks) is zero: an HVM guest
// has none of them in this structure.
import {MAX_VCPU_ID} from '../format/x86.js'
import {hex} from '../text.js'
import {HVM_FILE_MAGIC, HvmCpuPrefix, HvmSaveDescriptor, HvmSaveHeader, HvmSaveType, PRSTATUS_ENTRY_SIZE, VcpuGuestContext64, VGCF_I387_VALID, VGCF_ONLINE} from './layouts.js'

type CtxField = keyof typeof VcpuGuestContext64.fields

function put(buf: Buffer, field: CtxField, value: unknown): void {
  ;(VcpuGuestContext64.fields[field] as {put(b: Buffer, o: number, v: unknown): void}).put(buf, VcpuGuestContext64.offsets[field], value)
}

/** A PV vcpu's basic context in its .xen_prstatus slot. */
export function pvPrstatus(context: Buffer): Buffer {
  const slot = Buffer.alloc(PRSTATUS_ENTRY_SIZE)
  context.copy(slot, 0, 0, Math.min(context.length, PRSTATUS_ENTRY_SIZE))
  return slot
}

/** The 64-bit vcpu_guest_context for one HVM CPU save record (at least HvmCpuPrefix.size bytes). */
export function hvmPrstatus(cpuRecord: Buffer): Buffer {
  const c = HvmCpuPrefix.get(cpuRecord)
  const g = Buffer.alloc(PRSTATUS_ENTRY_SIZE)
  put(g, 'fpuCtxt', c.fpuRegs)
  put(g, 'flags', VGCF_I387_VALID | VGCF_ONLINE)
  for (const r of ['rax', 'rbx', 'rcx', 'rdx', 'rbp', 'rsi', 'rdi', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags'] as const) put(g, r, c[r])
  put(g, 'cs', c.csSel & 0xffff)
  put(g, 'ss', c.ssSel & 0xffff)
  put(g, 'ds', c.dsSel & 0xffff)
  put(g, 'es', c.esSel & 0xffff)
  put(g, 'fs', c.fsSel & 0xffff)
  put(g, 'gs', c.gsSel & 0xffff)
  put(g, 'cr0', c.cr0)
  put(g, 'cr2', c.cr2)
  put(g, 'cr3', c.cr3)
  put(g, 'cr4', c.cr4)
  for (const d of ['dr0', 'dr1', 'dr2', 'dr3', 'dr6', 'dr7'] as const) put(g, d, c[d])
  put(g, 'fsBase', c.fsBase)
  const ring0 = (c.csSel & 3) === 0
  put(g, 'gsBaseKernel', ring0 ? c.gsBase : c.shadowGs)
  put(g, 'gsBaseUser', ring0 ? c.shadowGs : c.gsBase)
  return g
}

export interface HvmVcpus {
  /** vcpu id -> its CPU save record, cut to the fields a dump takes (hvmPrstatus makes the entry). */
  cpus: Map<number, Buffer>
  /** Why some or all of the context could not be read, if so. */
  problem?: string
}

/**
 * The CPU records an HVM context blob holds. The blob is read as far as it
 * is a well-formed list of save records: a header record with Xen's magic
 * first, then records whose lengths stay inside the blob, up to the END
 * record. CPU records shorter than the fields a dump takes, or for a vcpu
 * id beyond Xen's limit, are left out; a later record for the same vcpu
 * replaces an earlier one. Only the fields a dump takes are kept (1000 bytes
 * a vcpu); the 5168-byte entries are made as they are written.
 */
export function hvmVcpus(blob: Buffer): HvmVcpus {
  const cpus = new Map<number, Buffer>()
  const D = HvmSaveDescriptor.size
  if (blob.length < D + HvmSaveHeader.size) return {cpus, problem: `the HVM context (${blob.length} bytes) is too short to hold an HVM save header`}
  const first = HvmSaveDescriptor.get(blob, 0)
  const magic = blob.readUInt32LE(D)
  if (first.typecode !== HvmSaveType.HEADER || magic !== HVM_FILE_MAGIC) {
    return {cpus, problem: `the HVM context does not start with an HVM save header (type ${HvmSaveType.HEADER}, magic ${hex(HVM_FILE_MAGIC)}); got type ${first.typecode}, magic ${hex(magic)}`}
  }
  const skipped: string[] = []
  let more = 0
  const skip = (why: string) => (skipped.length < 3 ? skipped.push(why) : more++)
  let at = 0
  for (;;) {
    if (at + D > blob.length) return {cpus, problem: `the HVM context ends at byte ${blob.length} without an END save record`}
    const d = HvmSaveDescriptor.get(blob, at)
    if (d.typecode === HvmSaveType.END) break
    if (d.length > blob.length - at - D) {
      return {cpus, problem: `HVM save record type ${d.typecode} at context byte ${at} is ${d.length} bytes, past the end of the context (${blob.length} bytes)`}
    }
    if (d.typecode === HvmSaveType.CPU) {
      if (d.length < HvmCpuPrefix.size) skip(`vcpu ${d.instance}: CPU record of ${d.length} bytes, shorter than ${HvmCpuPrefix.size}`)
      else if (d.instance > MAX_VCPU_ID) skip(`CPU record for vcpu ${d.instance}, beyond vcpu ${MAX_VCPU_ID}`)
      else cpus.set(d.instance, Buffer.from(blob.subarray(at + D, at + D + HvmCpuPrefix.size)))
    }
    at += D + d.length
  }
  if (more) skipped.push(`${more} more`)
  return skipped.length ? {cpus, problem: `left out of the dump: ${skipped.join('; ')}`} : {cpus}
}
