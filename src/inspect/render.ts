// Text rendering of an inspect-legacy report: what the image is, a summary,
// and with --verbose one line per chunk.
import {PAGE_TYPE_NAMES} from '../format/x86.js'
import type {CheckpointLine, InspectReport} from './report.js'
import {hex, plural, ranges} from '../text.js'

const pad = (label: string) => ('  ' + label).padEnd(20)

/** The report's lines, `containerLines` after the first; made as they are taken (--verbose's chunk lines are read back from where they wait). */
export function* renderInspect(rep: InspectReport, containerLines: string[] = []): Generator<string> {
  const L: string[] = []
  const im = rep.image
  const guest = im.guest === 'pv' ? `PV${im.guestWidth ? ` ${im.guestWidth}-bit, ${im.pagetableLevels}-level pagetables` : ''}` : 'HVM'
  const how = (detected: boolean) => (detected ? 'detected' : 'given')
  L.push(`${rep.input}: legacy (Xen <= 4.5) ${im.guest.toUpperCase()} image, ${rep.bytes} bytes`, ...containerLines)
  if (rep.xlHeader) {
    const x = rep.xlHeader
    const cfg = x.config ? `; ${x.config.format === 'json' ? 'JSON' : 'xl'} config, ${x.config.length} bytes${x.config.domainName ? `, domain "${x.config.domainName}"` : ''}` : ''
    L.push(pad('xl header') + `yes (flags: ${x.flags.length ? x.flags.join(', ') : 'none'})${cfg}`)
  } else L.push(pad('xl header') + 'none')
  L.push(pad('guest') + `${guest} (${how(im.detected.guest)})`)
  L.push(pad('toolstack') + `${im.toolstackWidth}-bit (${how(im.detected.toolstackWidth)})`)
  L.push(pad('p2m size') + `${im.p2mSize} pfns`)
  if (rep.extendedInfo) {
    const e = rep.extendedInfo
    L.push(pad('extended info') + `${e.totalLength} bytes: ${e.blocks.map((b) => b.id).join(', ')}${e.xsaveLength !== null ? ` (xsave ${e.xsaveLength} bytes)` : ''}`)
  }
  if (rep.p2mFrames) L.push(pad('p2m frames') + `${rep.p2mFrames.count}`)
  const b = rep.body
  L.push(pad('body') + `${plural(b.chunks, 'chunk')}, ${plural(b.pageBatches, 'page batch', 'page batches')}${b.emptyBatches ? ` (${b.emptyBatches} with every entry dropped)` : ''}`)
  const order = Object.values(PAGE_TYPE_NAMES)
  const types = Object.entries(b.pages.byType)
    .sort(([a], [c]) => order.indexOf(a) - order.indexOf(c))
    .map(([t, n]) => `${t} ${n}`)
    .join(', ')
  L.push(pad('pages') + `${b.pages.count}${types ? ` (${types})` : ''}, ${b.pages.withData} with data, ${b.pages.dropped} dropped`)
  if (b.pfnRange) L.push(pad('pfn range') + `${hex(b.pfnRange.first)}-${hex(b.pfnRange.last)}`)
  L.push(pad('passes') + `${b.passes} (${b.pagesResent} pages re-sent); verify mode ${b.verifyMode ? 'on' : 'off'}`)
  if (b.vcpuInfo) L.push(pad('vcpus') + `${b.vcpuInfo.online.length} online (max id ${b.vcpuInfo.maxVcpuId}): ${ranges(b.vcpuInfo.online)}`)
  else L.push(pad('vcpus') + 'no vcpu_info chunk')
  const present = Object.entries(b.chunkCounts).map(([n, c]) => (c > 1 ? `${n} x${c}` : n))
  L.push(pad('chunks present') + (present.length ? present.join(', ') : 'none'))
  if (b.tsc) L.push(pad('tsc') + `mode ${b.tsc.mode}, ${b.tsc.khz} kHz, ${b.tsc.nsec} ns, incarnation ${b.tsc.incarnation}`)
  if (b.hvmParams.length) L.push(pad('hvm params') + b.hvmParams.map((p) => `${p.name}=${p.value}`).join(', '))
  if (b.toolstack) L.push(pad('toolstack') + `${b.toolstack.length} bytes, physmap: ${b.toolstack.physmap.map((p) => `${p.name}@${p.physOffset}+${p.size}`).join(', ') || 'empty'}`)
  if (b.notConvertible.length) L.push(pad('not convertible') + b.notConvertible.join(', '))
  const t = rep.tail
  if (t?.kind === 'pv') {
    const parts = t.vcpus[0]?.parts.join('+') ?? 'none'
    L.push(
      pad('pv tail') +
        `${t.unmappedPfns} unmapped pfns; ${t.vcpus.length} vcpu contexts (${parts}, ${t.vcpus.reduce((n, v) => n + v.bytes, 0)} bytes); shared info ${t.sharedInfoOffset !== null ? 'present' : 'missing'}`,
    )
  } else if (t?.kind === 'hvm') {
    if (t.magicPfns) L.push(pad('hvm tail') + `ioreq ${t.magicPfns.ioreq}, bufioreq ${t.magicPfns.bufioreq}, store ${t.magicPfns.store}; HVM context ${t.hvmContext?.length ?? 0} bytes`)
    if (t.qemu) L.push(pad('qemu record') + `${/^[\x20-\x7e]*$/.test(t.qemu.signature) ? t.qemu.signature : JSON.stringify(t.qemu.signature)}, ${t.qemu.length ?? 'unknown'} bytes`)
    else L.push(pad('qemu record') + (t.qemuAbsent === 'skipped' ? 'not expected (--skip-qemu)' : 'none (image ends after the HVM context)'))
  }
  L.push(pad('trailing bytes') + (rep.trailing ? `${rep.trailing.length} at byte ${rep.trailing.offset}` : 'none'))
  yield* L
  const cps = rep.checkpoints
  if (cps) {
    const cut = cps.cut ? `, cut inside checkpoint ${cps.cut.checkpoint} at byte ${cps.cut.at}` : ''
    yield pad('checkpoints') +
      `Remus, ${plural(cps.complete, 'complete checkpoint')}${cut}${cps.compressed ? ' (pages compressed after the first)' : ''}; the receiver fails over from checkpoint ${cps.complete}`
    for (const c of cps.list) yield `    ${`checkpoint ${c.index}`.padEnd(16)}${checkpointLine(c)}`
  }
  if (rep.chunks) {
    yield ''
    yield '  offset      index  what                        size  detail'
    for (const c of rep.chunks) {
      yield `  ${String(c.offset).padStart(10)}  ${c.index === null ? '     ' : String(c.index).padStart(5)}  ${c.what.padEnd(26)} ${c.size === null ? '     ' : String(c.size).padStart(5)}  ${c.detail}`
    }
  }
}

function checkpointLine(c: CheckpointLine): string {
  const range = `bytes ${c.start}-${c.end ?? 'end'}`
  const cp = c.compressedPages
  const how = cp ? ` (compressed, ${cp.bytes} bytes: ${cp.unchanged} unchanged, ${cp.whole} whole, ${cp.runs} as runs)` : ''
  const pages = `${plural(c.pageBatches, 'page batch', 'page batches')}, ${plural(c.pages, 'page')}, ${c.withData} with data${how}`
  if (c.end === null) return `${range}: ${pages}; cut before its end (incomplete: not restored)`
  return `${range}: ${pages}; tail at byte ${c.tailOffset}, ${plural(c.vcpus, 'vcpu')}`
}
