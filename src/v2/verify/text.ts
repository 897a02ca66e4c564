// The verifier's report as text for people: one line per problem, a line
// per record with --verbose (runs of PAGE_DATA squashed into one), and a
// one-line verdict.
import type {VerifySummary} from './summary.js'
import type {Problem, RecordNote, VerifyReport} from './verifier.js'
import {plural} from '../../text.js'

function where(p: Problem): string {
  const parts = [`byte ${p.offset}`]
  if (p.index !== null) parts.push(`${p.layer} record ${p.index} (${p.record})`)
  else if (p.record) parts.push(p.layer && !p.record.startsWith(p.layer) ? `${p.layer} ${p.record}` : p.record)
  return parts.join(', ')
}

export function problemLine(p: Problem): string {
  // A truncation message already says where the stream ends and inside what.
  const text = p.code === 'truncated' ? p.message : `${where(p)}: ${p.message}`
  return `${p.severity}: ${text}`
}

/** The guest types as the libxc domain header names them. */
const GUEST_NAMES = {pv: 'x86 PV', hvm: 'x86 HVM', pvh: 'x86 PVH'} as const

/** What the stream is, in a few words: "libxl v2 / libxc v3 stream, x86 PV (64-bit guest)". */
export function describeStream(s: VerifySummary): string {
  const parts: string[] = []
  const libxc = s.version.libxc !== null ? `libxc v${s.version.libxc}` : undefined
  const checkpointed = s.checkpoints ? `checkpointed (${CHECKPOINT_KINDS[s.checkpoints.kind]}) ` : ''
  if (s.format === 'libxl') parts.push(`${checkpointed}libxl v${s.version.libxl}${libxc ? ` / ${libxc}` : ''} stream`)
  else if (libxc) parts.push(`${checkpointed}${libxc} stream`)
  else return 'not a v2 stream'
  if (s.guest) parts.push(GUEST_NAMES[s.guest] + (s.guestWidth ? ` (${s.guestWidth}-bit guest)` : ''))
  if (s.xlHeader) parts.push('behind an xl header')
  if (s.legacyConverted || s.xenVersion?.major === 0) parts.push('converted from a legacy image')
  return parts.join(', ')
}

export function verdictLine(name: string, report: VerifyReport): string {
  const s = report.summary
  const counts = `${plural(report.errorCount, 'error')}, ${plural(report.warningCount, 'warning')}`
  if (report.valid) {
    const facts = [describeStream(s)]
    if (s.vcpus.count) facts.push(plural(s.vcpus.count, 'vcpu'))
    facts.push(`${plural(s.pages.count, 'pfn')} (${s.pages.withData} with data)`)
    const cp = s.checkpoints
    if (cp) facts.push(`${plural(cp.complete, 'complete checkpoint')}${cp.cut ? ` (checkpoint ${cp.cut.checkpoint} cut at byte ${cp.cut.at})` : ''}`)
    // What follows the stream is named: a device-model record, xl's migration message.
    if (s.tail && s.tail.kind !== 'unrecognised') facts.push(`then ${s.tail.kind} (${plural(s.tail.bytes, 'byte')})`)
    return `${name}: valid — ${facts.join(', ')}; ${counts}`
  }
  let stopped = ''
  if (report.stopped === 'max-errors') stopped = '; stopped early (--max-errors)'
  else if (report.stopped && s.format) stopped = '; the rest of the stream could not be checked'
  return `${name}: INVALID — ${counts} (${describeStream(s)})${stopped}`
}

/** How the kinds of checkpointed stream are named. */
export const CHECKPOINT_KINDS = {remus: 'Remus', colo: 'COLO'} as const

/** One line per complete checkpoint of a checkpointed stream (--verbose), then where an incomplete one was cut. */
export function checkpointLines(s: VerifySummary): string[] {
  const cp = s.checkpoints
  if (!cp) return []
  const lines = cp.list.map((c) => `checkpoint ${c.index}: bytes ${c.start}-${c.end}, ${plural(c.pfns, 'pfn')} sent (${c.withData} with data), ${plural(c.records, 'record')}`)
  if (cp.complete > cp.list.length) lines.push(`(and ${plural(cp.complete - cp.list.length, 'more checkpoint')})`)
  if (cp.cut) lines.push(`checkpoint ${cp.cut.checkpoint}: from byte ${cp.cut.start}, cut at byte ${cp.cut.at} (not restored)`)
  return lines
}

/** Prints one line per header or record; consecutive PAGE_DATA records become one line. */
export class RecordListing {
  private run: {first: RecordNote; last: RecordNote; records: number; pfns: number; withData: number} | undefined

  constructor(private readonly print: (line: string) => void) {}

  add(n: RecordNote): void {
    if (n.pages) {
      if (this.run && this.run.last.layer === n.layer && this.run.last.index === (n.index ?? 0) - 1) {
        this.run.last = n
        this.run.records++
        this.run.pfns += n.pages.pfns
        this.run.withData += n.pages.withData
        return
      }
      this.flush()
      this.run = {first: n, last: n, records: 1, pfns: n.pages.pfns, withData: n.pages.withData}
      return
    }
    this.flush()
    this.print(line(n.offset, n.layer, n.index === undefined ? '' : `#${n.index}`, n.name, n.length, n.detail))
  }

  /** Print a pending run of PAGE_DATA records (before a problem line or at the end). */
  flush(): void {
    const r = this.run
    if (!r) return
    this.run = undefined
    const ids = r.records === 1 ? `#${r.first.index}` : `#${r.first.index}-${r.last.index}`
    const name = r.records === 1 ? 'PAGE_DATA' : `PAGE_DATA ×${r.records}`
    this.print(line(r.first.offset, r.first.layer, ids, name, undefined, `${plural(r.pfns, 'pfn')}, ${r.withData} with data`))
  }
}

function line(offset: number, layer: string, ids: string, name: string, length: number | undefined, detail: string): string {
  const size = length === undefined ? '' : plural(length, 'byte')
  return `${String(offset).padStart(10)}  ${layer.padEnd(5)} ${ids.padEnd(8)} ${name.padEnd(24)} ${size.padStart(12)}  ${detail}`.trimEnd()
}
