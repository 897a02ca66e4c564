// Text rendering of a conversion summary.
import type {ConvertSummary} from './convert.js'
import {plural} from '../text.js'
import {containerWords} from '../container/describe.js'
import type {FamilyResult} from './families.js'
import {CHECKPOINT_KIND_LABELS} from './checkpointed.js'

export interface ContainerFacts {
  container: FamilyResult['container']
  notes: string[]
  written: {bytes: number; gzip: boolean}
}

export function renderConvert(s: ConvertSummary, input: string, output: string, verified: string | null, verbose = false, c?: ContainerFacts): string[] {
  const L: string[] = []
  const pad = (label: string) => ('  ' + label).padEnd(12)
  const xc = Object.values(s.records.libxc).reduce((a, b) => a + b, 0)
  const xl = Object.values(s.records.libxl).reduce((a, b) => a + b, 0)
  const copied = s.input.toolstackWidth === null
  // Streams are named by the versions in their headers, as verify and identify name them.
  const stream = `${s.output.format === 'libxl' ? 'libxl v2 / ' : ''}libxc v${s.output.libxcVersion} stream`
  const verb = copied ? (s.checkpoint ? 'made plain' : 'copied') : 'converted'
  L.push(`${verb} ${input} -> ${output} (${stream}${copied ? '' : ', legacy-converted'})`)
  const inWords = c ? containerWords(c.container.input) : ''
  if (c && (inWords || c.container.output.family !== 'bare')) L.push(pad('container') + `${inWords || 'none'} -> ${c.container.output.label}${c.written.gzip ? ', gzip-compressed' : ''}`)
  const domain = s.input.domainName ?? (c?.container.input.libvirt?.domainName || c?.container.input.xend?.domainName || c?.container.input.xenops?.vmName) ?? null
  L.push(
    pad('input') +
      (copied ? `${stream}, ${s.input.guest.toUpperCase()}` : `legacy ${s.input.guest.toUpperCase()}, ${s.input.toolstackWidth}-bit toolstack`) +
      `, ${s.input.xlHeader ? 'xl header' : 'no xl header'}${domain ? ` (domain "${domain}")` : ''}, ${s.input.bytes} bytes`,
  )
  const total = c && c.written.bytes !== s.output.bytes ? ` (${c.written.bytes} bytes written${c.written.gzip ? ', compressed' : ' with the container'})` : ''
  L.push(pad('output') + `${s.output.bytes} bytes: ${xc} libxc records${s.output.format === 'libxl' ? `, ${xl} libxl records` : ''}${total}`)
  if (verbose) {
    L.push(
      pad('libxc') +
        Object.entries(s.records.libxc)
          .map(([n, c]) => `${n} ${c}`)
          .join(', '),
    )
    if (s.output.format === 'libxl')
      L.push(
        pad('libxl') +
          Object.entries(s.records.libxl)
            .map(([n, c]) => `${n} ${c}`)
            .join(', '),
      )
  }
  if (s.checkpoint) {
    const {written, complete, kind} = s.checkpoint
    L.push(
      '  checkpoint ' +
        `${written} of ${complete} complete (${CHECKPOINT_KIND_LABELS[kind]} stream)${written === complete ? ', the last' : ''}${copied ? '' : '; the output is a plain stream of its state'}`,
    )
  }
  L.push(pad('pages') + `${s.pages.count} (${s.pages.withData} with data) in ${plural(s.pages.batches, 'PAGE_DATA record')}; ${s.pages.dropped} unmapped entries dropped`)
  L.push(pad('vcpus') + (s.vcpus.count ? `${s.vcpus.count} (${s.vcpus.ids.join(',')})` : 'none recorded'))
  if (s.qemu) L.push(pad('qemu') + `${/^[\x20-\x7e]*$/.test(s.qemu.signature) ? s.qemu.signature : JSON.stringify(s.qemu.signature)}, ${s.qemu.bytes} bytes`)
  if (verified !== null) L.push(pad('verify') + verified)
  for (const n of c?.notes ?? []) L.push(pad('note') + n)
  return L
}
