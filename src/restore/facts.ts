// The restore facts of a v2 stream, from what the verifier found in it
// (src/v2/verify/summary.ts): for verify, and for convert's output.
import type {ContainerKind, ContainerSummary} from '../container/module.js'
import {containerModule} from '../container/registry.js'
import type {ByteReader} from '../io/reader.js'
import type {VerifySummary} from '../v2/verify/summary.js'
import {assessRestore, type Restore, type RestoreFacts} from './assess.js'
import {sectionState} from './evidence.js'
import {modelOfEmulatorId, type StateModel} from './device-model.js'

/** `state`: the device state caught as the stream was read (null: none in it; undefined: not looked for). */
export function v2RestoreFacts(s: VerifySummary, container: ContainerKind, state: StateModel | null | undefined, libvirt?: {version: number; emulator: string | null}): RestoreFacts | undefined {
  // Not caught from the bytes: what the first EMULATOR_CONTEXT's emulator id says, when it names a model.
  const byId = s.emulator.firstId !== null ? modelOfEmulatorId(s.emulator.firstId) : undefined
  if (!state && byId) state = {model: byId, from: `its EMULATOR_CONTEXT record names ${byId} (emulator id ${s.emulator.firstId})`}
  if (s.format !== 'libxc' && s.format !== 'libxl') return undefined
  const guest = s.guest
  const xl = s.xlHeader
  return {
    stream: s.format,
    libxcVersion: s.version.libxc,
    checkpointed: s.checkpoints?.kind ?? null,
    guest,
    guestWidth: s.guestWidth,
    toolstackWidth: null,
    container,
    libvirt,
    xl: xl ? {config: xl.config ? {deviceModel: xl.config.deviceModel ?? undefined} : null} : null,
    state: guest !== 'hvm' ? null : state === undefined ? {model: 'unknown', why: 'the device state was not looked at'} : (state ?? noState(s.format)),
  }
}

/** Why a stream read whole gave no device state. */
function noState(format: 'libxc' | 'libxl'): StateModel {
  return {model: 'unknown', why: format === 'libxc' ? 'a bare libxc stream carries no device state: the toolstack keeps it apart' : 'the stream holds no device state (no EMULATOR_CONTEXT record)'}
}

/**
 * Will a stream `verify` found valid restore: the facts of its report, the
 * device state `caught` as it was read (or, for a XenServer image, its
 * device-model section read back from `reader`), assessed with what its
 * container says restores it.
 */
export async function verifiedRestore(summary: VerifySummary, container: ContainerSummary, caught: StateModel | null, reader: ByteReader): Promise<Restore | undefined> {
  const lv = container.libvirt
  const facts = v2RestoreFacts(summary, container.kind, caught ?? (await sectionState(reader, container)) ?? null, lv ? {version: lv.version, emulator: lv.emulator} : undefined)
  return facts && assessRestore(facts, containerModule(container.kind).restoredBy(facts.stream, summary.xlHeader !== null))
}
