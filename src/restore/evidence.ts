// Where an image says whose its device state is, beyond the stream itself:
// its container (xend and XenServer's legacy images were only ever saved by
// qemu-traditional), and a XenServer structured image's device-model
// section. Shared by identify, verify and convert.
import type {ContainerKind, ContainerSummary} from '../container/module.js'
import {SectionHeader} from '../container/xenserver.js'
import type {ByteReader} from '../io/reader.js'
import {modelOfState, STATE_HEAD, type StateModel} from './device-model.js'

/**
 * The device state's model where the container alone says it: xend and
 * XenServer's legacy images were saved by qemu-traditional's qemu-dm, the
 * only device model either ran.
 */
export function containerState(kind: ContainerKind, guest: 'pv' | 'hvm' | 'pvh' | null): StateModel | undefined {
  if (guest !== 'hvm') return undefined
  if (kind === 'xend') return {model: 'qemu-xen-traditional', from: 'an xend (xm save) image: xend ran only qemu-traditional (qemu-dm)'}
  if (kind === 'xenserver-legacy') return {model: 'qemu-xen-traditional', from: 'a XenServer legacy image: XenServer <= 6.5 ran only qemu-traditional (qemu-dm)'}
  return undefined
}

/**
 * A XenServer structured image's device state, from the first bytes of its
 * Qemu_trad or Qemu_xen section (XenServer 8 names upstream QEMU's state
 * Qemu_trad too: only the bytes tell). Undefined when there is none, or the
 * input cannot be read again.
 */
export async function sectionState(reader: ByteReader, summary: ContainerSummary): Promise<StateModel | undefined> {
  const section = summary.sections?.find((x) => x.name === 'Qemu_trad' || x.name === 'Qemu_xen')
  if (!section || !reader.seekable) return undefined
  reader.seekTo(section.offset + SectionHeader.size)
  const state = modelOfState(Buffer.from(await reader.peek(Math.min(STATE_HEAD, section.length ?? STATE_HEAD))))
  return state.model === 'unknown' ? {model: 'unknown', why: `its ${section.name} section: ${state.why}`} : {model: state.model, from: `its ${section.name} section: ${state.from}`}
}
