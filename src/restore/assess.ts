// Will it restore? From what an image reveals (its stream and version, the
// guest, its container and xl header, the device state's model), what a
// restorer needs and which hosts or toolstacks refuse it, and why. One table
// of conditions (RULES), each naming the restorer function it mirrors; the
// README's "Will it restore?" lists them. Where the image does not tell, the
// answer is "unknown" with the reason, never a guess.
import type {ContainerKind} from '../container/module.js'
import type {DeviceModelKind, StateModel} from './device-model.js'

export interface RestoreFacts {
  stream: 'legacy' | 'libxc' | 'libxl'
  /** A v2 stream's libxc version, as its image header says (null for a legacy stream). */
  libxcVersion: number | null
  /** A replication stream (Remus, COLO). */
  checkpointed: 'remus' | 'colo' | null
  guest: 'pv' | 'hvm' | 'pvh' | null
  /** A PV guest's word size; null when unknown (or HVM). */
  guestWidth: 32 | 64 | null
  /** A legacy stream's saving toolstack's word size; null for a v2 stream. */
  toolstackWidth: 32 | 64 | null
  container: ContainerKind
  /** A libvirt image: its header's version, and the device model binary its domain XML names (`<emulator>`), or null. */
  libvirt?: {version: number; emulator: string | null}
  /** The xl header in front of the stream, and the device model its config asks for (undefined: the config does not say). */
  xl: null | {config: null | {deviceModel?: DeviceModelKind}}
  /**
   * An HVM guest's saved device state: whose it is, or unknown and why.
   * Null when there is none to restore (a PV guest), or when the image
   * was not read as far as it (identify through gzip).
   */
  state: StateModel | null
}

export interface RefusedBy {
  host: string
  why: string
  /** The newest Xen release is among the hosts that refuse it. */
  current?: true
}

export interface Restore {
  /** What restores it, most usual first. */
  by: string[]
  /** The Xen releases whose restorer reads the stream as it is (before any other condition). */
  releases: string
  /** What the restore needs that the image does not give (a config setting, a host feature). */
  needs: string[]
  /** Hosts and toolstacks that refuse it, and why. */
  refusedBy: RefusedBy[]
  /** What the image does not tell, and why. */
  unknown: Array<{what: string; why: string}>
}

/**
 * One condition: what in the image reveals it, the hosts or toolstacks it
 * concerns, the restorer function it mirrors (the README's "Will it
 * restore?" table is made of these), and what it adds for an image.
 */
interface Rule {
  id: string
  condition: string
  hosts: string
  source: string
  apply(f: RestoreFacts, out: Restore): void
}

const TRAD = 'qemu-xen-traditional'
/** Whose toolstack restores the image: libxl's (xl, libvirt) or xenopsd's. */
const xenopsd = (f: RestoreFacts) => f.container === 'xenserver-legacy' || f.container === 'xenserver-structured'

export const RULES: readonly Rule[] = [
  {
    id: 'libxc-stream-version',
    condition: 'a libxc stream of version 3 (what Xen 4.14+ and xst write by default)',
    hosts: 'Xen 4.6-4.13',
    source: 'read_headers() in xc_sr_restore.c: version 2 only up to RELEASE-4.13.x; 2 or 3 from RELEASE-4.14.0 (xg_sr_restore.c)',
    apply(f, out) {
      if (f.stream === 'legacy' || f.libxcVersion !== 3) return
      out.refusedBy.push({host: 'Xen 4.6-4.13', why: 'their restorer reads libxc stream version 2 only ("Invalid Version"); `xst convert --target-xen 4.13` writes version 2'})
    },
  },
  {
    id: 'checkpointed',
    condition: 'a replication stream (Remus, COLO): checkpoints, no END',
    hosts: 'xl restore (all); Xen 4.6+ converting a legacy one',
    source: 'handle_checkpoint() in xg_sr_restore.c ("Found checkpoint in non-checkpointed stream"); convert-legacy-stream reads one image and stops ("todo") at compressed pages',
    apply(f, out) {
      if (!f.checkpointed) return
      if (f.stream === 'legacy') {
        out.refusedBy.push({
          host: "Xen 4.6+ (xl restore through libxl's convert-legacy-stream)",
          why: 'the converter takes the first checkpoint only (the oldest memory), and stops at compressed pages',
        })
      } else out.refusedBy.push({host: 'xl restore', why: 'a checkpointed stream: "Found checkpoint in non-checkpointed stream"'})
      out.needs.push('to be made plain first: `xst convert` writes the last complete checkpoint as a stream xl restore takes')
    },
  },
  {
    id: 'legacy-toolstack-width',
    condition: 'a legacy image from a 32-bit toolstack (its words are 4 bytes)',
    hosts: 'xl restore (behind an xl header) or virsh restore (a libvirt image) on Xen 4.6+ with a 64-bit dom0',
    source: "libxl__convert_legacy_stream() in libxl_convert_callout.c passes --width of libxl's own word size, not the saver's",
    apply(f, out) {
      // Only where libxl would convert it: behind an xl header (xl restore), or in a libvirt image (virsh restore); a bare legacy stream xl cannot read at all.
      if (f.stream !== 'legacy' || f.toolstackWidth !== 32 || (!f.xl && f.container !== 'libvirt')) return
      out.refusedBy.push({
        host: `${f.container === 'libvirt' ? 'virsh' : 'xl'} restore on Xen 4.6+ with a 64-bit dom0`,
        why: "libxl runs convert-legacy-stream with its own word size (64), which misreads a 32-bit toolstack's image",
      })
      out.needs.push('`xst convert` first (it finds the width in the image)')
    },
  },
  {
    id: 'xenopsd-legacy-width',
    condition: 'a XenServer legacy image from a 64-bit toolstack',
    hosts: 'xenopsd',
    source: 'with_conversion_script in xenopsd suspend_image.ml runs convert-legacy-stream with --width 32 (the 32-bit dom0 of old XenServer)',
    apply(f, out) {
      if (f.stream !== 'legacy' || f.container !== 'xenserver-legacy' || f.toolstackWidth !== 64) return
      out.refusedBy.push({host: 'xenopsd', why: "it converts a legacy image with --width 32, which misreads a 64-bit toolstack's image"})
      out.needs.push('`xst convert` first (a structured image with a Libxc section, which xenopsd reads as it is)')
    },
  },
  {
    id: 'no-xl-header',
    condition: 'a v2 stream without an xl save-file header',
    hosts: 'xl restore',
    source: 'create_domain() in xl_vmcontrol.c: "File has wrong magic number - corrupt or for a different tool?"',
    apply(f, out) {
      if (f.stream === 'legacy' || f.container !== 'none' || f.xl) return
      out.refusedBy.push({host: 'xl restore', why: 'it reads xl save files only ("File has wrong magic number")'})
    },
  },
  {
    id: 'no-domain-config',
    condition: 'an xl header without a domain config',
    hosts: 'xl restore',
    source: 'create_domain() in xl_vmcontrol.c: "Config file not specified and none in save file"; a config on the command line is read as xl text',
    apply(f, out) {
      if (!f.xl || f.xl.config) return
      out.needs.push('a domain config on the command line: `xl restore CONFIG FILE` (xl text)')
    },
  },
  {
    id: 'device-model',
    condition: "an HVM guest's device state, by whose it is (qemu-traditional's or upstream QEMU's)",
    hosts: 'Xen 4.21+ (qemu-traditional removed); Xen 4.6-4.20 without it configured; xenopsd of xen-api v24.3.0+',
    source:
      "libxl__domain_build_info_setdefault() takes the device model from the config only (qemu-xen the default since 4.3) and, from 4.21 (commit 19ab8356ab), refuses qemu-traditional; upstream QEMU's qemu_loadvm_state() fails on qemu-traditional's state; xenopsd's Profile refuses qemu-trad and, since xen-api v24.3.0, no longer converts its state (qemu_trad_image.py removed)",
    apply(f, out) {
      if (f.guest !== 'hvm' || !f.state) return
      const asked = f.xl?.config?.deviceModel
      if (f.state.model === 'unknown') {
        out.unknown.push({what: 'device model', why: `${f.state.why}${asked ? `; the xl config asks for ${asked}` : ''}`})
        return
      }
      if (f.state.model === TRAD) {
        const whose = `the device state is qemu-traditional's (${f.state.from})`
        if (xenopsd(f)) {
          out.refusedBy.push({
            host: 'xenopsd of xen-api v24.3.0 and later (December 2023)',
            why: `${whose}; xenopsd refuses the qemu-trad profile and no longer converts that state for qemu-upstream-compat`,
            current: true,
          })
          out.needs.push('a XenServer / XCP-ng whose xenopsd still converts qemu-traditional state (xen-api before v24.3.0)')
          return
        }
        out.refusedBy.push({host: 'Xen 4.21 and later', why: `${whose}, and Xen 4.21 removed qemu-traditional ("unknown device model version")`, current: true})
        if (f.container === 'libvirt') {
          if (!namesQemuDm(f.libvirt?.emulator))
            out.needs.push(
              `on Xen 4.6-4.20: the domain XML's <emulator> naming qemu-traditional's qemu-dm, installed on the host (libvirt asks it with -help which it is; ${f.libvirt?.emulator ? `the XML names ${f.libvirt.emulator}` : 'the XML names none, so libxl starts qemu-xen'})`,
            )
        } else if (asked !== TRAD)
          out.needs.push(
            `on Xen 4.6-4.20: device_model_version="${TRAD}" in the domain config, with qemu-traditional installed (built with --enable-qemu-traditional from 4.20): ${asked ? 'the xl config asks for qemu-xen' : 'libxl starts qemu-xen by default'}, which cannot load this state`,
          )
      } else if (f.container === 'libvirt' && namesQemuDm(f.libvirt?.emulator)) {
        out.refusedBy.push({
          host: 'virsh restore with the domain XML in the image',
          why: `its <emulator> (${f.libvirt!.emulator}) is qemu-traditional's qemu-dm by its name, but the device state is upstream QEMU's (${f.state.from})`,
        })
      } else if (asked === TRAD) {
        out.refusedBy.push({
          host: 'xl restore with the config in its header',
          why: `the config asks for ${TRAD}, but the device state is upstream QEMU's (${f.state.from}); and Xen 4.21+ refuses ${TRAD} outright`,
        })
        out.needs.push('a config on the command line that leaves device_model_version unset (or says "qemu-xen")')
      }
    },
  },
  {
    id: 'pv32',
    condition: 'a 32-bit PV guest',
    hosts:
      'Xen 4.16+ built without CONFIG_PV32 (its default outside PV-shim builds); any Xen with 32-bit PV off at boot (pv=no-32; shadow stacks from 4.14, CET from 4.17, FRED from 4.21: on by default on AMD from 4.22)',
    source: 'handle_x86_pv_info() in xg_sr_restore_x86_pv.c: "Failed to update d… address size to 32" (switch_compat() refuses without opt_pv32)',
    apply(f, out) {
      if (f.guest !== 'pv' || f.guestWidth !== 32) return
      out.refusedBy.push({
        host: 'Xen 4.16 and later built without CONFIG_PV32 (the default), or with 32-bit PV off at boot (CET shadow stacks or IBT from 4.17, FRED from 4.21)',
        why: 'a 32-bit PV guest: the restore fails in handle_x86_pv_info() ("Failed to update d… address size to 32")',
      })
      out.needs.push('a host with 32-bit PV on: `xl info` lists xen-3.0-x86_32p in xen_caps (SUPPORT.md: supported, not security supported, without the PV shim)')
    },
  },
  {
    id: 'libvirt-save-version',
    condition: 'a libvirt image of header version 2 (a v2 stream)',
    hosts: 'libvirt built against a libxl without LIBXL_HAVE_SRM_V2 (Xen < 4.6)',
    source: 'libxlDomainSaveImageOpen() in libvirt: "image version is not supported (2 > 1)"',
    apply(f, out) {
      if (f.container !== 'libvirt' || f.libvirt?.version !== 2) return
      out.refusedBy.push({host: 'libvirt built against Xen < 4.6 (LIBXL_SAVE_VERSION 1)', why: 'image version 2 is newer than it reads'})
    },
  },
]

/** The restore facts of an image: `by` as the container says, the rest from the rules. */
export function assessRestore(f: RestoreFacts, by: string[]): Restore {
  const out: Restore = {by: [...by], releases: releasesOf(f), needs: [], refusedBy: [], unknown: []}
  for (const rule of RULES) rule.apply(f, out)
  return out
}

/** Whether a libvirt `<emulator>` path names qemu-traditional's binary, qemu-dm (libvirt itself asks the binary; the name is what the image shows). */
function namesQemuDm(path: string | null | undefined): boolean {
  return path !== undefined && path !== null && /(^|\/)qemu-dm$/.test(path)
}

/** The Xen releases whose restorer reads the stream (read_headers(); a legacy stream through libxl's converter from 4.6, on x86). */
function releasesOf(f: RestoreFacts): string {
  if (f.stream === 'legacy') return 'Xen <= 4.5; Xen 4.6 and later through their legacy converter (x86)'
  if (f.libxcVersion === 3) return 'Xen 4.14 and later'
  if (f.libxcVersion === 2) return 'Xen 4.6 and later'
  return 'unknown (no libxc stream version read)'
}

/** The "restore:" block of a command's text output: what restores it, what it needs, what refuses it and why, what is unknown. */
export function restoreLines(r: Restore, indent = '  '): string[] {
  const L: string[] = []
  const pad = (label: string) => `${indent}  ${label.padEnd(9)} `
  L.push(`${indent}restore:`)
  L.push(pad('by') + (r.by.length ? r.by.join('; or ') : 'nothing known'))
  L.push(pad('releases') + r.releases)
  for (const n of r.needs) L.push(pad('needs') + n)
  for (const x of r.refusedBy) L.push(pad('refused') + `${x.host}: ${x.why}`)
  for (const u of r.unknown) L.push(pad('unknown') + `${u.what}: ${u.why}`)
  return L
}
