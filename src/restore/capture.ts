// The device state of a v2 stream, caught as the stream is read: a body
// hook (src/v2/reader.ts) that looks at the first EMULATOR_CONTEXT record's
// emulator id and first bytes, for identify's and verify's passes.
import type {BodyHook} from '../v2/reader.js'
import {EmulatorHeader, LibxlRec} from '../v2/libxl/layout.js'
import {modelOfEmulatorContext, STATE_HEAD, type StateModel} from './device-model.js'

export class DeviceStateCatch {
  /** The first EMULATOR_CONTEXT's model; null while none was read. */
  state: StateModel | null = null

  readonly hook: BodyHook = async (rec, r) => {
    if (this.state || rec.layer !== 'libxl' || rec.type !== LibxlRec.EMULATOR_CONTEXT || rec.head.length < EmulatorHeader.size) return
    const id = EmulatorHeader.get(rec.head).emulatorId
    this.state = modelOfEmulatorContext(id, Buffer.from(await r.peek(Math.min(STATE_HEAD, rec.length - rec.head.length))))
  }
}
