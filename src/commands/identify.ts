import * as fs from 'node:fs'
import {Args} from '@oclif/core'
import {XstCommand} from '../cli/base.js'
import type {InputJson} from '../cli/input-json.js'
import {XstError} from '../errors.js'
import type {Identified} from '../identify/identify.js'
import type {ByteReader} from '../io/reader.js'

type Unreadable = {input: InputJson; verdict: 'unreadable'; error: Record<string, unknown>}

export default class Identify extends XstCommand {
  static summary = 'Say what each image is: container, stream format, guest, and whether it needs converting'
  static description =
    `What file(1) would say about a Xen save image if it knew Xen: for each IMAGE, one line with its container (libvirt, XenServer legacy or structured, xend, an xl header; gzip-compressed or not), the stream's format and version, the guest type and width, the saving toolstack's width (legacy streams), the domain name when the container or xl header gives one (a XenServer image's VM name, from its Xenops record), the file's size, and a verdict: "needs conversion" (xst convert makes it restorable), "v2, restorable" (its headers are ones a restorer reads and, from a file, the whole stream verifies), "v2 stream, not verified" (from a pipe or through gzip, where only its headers are read), "damaged" (a defect in its headers or, from a file, in its stream) or "not a Xen image".

Files found beside save images are named rather than called damaged, with what they are for: a libvirt QEMU/KVM save image (its version, how its memory state is stored: uncompressed, gzip, bzip2, xz, lzop, zstd or sparse; whether the save finished; the domain name), QEMU device state (a QEVM stream), a Xen ELF dump-core (xl dump-core, virsh dump, xst dump-core: guest type, vcpus, pages), another ELF core file or ELF file. A gzip-compressed file gets the verdict its bytes get.

Only headers and the first records are read (never page data); from a file, a v2 stream's record headers are walked and checked as xst verify does, page data seeked over, so each file takes milliseconds whatever its size. A legacy stream is not verified (that is xst inspect-legacy's job). On a file, a XenServer structured image is read further: what restores it depends on the sections after its memory image, so the Libxc stream is stepped over by its record headers (page data seeked over) and the section headers after it read: a section xenopsd refuses, or a defect there, makes it "damaged", and a Demu section (Citrix vGPU) makes it an image only a XenServer host with NVIDIA vGPU restores (said in the note).

A directory or a symbolic link to nothing among the IMAGEs (a glob's catch) is named as file(1) names it ("DIR: directory", "LINK: broken symbolic link to TARGET"; verdict "directory" or "broken symlink" in --json) and is not an error.

Exit status: 0 when every IMAGE is a Xen image that needs conversion, is restorable or is a v2 stream not verified (directories and broken links aside), 1 otherwise, 2 usage error or a file that cannot be opened.`

  static examples = [
    {description: 'Every save file in a directory', command: '<%= config.bin %> <%= command.id %> /var/lib/xen/save/*'},
    {description: 'As JSON', command: '<%= config.bin %> <%= command.id %> --json guest.save'},
  ]

  static strict = false

  static args = {
    image: Args.string({required: true, description: 'image file(s), or - for stdin'}),
  }

  async run(): Promise<{ok: boolean; images: Array<Identified | Unreadable>}> {
    const {argv} = await this.parse(Identify)
    // Imported here, not at the top: every command's class loads on every run (see src/cli/commands.ts).
    const [{identify, notAFile}, {identifyLine, identifyRestoreLines}, {ByteReader}, {openInput}] = await Promise.all([
      import('../identify/identify.js'),
      import('../identify/render.js'),
      import('../io/reader.js'),
      import('../io/source.js'),
    ])
    /** A directory or a symbolic link to nothing: named, as file(1) names them, not read and not an error. */
    const namedOnly = (file: string): Identified | undefined => {
      if (file === '-') return undefined
      let link: string | undefined
      try {
        if (fs.lstatSync(file).isSymbolicLink()) link = fs.readlinkSync(file)
        if (fs.statSync(file).isDirectory()) return notAFile(file, 'directory')
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (link !== undefined && (code === 'ENOENT' || code === 'ENOTDIR')) return notAFile(file, 'broken symlink', link)
      }
      return undefined
    }
    const images: Array<Identified | Unreadable> = []
    let code = 0
    for (const file of argv as string[]) {
      const name = file === '-' ? 'stdin' : file
      let reader: ByteReader | undefined
      const named = namedOnly(file)
      if (named) {
        images.push(named)
        this.line(identifyLine(named))
        continue
      }
      try {
        reader = new ByteReader(openInput(file))
        const x = await identify(reader, name)
        images.push(x)
        this.line(identifyLine(x))
        for (const l of identifyRestoreLines(x)) this.line(l)
        if (x.verdict !== 'needs conversion' && x.verdict !== 'v2, restorable' && x.verdict !== 'v2 stream, not verified') code = Math.max(code, 1)
      } catch (err) {
        if (!(err instanceof XstError)) throw err
        // One file that cannot be read does not stop the others.
        this.diag(`xst identify: ${err.message}`)
        images.push({input: {path: name, size: null, bytes: null}, verdict: 'unreadable', error: err.toJSON()})
        code = Math.max(code, err.exitCode)
      } finally {
        await reader?.close()
      }
    }
    process.exitCode = code
    return {ok: code === 0, images}
  }
}
