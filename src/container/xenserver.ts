// XenServer (xapi / xenopsd) suspend images, as xenopsd's
// lib/suspend_image.ml and xc/domain.ml write and read them.
//
// Legacy (`XenSavedDomain\n`): the signature, a legacy stream with no xl
// header, then for HVM a qemu record (see qemu-record.ts for its variants).
//
// Structured (`XenSavedDomv2-\n`): the signature, then sections, each a
// 16-byte header (u64 type, u64 length, little-endian) and a body, until an
// End_of_image section. The first section is a Xenops record: an
// s-expression with the save time and the saver's word size.
import {FormatError, UsageError} from '../errors.js'
import type {ByteReader} from '../io/reader.js'
import {chars, layout, u64le} from '../format/layout.js'
import {Payload} from '../io/payload.js'
import {hex} from '../text.js'
import {head, parseSexplib, type Sexp, SexpError, sexplibAtom} from './sexpr.js'

export const XENSERVER_LEGACY_SIGNATURE = 'XenSavedDomain\n'
export const XENSERVER_STRUCTURED_SIGNATURE = 'XenSavedDomv2-\n'
/** Both signatures are this long. */
export const XENSERVER_SIGNATURE_LENGTH = 15

export const XenServerSignature = layout('XenServer signature', {signature: chars(XENSERVER_SIGNATURE_LENGTH)})
export const SectionHeader = layout('XenServer section header', {type: u64le, length: u64le})

export type XenServerFormat = 'legacy' | 'structured'

/** Which XenServer image `head` starts, if any. */
export function xenServerFormat(head: Buffer): XenServerFormat | undefined {
  if (head.length < XENSERVER_SIGNATURE_LENGTH) return undefined
  const sig = head.toString('latin1', 0, XENSERVER_SIGNATURE_LENGTH)
  if (sig === XENSERVER_LEGACY_SIGNATURE) return 'legacy'
  if (sig === XENSERVER_STRUCTURED_SIGNATURE) return 'structured'
  return undefined
}

export interface XenServerSignatureInfo {
  offset: number
  format: XenServerFormat
  bytes: Buffer
}

/** Read the signature at the reader's position. */
export async function readXenServerSignature(reader: ByteReader): Promise<XenServerSignatureInfo> {
  const offset = reader.offset
  const bytes = await reader.read(XENSERVER_SIGNATURE_LENGTH, 'XenServer signature')
  const format = xenServerFormat(bytes)
  if (!format) {
    throw new FormatError('xenserver-bad-signature', 'not a XenServer suspend image: the signature is wrong', {
      offset,
      context: 'XenServer signature',
      expected: `${JSON.stringify(XENSERVER_LEGACY_SIGNATURE)} or ${JSON.stringify(XENSERVER_STRUCTURED_SIGNATURE)}`,
      got: JSON.stringify(bytes.toString('latin1')),
    })
  }
  return {offset, format, bytes}
}

// ---------------------------------------------------------------------------
// Sections of a structured image: one table.

/**
 * What follows a section header:
 * - `sized`: `length` bytes;
 * - `libxc-stream`: a libxc v2/v3 stream up to its END (length 0);
 * - `legacy-stream`: a legacy stream, then a `DeviceModelRecord0002` qemu record (length 0);
 * - `libxl-stream`: a libxl stream (never written; length unknown);
 * - `opaque-stream`: a stream in a format of its own whose end only its reader knows (length 0);
 * - `none`: nothing.
 */
export type SectionBody = 'sized' | 'libxc-stream' | 'legacy-stream' | 'libxl-stream' | 'opaque-stream' | 'none'

export interface SectionType {
  readonly type: number
  readonly name: string
  readonly body: SectionBody
  /** xenopsd's restore fails on it. */
  readonly refusedByRestore: boolean
  /** Largest body xst accepts (sized sections), checked before anything is read. */
  readonly maxLength?: number
  /** Largest body xenopsd's restore accepts, when it has a bound of its own (see restoreRefusal). */
  readonly restoreMax?: number
  readonly what: string
}

/** A Xenops record is read into memory and parsed: it is a few hundred bytes, a few MiB with a large vm_str. */
export const MAX_XENOPS_RECORD = 16 << 20
/** Bound on any other sized section (streamed, never held whole). */
export const MAX_SECTION_BODY = 2 ** 40
/** xenopsd's consume_qemu_record (xc/domain.ml) refuses a qemu record longer than this: "QEMU record length in header too large". */
export const XENOPSD_MAX_QEMU_RECORD = 1_048_576

export const SECTION_TYPES: readonly SectionType[] = [
  {type: 0x000f, name: 'Xenops', body: 'sized', refusedByRestore: false, maxLength: MAX_XENOPS_RECORD, what: 'xenopsd record (s-expression)'},
  {type: 0x00f0, name: 'Libxc', body: 'libxc-stream', refusedByRestore: false, what: 'libxc v2/v3 memory image'},
  {type: 0x00f1, name: 'Libxl', body: 'libxl-stream', refusedByRestore: true, what: 'libxl save record'},
  {type: 0x00f2, name: 'Libxc_legacy', body: 'legacy-stream', refusedByRestore: false, what: 'legacy (Xen <= 4.5) memory image with its qemu record'},
  {type: 0x0f00, name: 'Qemu_trad', body: 'sized', refusedByRestore: false, maxLength: MAX_SECTION_BODY, restoreMax: XENOPSD_MAX_QEMU_RECORD, what: 'qemu-traditional device state'},
  {type: 0x0f01, name: 'Qemu_xen', body: 'sized', refusedByRestore: true, maxLength: MAX_SECTION_BODY, what: 'qemu-xen device state'},
  {type: 0x0f10, name: 'Demu', body: 'opaque-stream', refusedByRestore: false, what: 'vGPU state'},
  {type: 0x0f11, name: 'Varstored', body: 'sized', refusedByRestore: false, maxLength: MAX_SECTION_BODY, what: 'UEFI variables'},
  {type: 0x0f12, name: 'Swtpm0', body: 'sized', refusedByRestore: false, maxLength: MAX_SECTION_BODY, what: 'vTPM state'},
  {type: 0x0f13, name: 'Swtpm', body: 'sized', refusedByRestore: false, maxLength: MAX_SECTION_BODY, what: 'vTPM state'},
  {type: 0xffff, name: 'End_of_image', body: 'none', refusedByRestore: false, what: 'end of the image'},
]

const BY_TYPE = new Map(SECTION_TYPES.map((s) => [s.type, s]))
const BY_NAME = new Map(SECTION_TYPES.map((s) => [s.name, s]))

export function sectionType(type: number | bigint): SectionType | undefined {
  return typeof type === 'bigint' ? (type <= 0xffffn ? BY_TYPE.get(Number(type)) : undefined) : BY_TYPE.get(type)
}

/** The table entry by name, e.g. section('Xenops'). */
export function section(name: string): SectionType {
  const s = BY_NAME.get(name)
  if (!s) throw new Error(`internal: no XenServer section named ${name}`)
  return s
}

/**
 * Why xenopsd's restore refuses a section whose header reads well, if it
 * does: xc/domain.ml restore_common's process_header fails on a Libxl or a
 * Qemu_xen section (Suspend_image_failure), and its consume_qemu_record on a
 * Qemu_trad body over XENOPSD_MAX_QEMU_RECORD (1 MiB). Every command asks
 * this one function: verify reports it as an error, identify as damage,
 * dump-core (which still has the memory before it) as a warning.
 */
export function restoreRefusal(h: Pick<SectionHeaderInfo, 'section' | 'length' | 'offset'>): FormatError | undefined {
  const s = h.section
  const where = {offset: h.offset, context: `${s.name} section`}
  if (s.refusedByRestore) {
    return new FormatError('xenserver-refused-section', `a ${s.name} section (${s.what}): xenopsd refuses to restore an image holding one (xc/domain.ml process_header: Suspend_image_failure)`, where)
  }
  if (s.restoreMax !== undefined && h.length > s.restoreMax) {
    return new FormatError(
      'xenserver-qemu-too-large',
      `${s.name} section length ${h.length} exceeds ${s.restoreMax} bytes (1 MiB): xenopsd refuses to restore it (xc/domain.ml consume_qemu_record: "QEMU record length in header too large")`,
      {...where, offset: h.offset + SectionHeader.offsets.length},
    )
  }
  return undefined
}

export interface SectionHeaderInfo {
  /** Offset of the section header. */
  offset: number
  section: SectionType
  /** The length field as stored. */
  rawLength: bigint
  /** Body bytes for sized sections; 0 for the others (whatever the field says). */
  length: number
  /** Offset of the first body byte. */
  bodyOffset: number
}

/**
 * Read a section header at the reader's position. The stream ending here,
 * before any End_of_image, is `xenserver-no-end`; an unknown type, or a
 * sized section longer than its bound or than the bytes left, is refused
 * before anything is read for it (the bytes left running out is a
 * TruncatedError, as everywhere).
 */
export async function readSectionHeader(reader: ByteReader): Promise<SectionHeaderInfo> {
  const offset = reader.offset
  if (await reader.atEnd()) {
    throw new FormatError('xenserver-no-end', 'the XenServer image ends without an End_of_image section', {
      offset,
      context: 'XenServer sections',
      expected: 'a section header',
      got: 'the end of the image',
    })
  }
  const h = await reader.readLayout(SectionHeader, 'XenServer section header')
  const s = sectionType(h.type)
  if (!s) {
    throw new FormatError('xenserver-unknown-section', `unknown XenServer section type ${hex(h.type)}`, {
      offset: offset + SectionHeader.offsets.type,
      context: 'XenServer section header',
      expected: SECTION_TYPES.map((t) => hex(t.type)).join(', '),
      got: hex(h.type),
    })
  }
  let length = 0
  if (s.body === 'sized') {
    const max = s.maxLength ?? MAX_SECTION_BODY
    const maxName = max === MAX_XENOPS_RECORD ? 'MAX_XENOPS_RECORD' : 'MAX_SECTION_BODY'
    const where = {offset: offset + SectionHeader.offsets.length, context: `${s.name} section header`}
    // A u64: compared as such before it becomes a number.
    if (h.length > BigInt(max)) {
      throw new FormatError('length-too-large', `${s.name} section length ${h.length} exceeds ${maxName} (${max})`, {...where, expected: `at most ${max}`, got: h.length.toString()})
    }
    length = Number(h.length)
    reader.checkLength(length, `${s.name} section`, max, maxName, where)
  }
  return {offset, section: s, rawLength: h.length, length, bodyOffset: reader.offset}
}

/** A section header for `name` with a body of `length` bytes (0 for stream and end sections). */
export function encodeSectionHeader(name: string, length = 0): Buffer {
  const s = section(name)
  if (s.body !== 'sized' && length !== 0) throw new Error(`internal: ${name} section has no sized body`)
  return SectionHeader.encode({type: BigInt(s.type), length: BigInt(length)})
}

/** One section of a structured image, as walkSections yields it. */
export interface StructuredSection extends SectionHeaderInfo {
  /** The body of a sized section, to read or stream; skipped if left. */
  body?: Payload
}

/**
 * Walk the sections of a structured image; the reader must be just after
 * the signature. Sized bodies are handed out as Payloads (skipped unless
 * the consumer reads them). A stream section (Libxc, Libxc_legacy, ...)
 * has no length: before asking for the next section, the consumer must
 * read its stream to the end with the matching reader (v2 reader, legacy
 * walker), or stop walking. Ends after End_of_image; whatever follows it is
 * not read (a VDI may hold more bytes after the image).
 */
export async function* walkSections(reader: ByteReader): AsyncGenerator<StructuredSection> {
  for (;;) {
    const h = await readSectionHeader(reader)
    if (h.section.body === 'sized') {
      const body = new Payload(reader, h.bodyOffset, h.length, `${h.section.name} section`, h.section.maxLength ?? MAX_SECTION_BODY)
      yield {...h, body}
      await body.finish()
    } else {
      yield h
      if (h.section.body === 'none') return
      if (reader.offset === h.bodyOffset) {
        throw new Error(`internal: the ${h.section.name} section's stream was not read before the next section was asked for`)
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The Xenops record

/** The fields of xenopsd's Xenops_record.t (lib/suspend_image.ml); ppx_sexp_conv makes of_string refuse any other. */
export const XENOPS_FIELDS: readonly string[] = ['time', 'word_size', 'vm_str', 'xs_subtree']

export interface XenopsRecord {
  /** Save time as xenopsd wrote it, e.g. 20150312T10:11:12Z. */
  time: string
  /** The saving xenopsd's word size (32 or 64). */
  wordSize: number
  /** Length of the optional vm_str (the VM's metadata), when present. */
  vmStrLength?: number
  /** Number of optional xs_subtree pairs, when present. */
  xsSubtreeEntries?: number
  /** Fields xst does not know (a newer xenopsd); an older xenopsd would refuse them. */
  unknownFields: string[]
  /** Offset (in the image) of the first of them. */
  unknownFieldAt?: number
  /** The VM's name and uuid, from the VM record in vm_str (see vmIdentity); null when it does not give them plainly. */
  vmName: string | null
  vmUuid: string | null
  tree: Sexp
}

function xenopsError(detail: string, offset: number, expected?: string, got?: string): FormatError {
  return new FormatError('xenops-record', detail, {offset, context: 'Xenops record', expected, got})
}

/**
 * Parse and check a Xenops record body (`offset`: where the body starts in
 * the image, for messages): one s-expression that is a list of
 * `(field value)` pairs, each field at most once, with `time` (an atom)
 * and `word_size` (an integer); `vm_str` (an atom) and `xs_subtree` (a
 * list of pairs) optional.
 */
export function parseXenopsRecord(body: Buffer, offset = 0): XenopsRecord {
  const text = body.toString('latin1')
  let tree: Sexp
  try {
    tree = parseSexplib(text)
  } catch (err) {
    if (err instanceof SexpError && err.tooMany) throw new FormatError('too-many-elements', `Xenops record holds ${err.message}`, {offset: offset + err.at, context: 'Xenops record'})
    if (err instanceof SexpError) throw xenopsError(`Xenops record is not a well-formed s-expression: ${err.message}`, offset + err.at)
    throw err
  }
  if (tree.kind !== 'list') throw xenopsError('Xenops record is an atom, not a list of fields', offset + tree.offset)
  const seen = new Map<string, Sexp>()
  const unknownFields: string[] = []
  let unknownFieldAt: number | undefined
  for (const field of tree.items) {
    const name = head(field)
    if (field.kind !== 'list' || name === undefined || field.items.length !== 2) {
      throw xenopsError('Xenops record field is not a (name value) pair', offset + field.offset)
    }
    if (seen.has(name)) throw xenopsError(`Xenops record holds field ${name} twice`, offset + field.offset)
    seen.set(name, field.items[1])
    if (!XENOPS_FIELDS.includes(name)) {
      unknownFields.push(name)
      unknownFieldAt ??= offset + field.offset
    }
  }
  const atom = (name: string, required: boolean): string | undefined => {
    const v = seen.get(name)
    if (v === undefined) {
      if (required) throw xenopsError(`Xenops record has no ${name} field`, offset + tree.offset)
      return undefined
    }
    if (v.kind !== 'atom') throw xenopsError(`Xenops record field ${name} is a list, not a value`, offset + v.offset)
    return v.value
  }
  const time = atom('time', true)!
  const ws = atom('word_size', true)!
  if (!/^-?[0-9]+$/.test(ws)) throw xenopsError('Xenops record word_size is not an integer', offset + seen.get('word_size')!.offset, 'an integer', JSON.stringify(ws))
  const vmStr = atom('vm_str', false)
  let xsSubtreeEntries: number | undefined
  const xs = seen.get('xs_subtree')
  if (xs !== undefined) {
    const pairs = xs.kind === 'list' ? xs.items : undefined
    if (!pairs?.every((p) => p.kind === 'list' && p.items.length === 2 && p.items.every((a) => a.kind === 'atom'))) {
      throw xenopsError('Xenops record xs_subtree is not a list of (key value) pairs', offset + xs.offset)
    }
    xsSubtreeEntries = pairs.length
  }
  const vm = vmStr === undefined ? {name: null, uuid: null} : vmIdentity(vmStr)
  return {time, wordSize: Number(ws), vmStrLength: vmStr?.length, xsSubtreeEntries, unknownFields, unknownFieldAt, vmName: vm.name, vmUuid: vm.uuid, tree}
}

/** Longest VM name vmIdentity gives (xapi sets no bound; a name longer than this is not one to print). */
export const MAX_VM_NAME = 1024
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The VM's name and uuid from a Xenops record's vm_str: xenopsd puts the
 * VM record there (Vm.t through ppx_sexp_conv, `((id <uuid>)(name <name>)...)`),
 * as text in the vm_str atom. Read defensively, since it is only a
 * description (restore does not look at it): anything odd gives null
 * instead of an error. The text must parse as one s-expression, a list in
 * which `id` and `name` each appear once as `(key atom)`; the id must be a
 * uuid; the name (bytes, UTF-8 as xapi writes it) must decode as UTF-8,
 * hold no control character and be at most MAX_VM_NAME characters.
 */
export function vmIdentity(vmStr: string): {name: string | null; uuid: string | null} {
  let tree: Sexp
  try {
    tree = parseSexplib(vmStr)
  } catch {
    return {name: null, uuid: null}
  }
  const field = (key: string): string | null => {
    if (tree.kind !== 'list') return null
    const found = tree.items.filter((f) => head(f) === key)
    if (found.length !== 1) return null
    const f = found[0]
    return f.kind === 'list' && f.items.length === 2 && f.items[1].kind === 'atom' ? f.items[1].value : null
  }
  const id = field('id')
  const raw = field('name')
  let name: string | null = null
  if (raw !== null) {
    try {
      name = new TextDecoder('utf-8', {fatal: true, ignoreBOM: true}).decode(Buffer.from(raw, 'latin1'))
    } catch {
      name = null
    }
    if (name !== null && (name.length > MAX_VM_NAME || /[\u0000-\u001f\u007f-\u009f]/.test(name))) name = null
  }
  return {name, uuid: id !== null && UUID.test(id) ? id : null}
}

/** xenopsd's time format (UTC, no dashes): 20150312T10:11:12Z. */
export function xenopsTime(date: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}T${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())}Z`
}

/**
 * The save time a new Xenops record holds: SOURCE_DATE_EPOCH (seconds since
 * 1970, for reproducible output) when set, else now.
 */
export function xenopsTimeNow(env: NodeJS.ProcessEnv = process.env, now: () => Date = () => new Date()): string {
  const sde = env.SOURCE_DATE_EPOCH
  if (sde === undefined || sde === '') return xenopsTime(now())
  if (!/^[0-9]+$/.test(sde) || !Number.isSafeInteger(Number(sde)) || Number(sde) * 1000 > 8.64e15) {
    throw new UsageError(`SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, not ${JSON.stringify(sde)}`, 'bad-source-date-epoch')
  }
  return xenopsTime(new Date(Number(sde) * 1000))
}

/**
 * The body of a new Xenops record, in the form the conformance images
 * hold: `((time "20150312T10:11:12Z")(word_size 64))`.
 * (xenopsd itself leaves the time unquoted, since it needs no quotes;
 * Sexplib reads both the same.)
 */
export function encodeXenopsRecord(r: {time: string; wordSize: number}): Buffer {
  if (!Number.isInteger(r.wordSize)) throw new Error('internal: word_size must be an integer')
  return Buffer.from(`((time ${sexplibAtom(r.time, true)})(word_size ${r.wordSize}))`, 'latin1')
}

/** The word size a conversion writes into a new Xenops record: the v2 stream it describes is the same for every saver. */
export const CONVERTED_WORD_SIZE = 64

/** A whole Xenops section (header and body) holding `body`. */
export function encodeXenopsSection(body: Buffer): Buffer {
  return Buffer.concat([encodeSectionHeader('Xenops', body.length), body])
}

/** Signature of the structured image a conversion writes. */
export function encodeStructuredSignature(): Buffer {
  return XenServerSignature.encode({signature: XENSERVER_STRUCTURED_SIGNATURE})
}
