import {Args, Flags} from '@oclif/core'
import {XstCommand} from '../cli/base.js'
import {guestFlag, progressFlag, quietFlag, widthFlag} from '../cli/flags.js'
import {interrupted} from '../cli/signals.js'
import type {XlConfig} from '../convert/families.js'
import type {ConvertJob} from '../convert/job.js'
import {UsageError} from '../errors.js'
import {namedGz, namesStdout, parseSpec, specName} from '../io/spec.js'
import {CONTAINER_CHOICES} from '../convert/choices.js'
import {readFileSync} from 'node:fs'
import {forTerminal} from '../text.js'

export default class Convert extends XstCommand {
  static summary = 'Convert a legacy (Xen <= 4.5) image to a v2 stream that Xen 4.6+ restores, keeping its container'
  static description =
    `Rewrites OLD, an image saved by Xen 4.5 or earlier, as NEW: a v2 libxl stream (what \`xl restore\` reads; the default) or a bare libxc stream (--format libxc), with the "legacy converted" bit set. The output is byte-identical to Xen's convert-legacy-stream where that tool succeeds. Toolstack width and guest type are detected.

A legacy Remus replication stream (a capture of the channel: checkpoint after checkpoint, its pages delta-compressed or not) is converted the same way, into a plain stream holding the state of its last complete checkpoint, as the receiver fails over (--checkpoint K for an earlier one); a checkpoint the stream ends inside is left out, with a warning saying where it was cut.

NEW is written to a temporary file beside it and renamed into place only when the whole stream has been written and flushed; on any error or interrupt NEW is left untouched. An existing NEW is only replaced with --force, and never when it is OLD itself. A symlink NEW stays a link: the file it names is the one written. A FIFO, socket or character device (such as /dev/null) is written in place, without --force; a block device needs --force.

With - for NEW, the stream goes to stdout, but not to a terminal unless --force is given. The summary goes to stdout (to stderr when the stream does). Progress goes to stderr: a task list when stdout and stderr are both terminals, a single line rewritten in place when only stderr is (so that it never overwrites what another program prints, as with \`xst convert OLD - | xxd | head\`), none otherwise, in CI or under -q (see --progress); -q also leaves out the summary.

Use - for OLD to read stdin and - for NEW to write stdout.

Containers: OLD may be wrapped by a toolstack and compressed; NEW keeps the family (--container keep): a libvirt save image (virsh save) becomes a version 2 libvirt image holding the libxl stream (a version 1 header over a v2 stream is repaired: the version rewritten, the stream copied byte for byte); a XenServer legacy or structured image becomes a structured image (signature, Xenops, Libxc with a libxc stream, Qemu_trad with the qemu state, End_of_image; other sections copied in order; SOURCE_DATE_EPOCH sets a new Xenops record's time); an xend (xm save) file becomes an xl save file (STREAMv2; --config FILE embeds an xl domain config, JSON when the file parses as JSON). --container xl|libvirt|xenserver|none chooses another family where that can be restored. A gzip-compressed OLD is read through; NEW is uncompressed unless --gzip is given, even when named *.gz (a warning then says so).

A checkpointed v2 stream (a capture of a Remus or COLO replication, which xl restore refuses: "Found checkpoint in non-checkpointed stream") becomes a plain v2 stream that xl restore reads, holding the last complete checkpoint (--checkpoint K for another): its headers (and xl header), the pages of every checkpoint up to K in order, the vcpu, device and emulator state of checkpoint K, then END. A plain v2 stream is refused, as before: there is nothing to convert. A gzip or piped checkpointed stream is copied to a temporary file for the second pass.

xst can stand in for Xen's conversion helper (convert-legacy-stream), run by libxl (LIBXL_CONVERT_HELPER) and by XenServer's xenopsd: --in/--out take a path, - or a descriptor number the caller passed, and -x/--xl, --guest-type, --skip-qemu, --syslog and -v are accepted. With --in/--out xst behaves as that helper: without --format it writes a bare libxc stream (with OLD NEW the default stays libxl); it prints nothing on success (-v reports on stderr); and it reads an inherited descriptor from its current offset (where the caller stopped reading) and leaves that offset exactly at the end of the image, so the caller reads on from there (xenopsd reads the qemu record that follows).

EXIT STATUS: 0 NEW written (warnings allowed); 1 OLD is not an image xst can convert (a defect, named with its byte offset, or a plain v2 stream), it could not be read, or NEW could not be written (a full disk); 2 a usage error (a bad flag or argument, OLD missing, NEW existing without --force, a terminal as NEW) or an internal error; 128+N when ended by signal N (130 Ctrl-C, 143 SIGTERM; a file NEW is then left untouched); 141, with nothing said, when the reader of a pipe closes it early (the status a shell gives cat killed by SIGPIPE).`

  static usage = ['<%= command.id %> OLD NEW [FLAGS]', '<%= command.id %> --in IN --out OUT [FLAGS]']

  static examples = [
    {description: 'Convert an old xl save file for xl restore', command: '<%= config.bin %> <%= command.id %> old.save new.save'},
    {description: 'A bare libxc stream, JSON summary', command: '<%= config.bin %> <%= command.id %> --format libxc --json old.save new.libxc'},
    {description: 'Through pipes', command: 'cat old.save | <%= config.bin %> <%= command.id %> - - > new.save'},
    {description: 'A captured Remus stream made plain (the state of its last complete checkpoint) for xl restore', command: '<%= config.bin %> <%= command.id %> remus-capture.img restorable.save'},
    {description: 'A compressed libvirt image: a libvirt image again (version 2), compressed', command: '<%= config.bin %> <%= command.id %> --gzip web01.save.gz web01.v2.save.gz'},
    {description: 'An xend file, with an xl config embedded for xl restore', command: '<%= config.bin %> <%= command.id %> --config web01.cfg web01.xm-save web01.save'},
    {
      description: 'As libxl runs its helper (here the shell opens descriptors 3 and 4)',
      command: '<%= config.bin %> <%= command.id %> --in 3 --out 4 --width 64 --guest hvm --format libxl 3<old.save 4>new.save',
    },
    {
      description:
        "As XenServer's xenopsd runs it (no --format, so a libxc stream; messages to syslog); from a whole XenServer image file, --container none writes the bare stream, not another XenServer image",
      command: '<%= config.bin %> <%= command.id %> --in 3 --out 4 --width 32 --skip-qemu --guest-type hvm --container none --syslog --verbose 3<old.img 4>new.libxc',
    },
  ]

  static args = {
    // ignoreStdin: with --in/--out the arguments are absent, and oclif must not read stdin to fill them.
    old: Args.string({description: 'legacy image, or - for stdin (required, unless --in gives the input)', ignoreStdin: true}),
    new: Args.string({description: 'file to write, or - for stdout (required, unless --out gives the output)', ignoreStdin: true}),
  }

  static flags = {
    format: Flags.option({
      char: 'f',
      options: ['libxl', 'libxc'] as const,
      description: "output stream format; default libxl with OLD NEW, libxc with --in/--out (as Xen's convert-legacy-stream), and libxc in a XenServer image",
    })(),
    container: Flags.option({
      options: CONTAINER_CHOICES,
      default: 'keep' as const,
      description: "the output's container: keep the input's family, an xl save file, a libvirt image, a XenServer structured image, or none (the stream alone)",
    })(),
    config: Flags.string({description: 'an xl domain config file to embed in the new xl header (xend input, or --container xl); JSON when it parses as JSON'}),
    gzip: Flags.boolean({description: 'gzip-compress the output'}),
    width: widthFlag('w'),
    guest: guestFlag('g', ['guest-type']),
    in: Flags.string({char: 'i', description: 'input: a path, - or a descriptor number (instead of OLD)'}),
    out: Flags.string({char: 'o', description: 'output: a path, - or a descriptor number (instead of NEW)'}),
    xl: Flags.boolean({char: 'x', description: 'the input starts with an xl header (detected anyway)'}),
    'skip-qemu': Flags.boolean({description: 'the HVM image has no qemu record after the HVM context'}),
    'target-xen': Flags.string({
      description:
        "the Xen release that will restore NEW (e.g. 4.13): 4.6-4.13 restore only libxc version 2 streams, which xst then writes (as that release's own converter did); 4.14 and later take version 3, the default. As a helper (--in/--out), xst asks the running hypervisor (/sys/hypervisor/version) when this is not given",
      helpValue: 'X.Y',
    }),
    checkpoint: Flags.integer({
      min: 1,
      description:
        'a checkpointed stream (a Remus or COLO capture, legacy or v2, which xl restore refuses): write the state of checkpoint K as the plain stream instead of the last complete one, which the receiver fails over from',
      helpValue: 'K',
    }),
    force: Flags.boolean({description: 'replace NEW if it exists (or write a block device); write the stream to a terminal'}),
    verify: Flags.boolean({
      allowNo: true,
      description: 'check the stream with the v2 verifier as it is written, stopping at the first bad record (default: on, for every output; --no-verify turns it off)',
    }),
    verbose: Flags.boolean({char: 'v', description: 'list every record type written; with --in/--out, print the report (on stderr), which is left out otherwise'}),
    syslog: Flags.boolean({description: 'send warnings, errors and the -v report to syslog (ident xst, facility user) instead of stdout/stderr'}),
    quiet: quietFlag(['verbose']),
    progress: progressFlag(),
  }

  async run(): Promise<unknown> {
    // Before parsing, so that a usage error goes to syslog too.
    // What run() needs is imported here, not at the top: every command's
    // class loads on every run (see src/cli/commands.ts).
    if (this.argv.includes('--syslog')) this.syslog = new (await import('../cli/syslog.js')).Syslog()
    const {args, flags} = await this.parse(Convert)
    this.quiet = flags.quiet
    const input = flags.in ?? args.old
    const output = flags.out ?? args.new
    if (input === undefined || output === undefined) throw new UsageError('give both the input and the output: xst convert OLD NEW (or --in and --out)')
    if (flags.in !== undefined && args.old !== undefined && args.new !== undefined) throw new UsageError('give the input once: as OLD or as --in')
    // The helper interface: xst run by a toolstack (or as one would run it).
    // Like Xen's convert-legacy-stream there: libxc unless told otherwise,
    // and silent on success; stdout and the terminal belong to the caller
    // (libxl leaves the helper xl's own), so any report goes to stderr.
    const helper = flags.in !== undefined || flags.out !== undefined
    const inSpec = parseSpec(input, {fdNumbers: helper})
    const outSpec = parseSpec(output, {fdNumbers: helper})
    const toStdout = namesStdout(output, {fdNumbers: helper})
    this.reportToStderr = toStdout || helper
    const report = (!helper || flags.verbose) && !flags.quiet
    const inName = specName(inSpec, 'input')
    const outName = toStdout ? 'stdout' : specName(outSpec, 'output')

    const [{runWithProgress, verifyLine}, {renderConvert}] = await Promise.all([import('../cli/progress.js'), import('../convert/render.js')])
    let config: XlConfig | undefined
    if (flags.config !== undefined) {
      let text: string
      try {
        text = readFileSync(flags.config, 'utf8')
      } catch (err) {
        throw new UsageError(`--config ${flags.config}: cannot read it (${(err as NodeJS.ErrnoException).code ?? err})`, 'bad-config')
      }
      config = (await import('../convert/families.js')).xlConfigFrom(text)
    }
    // What the helper line says; a XenServer family is libxc too, which is what a helper writes anyway.
    const format = flags.format ?? (helper ? 'libxc' : 'libxl')
    // What the restoring host takes: asked for, or, as a helper run on that host, its hypervisor's release.
    const {libxcVersionFor, parseXenRelease, runningXen} = await import('../convert/target.js')
    const target = flags['target-xen'] !== undefined ? parseXenRelease(flags['target-xen']) : helper ? runningXen() : undefined
    // The output is in place: an interrupt from now on says so.
    let done = false
    const job: ConvertJob = {
      libxcVersion: target ? libxcVersionFor(target) : undefined,
      input,
      output,
      format: flags.format,
      container: flags.container,
      config,
      gzip: flags.gzip,
      helper,
      width: flags.width ? (Number(flags.width) as 32 | 64) : undefined,
      guest: flags.guest,
      skipQemu: flags['skip-qemu'],
      xlHeader: flags.xl,
      force: flags.force,
      checkpoint: flags.checkpoint,
      fdNumbers: helper,
      verify: flags.verify ?? true,
      onWarning: (m) => this.note(m),
      onCommitted: () => {
        done = true
      },
      onImage:
        helper && report ? (image) => this.line(`converting ${inName}: legacy ${image.guest.toUpperCase()}, ${image.toolstackWidth}-bit toolstack, to a ${format} stream on ${outName}`) : undefined,
    }
    const {summary, inputSize, verify, container, notes, written, restore} = await runWithProgress(job, {
      // Progress is for a person at a terminal running xst, not for a toolstack's helper (unless --progress).
      mode: this.progressMode(flags, helper),
      onSignal: (sig) => this.message('err', `xst convert: interrupted by ${sig}; ${interrupted(toStdout, done, forTerminal(output))}`),
    })
    if (!toStdout) this.committed = outName
    // Named as gzip's and written plain: said, not guessed at (compressing takes --gzip).
    if (namedGz(outSpec) && !flags.gzip) this.note(`${forTerminal(outName)} is named .gz but was written uncompressed; give --gzip to compress it`)
    if (report) {
      for (const l of renderConvert(summary, inName, outName, job.verify ? verifyLine(verify) : null, flags.verbose, {container, notes, written})) this.line(l)
      // Will NEW restore: what restores it, what it needs, who refuses it.
      if (restore) for (const l of (await import('../restore/assess.js')).restoreLines(restore.after)) this.line(l)
    }
    for (const w of verify?.warnings ?? []) this.note(`converted stream: ${w.message}`)
    return {
      ok: true,
      ...summary,
      input: {path: inName, size: inputSize, ...summary.input},
      // The input's container, where every command puts it; the output's family is output.container.
      container: container.input,
      output: {path: outName, ...summary.output, container: container.output.family, written: written.bytes, gzip: written.gzip},
      notes,
      verify: verify ? {valid: verify.valid, errors: verify.errors, warnings: verify.warnings, stopped: verify.stopped, summary: verify.summary} : null,
      restore,
      warnings: this.warnings,
    }
  }
}
