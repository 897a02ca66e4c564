import {Args, Flags} from '@oclif/core'
import {XstCommand} from '../cli/base.js'
import {guestFlag, widthFlag} from '../cli/flags.js'
import {type ConvertJob} from '../convert/job.js'
import {renderConvert} from '../convert/render.js'
import {runWithProgress, verifyLine} from '../cli/progress.js'
import {UsageError} from '../errors.js'

export default class Convert extends XstCommand {
  static summary = 'Convert a legacy (Xen <= 4.5) image to a v2 stream that Xen 4.6+ restores'
  static description = `Rewrites OLD, an image saved by Xen 4.5 or earlier, as NEW: a v2 libxl stream (what \`xl restore\` reads; the default) or a bare libxc stream (--format libxc), with the "legacy converted" bit set. The output is byte-identical to Xen's convert-legacy-stream where that tool succeeds. Toolstack width and guest type are detected.

NEW is written to a temporary file beside it and renamed into place only when the whole stream has been written and flushed; on any error or interrupt NEW is left untouched. An existing NEW is only replaced with --force, and never when it is OLD itself.

Use - for OLD to read stdin and - for NEW to write stdout. xst can also stand in for Xen's helper (LIBXL_CONVERT_HELPER): --in/--out take a path or a descriptor number, and -x/--xl, --guest-type, --skip-qemu and -v are accepted.`

  static examples = [
    {description: 'Convert an old xl save file for xl restore', command: '<%= config.bin %> <%= command.id %> old.save new.save'},
    {description: 'A bare libxc stream, JSON summary', command: '<%= config.bin %> <%= command.id %> --format libxc --json old.save new.libxc'},
    {description: 'Through pipes', command: 'zcat old.save.gz | <%= config.bin %> <%= command.id %> - - > new.save'},
    {description: "As Xen's helper does it", command: '<%= config.bin %> <%= command.id %> --in 5 --out 6 --width 64 --guest hvm --format libxl'},
  ]

  static args = {
    // ignoreStdin: with --in/--out the arguments are absent, and oclif must not read stdin to fill them.
    old: Args.string({description: 'legacy image, or - for stdin', ignoreStdin: true}),
    new: Args.string({description: 'file to write, or - for stdout', ignoreStdin: true}),
  }

  static flags = {
    format: Flags.option({char: 'f', options: ['libxl', 'libxc'] as const, default: 'libxl' as const, description: 'output stream format'})(),
    width: widthFlag('w'),
    guest: guestFlag('g', ['guest-type']),
    in: Flags.string({char: 'i', description: 'input: a path, - or a descriptor number (instead of OLD)'}),
    out: Flags.string({char: 'o', description: 'output: a path, - or a descriptor number (instead of NEW)'}),
    xl: Flags.boolean({char: 'x', description: 'the input starts with an xl header (detected anyway)'}),
    'skip-qemu': Flags.boolean({description: 'the HVM image has no qemu record after the HVM context'}),
    force: Flags.boolean({description: 'replace NEW if it exists'}),
    verify: Flags.boolean({allowNo: true, description: 'check the stream with the v2 verifier as it is written, stopping at the first bad record (default: on, for every output; --no-verify turns it off)'}),
    verbose: Flags.boolean({char: 'v', description: 'list every record type written'}),
    syslog: Flags.boolean({hidden: true, description: "accepted for compatibility with Xen's helper; ignored"}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Convert)
    const input = flags.in ?? args.old
    const output = flags.out ?? args.new
    if (input === undefined || output === undefined) throw new UsageError('give both the input and the output: xst convert OLD NEW (or --in and --out)')
    if (flags.in !== undefined && args.old !== undefined && args.new !== undefined) throw new UsageError('give the input once: as OLD or as --in')
    const toStdout = output === '-' || (flags.out !== undefined && output === '1')
    this.reportToStderr = toStdout

    const job: ConvertJob = {
      input,
      output,
      format: flags.format,
      width: flags.width ? (Number(flags.width) as 32 | 64) : undefined,
      guest: flags.guest,
      skipQemu: flags['skip-qemu'],
      xlHeader: flags.xl,
      force: flags.force,
      fdNumbers: flags.in !== undefined || flags.out !== undefined,
      verify: flags.verify ?? true,
      onWarning: (m) => this.note(m),
      onSignal: (sig) => process.stderr.write(`xst convert: interrupted by ${sig}; ${toStdout ? 'output incomplete' : `${output} was not written`}\n`),
    }
    const {summary, verify} = await runWithProgress(job, {enabled: Boolean(process.stderr.isTTY) && !this.jsonEnabled()})
    const inName = input === '-' ? 'stdin' : input
    const outName = toStdout ? 'stdout' : output
    for (const l of renderConvert(summary, inName, outName, job.verify ? verifyLine(verify) : null, flags.verbose)) this.line(l)
    for (const w of verify?.warnings ?? []) this.note(`converted stream: ${w.message}`)
    return {
      ok: true,
      ...summary,
      input: {path: inName, ...summary.input},
      output: {path: outName, ...summary.output},
      verify: verify ? {valid: verify.valid, errors: verify.errors, warnings: verify.warnings} : null,
      warnings: this.warnings,
    }
  }
}
