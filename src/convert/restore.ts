// Will NEW restore, and would OLD have: the restore assessment
// (src/restore/assess.ts) of a conversion's input and output, from what the
// conversion read (the container, the device state's first bytes) and what
// the verifier found in the stream it wrote.
import type {ContainerKind} from '../container/module.js'
import {containerModule} from '../container/registry.js'
import {assessRestore, type Restore} from '../restore/assess.js'
import {modelOfState, type StateModel} from '../restore/device-model.js'
import {containerState} from '../restore/evidence.js'
import {v2RestoreFacts} from '../restore/facts.js'
import type {VerifyReport} from '../v2/verify/verifier.js'
import type {FamilyResult, OutputFamily} from './families.js'

/** The container kind an output family is read as. */
const OUTPUT_KIND: Record<OutputFamily, (input: ContainerKind) => ContainerKind> = {
  bare: (input) => input,
  xl: () => 'none',
  none: () => 'none',
  libvirt: () => 'libvirt',
  xenserver: () => 'xenserver-structured',
}

export interface ConvertRestore {
  /** What restores OLD as it is. */
  before: Restore
  /** What restores NEW. */
  after: Restore
}

/** `stateHead`: the first bytes of the device state the conversion wrote, when it saw them. */
export function convertRestore(result: FamilyResult, report: VerifyReport, stateHead: Buffer | undefined): ConvertRestore | undefined {
  const s = report.summary
  const inKind = result.container.input.kind
  const outKind = OUTPUT_KIND[result.container.output.family](inKind)
  const guest = s.guest
  const state: StateModel | undefined = containerState(inKind, guest) ?? (stateHead?.length ? modelOfState(stateHead) : undefined)
  // A libvirt output carries the input's domain XML unchanged.
  const lv = result.container.input.libvirt
  const after = v2RestoreFacts(s, outKind, state, outKind === 'libvirt' && lv ? {version: 2, emulator: lv.emulator} : undefined)
  if (!after) return undefined
  const legacy = result.summary.input.toolstackWidth !== null
  const cp = result.summary.checkpoint
  // OLD: the same guest and device state, as the stream it was (legacy, or the checkpointed v2 stream made plain).
  const beforeFacts = {
    ...after,
    stream: legacy ? ('legacy' as const) : after.stream,
    libxcVersion: legacy ? null : after.libxcVersion,
    toolstackWidth: result.summary.input.toolstackWidth,
    checkpointed: cp?.kind ?? null,
    container: inKind,
    libvirt: lv ? {version: lv.version, emulator: lv.emulator} : undefined,
    xl: result.summary.input.xlHeader ? after.xl : null,
  }
  return {
    before: assessRestore(beforeFacts, containerModule(inKind).restoredBy(beforeFacts.stream, result.summary.input.xlHeader)),
    after: assessRestore(after, containerModule(outKind).restoredBy(after.stream, s.xlHeader !== null)),
  }
}

/** The one warning of a conversion no current Xen release can restore, and what to do; undefined otherwise. */
export function currentReleaseWarning(r: Restore): string | undefined {
  const refused = r.refusedBy.filter((x) => x.current)
  if (!refused.length) return undefined
  return `no current Xen release restores the output (${refused.map((x) => `${x.host}: ${x.why}`).join('; ')})${r.needs.length ? `; it needs ${r.needs.join('; and ')}` : ''}`
}
