// The libxc record table: every record type of Xen's libxc stream
// (docs/specs/libxc-migration-stream.pandoc, "Records"), with how much of its
// body the checks read, the guests that may send it, whether it exists only
// in version 3 streams or must be empty, the header its body starts with,
// and its check (../verify/libxc-rules.ts). Names, the reader's body
// prefixes and the verifier's per-type rules all come from here.
import type {RuleCode} from '../verify/restorer.js'
import {type RecordKind, RecordTable} from '../record.js'
import type {Check} from '../verify/context.js'
import * as rules from '../verify/libxc-rules.js'
import {
  CPUID_POLICY_ENTRY_SIZE,
  HvmParamsHeader,
  MSR_POLICY_ENTRY_SIZE,
  PageDataHeader,
  Rec,
  VcpuHeader,
  X86PvInfo,
  X86PvP2mFramesHeader,
  X86TscInfo,
} from './layout.js'

type Facts = Partial<Omit<RecordKind<Check>, 'type' | 'name' | 'check'>>

function row(name: keyof typeof Rec, check: Check, facts: Facts = {}): RecordKind<Check> {
  return {type: Rec[name], name, prefix: 0, guest: 'both', v3Only: false, empty: false, check, ...facts}
}

/** The body starts with a fixed header of `bytes`. */
const header = (bytes: number, code: RuleCode = 'record-size') => ({bytes, what: 'header', code})

const vcpu: Facts = {prefix: VcpuHeader.size, guest: 'pv', minSize: header(VcpuHeader.size)}

export const LIBXC_RECORDS = new RecordTable<Check>([
  row('END', rules.end, {empty: true}),
  row('PAGE_DATA', rules.pageData, {prefix: 'page-data', minSize: header(PageDataHeader.size, 'page-data-short')}),
  row('X86_PV_INFO', rules.pvInfo, {prefix: X86PvInfo.size, guest: 'pv'}),
  row('X86_PV_P2M_FRAMES', rules.p2mFrames, {prefix: X86PvP2mFramesHeader.size, guest: 'pv', minSize: header(X86PvP2mFramesHeader.size)}),
  row('X86_PV_VCPU_BASIC', rules.vcpu, vcpu),
  row('X86_PV_VCPU_EXTENDED', rules.vcpu, vcpu),
  row('X86_PV_VCPU_XSAVE', rules.vcpu, vcpu),
  row('SHARED_INFO', rules.sharedInfo, {guest: 'pv'}),
  row('X86_TSC_INFO', rules.tscInfo, {prefix: X86TscInfo.size}),
  row('HVM_CONTEXT', rules.hvmContext, {guest: 'hvm'}),
  row('HVM_PARAMS', rules.hvmParams, {prefix: HvmParamsHeader.size, guest: 'hvm', minSize: header(HvmParamsHeader.size)}),
  row('TOOLSTACK', rules.toolstack),
  row('X86_PV_VCPU_MSRS', rules.vcpu, vcpu),
  row('VERIFY', rules.verify, {empty: true}),
  row('CHECKPOINT', rules.checkpoint, {empty: true}),
  row('CHECKPOINT_DIRTY_PFN_LIST', rules.checkpointDirtyPfnList),
  row('STATIC_DATA_END', rules.staticDataEnd, {empty: true, v3Only: true}),
  row('X86_CPUID_POLICY', rules.policy(CPUID_POLICY_ENTRY_SIZE, 'leaf', 'leaves'), {v3Only: true}),
  row('X86_MSR_POLICY', rules.policy(MSR_POLICY_ENTRY_SIZE, 'MSR'), {v3Only: true}),
])

/** Type number -> name of every libxc record type. */
export const REC_NAMES = LIBXC_RECORDS.names()
