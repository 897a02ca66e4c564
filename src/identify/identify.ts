// `xst identify`: what file(1) would say about an image if it knew Xen.
// Only the container's header and the stream's first headers and records
// are read (never page data), so a file takes milliseconds whatever its
// size. Nothing is verified: a defect deeper in is for verify and
// inspect-legacy to find. The container's module walks to the stream and
// says what follows it where that matters: what restores a XenServer
// structured image depends on the sections after its memory image (a Demu
// section needs a vGPU host; xenopsd refuses some), so on a file the Libxc
// stream's record headers are walked, page data seeked over, to read the
// section headers after it.
import {containerDomainName, type ContainerSummary, containerSummary} from '../container/describe.js'
import {type InputKind, type Sniffed, sniff, SNIFF_LENGTH} from '../container/identify.js'
import {closeImage, type OpenedImage, openImage, type StreamKind, streamKindAt} from '../container/open.js'
import {containerBySniff, containerModule} from '../container/registry.js'
import {type InputJson, knownBytes} from '../cli/input-json.js'
import {type ErrorCode, type ErrorJson, errorJson, FormatError} from '../errors.js'
import {ForeignFormatError, foreignDomainName, foreignGuest, type ForeignSummary} from '../foreign/recognise.js'
import type {ByteReader} from '../io/reader.js'
import type {Guest, LegacyEvent, ToolstackWidth} from '../legacy/events.js'
import {walkLegacy} from '../legacy/walker.js'
import {DomainHeader, DomainType, ImageHeader, Rec, X86PvInfo} from '../v2/libxc/layout.js'
import {LibxlHeader, LibxlRec} from '../v2/libxl/layout.js'
import {V2RecordReader, verifyStream} from '../v2/reader.js'
import {V2Verifier} from '../v2/verify/verifier.js'
import {RecordHeader} from '../v2/record.js'
import {readXlHeader} from '../xl/header.js'
import {assessRestore, type Restore} from '../restore/assess.js'
import {type DeviceModelKind, modelOfState, STATE_HEAD, type StateModel} from '../restore/device-model.js'
import {containerState, sectionState} from '../restore/evidence.js'
import {DeviceStateCatch} from '../restore/capture.js'

/**
 * 'v2, restorable' only when the stream's headers are ones a restorer reads
 * and, where the input is read whole (a file), the verifier found the stream
 * valid; 'v2 stream, not verified' where it is not read whole (a pipe, gzip).
 */
export type Verdict = 'needs conversion' | 'v2, restorable' | 'v2 stream, not verified' | 'not a Xen image' | 'damaged' | NotAFile

/** What file(1) names rather than reads: a directory, or a symbolic link to nothing (named, not errors). */
export type NotAFile = 'directory' | 'broken symlink'

export interface Identified {
  /** Its path, its size as given (compressed, when gzip; null for a pipe), its size decompressed (null when not known). */
  input: InputJson
  container: ContainerSummary | null
  /** What the file is when it is a known format that is not Xen's (verdict 'not a Xen image'); null otherwise. */
  foreign: ForeignSummary | null
  xlHeader: boolean
  stream: null | {
    format: 'legacy' | 'libxc' | 'libxl'
    libxcVersion: number | null
    libxlVersion: number | null
    /** A replication stream (Remus, COLO: FORMAT.md §7; legacy: Remus) and its complete checkpoints; null for a plain one, or when the input cannot be read twice. */
    checkpointed?: {kind: 'remus' | 'colo'; complete: number} | null
  }
  /** pvh only where an xl config says so: the stream itself calls a PVH guest HVM. */
  guest: Guest | 'pvh' | null
  /** The guest's word size (PV; an HVM guest's is not in its image headers). */
  guestWidth: 32 | 64 | null
  /** The saving toolstack's word size (legacy streams). */
  toolstackWidth: ToolstackWidth | null
  domainName: string | null
  verdict: Verdict
  /**
   * Will it restore: what restores it, as it is (or once converted), most
   * usual first; what that needs, who refuses it and why, what the image
   * does not tell (src/restore/assess.ts).
   */
  restore: Restore
  /** Why the verdict, when it is not plain. */
  note: string | null
  /** The defect that made it 'damaged' or 'not a Xen image' (for a foreign file, the refusal other commands give). */
  error: null | ErrorJson
}

/** Most records looked at after the libxc headers for X86_PV_INFO (it comes first in every writer's stream). */
const FIRST_RECORDS = 8

/** A directory or a dangling symlink, as file(1) names them: no image read; the note says where a link points. */
export function notAFile(name: string, verdict: NotAFile, target?: string): Identified {
  const out = blank(name, null)
  out.verdict = verdict
  out.restore.releases = 'unknown (not a file)'
  if (verdict === 'broken symlink') out.note = `broken symbolic link to ${target ?? '?'}`
  return out
}

function blank(name: string, size: number | null): Identified {
  return {
    input: {path: name, size, bytes: null},
    container: null,
    foreign: null,
    xlHeader: false,
    stream: null,
    guest: null,
    guestWidth: null,
    toolstackWidth: null,
    domainName: null,
    verdict: 'not a Xen image',
    restore: {by: [], releases: 'unknown (not a stream xst read)', needs: [], refusedBy: [], unknown: []},
    note: null,
    error: null,
  }
}

export async function identify(input: ByteReader, name: string): Promise<Identified> {
  const out = await identifyHeaders(input, name)
  // Only headers are read: the length decompressed is known when nothing is compressed.
  out.input.bytes = knownBytes(out.input.size, out.container?.compressed)
  return out
}

async function identifyHeaders(input: ByteReader, name: string): Promise<Identified> {
  const out = blank(name, input.source.size ?? null)
  // What the first bytes are, inside gzip: gzip says nothing of what it
  // holds, so a compressed input gets the verdict its bytes would get.
  let first: Sniffed = sniff(Buffer.from(await input.peek(SNIFF_LENGTH)))
  const compressed = first.kind === 'gzip'
  // Is the input recognisably a Xen image (or a container of one) before anything past its magic is read?
  let recognised = false
  let img: OpenedImage | undefined
  // For the restore assessment: the xl header's config, and the device state's model (undefined: not read that far).
  let xlConfig: {deviceModel?: DeviceModelKind} | null = null
  let state: StateModel | null | undefined
  try {
    img = await openImage(input, {
      onSniff: (s) => {
        first = s
        recognised = isXenKind(s.kind)
      },
    })
    out.container = containerSummary(img)
    const c = img.container
    const m = containerModule(c.kind)
    if (c.kind !== 'none') recognised = true
    // The container walked to its stream (a XenServer image's sections read up to its memory image).
    let stream: StreamKind | undefined = await m.identify.toStream(img, out.container)
    out.domainName = containerDomainName(out.container)
    // What an xl config says the domain is: a libxc stream calls a PVH guest HVM.
    let configType: 'pv' | 'hvm' | 'pvh' | undefined
    if (stream === 'xl') {
      // Behind an xl header: the header says little about what follows; the bytes do.
      const h = await readXlHeader(img.reader)
      xlConfig = h.config ? {deviceModel: h.config.deviceModel} : null
      out.xlHeader = true
      out.domainName ??= h.config?.name ?? null
      configType = h.config?.type
      recognised = true
      stream = await streamKindAt(img.reader)
    }
    if (stream === 'libxc' || stream === 'libxl') {
      recognised = true
      const streamStart = img.reader.offset
      const headerError = await v2Facts(img.reader, stream, out)
      if (out.guest === 'hvm' && configType === 'pvh') out.guest = 'pvh'
      // What follows the stream in the container, when it says what restores the image.
      const after = await m.identify.afterV2(img, stream, out.container)
      if (after.note !== undefined) out.note = after.note
      out.verdict = 'v2, restorable'
      out.restore.by = after.restoredBy ?? m.restoredBy(stream, out.xlHeader)
      const judged = m.identify.v2Verdict(c, stream)
      if (judged) {
        out.verdict = judged.verdict
        if (judged.note !== undefined) out.note = judged.note
        out.restore.by = judged.restoredBy
        if (judged.error) out.error = errorJson(judged.error.code, judged.error.message, {offset: judged.error.offset})
      }
      const deep = await v2DeepFacts(img.reader, streamStart)
      const cp = deep?.checkpointed ?? null
      out.stream!.checkpointed = cp
      state = deep ? deep.state : undefined
      // Said only of what was checked: headers a restorer reads, and (read whole) a stream the verifier passes.
      const defect = headerError ?? deep?.error
      if (out.verdict === 'v2, restorable' && defect) {
        out.verdict = 'damaged'
        out.note = null
        out.restore.by = []
        out.error = errorJson(defect.code, defect.message, {offset: defect.offset})
      } else if (out.verdict === 'v2, restorable' && !deep) out.verdict = 'v2 stream, not verified'
      if (cp && (out.verdict === 'v2, restorable' || out.verdict === 'v2 stream, not verified')) {
        // xl restore passes a plain stream: the first CHECKPOINT fails it.
        out.restore.by = [
          cp.kind === 'colo' ? 'xl migrate-receive --colo (failover from the last complete checkpoint)' : 'xl migrate-receive -r (Remus failover from the last complete checkpoint)',
          PLAIN_FIRST,
        ]
        out.note = `xl restore refuses a checkpointed stream ("Found checkpoint in non-checkpointed stream"); \`xst convert\` makes it plain`
      }
    } else if (stream === 'empty') {
      throw new FormatError('no-stream', c.kind === 'none' ? 'the input is empty' : 'no stream follows the container header', {offset: img.reader.offset})
    } else {
      const streamStart = img.reader.offset
      await legacyFacts(img, out)
      out.verdict = 'needs conversion'
      out.restore.by = m.restoredBy('legacy', out.xlHeader)
      const deep = c.kind === 'none' ? await legacyDeepFacts(img, streamStart) : undefined
      const cp = deep?.checkpointed ?? null
      out.stream!.checkpointed = cp
      state = deep ? deep.state : undefined
      if (cp) {
        // The 4.5 receiver of a Remus stream; the converter that xl restore runs on 4.6+ takes only the first checkpoint.
        out.restore.by = ['xl migrate-receive -r on Xen <= 4.5 (Remus failover from the last complete checkpoint)', PLAIN_FIRST]
        out.note = "a Remus stream: xl restore takes one image, and Xen 4.6+'s own converter converts only its first checkpoint; `xst convert` writes the last complete one"
      }
    }
    if (out.stream && out.verdict !== 'damaged') {
      const st = out.stream
      const byContainer = containerState(c.kind, out.guest) ?? (await sectionState(img.reader, out.container))
      // Read to the end on a file and no device state found: the stream carries none (a bare libxc stream keeps it apart).
      if (state === null && out.guest === 'hvm' && !byContainer)
        state = {model: 'unknown', why: st.format === 'libxc' ? 'a bare libxc stream carries no device state: the toolstack keeps it apart' : 'the image holds no device state'}
      out.restore = assessRestore(
        {
          stream: st.format,
          libxcVersion: st.libxcVersion,
          checkpointed: st.checkpointed?.kind ?? null,
          guest: out.guest,
          guestWidth: out.guestWidth,
          toolstackWidth: out.toolstackWidth,
          container: c.kind,
          libvirt: out.container.libvirt ? {version: out.container.libvirt.version, emulator: out.container.libvirt.emulator} : undefined,
          xl: out.xlHeader ? {config: xlConfig} : null,
          state:
            out.guest !== 'hvm'
              ? null
              : (byContainer ?? state ?? {model: 'unknown', why: 'identify does not read a stream through gzip or a pipe as far as its device state: give the file (or run convert or verify)'}),
        },
        out.restore.by,
      )
    }
  } catch (err) {
    if (!(err instanceof FormatError)) throw err
    if (err instanceof ForeignFormatError) {
      // Known, and not Xen's: named, with what it is for.
      const f = err.foreign
      out.container = {kind: 'none', label: containerModule('none').label, compressed: err.compressed}
      out.foreign = f
      out.guest = foreignGuest(f)
      out.domainName = foreignDomainName(f)
      out.verdict = 'not a Xen image'
      out.note = f.advice
      out.error = errorJson(err.code, err.message)
      return out
    }
    // Nothing marks it as Xen's (no magic, no container, no legacy layout got
    // as far as its guest type): not an image. A gzip layer that cannot be
    // read through is damage, whatever it holds.
    out.verdict = recognised || err.code.startsWith('gzip-') || out.guest !== null ? 'damaged' : 'not a Xen image'
    out.error = errorJson(err.code, err.message, {offset: err.offset, index: err.where.index, context: err.where.context, expected: err.expected, got: err.got})
    // A container whose header could not be read is still named, by its magic.
    const sniffed = containerBySniff(first.kind)
    if (!out.container && sniffed) out.container = {kind: sniffed.kind, label: sniffed.label, compressed}
  } finally {
    if (img) await closeImage(img)
  }
  return out
}

/**
 * What only a pass over the whole v2 stream from `start` tells: whether it
 * is checkpointed (Remus, COLO) and how many checkpoints it completes (the
 * verifier's count), and whose its device state is (the first
 * EMULATOR_CONTEXT's emulator id, or its bytes). Its page data seeked over,
 * so only on an input that can be read twice (a file): undefined
 * otherwise. Its verdict on the stream is not identify's to give.
 */
async function v2DeepFacts(
  reader: ByteReader,
  start: number,
): Promise<{checkpointed: {kind: 'remus' | 'colo'; complete: number} | null; state: StateModel | null; error: StreamDefect | null} | undefined> {
  if (!reader.seekable) return undefined
  reader.seekTo(start)
  const caught = new DeviceStateCatch()
  const report = await verifyStream(reader, new V2Verifier(), {stopAtEnd: true, onBody: caught.hook})
  const cp = report.summary.checkpoints
  const first = report.valid ? undefined : report.errors[0]
  return {checkpointed: cp ? {kind: cp.kind, complete: cp.complete} : null, state: caught.state, error: first ? {code: first.code, message: first.message, offset: first.offset} : null}
}

/** The first error the verifier found in a v2 stream. */
interface StreamDefect {
  code: ErrorCode
  message: string
  offset: number
}

/** What restores a checkpointed stream on any Xen 4.6+: made plain first. */
const PLAIN_FIRST = 'xl restore after `xst convert` (a plain stream of the last complete checkpoint)'

/**
 * What only a walk of the whole legacy stream from `start` tells: whether
 * it is a Remus stream (checkpoints after the image) and how many
 * checkpoints it completes, and whose its device state is (the qemu
 * record's bytes). Its page data seeked over, so only on an input that can
 * be read twice (a file): undefined otherwise. A defect anywhere is not
 * identify's to report: then nothing more is said.
 */
async function legacyDeepFacts(img: OpenedImage, start: number): Promise<{checkpointed: {kind: 'remus'; complete: number} | null; state: StateModel | null} | undefined> {
  const r = img.reader
  if (!r.seekable) return undefined
  r.seekTo(start)
  // Each checkpoint event completes the one before it; the last is complete unless the stream is cut inside it.
  let starts = 0
  let cut = false
  let state: StateModel | null = null
  try {
    for await (const ev of walkLegacy(r, {qemuRecords: img.qemuRecords, transientBatches: true})) {
      if (ev.kind === 'checkpoint') starts++
      else if (ev.kind === 'checkpoint-cut') cut = true
      else if (ev.kind === 'qemu-record' && !state) state = modelOfState(Buffer.from(await r.peek(STATE_HEAD)))
      else if (ev.kind === 'no-qemu-record' && !state) state = {model: 'unknown', why: 'the image holds no device state (no qemu record after the HVM context)'}
    }
  } catch {
    return undefined
  }
  return {checkpointed: starts ? {kind: 'remus', complete: cut ? starts : starts + 1} : null, state}
}

/** A magic of Xen's own (a container, an xl header, a v2 stream): not gzip, not the unknown (legacy or nothing). */
const isXenKind = (k: InputKind) => k !== 'unknown-or-legacy' && k !== 'empty' && k !== 'gzip'

/** Guest, widths and the xl header's facts from the first events of a walk of the legacy stream (no page data). */
async function legacyFacts(img: OpenedImage, out: Identified): Promise<void> {
  const walk = walkLegacy(img.reader, {qemuRecords: img.qemuRecords, stopAtImageEnd: true}) as AsyncGenerator<LegacyEvent>
  try {
    for await (const ev of walk) {
      if (ev.kind === 'xl-header') {
        out.xlHeader = true
        out.domainName ??= ev.header.config?.name ?? null
      } else if (ev.kind === 'image') {
        out.stream = {format: 'legacy', libxcVersion: null, libxlVersion: null}
        out.guest = ev.guest
        out.toolstackWidth = ev.toolstackWidth
        if (ev.guest === 'hvm') return
      } else if (ev.kind === 'extended-info') {
        out.guestWidth = ev.guestWidth === 8 ? 64 : 32
        return
      }
    }
  } finally {
    await walk.return(undefined)
  }
}

/**
 * Versions, guest type and (PV) guest width from the v2 headers and the
 * first records. The headers are shown to the verifier (its header checks,
 * src/v2/verify/headers.ts): the first error it finds in them (a version no
 * restorer reads, a bad marker) is returned, undefined when none.
 */
async function v2Facts(r: ByteReader, format: 'libxc' | 'libxl', out: Identified): Promise<StreamDefect | undefined> {
  const records = new V2RecordReader(r)
  let defect: StreamDefect | undefined
  // Each header shown to a fresh verifier, as a stream's first: its own checks, not where it stands.
  const checker = () =>
    new V2Verifier({
      onProblem: (p) => {
        if (p.severity === 'error') defect ??= {code: p.code, message: p.message, offset: p.offset}
      },
    })
  out.stream = {format, libxcVersion: null, libxlVersion: null}
  if (format === 'libxl') {
    const [h, offset] = await records.libxlHeader()
    checker().libxlHeader(h, offset)
    out.stream.libxlVersion = LibxlHeader.get(h).version
    // The libxc stream starts after LIBXC_CONTEXT, the first libxl record a writer sends.
    for (let i = 0; ; i++) {
      if (i === FIRST_RECORDS) return defect
      const rec = await records.record('libxl')
      if (rec.type === LibxlRec.LIBXC_CONTEXT) break
      if (rec.type === LibxlRec.END) return defect
    }
  }
  const [ih, dh, offset] = await records.libxcHeaders()
  checker().libxcHeaders(ih, dh, offset)
  out.stream.libxcVersion = ImageHeader.get(ih).version
  const type = DomainHeader.get(dh).type
  out.guest = type === DomainType.X86_PV ? 'pv' : type === DomainType.X86_HVM ? 'hvm' : null
  if (out.guest !== 'pv') return defect
  for (let i = 0; i < FIRST_RECORDS; i++) {
    const head = await r.peekLayout(RecordHeader)
    if (!head) return defect
    const t = head.type
    // Page data is where identify stops reading.
    if (t === Rec.PAGE_DATA || t === Rec.END) return defect
    const rec = await records.record('libxc')
    if (t === Rec.X86_PV_INFO && rec.head.length >= X86PvInfo.size) {
      const w = X86PvInfo.get(rec.head).guestWidth
      out.guestWidth = w === 8 ? 64 : w === 4 ? 32 : null
      return defect
    }
  }
  return defect
}
