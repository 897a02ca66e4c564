// The one interface every container implements (src/container/kinds/*.ts,
// listed in registry.ts), and the types the containers and the commands
// share. A command asks the registry for the module of the container it
// opened and calls it; it never asks which kind the container is.
import type {OutputFamily, Plan} from '../convert/families.js'
import type {FormatError} from '../errors.js'
import type {ByteReader} from '../io/reader.js'
import type {ByteSink} from '../io/sink.js'
import type {V2Verifier} from '../v2/verify/verifier.js'
import type {GzipSource} from '../io/gzip-source.js'
import type {LibvirtHeaderInfo} from './libvirt.js'
import type {QemuRecordVariant} from '../legacy/qemu-record.js'
import type {Container, ContainerKind} from './registry.js'

export type {Container, ContainerKind}

/**
 * What the bytes at the reader's position are: a libxc or libxl v2 stream,
 * an xl header (what follows it is for the walker or verifier to tell), a
 * legacy stream or not an image at all (the legacy detector tells), or
 * nothing at all.
 */
export type StreamKind = 'libxc' | 'libxl' | 'xl' | 'legacy' | 'empty'

export interface OpenedImage<C extends {kind: string} = Container> {
  /** The image, decompressed when it was gzip, positioned after the container's header. */
  reader: ByteReader
  /** The input as given (compressed, when gzip). */
  input: ByteReader
  /** The decompressing source, when the input was gzip. */
  gzip: GzipSource | undefined
  container: C
  /** What follows the container header; undefined for a structured XenServer image (sections follow). */
  stream: StreamKind | undefined
  /** The qemu record framings the container writes after a legacy HVM tail. */
  qemuRecords: readonly QemuRecordVariant[]
}

export interface SectionLine {
  name: string
  /** Offset of the section header (decompressed). */
  offset: number
  /** Body bytes of a sized section; null for stream sections and End_of_image. */
  length: number | null
}

export interface ContainerSummary {
  kind: ContainerKind
  label: string
  /** The input was gzip-compressed (offsets are into the decompressed image). */
  compressed: boolean
  /** emulator: the device model binary the domain XML names, or null. */
  libvirt?: {version: number; claims: 'legacy' | 'libxl'; xmlLength: number; domainName: string | null; emulator: string | null}
  xend?: {configLength: number; domainName: string | null; memoryMiB: number | null; vcpus: number | null; imageKind: string | null}
  /** vmName, vmUuid: the VM's, from the VM record in vm_str; null when it does not give them plainly. */
  xenops?: {time: string; wordSize: number; vmStrLength: number | null; xsSubtreeEntries: number | null; unknownFields: string[]; vmName: string | null; vmUuid: string | null}
  /** Structured XenServer image: its sections as far as they were read. */
  sections?: SectionLine[]
  /**
   * Structured XenServer image: the section reading stopped at (a Demu
   * section, whose end xst cannot find); it and everything after it were
   * not read. Absent when the sections were read to End_of_image.
   */
  stoppedAt?: {section: string; offset: number}
  /** Bytes after End_of_image (a VDI may hold more than the image): not part of it. */
  afterEnd?: number
}

/** What verify hands a container: the verifier, the summary, and the stream's check. */
export interface VerifyAround {
  verifier: V2Verifier
  summary: ContainerSummary
  /**
   * Check the stream at the reader's position with the verifier (stopAtEnd:
   * up to its END only, when more of the container follows); false when the
   * check ended early.
   */
  check(o?: {stopAtEnd: true}): Promise<boolean>
}

/** What inspect-legacy hands a container: where its warnings go, and the reading of the legacy stream. */
export interface InspectAround<R> {
  warn(message: string): void
  /** Walk the legacy stream at the reader's position into the report (stopAtImageEnd: when more of the container follows it). */
  read(o?: {stopAtImageEnd: true}): Promise<R>
}

/** The verdict a container's own claim about a v2 stream gives it (libvirt's version), over identify's own. */
export interface V2Verdict {
  verdict: 'needs conversion' | 'damaged'
  note?: string
  restoredBy: string[]
  error?: FormatError
}

/** What dump-core tells a container reading on after the stream. */
export interface DumpAfterStream {
  /** What the stream was. */
  kind: 'legacy' | 'v2'
  onWarning?: (message: string) => void
  onRefused?: (err: FormatError) => void
}

/** What convert found inside a container before writing anything. */
export interface PreparedContainer {
  /** The stream inside (after the sections before it, for a structured XenServer image). */
  stream: StreamKind
  /** What of the container a XenServer output carries over (a structured input's sections). */
  sections?: CarriedSections
}

/** A structured XenServer input's sections, read up to its memory image, for a XenServer output to carry over. */
export interface CarriedSections {
  /** The signature and every section before the stream section, exactly as read. */
  before: Buffer[]
  /** After the stream: copy every later section, in order, to End_of_image (what follows it is only counted, in the summary and a note). */
  rest(sink: ByteSink, notes: string[]): Promise<void>
}

/** What a container adds to the summary from its header (the rest is filled in as it is read). */
export type ContainerFacts = Omit<ContainerSummary, 'kind' | 'label' | 'compressed'>

/**
 * One container: how it is recognised and opened, what every report says
 * of it, and what each command does around the stream it holds. `C` is
 * the container as opened (its kind and header). Every member is
 * required, so a module that leaves one out does not compile; members
 * are methods, so the registry can hand any module out as a
 * ContainerModule<Container> (it is only ever called with a container of
 * its own kind).
 */
export interface ContainerModule<C extends {kind: string}> {
  readonly kind: C['kind']
  /** For messages and reports: "libvirt libxl-driver save image". */
  readonly label: string

  // detect and open

  /** The bytes at offset 0 that mark it, and its family in sniff's table; null for no container (what no magic marks). */
  readonly detect: {magic: Buffer; family: string} | null
  /** Read and check its header at the reader's position (detect matched there). */
  open(reader: ByteReader): Promise<C>
  /** What follows the header: the stream there, sniffed (nothing consumed), or undefined when sections come first. */
  streamAfterHeader(reader: ByteReader): Promise<StreamKind | undefined>
  /** The qemu record framings it writes after a legacy HVM tail. */
  readonly qemuRecords: readonly QemuRecordVariant[]
  /** More of the container follows the stream (a structured image's sections): the stream is read to its own end only. */
  readonly moreAfterStream: boolean

  // describe

  /** Its facts from the header, for the summary every report shows. */
  describe(c: C): ContainerFacts
  /** The domain name it gives (from its summary), or null. */
  domainName(s: ContainerSummary): string | null
  /** Its few words in a report line: the label, and what tells images of the kind apart (libvirt's version). */
  words(s: ContainerSummary): string
  /** inspect-legacy's lines for its facts (`pad` the label column). */
  lines(s: ContainerSummary, pad: (label: string) => string): string[]
  /** A warning when what it says of the guest contradicts the stream (an xend config's image kind); the stream decides. */
  guestClaim(c: C, guest: 'pv' | 'hvm'): string | undefined

  // what each command does around the stream

  /**
   * verify: the container's own rules, and the stream inside checked
   * (`v.check`); the container's defects go to the verifier. False when
   * the check ended early.
   */
  verify(img: OpenedImage<C>, v: VerifyAround): Promise<boolean>
  /**
   * inspect-legacy: the legacy stream inside read (`io.read`), and what the
   * container says around it told (`io.warn`); the report's `bytes` are the
   * image's.
   */
  inspect<R extends {bytes: number}>(img: OpenedImage<C>, summary: ContainerSummary, io: InspectAround<R>): Promise<R>
  /**
   * What restores such an image, most usual first: the program that reads
   * this exact layout (xl needs its own header before a libxl stream,
   * libvirt its header, xenopsd its suspend image; a bare libxc stream only
   * a toolstack's helper through libxenguest), and for a legacy stream what
   * restored it then and what does after `xst convert` (FORMAT.md §1, §6;
   * the conformance vectors' restorable_by). Empty when nothing does.
   */
  restoredBy(stream: 'legacy' | 'libxc' | 'libxl', xlHeader: boolean): string[]
  /** identify: only headers are read, never page data; whatever a restore refuses is thrown (the image is damaged). */
  readonly identify: {
    /** Reach the stream and say what it is: the one sniffed after the header, or the memory image section's. */
    toStream(img: OpenedImage<C>, summary: ContainerSummary): Promise<StreamKind | undefined>
    /**
     * Once a v2 stream's first records are read: what follows the stream,
     * where that says what restores the image (`restoredBy`) or why it was
     * not read (`note`).
     */
    afterV2(img: OpenedImage<C>, stream: 'libxc' | 'libxl', summary: ContainerSummary): Promise<{note?: string; restoredBy?: string[]}>
    /** The verdict on a v2 stream when the container's claim about it decides (libvirt's version). */
    v2Verdict(c: C, stream: 'libxc' | 'libxl'): V2Verdict | undefined
  }
  /** dump-core: the memory image reached, and what follows it read once the first pass has read it. */
  readonly dump: {
    /**
     * Reach the stream: 'legacy' or 'v2' when the container says which
     * (a section's type), undefined when the bytes there decide, as for a
     * bare image. A section a restore refuses is told to `onRefused` (the
     * memory is whole whatever follows it).
     */
    toStream(img: OpenedImage<C>, summary: ContainerSummary, onRefused?: (err: FormatError) => void): Promise<'legacy' | 'v2' | undefined>
    /**
     * After the first pass has read the stream with `reader`: what follows
     * it, read on to the input's end (a gzip input's check runs there).
     * Returns the image's length.
     */
    afterStream(img: OpenedImage<C>, reader: ByteReader, summary: ContainerSummary, o: DumpAfterStream): Promise<number>
  }
  /** convert: what of the container the output keeps (the output families themselves are convert/families.ts'). */
  readonly convert: {
    /** The output family `--container keep` writes. */
    readonly keep: OutputFamily
    /** Read what planning needs, before anything is written: what the stream inside is, and what an output may carry over. */
    prepare(img: OpenedImage<C>, summary: ContainerSummary): Promise<PreparedContainer>
    /** The input's own xl header is the output's (a bare stream behind one): no new one is written. */
    ownXlHeader(stream: StreamKind): boolean
    /** A v2 stream inside: the plan for it, from the one the request makes (which hands the stream to the walker, and it says the stream is already v2). */
    planV2(c: C, stream: 'libxc' | 'libxl', plan: Plan): Plan
    /** The header (with the domain XML) a libvirt output is written from: only a libvirt input has one. */
    libvirtHeader(c: C): LibvirtHeaderInfo | undefined
  }
}
