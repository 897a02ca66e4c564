// What a container is, for reports: one JSON-able summary every command
// shares (inspect-legacy, verify, convert, identify) and the few words the
// text outputs use.
import {CONTAINER_LABELS, type Container, type ContainerKind, type OpenedImage} from './open.js'
import type {XenopsRecord} from './xenserver.js'

export interface SectionLine {
  name: string
  /** Offset of the section header (decompressed). */
  offset: number
  /** Body bytes of a sized section; null for stream sections and End_of_image. */
  length: number | null
}

export interface ContainerSummary {
  kind: ContainerKind
  label: string
  /** The input was gzip-compressed (offsets are into the decompressed image). */
  compressed: boolean
  libvirt?: {version: number; claims: 'legacy' | 'libxl'; xmlLength: number; domainName: string | null}
  xend?: {configLength: number; domainName: string | null; memoryMiB: number | null; vcpus: number | null; imageKind: string | null}
  /** vmName, vmUuid: the VM's, from the VM record in vm_str; null when it does not give them plainly. */
  xenops?: {time: string; wordSize: number; vmStrLength: number | null; xsSubtreeEntries: number | null; unknownFields: string[]; vmName: string | null; vmUuid: string | null}
  /** Structured XenServer image: its sections as far as they were read. */
  sections?: SectionLine[]
  /**
   * Structured XenServer image: the section reading stopped at (a Demu
   * section, whose end xst cannot find); it and everything after it were
   * not read. Absent when the sections were read to End_of_image.
   */
  stoppedAt?: {section: string; offset: number}
  /** Bytes after End_of_image (a VDI may hold more than the image): not part of it. */
  afterEnd?: number
}

export function containerSummary(img: Pick<OpenedImage, 'container' | 'gzip'>): ContainerSummary {
  const c = img.container
  const s: ContainerSummary = {kind: c.kind, label: CONTAINER_LABELS[c.kind], compressed: img.gzip !== undefined}
  if (c.kind === 'libvirt') {
    const h = c.header
    s.libvirt = {version: h.version, claims: h.claims, xmlLength: h.xmlLength, domainName: h.domainName ?? null}
  } else if (c.kind === 'xend') {
    const x = c.header.config
    s.xend = {configLength: c.header.configLength, domainName: x.name ?? null, memoryMiB: x.memoryMiB ?? null, vcpus: x.vcpus ?? null, imageKind: x.imageKind ?? null}
  } else if (c.kind === 'xenserver-structured') {
    s.sections = []
  }
  return s
}

export function xenopsSummary(r: XenopsRecord): NonNullable<ContainerSummary['xenops']> {
  return {time: r.time, wordSize: r.wordSize, vmStrLength: r.vmStrLength ?? null, xsSubtreeEntries: r.xsSubtreeEntries ?? null, unknownFields: r.unknownFields, vmName: r.vmName, vmUuid: r.vmUuid}
}

/** A few words: "gzip-compressed libvirt libxl-driver save image (version 1)"; '' for a bare uncompressed stream. */
export function containerWords(s: ContainerSummary): string {
  const parts: string[] = []
  if (s.kind !== 'none') parts.push(s.label + (s.libvirt ? ` (version ${s.libvirt.version})` : ''))
  if (!s.compressed) return parts.join('')
  return parts.length ? `gzip-compressed ${parts[0]}` : 'gzip-compressed'
}

/** The domain name the container gives, when it gives one. */
export function containerDomainName(c: Container): string | undefined {
  if (c.kind === 'libvirt') return c.header.domainName
  if (c.kind === 'xend') return c.header.config.name
  return undefined
}

/** Report lines for the container, for inspect-legacy's text output (label column of 20). */
export function renderContainer(s: ContainerSummary): string[] {
  const pad = (label: string) => ('  ' + label).padEnd(20)
  const L: string[] = []
  if (s.kind === 'none' && !s.compressed) return L
  L.push(pad('container') + (s.kind === 'none' ? 'none' : s.label) + (s.compressed ? ' (gzip-compressed; offsets are into the decompressed image)' : ''))
  if (s.libvirt) {
    const l = s.libvirt
    L.push(pad('libvirt header') + `version ${l.version} (claims a ${l.claims} stream), domain XML ${l.xmlLength} bytes${l.domainName ? `, domain "${l.domainName}"` : ''}`)
  }
  if (s.xend) {
    const x = s.xend
    const facts = [`SXP config ${x.configLength} bytes`]
    if (x.domainName) facts.push(`domain "${x.domainName}"`)
    if (x.memoryMiB !== null) facts.push(`memory ${x.memoryMiB} MiB`)
    if (x.vcpus !== null) facts.push(`${x.vcpus} vcpus`)
    if (x.imageKind) facts.push(`image ${x.imageKind}`)
    L.push(pad('xend config') + facts.join(', '))
  }
  if (s.xenops) {
    const x = s.xenops
    L.push(pad('xenops record') + `saved ${x.time}, ${x.wordSize}-bit xenopsd${x.vmStrLength !== null ? `, vm_str ${x.vmStrLength} bytes` : ''}${x.xsSubtreeEntries !== null ? `, ${x.xsSubtreeEntries} xenstore entries` : ''}`)
    if (x.vmName !== null || x.vmUuid !== null) L.push(pad('VM') + [x.vmName !== null ? `"${x.vmName}"` : undefined, x.vmUuid ?? undefined].filter(Boolean).join(', '))
  }
  if (s.sections) L.push(pad('sections') + (s.sections.map(sectionWords).join(', ') || 'none read'))
  if (s.stoppedAt) L.push(pad('not read') + `the ${s.stoppedAt.section} section at byte ${s.stoppedAt.offset} and everything after it (its end cannot be found)`)
  if (s.afterEnd) L.push(pad('after the image') + `${s.afterEnd} bytes after End_of_image (not part of the image)`)
  return L
}

export function sectionWords(s: SectionLine): string {
  return s.length === null ? `${s.name}@${s.offset}` : `${s.name}@${s.offset}(${s.length})`
}

/**
 * When the container says something about the guest that the stream
 * contradicts (an xend config's `(image (hvm ...))` over a PV stream): a
 * warning. The stream decides; the config is only a claim.
 */
export function guestClaimWarning(c: Container, guest: 'pv' | 'hvm'): string | undefined {
  if (c.kind !== 'xend') return undefined
  const kind = c.header.config.imageKind
  const claims = kind === 'hvm' ? 'hvm' : kind === 'linux' ? 'pv' : undefined
  if (!claims || claims === guest) return undefined
  return `the xend config says the guest is ${claims.toUpperCase()} (image ${kind}), but the stream is a${guest === 'hvm' ? 'n HVM' : ' PV'} image: the stream is what is read`
}
