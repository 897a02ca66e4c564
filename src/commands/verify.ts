import {Args, Flags} from '@oclif/core'
import {XstCommand} from '../cli/base.js'
import {type InputJson, knownBytes} from '../cli/input-json.js'
import type {ContainerSummary} from '../container/describe.js'
import type {OpenedImage} from '../container/open.js'
import {FormatError, XstError} from '../errors.js'
import {parseSpec, specName} from '../io/spec.js'
import type {VerifyReport} from '../v2/verify/verifier.js'
import type {Restore} from '../restore/assess.js'

/**
 * What verifying needs, imported when a verify runs: every command's class
 * loads on every run of any command (see src/cli/commands.ts), so the verifier and the
 * container code stay out of other commands' start-up.
 */
async function verifyModules() {
  const [
    {containerWords},
    {closeImage, openImage},
    {verifyImage},
    {ByteReader},
    {openInput},
    {V2Verifier},
    {checkpointLines, problemLine, RecordListing, verdictLine},
    {restoreLines},
    {DeviceStateCatch},
    {verifiedRestore},
  ] = await Promise.all([
    import('../container/describe.js'),
    import('../container/open.js'),
    import('../container/verify.js'),
    import('../io/reader.js'),
    import('../io/source.js'),
    import('../v2/verify/verifier.js'),
    import('../v2/verify/text.js'),
    import('../restore/assess.js'),
    import('../restore/capture.js'),
    import('../restore/facts.js'),
  ])
  return {
    checkpointLines,
    containerWords,
    closeImage,
    openImage,
    verifyImage,
    ByteReader,
    openInput,
    V2Verifier,
    problemLine,
    RecordListing,
    verdictLine,
    restoreLines,
    DeviceStateCatch,
    verifiedRestore,
  }
}

export type VerifyResult = {ok: boolean; input: InputJson; verdict: 'valid' | 'invalid'} & VerifyReport & {container: ContainerSummary | null; restore: Restore | null}

/** An image that could not be read (no such file, a directory, permission denied): in `images` with the error, the others still verified. */
type Unreadable = {ok: false; input: InputJson; verdict: 'unreadable'; error: Record<string, unknown>}

export default class Verify extends XstCommand {
  static summary = 'Check v2 save images (libxc or libxl streams, in any container), reporting every problem'
  static description =
    `Checks a Xen 4.6+ domain image: a libxc stream (version 2 or 3), or a libxl stream with the libxc stream inside it, behind an xl header, inside a libvirt save image or a XenServer structured suspend image, or none of these; gzip-compressed or not. The container and the stream format are detected from the first bytes; --format overrides the stream's.

Every header and record is checked against the format and against the ordering the restorer relies on, and every problem found is reported with its byte offset, record index and record type (offsets are into the decompressed image). Optional records (type bit 31) are skipped with a warning, as the spec allows. The container is checked too: a libvirt header's version must match the stream it holds; a XenServer image's sections are read (each body bounded by its length), its Xenops record parsed, its Libxc stream verified, and it must end with End_of_image (bytes after that are counted, not checked); sections xenopsd refuses (Libxl, Qemu_xen, a Qemu_trad over 1 MiB) are errors, and a Demu section after the memory image (Citrix vGPU) ends the check with a warning, since its end cannot be found. On a file, page data is skipped by seeking, so a large image is checked in well under a second.

Several images may be given: each gets its own verdict line. Each error and warning is a line on stderr ("error: ..." / "warning: ..."; prefixed by the file's name when there are several); the verdict lines (and with --verbose the record listing) go to stdout. A file that cannot be read (no such file, a directory) is said on stderr and the others are still checked.

With --json, one document whatever the number of images, as identify's: {ok, images: [...]}, each image's report in the order given (a file that cannot be read: {ok: false, input, verdict: "unreadable", error}, as identify names it); ok is true when every image is valid.

Exit status: 0 every image valid (warnings allowed), 1 any invalid (or a legacy image: convert it with \`xst convert\`), 2 usage error or a file that cannot be opened (no such file, a directory, permission denied).`

  static examples = [
    {description: 'Check a saved image', command: '<%= config.bin %> <%= command.id %> guest.save'},
    {description: 'Several at once, one verdict line each', command: '<%= config.bin %> <%= command.id %> /var/lib/libvirt/libxl/save/*.save'},
    {description: 'One line per record', command: '<%= config.bin %> <%= command.id %> --verbose guest.save'},
    {description: 'Check a stream as it arrives on a pipe, JSON out', command: 'xst convert old.save - | <%= config.bin %> <%= command.id %> - --json'},
    {description: 'As JSON, the paths of the images that are not valid', command: "<%= config.bin %> <%= command.id %> --json *.save | jq -r '.images[] | select(.ok | not) | .input.path'"},
  ]

  static strict = false

  static args = {
    image: Args.string({required: true, description: 'image file(s), or - for stdin'}),
  }

  static flags = {
    format: Flags.option({
      options: ['auto', 'libxc', 'libxl'] as const,
      default: 'auto' as const,
      description: 'read the stream as this format instead of detecting it',
    })(),
    'max-errors': Flags.integer({min: 1, description: 'stop after this many errors (per image)'}),
    verbose: Flags.boolean({char: 'v', description: 'one line per header and record (runs of PAGE_DATA squashed into one)'}),
  }

  async run(): Promise<{ok: boolean; images: Array<VerifyResult | Unreadable>}> {
    const {argv, flags} = await this.parse(Verify)
    const files = argv as string[]
    const several = files.length > 1
    const images: Array<VerifyResult | Unreadable> = []
    let code = 0
    for (const file of files) {
      const name = specName(parseSpec(file), 'input')
      try {
        const r = await this.verifyOne(file, flags, several)
        images.push(r)
        if (!r.ok) code = Math.max(code, 1)
      } catch (err) {
        // Not the image's: the report could not be written, or its reader left.
        if (!(err instanceof XstError) || err.code === 'report-failed' || err.code === 'broken-pipe') throw err
        // One image that cannot be read does not stop the others.
        // Named once, and only among several: a message about the file (no such file, permission denied) names it already.
        this.diag(`xst verify: ${!several || err.message.startsWith(`${name}: `) ? err.message : `${name}: ${err.message}`}`)
        images.push({ok: false, input: {path: name, size: null, bytes: null}, verdict: 'unreadable', error: err.toJSON()})
        code = Math.max(code, err.exitCode)
      }
    }
    process.exitCode = code
    return {ok: code === 0, images}
  }

  private async verifyOne(file: string, flags: {format: 'auto' | 'libxc' | 'libxl'; 'max-errors'?: number; verbose: boolean}, several: boolean): Promise<VerifyResult> {
    const {
      checkpointLines,
      closeImage,
      containerWords,
      ByteReader,
      openImage,
      openInput,
      problemLine,
      RecordListing,
      V2Verifier,
      verdictLine,
      verifyImage,
      restoreLines,
      DeviceStateCatch,
      verifiedRestore,
    } = await verifyModules()
    const name = specName(parseSpec(file), 'input')
    const listing = new RecordListing((l) => this.line(l))
    const verifier = new V2Verifier({
      maxErrors: flags['max-errors'],
      onProblem: (p) => {
        listing.flush()
        this.diag((several ? `${name}: ` : '') + problemLine(p))
      },
      onRecord: flags.verbose ? (n) => listing.add(n) : undefined,
    })
    const input = new ByteReader(openInput(file))
    const caught = new DeviceStateCatch()
    let restore: Restore | null = null
    let report: VerifyReport & {container: ContainerSummary | null}
    try {
      let img: OpenedImage | undefined
      try {
        img = await openImage(input)
      } catch (err) {
        // A container defect found while opening is the image's verdict, not the command's failure.
        if (!(err instanceof FormatError)) throw err
        verifier.fatal(err)
      }
      if (!img) report = {...verifier.finish(input.offset), container: null}
      else {
        try {
          report = await verifyImage(img, verifier, {format: flags.format === 'auto' ? undefined : flags.format, onBody: caught.hook})
          // Will it restore: for a stream that verifies (a XenServer image's device state is in its own section, read back from a file).
          if (report.valid && report.container) restore = (await verifiedRestore(report.summary, report.container, caught.state, input)) ?? null
        } finally {
          await closeImage(img)
        }
      }
    } finally {
      await input.close()
    }
    listing.flush()
    if (flags.verbose) for (const l of checkpointLines(report.summary)) this.line(l)
    let words = report.container ? containerWords(report.container) : ''
    // Not part of the image, so not an error; but said, since a VDI's tail may be something else's data.
    if (report.container?.afterEnd) words += `; ${report.container.afterEnd} bytes after End_of_image, not checked`
    // A Demu section (vGPU state): the check ended there, valid or not; the warning says why.
    const stop = report.container?.stoppedAt
    if (stop) words += `; checked up to the ${stop.section} section at byte ${stop.offset}, not after it`
    this.line(verdictLine(words ? `${name} (${words})` : name, report))
    if (restore) for (const l of restoreLines(restore)) this.line(l)
    // summary.bytes is where checking ended; the input's length decompressed is known when nothing is compressed.
    const size = input.source.size ?? null
    return {ok: report.valid, input: {path: name, size, bytes: knownBytes(size, report.container?.compressed)}, verdict: report.valid ? 'valid' : 'invalid', ...report, restore}
  }
}
