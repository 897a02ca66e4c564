// What the rules see while a stream is checked: the facts gathered so far,
// and where problems and listing lines go. V2Verifier owns one and moves it
// through the stream; the rules (headers.ts, libxc-rules.ts, libxl-rules.ts,
// tail.ts) read it and report through it.
import type {DeviceModel} from '../../xl/header.js'
import type {Layer, RecordInfo, RecordKind} from '../record.js'
import {recordName} from '../tables.js'
import {RESTORER_RULES, type RuleCode} from './restorer.js'
import type {Expecting, Location, Problem, RecordNote, StopReason, VerifierOptions} from './verifier.js'

/** What a check found worth listing, and where the stream goes next if it changes layer. */
export interface Checked {
  /** A few words for the --verbose line. */
  detail?: string
  /** PAGE_DATA only, so a listing can add records up. */
  pages?: {pfns: number; withData: number}
  next?: Expecting
}

/** The per-type check of a record table row. */
export type Check = (v: VerifyContext, rec: RecordInfo, kind: RecordKind) => Checked | void

/** The xl header in front of the stream, as the checks and the summary use it. */
export interface XlSeen {
  offset: number
  /** Names of the mandatory flags set (from mandatoryFlags, see headers.ts). */
  flags: string[]
  /** STREAMv2: a libxl stream follows. */
  streamV2: boolean
  optionalDataLength: number
  domainName: string | null
  /** The domain type the xl config asks for, when it says. */
  configType: 'pv' | 'hvm' | 'pvh' | null
  /** The xl config (null: the header holds none), and the device model it asks for (null: it does not say). */
  config: null | {deviceModel: DeviceModel | null}
}

/** Facts about the libxc stream gathered so far. */
export class LibxcState {
  /** As the header says; rules that differ between versions 2 and 3 apply only when it is one of them. */
  version = 3
  guest: 'pv' | 'hvm' | undefined
  domainType: number | undefined
  xen: {major: number; minor: number} | undefined
  width: 4 | 8 | undefined
  levels: number | undefined
  /** Index of the first record of each type, for "(record N)" in messages. */
  firstIndex = new Map<number, number>()
  counts = new Map<string, number>()
  p2mEndPfn: number | undefined
  /** Where STATIC_DATA_END was: its record, or (version 2) the first memory or p2m record the restorer takes for it. */
  staticDataEnd: {index: number; inferred: boolean} | undefined
  vcpusWithBasic = new Set<number>()
  /**
   * vcpu records for a vcpu that had no BASIC yet, checked again at END: the
   * first for each vcpu and how many more (at most MAX_VCPU_ID + 1 entries,
   * however many records a stream repeats).
   */
  vcpuOrphans = new Map<number, {at: Location; name: string; more: number}>()
  pages = {pfns: 0, withData: 0, byType: new Map<number, number>()}
  /** What the restorer needs was checked (at END, or the first CHECKPOINT). */
  needsChecked = false

  seen(type: number): boolean {
    return this.firstIndex.has(type)
  }
}

export class LibxlState {
  version: number | undefined
  options = 0
  libxcContext = false
  /** After a libxc CHECKPOINT: libxl records until CHECKPOINT_END. */
  inCheckpoint = false
  /** The record just checked was CHECKPOINT_END: COLO's CHECKPOINT_STATE may come next. */
  afterCheckpointEnd = false
  counts = new Map<string, number>()
  /** firstId: the emulator id of the first EMULATOR_CONTEXT (whose device state it is), null before one. */
  emulator: {contexts: number; contextBytes: number; xenstoreKeys: number; firstId: number | null} = {contexts: 0, contextBytes: 0, xenstoreKeys: 0, firstId: null}
}

/** One complete checkpoint of a checkpointed (Remus, COLO) stream. */
export interface CheckpointInfo {
  /** From 1. */
  index: number
  /** Its byte range in the input: from the stream's start (the first) or the end of the one before (COLO: of the CHECKPOINT_STATE record that follows it, left out of both), to its CHECKPOINT_END (libxl) or CHECKPOINT (a bare libxc stream). */
  start: number
  end: number
  /** Pages sent in it (dirtied since the one before), and its records. */
  pfns: number
  withData: number
  records: number
}

/** Checkpoints a report lists; past them, they are counted. */
export const MAX_KEPT_CHECKPOINTS = 1000

/**
 * The checkpoints of a checkpointed stream (FORMAT.md §7): none until the
 * first CHECKPOINT record; the receiver fails over from the last complete one.
 */
export class CheckpointLog {
  /** null: not a checkpointed stream (no CHECKPOINT record). COLO: a CHECKPOINT_STATE follows each CHECKPOINT_END. */
  kind: 'remus' | 'colo' | null = null
  complete = 0
  readonly kept: CheckpointInfo[] = []
  /** The one being read. */
  current = {start: 0, pfns: 0, withData: 0, records: 0}

  /** The one being read is complete; the next starts at `end`. */
  close(end: number): void {
    this.complete++
    const c = this.current
    if (this.kept.length < MAX_KEPT_CHECKPOINTS) this.kept.push({index: this.complete, start: c.start, end, pfns: c.pfns, withData: c.withData, records: c.records})
    this.current = {start: end, pfns: 0, withData: 0, records: 0}
    this.lastEnd = end
  }

  /** Where the last complete checkpoint ends; undefined before the first. */
  lastEnd: number | undefined
  /** The stream ended inside checkpoint `checkpoint`, begun at `start`, at byte `at`. */
  cut: {checkpoint: number; start: number; at: number} | null = null

  /** Nothing of a next checkpoint read yet (COLO's CHECKPOINT_STATE is not part of one). */
  get atBoundary(): boolean {
    return this.complete > 0 && this.current.records === 0
  }
}

/**
 * Errors (and warnings) a report keeps; the rest are counted. A hostile
 * stream of 8-byte records, each an error, otherwise held 750 MB of them for
 * 16 MB of input (2.3 GB with --json).
 */
export const MAX_KEPT_PROBLEMS = 1000

export class VerifyContext {
  readonly lx = new LibxcState()
  readonly ll = new LibxlState()
  readonly cp = new CheckpointLog()
  /** The outermost v2 layer, once its header is seen. */
  top: Layer | undefined
  xl: XlSeen | undefined
  /**
   * The first MAX_KEPT_PROBLEMS errors and warnings, and after them the
   * first of each code not yet kept (so every kind found has an example);
   * every one is counted, and told to onProblem.
   */
  readonly errors: Problem[] = []
  readonly warnings: Problem[] = []
  errorCount = 0
  warningCount = 0
  private readonly keptCodes = new Set<string>()
  stopReason: StopReason | null = null
  /** Rule keys already reported, so a rule broken by many records is reported once. */
  private readonly reportedKeys = new Set<string>()

  constructor(private readonly opts: VerifierOptions = {}) {}

  /**
   * A broken rule: an error where the restorer refuses the stream, a
   * warning where it reads on (RESTORER_RULES decides, not the caller).
   */
  report(code: RuleCode, message: string, at: Location): void {
    this.push({severity: RESTORER_RULES[code].severity, code, message, ...at})
  }

  /** Report a rule once, however many records break it. */
  once(key: string, code: RuleCode, message: string, at: Location): void {
    if (this.reportedKeys.has(key)) return
    this.reportedKeys.add(key)
    this.report(code, message, at)
  }

  /** Whether once() reported `key`. */
  reported(key: string): boolean {
    return this.reportedKeys.has(key)
  }

  push(found: Omit<Problem, 'layer' | 'index' | 'record'> & Location): void {
    if (this.stopReason === 'max-errors' || this.stopReason === 'fatal') return
    const p: Problem = {...found, layer: found.layer ?? null, index: found.index ?? null, record: found.record ?? null}
    const error = p.severity === 'error'
    const count = error ? ++this.errorCount : ++this.warningCount
    if (count <= MAX_KEPT_PROBLEMS || !this.keptCodes.has(p.severity + p.code)) {
      ;(error ? this.errors : this.warnings).push(p)
      this.keptCodes.add(p.severity + p.code)
    }
    this.opts.onProblem?.(p)
    const max = this.opts.maxErrors
    if (error && max !== undefined && this.errorCount >= max) this.stop('max-errors')
  }

  stop(reason: StopReason): void {
    this.stopReason ??= reason
  }

  /** A record, or a byte `within` it. */
  at(rec: RecordInfo, within = 0): Location {
    return {offset: rec.offset + within, layer: rec.layer, index: rec.index, record: recordName(rec.layer, rec.type)}
  }

  /**
   * True, after reporting it, when the body of `rec` is shorter than the
   * fixed header its table row says it starts with.
   */
  short(rec: RecordInfo, kind: RecordKind): boolean {
    const min = kind.minSize
    if (!min || rec.length >= min.bytes) return false
    this.report(min.code, `${kind.name} body is ${rec.length} bytes, shorter than its ${min.bytes}-byte ${min.what}`, this.at(rec))
    return true
  }

  noteFor(rec: RecordInfo, detail: string): RecordNote {
    return {offset: rec.offset, layer: rec.layer, index: rec.index, name: recordName(rec.layer, rec.type), length: rec.length, detail}
  }

  /** True when someone takes the record notes (see note). */
  get listening(): boolean {
    return this.opts.onRecord !== undefined
  }

  note(n: RecordNote): void {
    this.opts.onRecord?.(n)
  }
}
