// What the verifier tells about a stream besides its problems: the summary
// of `xst verify --json` (and of the verify section of `xst convert --json`),
// made from the facts gathered while checking.
import type {DeviceModel} from '../../xl/header.js'
import {PAGE_TYPE_NAMES} from '../../format/x86.js'
import {DomainType} from '../libxc/layout.js'
import {LIBXL_OPT_LEGACY} from '../libxl/layout.js'
import type {Layer} from '../record.js'
import type {CheckpointInfo, VerifyContext} from './context.js'

export interface VerifySummary {
  /** Outermost v2 layer. */
  format: Layer | null
  /** config: the xl config it holds (null: none), and the device model that asks for (null: it does not say). */
  xlHeader: {flags: string[]; optionalDataLength: number; domainName: string | null; config: null | {deviceModel: DeviceModel | null}} | null
  version: {libxl: number | null; libxc: number | null}
  /** libxl options bit 1; null when there is no libxl header. */
  legacyConverted: boolean | null
  /** From the libxc domain header: "pv", "hvm" or "pvh" (the vocabulary's `guest`); null when there is none, or for a type not x86's. */
  guest: 'pv' | 'hvm' | 'pvh' | null
  /** PV: the guest's word size in bits (32 or 64), as inspect-legacy gives it; X86_PV_INFO holds it in bytes. */
  guestWidth: 32 | 64 | null
  /** PV: from X86_PV_INFO (inspect-legacy's name for the same). */
  pagetableLevels: number | null
  /** From the domain header; major 0 is a legacy converter (minor = its version). */
  xenVersion: {major: number; minor: number} | null
  records: {libxl: Record<string, number>; libxc: Record<string, number>}
  /** `count` pfns sent, `withData` of them with a page of data (the vocabulary's `pages`). */
  pages: {count: number; withData: number; byType: Record<string, number>}
  /** vcpus with an X86_PV_VCPU_BASIC record. */
  vcpus: {count: number; ids: number[]}
  p2mEndPfn: number | null
  emulator: {contexts: number; contextBytes: number; xenstoreKeys: number; firstId: number | null}
  /**
   * A checkpointed (Remus, COLO) stream: its complete checkpoints (the first
   * 1,000 listed), where the last ends, and where an incomplete one was cut;
   * null for a plain stream.
   */
  checkpoints: null | {kind: 'remus' | 'colo'; complete: number; lastEnd: number | null; cut: {checkpoint: number; start: number; at: number} | null; list: CheckpointInfo[]}
  /** Bytes after a bare libxc stream (a device-model record). */
  tail: {kind: string; bytes: number} | null
  /** Offset where checking ended. */
  bytes: number
}

/** The libxc domain types x86 has, as the vocabulary's `guest`. */
const GUESTS: Record<number, 'pv' | 'hvm' | 'pvh'> = {[DomainType.X86_PV]: 'pv', [DomainType.X86_HVM]: 'hvm', [DomainType.X86_PVH]: 'pvh'}

export function summarise(v: VerifyContext, tail: {kind: string; bytes: number} | undefined, end: number): VerifySummary {
  const {lx, ll} = v
  const byType: Record<string, number> = {}
  for (const [t, n] of [...lx.pages.byType].sort((a, b) => a[0] - b[0])) byType[PAGE_TYPE_NAMES[t] ?? `type ${t}`] = n
  const haveLibxc = lx.domainType !== undefined
  return {
    format: v.top ?? null,
    xlHeader: v.xl ? {flags: v.xl.flags, optionalDataLength: v.xl.optionalDataLength, domainName: v.xl.domainName, config: v.xl.config} : null,
    version: {libxl: ll.version ?? null, libxc: haveLibxc ? lx.version : null},
    legacyConverted: ll.version !== undefined ? (ll.options & LIBXL_OPT_LEGACY) !== 0 : null,
    guest: haveLibxc ? (GUESTS[lx.domainType!] ?? null) : null,
    guestWidth: lx.width ? (lx.width === 8 ? 64 : 32) : null,
    pagetableLevels: lx.levels ?? null,
    xenVersion: lx.xen ?? null,
    records: {libxl: Object.fromEntries(ll.counts), libxc: Object.fromEntries(lx.counts)},
    pages: {count: lx.pages.pfns, withData: lx.pages.withData, byType},
    vcpus: {count: lx.vcpusWithBasic.size, ids: [...lx.vcpusWithBasic].sort((a, b) => a - b)},
    p2mEndPfn: lx.p2mEndPfn ?? null,
    emulator: {...ll.emulator},
    checkpoints: v.cp.kind ? {kind: v.cp.kind, complete: v.cp.complete, lastEnd: v.cp.lastEnd ?? null, cut: v.cp.cut, list: [...v.cp.kept]} : null,
    tail: tail ? {...tail} : null,
    bytes: end,
  }
}
