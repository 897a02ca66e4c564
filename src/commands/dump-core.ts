import {Args, Flags} from '@oclif/core'
import {XstCommand} from '../cli/base.js'
import {progressFlag, quietFlag} from '../cli/flags.js'
import type {DumpJob} from '../dump/job.js'
import {interrupted} from '../cli/signals.js'
import {namedGz, namesStdout, parseSpec} from '../io/spec.js'
import {forTerminal} from '../text.js'

export default class DumpCore extends XstCommand {
  static summary = "Write the guest memory a save image holds as a core file (Xen's dump-core ELF) or a raw memory image"
  static description =
    `Reads IMAGE — a legacy (Xen <= 4.5) image or a v2 stream (libxc or libxl), with or without an xl header, bare or in a libvirt, XenServer (legacy or structured: the stream of its Libxc or Libxc_legacy section) or xend container, gzip-compressed or not — and writes the guest's memory to CORE. Every page the image carries data for is in the dump, with the contents of its last copy (live migration and verify mode send pages more than once); pages sent without data (XTAB, XALLOC, BROKEN) are not.

--format elf (the default) writes the layout of \`xl dump-core\`: an ELF64 core file with the sections .note.Xen (header, Xen version and format version notes), .xen_prstatus (one vcpu context per vcpu: PV the saved contexts, HVM contexts built from the CPU records of the HVM context), .xen_shared_info (PV), .xen_pages (the pages in pfn order) and .xen_p2m (PV; gmfn = pfn, as a saved image holds pfns, not machine frames) or .xen_pfn (HVM). crash and libkdumpfile read it; crash must be given the kernel's KASLR offset and phys_base (--kaslr, --machdep phys_base=), which the summary prints.

--format vmcore writes the ELF64 core Linux's kdump and QEMU's dump-guest-memory write: one PT_LOAD segment per run of guest-physical pages (nothing is written for the holes between them), an NT_PRSTATUS and a QEMU note per vcpu from its saved registers, and a VMCOREINFO note: the kernel's own description of itself, found in the guest's memory. crash and drgn open it with no options, KASLR included (drgn needs the kernel's vmcoreinfo to have been found); Volatility 3 and gdb read it too.

A PV guest keeps its own pfn-to-mfn table (its p2m) in pages of its memory, which the image holds as saved: full of the source host's machine frames. The restorer rewrites them for its new host (libxc update_guest_p2m()); dump-core rewrites them the same way for the identity the dump declares (entry N = N for every page the dump holds, all ones for the others), in both formats, so that tools reading the guest's p2m agree with .xen_p2m. --keep-p2m keeps them as saved.

--format raw writes page N at byte N x 4096, leaving holes (a sparse file) where the guest has no page: the layout Volatility 3 and most memory tools open directly. To a pipe the holes are written as zeros.

Whatever the format, dump-core looks for the Linux kernel in the guest's memory: its vmcoreinfo text (release, KASLR offset, phys_base) or, without one, the kernel-text mapping of the saved vcpus' page tables. The summary says what it found, or why not, and the crash command line that opens the dump.

An image convert or verify would refuse is refused here too (exit 1, nothing written), except that pages beyond a v2 stream's p2m are dumped, with a warning. CORE is written to a temporary file beside it and renamed into place when complete; an existing CORE is only replaced with --force. CORE is never compressed, even when named *.gz (a warning then says so; \`xst dump-core IMAGE - | gzip > CORE.gz\` compresses it). With - for CORE, the dump goes to stdout, but not to a terminal unless --force is given.

The summary goes to stdout (to stderr when the dump does). Progress goes to stderr: a task list when stdout and stderr are both terminals, a single line rewritten in place when only stderr is (so that it never overwrites what another program prints, as with \`xst dump-core -f raw IMAGE - | xxd | head\`), none otherwise, in CI or under -q (see --progress); -q also leaves out the summary.

EXIT STATUS: 0 CORE written (warnings allowed); 1 IMAGE is refused (a defect, named with its byte offset), it could not be read, or CORE could not be written (a full disk); 2 a usage error (a bad flag or argument, IMAGE missing, CORE existing without --force, a terminal as CORE) or an internal error; 128+N when ended by signal N (130 Ctrl-C, 143 SIGTERM; a file CORE is then left untouched); 141, with nothing said, when the reader of a pipe closes it early (the status a shell gives cat killed by SIGPIPE).`

  static examples = [
    {description: 'A core file for crash', command: '<%= config.bin %> <%= command.id %> guest.save guest.core'},
    {description: 'A kdump-style core: crash vmlinux guest.vmcore, no KASLR offset to give', command: '<%= config.bin %> <%= command.id %> --format vmcore guest.save guest.vmcore'},
    {description: 'A raw memory image for Volatility 3', command: '<%= config.bin %> <%= command.id %> --format raw guest.save guest.raw'},
    {description: 'From a pipe, JSON summary', command: 'zcat guest.save.gz | <%= config.bin %> <%= command.id %> --json - guest.core'},
  ]

  static args = {
    image: Args.string({required: true, description: 'save image, or - for stdin', ignoreStdin: true}),
    core: Args.string({required: true, description: 'file to write, or - for stdout', ignoreStdin: true}),
  }

  static flags = {
    format: Flags.option({
      char: 'f',
      options: ['elf', 'vmcore', 'raw'] as const,
      default: 'elf' as const,
      description: "Xen's ELF dump-core file, a kdump-style ELF core (what crash, drgn, gdb and Volatility 3 open as a Linux vmcore), or a raw memory image",
    })(),
    force: Flags.boolean({description: 'replace CORE if it exists (or write a block device); write the dump to a terminal'}),
    checkpoint: Flags.integer({
      min: 1,
      description: 'a replication stream (Remus, COLO; a file): dump checkpoint K instead of the last complete one, which the receiver fails over from',
      helpValue: 'K',
    }),
    'keep-p2m': Flags.boolean({description: "PV: keep the guest's p2m pages as saved, holding the source host's machine frames, instead of rewriting them to the identity"}),
    quiet: quietFlag(),
    progress: progressFlag(),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(DumpCore)
    this.quiet = flags.quiet
    const toStdout = namesStdout(args.core)
    this.reportToStderr = toStdout
    // The output is in place: an interrupt from now on says so.
    let done = false
    const job: DumpJob = {
      input: args.image,
      output: args.core,
      format: flags.format,
      force: flags.force,
      checkpoint: flags.checkpoint,
      keepP2m: flags['keep-p2m'],
      onWarning: (m) => this.note(m),
      onCommitted: () => {
        done = true
      },
    }
    // An interrupt removes the partial output, says so, and exits 128 + the signal.
    const onSignal = (sig: NodeJS.Signals) => {
      process.stderr.write(`xst dump-core: interrupted by ${sig}; ${interrupted(toStdout, done, forTerminal(args.core))}\n`)
    }
    // Imported here, not at the top: every command's class loads on every run (see src/cli/commands.ts).
    const [{runDumpWithProgress}, {renderDump}] = await Promise.all([import('../cli/dump-progress.js'), import('../dump/render.js')])
    const summary = await runDumpWithProgress(job, {mode: this.progressMode(flags), onSignal})
    if (!toStdout) this.committed = args.core
    // dump-core does not compress: a CORE named as gzip's is said to be plain.
    if (namedGz(parseSpec(args.core))) this.note(`${forTerminal(args.core)} is named .gz but was written uncompressed (dump-core does not compress: pipe - through gzip)`)
    for (const l of renderDump(summary)) this.line(l)
    // The one vocabulary (src/cli/vocabulary.ts): the container and the stream beside the input, as identify gives them.
    const {container, kind, libxcVersion, libxlVersion, ...input} = summary.input
    return {ok: true, ...summary, input, container, stream: {format: kind, libxcVersion, libxlVersion}, warnings: this.warnings}
  }
}
