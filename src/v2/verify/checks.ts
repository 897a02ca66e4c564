// The verifier's check of each record type, one map per layer, as Xen's
// tools/python/xen/migration/libxc.py keeps its record_verifiers beside the
// record table. A type the format table names but no map checks does not
// compile (the `satisfies` clauses); what each check does, and the restorer
// function it mirrors, is in libxc-rules.ts, libxl-rules.ts and restorer.ts.
import {Rec} from '../libxc/layout.js'
import {LibxlRec} from '../libxl/layout.js'
import type {Layer} from '../record.js'
import type {Check} from './context.js'
import * as libxc from './libxc-rules.js'
import * as libxl from './libxl-rules.js'

const LIBXC_CHECKS = {
  END: libxc.end,
  PAGE_DATA: libxc.pageData,
  X86_PV_INFO: libxc.pvInfo,
  X86_PV_P2M_FRAMES: libxc.p2mFrames,
  X86_PV_VCPU_BASIC: libxc.vcpu,
  X86_PV_VCPU_EXTENDED: libxc.vcpu,
  X86_PV_VCPU_XSAVE: libxc.vcpu,
  SHARED_INFO: libxc.sharedInfo,
  X86_TSC_INFO: libxc.tscInfo,
  HVM_CONTEXT: libxc.hvmContext,
  HVM_PARAMS: libxc.hvmParams,
  TOOLSTACK: libxc.toolstack,
  X86_PV_VCPU_MSRS: libxc.vcpu,
  VERIFY: libxc.verify,
  CHECKPOINT: libxc.checkpoint,
  CHECKPOINT_DIRTY_PFN_LIST: libxc.checkpointDirtyPfnList,
  STATIC_DATA_END: libxc.staticDataEnd,
  X86_CPUID_POLICY: libxc.cpuidPolicy,
  X86_MSR_POLICY: libxc.msrPolicy,
} as const satisfies Record<keyof typeof Rec, Check>

const LIBXL_CHECKS = {
  END: libxl.end,
  LIBXC_CONTEXT: libxl.libxcContext,
  EMULATOR_XENSTORE_DATA: libxl.xenstoreData,
  EMULATOR_CONTEXT: libxl.emulatorContext,
  CHECKPOINT_END: libxl.checkpointEnd,
  CHECKPOINT_STATE: libxl.checkpointState,
} as const satisfies Record<keyof typeof LibxlRec, Check>

function byType(names: Record<string, number>, checks: Record<string, Check>): ReadonlyMap<number, Check> {
  return new Map(Object.entries(checks).map(([name, check]) => [names[name], check]))
}

const CHECKS: Record<Layer, ReadonlyMap<number, Check>> = {libxc: byType(Rec, LIBXC_CHECKS), libxl: byType(LibxlRec, LIBXL_CHECKS)}

/** The check of a record type of `layer`; undefined for a type the layer does not define. */
export function checkFor(layer: Layer, type: number): Check | undefined {
  return CHECKS[layer].get(type)
}
