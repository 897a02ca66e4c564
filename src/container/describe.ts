// What a container is, for reports: one JSON-able summary every command
// shares (inspect-legacy, verify, convert, identify, dump-core) and the few
// words the text outputs use. Each container module says its own part
// (ContainerModule's describe, domainName, words, lines, guestClaim).
import type {Container, ContainerModule, ContainerSummary, OpenedImage} from './module.js'
import {containerModule} from './registry.js'

export type {ContainerSummary, SectionLine} from './module.js'
export {sectionWords, xenopsSummary} from './sections.js'

export function containerSummary(img: Pick<OpenedImage, 'container' | 'gzip'>): ContainerSummary {
  const c = img.container
  const m: ContainerModule<Container> = containerModule(c.kind)
  return {kind: c.kind, label: m.label, compressed: img.gzip !== undefined, ...m.describe(c)}
}

/** A few words: "gzip-compressed libvirt libxl-driver save image (version 1)"; '' for a bare uncompressed stream. */
export function containerWords(s: ContainerSummary): string {
  const parts: string[] = []
  if (s.kind !== 'none') parts.push(containerModule(s.kind).words(s))
  if (!s.compressed) return parts.join('')
  return parts.length ? `gzip-compressed ${parts[0]}` : 'gzip-compressed'
}

/** The domain name the container gives, when it gives one (a XenServer image's once its Xenops record is read). */
export function containerDomainName(s: ContainerSummary): string | null {
  return containerModule(s.kind).domainName(s)
}

/** Report lines for the container, for inspect-legacy's text output (label column of 20). */
export function renderContainer(s: ContainerSummary): string[] {
  const pad = (label: string) => ('  ' + label).padEnd(20)
  const L: string[] = []
  if (s.kind === 'none' && !s.compressed) return L
  L.push(pad('container') + (s.kind === 'none' ? 'none' : s.label) + (s.compressed ? ' (gzip-compressed; offsets are into the decompressed image)' : ''))
  L.push(...containerModule(s.kind).lines(s, pad))
  return L
}

/**
 * When the container says something about the guest that the stream
 * contradicts (an xend config's `(image (hvm ...))` over a PV stream): a
 * warning. The stream decides; the container is only a claim.
 */
export function guestClaimWarning(c: Container, guest: 'pv' | 'hvm'): string | undefined {
  return containerModule(c.kind).guestClaim(c, guest)
}
