import {Args, Flags} from '@oclif/core'
import {XstCommand} from '../cli/base.js'
import {ByteReader} from '../io/reader.js'
import {openInput} from '../io/source.js'
import {parseSpec, specName} from '../io/spec.js'
import {verifyStream} from '../v2/reader.js'
import {V2Verifier, type VerifyReport} from '../v2/verify/verifier.js'
import {problemLine, RecordListing, verdictLine} from '../v2/verify/text.js'

export type VerifyResult = {ok: boolean; input: string; verdict: 'valid' | 'invalid'} & VerifyReport

export default class Verify extends XstCommand {
  static summary = 'Check a v2 save image (libxc or libxl stream), reporting every problem'
  static description = `Checks a Xen 4.6+ domain image: a libxc stream (version 2 or 3), or a libxl stream with the libxc stream inside it, either optionally behind an xl header. The format is detected from the first bytes; --format overrides that.

Every header and record is checked against the format and against the ordering the restorer relies on, and every problem found is reported with its byte offset, record index and record type. Optional records (type bit 31) are skipped with a warning, as the spec allows. On a file, page data is skipped by seeking, so a large image is checked in well under a second.

Each error and warning is a line on stderr ("error: ..." / "warning: ..."); the verdict line (and with --verbose the record listing) goes to stdout.

Exit status: 0 valid (warnings allowed), 1 invalid (or a legacy image: convert it with \`xst convert\`), 2 usage error.`

  static examples = [
    {description: 'Check a saved image', command: '<%= config.bin %> <%= command.id %> guest.save'},
    {description: 'One line per record', command: '<%= config.bin %> <%= command.id %> --verbose guest.save'},
    {description: 'Check a stream as it arrives on a pipe, JSON out', command: 'xst convert old.save - | <%= config.bin %> <%= command.id %> - --json'},
  ]

  static args = {
    image: Args.string({required: true, description: 'image file, or - for stdin'}),
  }

  static flags = {
    format: Flags.option({
      options: ['auto', 'libxc', 'libxl'] as const,
      default: 'auto' as const,
      description: 'read the stream as this format instead of detecting it',
    })(),
    'max-errors': Flags.integer({min: 1, description: 'stop after this many errors'}),
    verbose: Flags.boolean({char: 'v', description: 'one line per header and record (runs of PAGE_DATA squashed into one)'}),
  }

  async run(): Promise<VerifyResult> {
    const {args, flags} = await this.parse(Verify)
    const name = specName(parseSpec(args.image), 'input')
    const listing = new RecordListing((l) => this.line(l))
    const verifier = new V2Verifier({
      maxErrors: flags['max-errors'],
      onProblem: (p) => {
        listing.flush()
        this.diag(problemLine(p))
      },
      onRecord: flags.verbose ? (n) => listing.add(n) : undefined,
    })
    const reader = new ByteReader(openInput(args.image))
    let report: VerifyReport
    try {
      report = await verifyStream(reader, verifier, {format: flags.format === 'auto' ? undefined : flags.format})
    } finally {
      await reader.close()
    }
    listing.flush()
    this.line(verdictLine(name, report))
    if (!report.valid) process.exitCode = 1
    return {ok: report.valid, input: name, verdict: report.valid ? 'valid' : 'invalid', ...report}
  }
}
