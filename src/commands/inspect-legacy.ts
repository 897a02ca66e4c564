import {Args, Flags} from '@oclif/core'
import {XstCommand} from '../cli/base.js'
import {guestFlag, widthFlag} from '../cli/flags.js'
import {ByteReader} from '../io/reader.js'
import {refuseGzip} from '../io/sniff.js'
import {openInput} from '../io/source.js'
import {parseSpec, specName} from '../io/spec.js'
import {renderInspect} from '../inspect/render.js'
import {inspectLegacy, type InspectReport} from '../inspect/report.js'

export default class InspectLegacy extends XstCommand {
  static summary = 'Walk a legacy (Xen <= 4.5) save image and describe it'
  static description = `Reads an image written by Xen 4.5 or earlier (xl save, xm save, live migration) and reports what it holds: the xl header and domain name, guest type and width, toolstack width, pages, every chunk, and the PV or HVM tail.

Toolstack width and guest type are detected from the image; --width and --guest override detection. On a file, page data is skipped by seeking, so large images are inspected in well under a second. Exit status: 0 well-formed, 1 the image is bad (one line names the defect and its byte offset), 2 usage error.`

  static examples = [
    {description: 'Describe a saved image', command: '<%= config.bin %> <%= command.id %> guest.save'},
    {description: 'One line per chunk with its byte offset', command: '<%= config.bin %> <%= command.id %> --verbose guest.save'},
    {description: 'Read from a pipe, JSON out', command: 'zcat guest.save.gz | <%= config.bin %> <%= command.id %> - --json'},
  ]

  static args = {
    image: Args.string({required: true, description: 'legacy image file, or - for stdin'}),
  }

  static flags = {
    width: widthFlag(),
    guest: guestFlag(),
    'skip-qemu': Flags.boolean({description: 'the HVM tail has no qemu record (anything after the HVM context is trailing data)'}),
    verbose: Flags.boolean({char: 'v', description: 'one line per chunk with its byte offset'}),
  }

  async run(): Promise<{ok: true} & InspectReport> {
    const {args, flags} = await this.parse(InspectLegacy)
    const reader = new ByteReader(openInput(args.image))
    try {
      await refuseGzip(reader, 'inspect-legacy')
      const rep = await inspectLegacy(reader, specName(parseSpec(args.image), 'input'), {
        width: flags.width ? (Number(flags.width) as 32 | 64) : undefined,
        guest: flags.guest,
        skipQemu: flags['skip-qemu'],
        verbose: flags.verbose,
        onWarning: (m) => this.note(m),
      })
      for (const l of renderInspect(rep)) this.line(l)
      return {ok: true, ...rep}
    } finally {
      await reader.close()
    }
  }
}
