// Text rendering of a conversion summary.
import type {ConvertSummary} from './convert.js'
import {plural} from '../text.js'

export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]}`
}

export function renderConvert(s: ConvertSummary, input: string, output: string, verified: string | null, verbose = false): string[] {
  const L: string[] = []
  const pad = (label: string) => ('  ' + label).padEnd(12)
  const xc = Object.values(s.records.libxc).reduce((a, b) => a + b, 0)
  const xl = Object.values(s.records.libxl).reduce((a, b) => a + b, 0)
  L.push(`converted ${input} -> ${output} (${s.output.format} v2 stream, legacy-converted)`)
  L.push(
    pad('input') +
      `legacy ${s.input.guest.toUpperCase()}, ${s.input.toolstackWidth}-bit toolstack, ${s.input.xlHeader ? `xl header${s.input.domainName ? ` (domain "${s.input.domainName}")` : ''}` : 'no xl header'}, ${s.input.bytes} bytes`,
  )
  L.push(pad('output') + `${s.output.bytes} bytes: ${xc} libxc records${s.output.format === 'libxl' ? `, ${xl} libxl records` : ''}`)
  if (verbose) {
    L.push(pad('libxc') + Object.entries(s.records.libxc).map(([n, c]) => `${n} ${c}`).join(', '))
    if (s.output.format === 'libxl') L.push(pad('libxl') + Object.entries(s.records.libxl).map(([n, c]) => `${n} ${c}`).join(', '))
  }
  L.push(pad('pages') + `${s.pages.total} (${s.pages.withData} with data) in ${plural(s.pages.batches, 'PAGE_DATA record')}; ${s.pages.dropped} unmapped entries dropped`)
  L.push(pad('vcpus') + (s.vcpus.length ? `${s.vcpus.length} (${s.vcpus.join(',')})` : 'none recorded'))
  if (s.qemu) L.push(pad('qemu') + `${s.qemu.signature}, ${s.qemu.bytes} bytes`)
  if (verified !== null) L.push(pad('verify') + verified)
  return L
}
