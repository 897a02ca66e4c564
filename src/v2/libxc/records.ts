// The libxc record table: every record type of Xen's libxc stream
// (docs/specs/libxc-migration-stream.pandoc, "Records"), with how much of its
// body the checks read, the guests that may send it, whether it exists only
// in version 3 streams or must be empty, and the header its body starts
// with. Facts only: names and the reader's body prefixes come from here,
// and the verifier keeps its checks beside it (../verify/checks.ts).
import {type RecordKind, RecordTable, type ShortBodyCode} from '../record.js'
import {HvmParamsHeader, PageDataHeader, Rec, VcpuHeader, X86PvInfo, X86PvP2mFramesHeader, X86TscInfo} from './layout.js'

type Facts = Partial<Omit<RecordKind, 'type' | 'name'>>

function row(name: keyof typeof Rec, facts: Facts = {}): RecordKind {
  return {type: Rec[name], name, prefix: 0, guest: 'both', v3Only: false, empty: false, ...facts}
}

/** The body starts with a fixed header of `bytes`. */
const header = (bytes: number, code: ShortBodyCode = 'record-size') => ({bytes, what: 'header', code})

const vcpu: Facts = {prefix: VcpuHeader.size, guest: 'pv', minSize: header(VcpuHeader.size)}

export const LIBXC_RECORDS = new RecordTable([
  row('END', {empty: true}),
  row('PAGE_DATA', {prefix: 'page-data', minSize: header(PageDataHeader.size, 'page-data-short')}),
  row('X86_PV_INFO', {prefix: X86PvInfo.size, guest: 'pv'}),
  row('X86_PV_P2M_FRAMES', {prefix: X86PvP2mFramesHeader.size, guest: 'pv', minSize: header(X86PvP2mFramesHeader.size)}),
  row('X86_PV_VCPU_BASIC', vcpu),
  row('X86_PV_VCPU_EXTENDED', vcpu),
  row('X86_PV_VCPU_XSAVE', vcpu),
  row('SHARED_INFO', {guest: 'pv'}),
  row('X86_TSC_INFO', {prefix: X86TscInfo.size}),
  row('HVM_CONTEXT', {guest: 'hvm'}),
  row('HVM_PARAMS', {prefix: HvmParamsHeader.size, guest: 'hvm', minSize: header(HvmParamsHeader.size)}),
  row('TOOLSTACK'),
  row('X86_PV_VCPU_MSRS', vcpu),
  row('VERIFY', {empty: true}),
  row('CHECKPOINT', {empty: true}),
  row('CHECKPOINT_DIRTY_PFN_LIST'),
  row('STATIC_DATA_END', {empty: true, v3Only: true}),
  row('X86_CPUID_POLICY', {v3Only: true}),
  row('X86_MSR_POLICY', {v3Only: true}),
])

/** Type number -> name of every libxc record type. */
export const REC_NAMES = LIBXC_RECORDS.names()
