// Which device model (qemu) the saved device state of an HVM guest belongs
// to, from what the image itself says: the container (xend and XenServer's
// legacy images were only ever saved by qemu-traditional's qemu-dm), the
// emulator id of a libxl EMULATOR_CONTEXT record, or the state's own bytes
// (a QEMU savevm stream, "QEVM"). The xl config's device_model_version is
// not evidence of the state: it is what libxl will start to load it into.
import {EmulatorId} from '../v2/libxl/layout.js'

export type DeviceModelKind = 'qemu-xen-traditional' | 'qemu-xen'

/** The device model of the state, and how that is known; or unknown, and why. */
export type StateModel = {model: DeviceModelKind; from: string} | {model: 'unknown'; why: string}

/** "QEVM": a QEMU savevm stream (both device models write one). */
const QEVM = 0x5145564d
/** The savevm section that names the machine: upstream QEMU writes it first (savevm.c, QEMU_VM_CONFIGURATION); qemu-traditional has none. */
const QEMU_VM_CONFIGURATION = 0x07

/** The device model a libxl EMULATOR_CONTEXT record's emulator id names (libxl_sr_emulator_id), if it names one. */
export function modelOfEmulatorId(id: number): DeviceModelKind | undefined {
  if (id === EmulatorId.QEMU_TRADITIONAL) return 'qemu-xen-traditional'
  if (id === EmulatorId.QEMU_UPSTREAM) return 'qemu-xen'
  return undefined
}

/** Savevm section types (both device models): a live section's start, a device's whole state. */
const QEMU_VM_SECTION_START = 0x01
const QEMU_VM_SECTION_FULL = 0x04

/**
 * Section names only qemu-traditional registers (its hw/xen_platform.c,
 * hw/piix4acpi.c; upstream QEMU has none of them): found after a section
 * header, they settle it.
 */
const TRADITIONAL_ONLY = ['platform_fixed_ioport', 'piix4acpi', 'gpe', 'pci_devfn']

/**
 * The device model whose state `head` (the first bytes of a device-model
 * record's state, a QEMU savevm stream: "QEVM", version 3 from both) is.
 * Only what the bytes prove:
 * - upstream QEMU: a configuration section naming the machine first, or a
 *   section named by a qdev path ("0000:00:01.3/piix4_pm": upstream names
 *   a PCI device's state after its bus address);
 * - qemu-traditional: a live "ram" section first (it saves with the full
 *   savevm of a migration, where xen-save-devices-state writes device
 *   sections only), or a section name only it registers.
 * Anything else is "unknown", with the reason.
 */
export function modelOfState(head: Buffer): StateModel {
  if (head.length < 8 || head.readUInt32BE(0) !== QEVM) return {model: 'unknown', why: 'the device state is not a QEMU savevm stream (no "QEVM" at its start)'}
  const at = 8
  if (head.length > at + 5 && head[at] === QEMU_VM_CONFIGURATION) {
    const len = head.readUInt32BE(at + 1)
    const name = head.subarray(at + 5, at + 5 + Math.min(len, 64)).toString('latin1')
    return {model: 'qemu-xen', from: `the device state starts with upstream QEMU's configuration section (machine "${name}")`}
  }
  const names = sectionNames(head)
  if (head[at] === QEMU_VM_SECTION_START && names[0] === 'ram') return {model: 'qemu-xen-traditional', from: 'the device state starts with a live "ram" section, as only qemu-traditional saves it'}
  const trad = names.find((n) => TRADITIONAL_ONLY.includes(n))
  if (trad) return {model: 'qemu-xen-traditional', from: `the device state has a "${trad}" section, which only qemu-traditional registers`}
  const path = names.find((n) => /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\//.test(n))
  if (path) return {model: 'qemu-xen', from: `the device state names a device by its PCI address ("${path}"), as only upstream QEMU does`}
  return {
    model: 'unknown',
    why: 'the device state (a QEMU savevm stream) shows none of the marks that tell qemu-traditional\'s from upstream QEMU\'s (a first "ram" section, a section only one of them registers, a PCI address in a section name)',
  }
}

/**
 * The names of the sections whose headers appear in `head`: a section
 * start or full section (type, be32 id, u8 length, the name, be32 instance,
 * be32 version). Device bodies are not self-describing, so this is a scan
 * for well-formed headers, not a walk: a name is taken only when its
 * length, characters and the words after it fit.
 */
function sectionNames(head: Buffer): string[] {
  const names: string[] = []
  for (let i = 8; i + 6 < head.length; i++) {
    const type = head[i]
    if (type !== QEMU_VM_SECTION_START && type !== QEMU_VM_SECTION_FULL) continue
    const len = head[i + 5]
    if (len < 2 || len > 64 || i + 6 + len + 8 > head.length) continue
    const name = head.subarray(i + 6, i + 6 + len).toString('latin1')
    if (!/^[A-Za-z0-9_.:/-]+$/.test(name)) continue
    // The instance and version words after the name: small numbers in any real header.
    if (head.readUInt32BE(i + 6 + len) > 0xffff || head.readUInt32BE(i + 10 + len) > 0xff) continue
    names.push(name)
    i += 5 + len
  }
  return names
}

/** How much of a device-model record's state is looked at: the first sections' headers (upstream QEMU names its devices' sections early). */
export const STATE_HEAD = 16 << 10

/** The model of an EMULATOR_CONTEXT record's state: its emulator id when that names one, else its first bytes. */
export function modelOfEmulatorContext(emulatorId: number, head: Buffer): StateModel {
  const byId = modelOfEmulatorId(emulatorId)
  if (byId) return {model: byId, from: `its EMULATOR_CONTEXT record names ${byId} (emulator id ${emulatorId})`}
  const state = modelOfState(head)
  return state.model === 'unknown' ? {model: 'unknown', why: `its EMULATOR_CONTEXT record says emulator id ${emulatorId} (unknown), and ${state.why.replace(/^the device state/, 'the state')}`} : state
}
