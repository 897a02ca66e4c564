// Text rendering of a dump's summary.
import {containerWords} from '../container/describe.js'
import {formatBytes, hex, plural, ranges} from '../text.js'
import type {DumpSummary} from './job.js'
import type {ScanInput} from './scan.js'

const pad = (label: string) => ('  ' + label).padEnd(12) + (label.length > 9 ? ' ' : '')

/** The image in a few words; `domain` is the container's name for it, when the xl header gives none. */
export function describeInput(s: ScanInput, domain?: string | null): string {
  // Named by the versions in its headers, as verify and identify name it.
  const libxc = `libxc v${s.libxcVersion ?? '?'}`
  const what = s.kind === 'legacy' ? 'legacy' : s.kind === 'libxl' ? `libxl v${s.libxlVersion ?? '?'} / ${libxc}` : libxc
  const guest = s.guest === 'pv' ? `PV${s.guestWidth ? ` (${s.guestWidth}-bit guest)` : ''}` : 'HVM'
  const name = s.domainName ?? domain
  const xl = s.xlHeader ? `, xl header${name ? ` (domain "${name}")` : ''}` : name ? `, domain "${name}"` : ''
  return `${what} ${guest} image${xl}`
}

/** A PV dump's p2m: the ELF's gmfn = pfn, and the guest's own p2m pages. */
function p2mLine(p: NonNullable<DumpSummary['p2m']>, elf: boolean): string {
  const gmfn = elf ? 'gmfn = pfn (the saved page tables hold pfns, the machine frames are not in the image); ' : ''
  if (p.pages === 0) return `${gmfn}the p2m frames the image names are none of its pages: nothing to rewrite`
  const n = plural(p.pages, 'page')
  return (
    gmfn +
    (p.rewritten
      ? `the guest's p2m pages (${n}) rewritten to the identity, as the restorer does (--keep-p2m keeps them)`
      : `the guest's p2m pages (${n}) kept as saved (--keep-p2m), holding the source host's machine frames`)
  )
}

export function renderDump(s: DumpSummary): string[] {
  const L: string[] = []
  const format = s.output.format === 'elf' ? 'ELF xen dump-core' : s.output.format === 'vmcore' ? 'ELF kdump-style core' : 'raw, page N at byte N x 4096'
  L.push(`dumped ${s.input.path} -> ${s.output.path} (${format})`)
  // As convert names it: only when there is a container or gzip around the stream.
  const c = s.input.container
  const words = containerWords(c)
  if (words) L.push(pad('container') + words + (c.afterEnd ? `; ${c.afterEnd} bytes after End_of_image (not part of the image)` : ''))
  L.push(pad('input') + `${describeInput(s.input, c.libvirt?.domainName ?? c.xend?.domainName ?? c.xenops?.vmName)}, ${s.input.bytes} bytes`)
  const cp = s.checkpoint
  if (cp)
    L.push(pad('checkpoint') + `${cp.dumped} of ${cp.complete} complete (${cp.kind === 'colo' ? 'COLO' : 'Remus'})${cp.dumped === cp.complete ? ', the last, as the receiver fails over from it' : ''}`)
  const range = s.pages.pfnRange ? ` (pfns ${hex(s.pages.pfnRange.first)}-${hex(s.pages.pfnRange.last)})` : ''
  const resent = s.pages.copies - s.pages.count
  L.push(pad('pages') + `${plural(s.pages.count, 'page')}${range}${resent ? `; ${plural(resent, 'older copy', 'older copies')} replaced by later ones` : ''}`)
  L.push(pad('vcpus') + (s.vcpus.count ? `${s.vcpus.count} (${ranges(s.vcpus.ids)})` : 'no registers in the image'))
  if (s.output.format === 'elf') {
    const names = (s.output.sections ?? []).map((x) => x.name).filter((n) => n !== '.shstrtab')
    L.push(pad('output') + `${s.output.bytes} bytes (${formatBytes(s.output.bytes)}): ${names.join(', ')}`)
  } else if (s.output.format === 'vmcore') {
    const notes = s.output.notes ?? []
    const count = (name: string) => notes.filter((n) => n.name === name).length
    const what = [count('CORE') ? `${count('CORE')} NT_PRSTATUS` : '', count('QEMU') ? `${count('QEMU')} QEMU` : '', count('VMCOREINFO') ? 'VMCOREINFO' : ''].filter(Boolean)
    L.push(pad('output') + `${s.output.bytes} bytes (${formatBytes(s.output.bytes)}): ${plural(s.output.segments ?? 0, 'PT_LOAD segment')}; notes: ${what.join(', ') || 'none'}`)
  } else {
    const holes = s.output.bytes - s.output.written
    L.push(pad('output') + `${s.output.bytes} bytes (${formatBytes(s.output.bytes)})${holes > 0 ? `, ${s.output.written} of them data, the rest holes (a sparse file)` : ''}`)
  }
  if (s.p2m) L.push(pad('p2m') + p2mLine(s.p2m, s.output.format === 'elf'))
  L.push(...renderKernel(s))
  return L
}

/** What was found of the kernel, and how crash opens the dump. */
export function renderKernel(s: DumpSummary): string[] {
  const k = s.kernel
  const L: string[] = []
  const where = k.vmcoreinfo ? `vmcoreinfo at pfn ${hex(k.vmcoreinfo.pfn)}` : null
  const from = (v: string | null, src: string | null) => (v === null ? 'not found' : `${v}${src === 'page-tables' ? ' (page tables)' : ''}`)
  if (k.release === null && k.kaslrOffset === null && k.physBase === null) {
    L.push(pad('kernel') + `not found: ${k.problem}`)
    return L
  }
  L.push(
    pad('kernel') +
      `${k.release ? `Linux ${k.release}` : 'release unknown'}; KASLR offset ${from(k.kaslrOffset, k.from.kaslrOffset)}, phys_base ${from(k.physBase, k.from.physBase)}${where ? `; ${where}` : ''}`,
  )
  if (k.problem) L.push(pad('') + k.problem)
  const file = k.crashFile.replace('{core}', s.output.path === 'stdout' ? 'CORE' : s.output.path)
  L.push(pad('crash') + ['crash', ...k.crashOptions, 'vmlinux', file].join(' '))
  return L
}
