import {Args, Flags} from '@oclif/core'
import {XstCommand} from '../cli/base.js'
import type {InputJson} from '../cli/input-json.js'
import {guestFlag, widthFlag} from '../cli/flags.js'
import type {ContainerSummary} from '../container/describe.js'
import {parseSpec, specName} from '../io/spec.js'
import type {InspectReport} from '../inspect/report.js'

export default class InspectLegacy extends XstCommand {
  static summary = 'Walk a legacy (Xen <= 4.5) save image and describe it'
  static description =
    `Reads an image written by Xen 4.5 or earlier (xl save, xm save, virsh save, XenServer suspend, live migration) and reports what it holds: the container around the stream (libvirt, XenServer legacy or structured, xend; gzip-compressed or not) with what its header says (the domain name, an xend config's memory), the xl header and domain name, guest type and width, toolstack width, pages, every chunk, and the PV or HVM tail.

Toolstack width and guest type are detected from the image; --width and --guest override detection. Offsets are into the decompressed image. On a file, page data is skipped by seeking, so large images are inspected in well under a second (a gzip input is decompressed as it is read). Exit status: 0 well-formed, 1 the image is bad (one line names the defect and its byte offset), 2 usage error.`

  static examples = [
    {description: 'Describe a saved image', command: '<%= config.bin %> <%= command.id %> guest.save'},
    {description: 'One line per chunk with its byte offset', command: '<%= config.bin %> <%= command.id %> --verbose guest.save'},
    {description: 'A compressed libvirt image, JSON out', command: '<%= config.bin %> <%= command.id %> --json /var/lib/libvirt/libxl/save/web01.save.gz'},
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

  async run(): Promise<{ok: true; container: ContainerSummary; input: InputJson} & Omit<InspectReport, 'input' | 'bytes'>> {
    const {args, flags} = await this.parse(InspectLegacy)
    // Imported here, not at the top: every command's class loads on every run (see src/cli/commands.ts).
    const [{renderContainer}, {closeImage, openImage}, {ByteReader}, {openInput}, {inspectImage}, {renderInspect}] = await Promise.all([
      import('../container/describe.js'),
      import('../container/open.js'),
      import('../io/reader.js'),
      import('../io/source.js'),
      import('../inspect/image.js'),
      import('../inspect/render.js'),
    ])
    const input = new ByteReader(openInput(args.image))
    try {
      const img = await openImage(input)
      try {
        const {container, report} = await inspectImage(img, specName(parseSpec(args.image), 'input'), {
          width: flags.width ? (Number(flags.width) as 32 | 64) : undefined,
          guest: flags.guest,
          layoutFlags: true,
          skipQemu: flags['skip-qemu'],
          verbose: flags.verbose,
          onWarning: (m) => this.note(m),
        })
        // Both ways, --verbose's chunk lines are read back as they are written (a SpillList).
        // The vocabulary's input: its path, its size as given, its length decompressed (the image read whole).
        const {input: path, bytes, ...rest} = report
        const doc = {ok: true as const, container, input: {path, size: input.source.size ?? null, bytes}, ...rest}
        if (this.jsonEnabled()) await this.printJson(doc)
        else await this.printLines(renderInspect(report, renderContainer(container)))
        return doc
      } finally {
        await closeImage(img)
      }
    } finally {
      await input.close()
    }
  }
}
