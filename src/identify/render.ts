// One line per image for `xst identify`, as file(1) gives one per file.
import {foreignFacts} from '../foreign/recognise.js'
import type {Identified} from './identify.js'

export function identifyLine(x: Identified): string {
  // As file(1): "DIR: directory", "LINK: broken symbolic link to TARGET".
  if (x.verdict === 'directory') return `${x.input.path}: directory`
  if (x.verdict === 'broken symlink') return `${x.input.path}: ${x.note}`
  const parts: string[] = []
  const c = x.container
  if (c?.compressed) parts.push('gzip-compressed')
  if (c && c.kind !== 'none') parts.push(c.label + (c.libvirt ? ` version ${c.libvirt.version}` : ''))
  if (x.foreign) parts.push(x.foreign.label, ...foreignFacts(x.foreign))
  if (x.xlHeader) parts.push('xl save file')
  if (x.stream) {
    const s = x.stream
    if (s.format === 'legacy') {
      if (s.checkpointed) parts.push(`checkpointed (Remus) legacy (Xen <= 4.5) stream`, `${s.checkpointed.complete} complete checkpoint${s.checkpointed.complete === 1 ? '' : 's'}`)
      else parts.push('legacy (Xen <= 4.5) stream')
    } else {
      const cp = s.checkpointed ? `checkpointed (${s.checkpointed.kind === 'colo' ? 'COLO' : 'Remus'}) ` : ''
      if (s.format === 'libxl') parts.push(`${cp}libxl v${s.libxlVersion ?? '?'} stream${s.libxcVersion !== null ? ` (libxc v${s.libxcVersion})` : ''}`)
      else parts.push(`${cp}libxc v${s.libxcVersion ?? '?'} stream`)
      if (s.checkpointed) parts.push(`${s.checkpointed.complete} complete checkpoint${s.checkpointed.complete === 1 ? '' : 's'}`)
    }
  }
  if (x.guest) parts.push(`${x.guest.toUpperCase()}${x.guestWidth ? ` ${x.guestWidth}-bit` : ''} guest`)
  if (x.toolstackWidth) parts.push(`${x.toolstackWidth}-bit toolstack`)
  if (x.domainName) parts.push(`domain "${x.domainName}"`)
  if (x.input.size !== null) parts.push(`${x.input.size} bytes`)
  let verdict: string = x.verdict
  if (x.verdict === 'damaged' && x.error) verdict = `damaged: ${x.error.message}`
  // Not said again: no legacy layout fits (the usual case), or what the file is instead (said before the verdict).
  else if (x.verdict === 'not a Xen image' && x.error && x.error.code !== 'undetectable' && !x.foreign) verdict = `not a Xen image (${x.error.message})`
  if (x.note) verdict += ` (${x.note})`
  // A v2 stream's line names the releases that read it; a legacy one's restorers say it already.
  if (x.restore.by.length) verdict += `; restored by ${x.restore.by.join(', or ')}${x.stream && x.stream.format !== 'legacy' ? ` (${x.restore.releases})` : ''}`
  return `${x.input.path}: ${parts.length ? parts.join(', ') + ': ' : ''}${verdict}`
}

/**
 * The restore block under an image's line: what the restore needs, who
 * refuses it and why, what the image does not tell (what restores it is on
 * the line). Nothing when there is nothing to add.
 */
export function identifyRestoreLines(x: Identified): string[] {
  const r = x.restore
  if (!r.needs.length && !r.refusedBy.length && !r.unknown.length) return []
  const pad = (label: string) => `    ${label.padEnd(8)} `
  return ['  restore:', ...r.needs.map((n) => pad('needs') + n), ...r.refusedBy.map((x) => pad('refused') + `${x.host}: ${x.why}`), ...r.unknown.map((u) => pad('unknown') + `${u.what}: ${u.why}`)]
}
