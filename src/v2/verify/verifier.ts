// The v2 stream verifier. It is shown headers and records — by the stream
// driver in reader.ts, or by V2Writer while a conversion is being written —
// and collects every problem it can find, each with where it is, instead of
// stopping at the first. Content and ordering problems never stop it; a
// framing problem (truncation, a length that cannot be followed) is the
// driver's to find, and is handed over with fatal().
//
// This file is the state machine: which header or layer comes next. What a
// header or record must hold is checked by headers.ts and by the check of
// the record's row in its layer's table (libxc-rules.ts, libxl-rules.ts).
import type {ErrorCode, FormatError} from '../../errors.js'
import type {XlHeaderInfo} from '../../xl/header.js'
import {REC_LENGTH_MAX} from '../libxc/layout.js'
import {CheckpointState, LibxlRec} from '../libxl/layout.js'
import {type Layer, REC_OPTIONAL, type RecordInfo} from '../record.js'
import {RECORD_TABLES} from '../tables.js'
import type {StreamObserver} from '../writer.js'
import {plural} from '../../text.js'
import {checkFor} from './checks.js'
import {VerifyContext} from './context.js'
import * as headers from './headers.js'
import {summarise, type VerifySummary} from './summary.js'
import {checkTail, TAIL_HEAD_BYTES, type TailBytes} from './tail.js'

export interface Problem {
  severity: 'error' | 'warning'
  /** Stable identifier, e.g. "page-data-size" (see error-codes.ts). */
  code: ErrorCode
  message: string
  /** Absolute byte offset of the offending field or record. */
  offset: number
  /** Which part of the stream: a header's layer, or the record's; null for bytes outside both. */
  layer: Layer | 'xl' | null
  /** Record index within its layer, from 0; null for headers. */
  index: number | null
  /** Record type name, or the header's name. */
  record: string | null
}

/** Where a problem is; what is not known is left out. */
export interface Location {
  offset: number
  layer?: Layer | 'xl'
  index?: number
  record?: string
}

export type StopReason = 'max-errors' | 'fatal' | 'big-endian'

export interface VerifyReport {
  valid: boolean
  /** The first MAX_KEPT_PROBLEMS (1000) of each, then the first of each other code; the counts are of all. */
  errors: Problem[]
  warnings: Problem[]
  errorCount: number
  warningCount: number
  /** Why checking ended before the end of the stream, if it did. */
  stopped: StopReason | null
  summary: VerifySummary
}

/** One header or record, for a per-record listing (--verbose). */
export interface RecordNote {
  offset: number
  layer: Layer | 'xl'
  index?: number
  name: string
  length?: number
  detail: string
  /** PAGE_DATA only, so a listing can add records up. */
  pages?: {pfns: number; withData: number}
}

export interface VerifierOptions {
  /** Stop after this many errors. */
  maxErrors?: number
  onProblem?: (p: Problem) => void
  onRecord?: (n: RecordNote) => void
}

/** What the verifier expects to be shown next. */
export type Expecting = 'start' | 'libxc-headers' | 'libxc-record' | 'libxl-record' | 'after-checkpoint-end' | 'tail' | 'done'

/**
 * Checks one v2 stream pushed at it. Implements StreamObserver so that
 * `new V2Writer(sink, verifier)` checks a stream as it is written; the driver
 * in reader.ts feeds it from a ByteReader the same way.
 */
export class V2Verifier implements StreamObserver {
  private next: Expecting = 'start'
  private readonly c: VerifyContext
  private tailSeen: TailBytes | undefined
  private lastOffset = 0

  constructor(opts: VerifierOptions = {}) {
    this.c = new VerifyContext(opts)
  }

  /** What the stream should hold next; 'done' once checking has ended. */
  get expecting(): Expecting {
    return this.c.stopReason ? 'done' : this.next
  }

  get done(): boolean {
    return this.expecting === 'done'
  }

  /**
   * Nothing of a next checkpoint read yet, after at least one complete one:
   * a checkpointed stream may end here, as a replication capture does.
   */
  get atCheckpointBoundary(): boolean {
    return this.c.cp.atBoundary && (this.next === 'libxc-record' || this.next === 'after-checkpoint-end')
  }

  /**
   * After a CHECKPOINT_END, whose record comes next: COLO's libxl
   * CHECKPOINT_STATE (a 4-byte body), or the libxc stream going on. libxl
   * knows from how it was started (xl migrate-receive --colo); a reader of a
   * captured stream tells from the record: its type is libxc's
   * X86_PV_VCPU_EXTENDED, which no HVM stream (COLO is HVM-only) holds and
   * which never starts a checkpoint.
   */
  layerAfterCheckpointEnd(type: number, length: number): Layer {
    const colo = type === LibxlRec.CHECKPOINT_STATE && (this.c.cp.kind === 'colo' || length === CheckpointState.size || this.c.lx.guest === 'hvm')
    return colo ? 'libxl' : 'libxc'
  }

  /** Whether an xl header in front said that a libxl stream follows. */
  get xlSaysLibxl(): boolean | undefined {
    return this.c.xl ? this.c.xl.streamV2 : undefined
  }

  // ---- headers -------------------------------------------------------------

  /** An xl header (already read and checked by readXlHeader) in front of the stream. */
  xlHeader(info: XlHeaderInfo): void {
    headers.xlHeader(this.c, info)
  }

  libxlHeader(buf: Buffer, offset: number): void {
    if (this.done) return
    if (this.next !== 'start') {
      this.c.report('header-out-of-place', 'a libxl header in the middle of the stream', {offset, layer: 'libxl', record: 'libxl header'})
      return
    }
    this.c.top = 'libxl'
    this.c.cp.current.start = offset
    headers.xlAgreement(this.c, 'libxl')
    if (headers.libxlHeader(this.c, buf, offset)) this.next = 'libxl-record'
  }

  libxcHeaders(imageHeader: Buffer, domainHeader: Buffer, offset: number): void {
    if (this.done) return
    if (this.next === 'start') {
      this.c.top = 'libxc'
      this.c.cp.current.start = offset
      headers.xlAgreement(this.c, 'libxc')
    } else if (this.next !== 'libxc-headers') {
      const why = this.next === 'libxl-record' ? 'without a LIBXC_CONTEXT record before it' : 'after the libxc stream was already under way'
      this.c.report('header-out-of-place', `a libxc image header ${why}`, {offset, layer: 'libxc', record: 'image header'})
      return
    }
    if (!headers.imageHeader(this.c, imageHeader, offset)) return
    headers.domainHeader(this.c, domainHeader, offset + imageHeader.length)
    this.next = 'libxc-record'
  }

  // ---- records -------------------------------------------------------------

  record(rec: RecordInfo): void {
    if (this.done) return
    this.lastOffset = rec.offset + 8 + rec.length
    const expected = this.next === 'libxc-record' ? 'libxc' : this.next === 'libxl-record' ? 'libxl' : this.next === 'after-checkpoint-end' ? rec.layer : undefined
    if (this.next === 'after-checkpoint-end') this.next = 'libxc-record'
    if (rec.layer !== expected) {
      this.c.report('record-out-of-place', `a ${rec.layer} record where ${this.describeNext()}`, this.c.at(rec))
      if (this.next === 'start' || this.next === 'libxc-headers' || this.next === 'tail') return
    }
    this.checkRecord(rec)
    this.checkPadding(rec)
  }

  private describeNext(): string {
    switch (this.next) {
      case 'start':
        return 'a stream header belongs'
      case 'libxc-headers':
        return 'the libxc image header belongs (after LIBXC_CONTEXT)'
      case 'libxc-record':
        return 'a libxc record belongs'
      case 'libxl-record':
        return 'a libxl record belongs'
      default:
        return 'the stream has already ended'
    }
  }

  /** The rules every record of a layer obeys, from its table row, then the row's own check. */
  private checkRecord(rec: RecordInfo): void {
    const c = this.c
    const libxc = rec.layer === 'libxc'
    const table = RECORD_TABLES[rec.layer]
    const name = table.name(rec.type)
    // libxl problems say so: "libxl END" is not the libxc END.
    const named = libxc ? name : `libxl ${name}`
    bump((libxc ? c.lx : c.ll).counts, name)
    // COLO's CHECKPOINT_STATE right after a CHECKPOINT_END is between checkpoints, not part of one.
    const between = c.ll.afterCheckpointEnd && !libxc && rec.type === LibxlRec.CHECKPOINT_STATE
    c.ll.afterCheckpointEnd = false
    if (!between) c.cp.current.records++
    const kind = table.kind(rec.type)
    if (!kind && libxc && rec.type & REC_OPTIONAL) {
      c.report('optional-record', `${named} (${plural(rec.length, 'byte')}) is not known to xst; skipped, as the restorer skips optional records`, c.at(rec))
      c.note(c.noteFor(rec, 'skipped'))
      return
    }
    if (!kind && !libxc) {
      c.report('unknown-record', `${named} is not a libxl record type; libxl refuses any record it does not know, optional bit or not`, c.at(rec))
      c.note(c.noteFor(rec, 'unknown'))
      return
    }
    if (!kind) {
      c.report('unknown-record', `${named} is mandatory (bit 31 clear) but not defined; a restorer must refuse the stream`, c.at(rec))
      c.note(c.noteFor(rec, 'unknown'))
      return
    }
    if (libxc && rec.length > REC_LENGTH_MAX) {
      c.report('record-too-long', `${name} body is ${rec.length} bytes; the restorer refuses libxc records over ${REC_LENGTH_MAX} bytes`, c.at(rec))
    }
    if (kind.empty && rec.length !== 0) c.report('not-empty', `${named} has a ${plural(rec.length, 'byte')} body; it must be empty`, c.at(rec))
    const guest = c.lx.guest
    if (guest === 'hvm' && kind.guest === 'pv') c.report('wrong-guest-record', `${named} is a PV-only record, but this is an x86 HVM stream`, c.at(rec))
    if (guest === 'pv' && kind.guest === 'hvm') c.report('wrong-guest-record', `${named} is an HVM-only record, but this is an x86 PV stream`, c.at(rec))
    // A PVH guest's libxc stream is type HVM; only the xl config tells it apart, and libxl refuses emulator records for it.
    else if (!libxc && kind.guest === 'hvm' && c.xl?.configType === 'pvh') c.report('wrong-guest-record', `${named} is for HVM guests only, but the xl config says this domain is PVH`, c.at(rec))
    if (kind.v3Only && c.lx.version === 2) c.report('v3-only-record', `${name} exists only in version 3 streams; this one is version ${c.lx.version} (the restorer reads it all the same)`, c.at(rec))
    const found = checkFor(rec.layer, rec.type)!(c, rec, kind) ?? {}
    if (found.pages) {
      c.cp.current.pfns += found.pages.pfns
      c.cp.current.withData += found.pages.withData
    }
    if (libxc && !c.lx.firstIndex.has(rec.type)) c.lx.firstIndex.set(rec.type, rec.index)
    if (found.next) this.next = found.next
    // Only a listing (--verbose) takes the notes: none is made otherwise (one per record of a large image).
    if (c.listening) {
      const note = c.noteFor(rec, found.detail ?? '')
      c.note(found.pages ? {...note, pages: found.pages} : note)
    }
  }

  private checkPadding(rec: RecordInfo): void {
    const pad = rec.padding
    if (!pad || pad.every((b) => b === 0)) return
    this.c.report('nonzero-padding', `padding after the ${rec.length}-byte body is not zero (${[...pad].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`, this.c.at(rec, 8 + rec.length))
  }

  // ---- after the stream ----------------------------------------------------

  /**
   * Bytes after the end of the stream. After a bare libxc stream they may be
   * the device-model record; `head` (the bytes, or their first bytes, when
   * the caller has them) lets that be checked. Several calls for one tail add
   * up, so they are checked by finish(), when their length is known.
   */
  tail(offset: number, length: number, head?: Buffer): void {
    if (this.done || length === 0) return
    const after = this.next !== 'tail' ? 'no-end' : this.c.top === 'libxl' ? 'libxl-end' : 'libxc-end'
    const t = (this.tailSeen ??= {offset, bytes: 0, head: head && Buffer.alloc(0), after})
    t.bytes += length
    if (t.head && head && t.head.length < TAIL_HEAD_BYTES) t.head = Buffer.concat([t.head, head.subarray(0, TAIL_HEAD_BYTES - t.head.length)])
  }

  /**
   * A defect of the container around the stream (a libvirt version that
   * does not match the stream, a XenServer section a restore refuses): an
   * error, or a warning, that does not stop checking the stream.
   */
  containerProblem(err: FormatError, severity: Problem['severity'] = 'error'): void {
    this.c.push({severity, code: err.code, message: err.detail, offset: err.where.offset ?? this.lastOffset, record: err.where.context})
  }

  /** A problem that stops the walk (truncation, a length that cannot be followed, not a v2 stream). */
  fatal(err: FormatError, where: Omit<Location, 'offset'> = {}): void {
    const offset = err.where.offset ?? this.lastOffset
    // A replication stream is cut inside its next checkpoint: the receiver
    // fails over from the last complete one, which is what the stream holds.
    if (err.code === 'truncated' && this.c.cp.complete > 0 && this.next !== 'tail' && this.next !== 'done') {
      this.checkpointCut(offset, err.detail)
      return
    }
    this.c.push({severity: 'error', code: err.code, message: err.detail, offset, ...where})
    // After the stream's END (a container defect behind it, a gzip trailer)
    // the stream itself was checked whole: nothing of it was cut short.
    if (this.next !== 'tail' && this.next !== 'done') this.c.stop('fatal')
    else this.next = 'done'
  }

  /** The stream ends inside the checkpoint after the last complete one: said, as a warning. */
  private checkpointCut(at: number, how: string): void {
    const cp = this.c.cp
    cp.cut = {checkpoint: cp.complete + 1, start: cp.current.start, at}
    this.c.report(
      'checkpoint-cut',
      `${how}, inside checkpoint ${cp.complete + 1} (from byte ${cp.current.start}); the receiver fails over from checkpoint ${cp.complete}, which ends at byte ${cp.lastEnd}`,
      {offset: at},
    )
    this.next = 'done'
  }

  /** End of checking: the report. `endOffset` is where the stream ended, if known. */
  finish(endOffset?: number): VerifyReport {
    const c = this.c
    const end = endOffset ?? this.lastOffset
    const tail = this.tailSeen && {kind: checkTail(c, this.tailSeen), bytes: this.tailSeen.bytes}
    if (!c.stopReason && this.next !== 'tail' && this.next !== 'done') {
      // A checkpointed stream has no END: it ends between checkpoints, or inside the next one.
      if (c.cp.complete === 0) c.report('missing-end', `the stream ends at byte ${end} before its END record`, {offset: end})
      else if (!c.cp.atBoundary) this.checkpointCut(end, `the stream ends at byte ${end}`)
      this.next = 'done'
    }
    return {
      valid: c.errorCount === 0,
      errors: c.errors,
      warnings: c.warnings,
      errorCount: c.errorCount,
      warningCount: c.warningCount,
      stopped: c.stopReason,
      summary: summarise(c, tail, end),
    }
  }
}

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1)
}
