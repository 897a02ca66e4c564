// The restore facts of a v2 stream, from what the verifier found in it
// (src/v2/verify/summary.ts): for verify, and for convert's output.
import type {ContainerKind} from '../container/module.js'
import type {VerifySummary} from '../v2/verify/summary.js'
import type {RestoreFacts} from './assess.js'
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
