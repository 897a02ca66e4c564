// Every containers conformance vector through the built CLI, as index.json
// says it behaves: convert's exact output bytes (through a file and a pipe,
// and with the input gzipped), the XenServer sections, verify's exit status,
// and the converted outputs verified; then identify, inspect-legacy, the
// --container choices, --config, --gzip, several images at once, and every
// wrapper defect refused with one line naming its offset.
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {encodeLibvirtHeader, LibvirtHeader} from '../src/container/libvirt.js'
import {encodeSectionHeader, encodeStructuredSignature, encodeXenopsSection, SectionHeader} from '../src/container/xenserver.js'
import {encodeXendHeader} from '../src/container/xend.js'
import {XL_MANDATORY_CONFIG_JSON, XL_MANDATORY_STREAM_V2, XlHeader} from '../src/xl/layout.js'
import {vectorBytes} from './helpers/fixtures.js'
import {tempDir, tempFile} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {containerBytes, type ContainerVector, containerVectors} from './helpers/containers.js'
import {verifyReport} from './helpers/verify-json.js'

const vectors = containerVectors()
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at |\.js:\d+/)
const SDE = {SOURCE_DATE_EPOCH: '1426155072'}
const VECTOR_XENOPS = '((time "20150312T10:11:12Z")(word_size 64))'

interface Section {
  name: string
  type: number
  offset: number
  body: Buffer
}

const SECTION_NAMES: Record<number, string> = {0x0f: 'xenops', 0xf0: 'libxc', 0xf00: 'qemu_trad', 0xf11: 'varstored', 0xffff: 'end'}

/**
 * The sections of a structured image xst wrote, in a reading of its own:
 * the Libxc body runs to the next header, which the test finds by the
 * length of the expected libxc stream.
 */
function sectionsOf(image: Buffer, libxcLength: number): Section[] {
  expect(image.toString('latin1', 0, 15)).toBe('XenSavedDomv2-\n')
  const out: Section[] = []
  let at = 15
  while (at < image.length) {
    const type = Number(image.readBigUInt64LE(at))
    const length = type === 0xf0 ? libxcLength : Number(image.readBigUInt64LE(at + 8))
    out.push({name: SECTION_NAMES[type] ?? `0x${type.toString(16)}`, type, offset: at, body: image.subarray(at + 16, at + 16 + length)})
    at += 16 + length
    if (type === 0xffff) break
  }
  expect(at).toBe(image.length)
  return out
}

async function convertFile(input: Buffer, args: string[] = [], env?: Record<string, string>) {
  const dir = tempDir()
  const inPath = join(dir, 'in.img')
  writeFileSync(inPath, input)
  const out = join(dir, 'out.img')
  const r = await runXstInProcess(['convert', ...args, inPath, out], {env})
  return {r, out: existsSync(out) ? readFileSync(out) : undefined, dir, inPath, outPath: out}
}

async function expectVerifies(bytes: Buffer, what: string) {
  const v = await runXstInProcess(['verify', tempFile('converted.img', bytes)])
  expect(v.code, `${what}: ${v.stdout}${v.stderr}`).toBe(0)
  return v
}

describe.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, v: ContainerVector) => {
  const data = containerBytes(v.input)

  if (v.expect.convert) {
    const expected = containerBytes(v.expect.convert)

    it('convert IN OUT writes exactly the expected bytes, through a file and a pipe', async () => {
      const {r, out} = await convertFile(data)
      expect(r.code, r.stderr).toBe(0)
      expect(out!.equals(expected)).toBe(true)
      const p = await runXstInProcess(['convert', '-', '-'], {input: data})
      expect(p.code, p.stderr).toBe(0)
      expect(p.stdoutBytes.equals(expected)).toBe(true)
    })

    it('the same bytes from the input gzipped (the output is not compressed, and says so)', async () => {
      const {r, out} = await convertFile(gzipSync(data))
      expect(r.code, r.stderr).toBe(0)
      expect(out!.equals(expected)).toBe(true)
      expect(r.stdout).toMatch(/gzip-compressed/)
      expect(r.stdout).toMatch(/the input was gzip-compressed/)
    })

    if (v.expect.verify_output === 0) {
      it('the converted output verifies', async () => {
        await expectVerifies(expected, v.name)
      })
    }
  }

  if (v.expect.sections) {
    const want = v.expect.sections
    const libxc = containerBytes(want.find((s) => s[0] === 'libxc')![1]!)

    it.each(['file', 'pipe', 'gzip'] as const)('convert gives the structured image, section by section (%s)', async (how) => {
      let out: Buffer
      if (how === 'pipe') {
        const p = await runXstInProcess(['convert', '-', '-'], {input: data, env: SDE})
        expect(p.code, p.stderr).toBe(0)
        out = p.stdoutBytes
      } else {
        const c = await convertFile(how === 'gzip' ? gzipSync(data) : data, [], SDE)
        expect(c.r.code, c.r.stderr).toBe(0)
        out = c.out!
      }
      const seen = sectionsOf(out, libxc.length)
      expect(seen.map((s) => s.name)).toEqual(want.map(([n]) => n))
      for (const [name, file] of want) {
        const s = seen.find((x) => x.name === name)!
        if (file) expect(s.body.equals(containerBytes(file)), name).toBe(true)
      }
      // The Xenops body is new: its form is fixed, its time is SOURCE_DATE_EPOCH's.
      expect(seen[0].body.toString('latin1')).toBe(VECTOR_XENOPS)
      if (how === 'file') await expectVerifies(out, v.name)
    })

    it("without SOURCE_DATE_EPOCH the Xenops time is now, in xenopsd's form", async () => {
      const {r, out} = await convertFile(data)
      expect(r.code, r.stderr).toBe(0)
      const body = sectionsOf(out!, libxc.length)[0].body.toString('latin1')
      expect(body).toMatch(/^\(\(time "\d{8}T\d\d:\d\d:\d\dZ"\)\(word_size 64\)\)$/)
      const year = Number(body.slice(8, 12))
      expect(year).toBeGreaterThanOrEqual(new Date().getUTCFullYear() - 1)
    })
  }

  if (v.expect.verify !== undefined) {
    it(`verify exits ${v.expect.verify}, from a file, a pipe and gzipped`, async () => {
      for (const r of [
        await runXstInProcess(['verify', tempFile('in.img', data)]),
        await runXstInProcess(['verify', '-'], {input: data}),
        await runXstInProcess(['verify', tempFile('in.img.gz', gzipSync(data))]),
      ]) {
        expect(r.code, r.stdout + r.stderr).toBe(v.expect.verify)
        noStack(r.stderr)
        expect(r.stdout).toMatch(v.expect.verify === 0 ? /: valid — / : /: INVALID — /)
      }
    })
  }
})

describe('verify: what each defective image is refused for', () => {
  it.each([
    ['bad-xenserver-v2-no-end', /^error: byte 297694: the XenServer image ends without an End_of_image section$/m],
    ['bad-xenserver-v2-qemu-past-eof', /^error: stream ends at byte 297694 inside Qemu_trad section \(\d+ more bytes needed\)$/m],
    ['bad-xenserver-v2-unknown-header', /^error: byte 297694: unknown XenServer section type 0x777/m],
    ['libvirt-v1-holding-v2', /^error: byte 16, libvirt header: version 1 claims a legacy stream, but a libxl stream follows/m],
  ])('%s', async (name, line) => {
    const r = await runXstInProcess(['verify', tempFile('in.img', containerBytes(`${name}.img.gz`))])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(line)
  })

  // The stream inside was checked to its END; only what follows it is wrong,
  // so the verdict does not say the rest of the stream went unchecked.
  it('a defect after the stream: the stream counts as checked whole', async () => {
    const file = tempFile('in.img', containerBytes('bad-xenserver-v2-no-end.img.gz'))
    const r = await runXstInProcess(['verify', file])
    expect(r.stdout.trim()).toMatch(/: INVALID — 1 error, 0 warnings \(libxc v3 stream, x86 HVM, converted from a legacy image\)$/)
    const j = verifyReport(await runXstInProcess(['verify', '--json', file]))
    expect(j.stopped).toBeNull()
    expect(j.errors.map((e: {code: string}) => e.code)).toEqual(['xenserver-no-end'])
    // Cut inside the stream, the verdict says so.
    const cut = await runXstInProcess(['verify', tempFile('cut.img', containerBytes('bad-xenserver-v2-no-end.img.gz').subarray(0, 200_000))])
    expect(cut.stdout.trim()).toMatch(/; the rest of the stream could not be checked$/)
  })

  it('a container holding a legacy stream is sent to convert', async () => {
    for (const name of ['libvirt-v1-pv64', 'xend-hvm64', 'xenserver-legacy-pv32', 'xenserver-v2-libxc-legacy-hvm64']) {
      const r = await runXstInProcess(['verify', tempFile('in.img', containerBytes(`${name}.img.gz`))])
      expect(r.code).toBe(1)
      expect(r.stderr, name).toMatch(/convert/)
    }
  })

  it('--json names the container', async () => {
    const r = await runXstInProcess(['verify', '--json', tempFile('in.img.gz', gzipSync(containerBytes('xenserver-v2-native-hvm64.img.gz')))])
    expect(r.code).toBe(0)
    const doc = verifyReport(r)
    expect(doc.ok).toBe(true)
    expect(doc.container).toMatchObject({kind: 'xenserver-structured', compressed: true, xenops: {time: '20150312T10:11:12Z', wordSize: 64}})
    expect(doc.container.sections.map((s: {name: string}) => s.name)).toEqual(['Xenops', 'Libxc', 'Qemu_trad', 'Varstored', 'End_of_image'])
  })

  it('convert --json names the container the same way, Xenops record included', async () => {
    const dir = tempDir()
    const r = await runXstInProcess(['convert', '--json', tempFile('in.img', containerBytes('xenserver-v2-libxc-legacy-hvm64.img.gz')), join(dir, 'out.img')])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).container).toMatchObject({kind: 'xenserver-structured', xenops: {time: '20150312T10:11:12Z', wordSize: 64}})
  })

  it('bytes after End_of_image are reported, not an error', async () => {
    const image = Buffer.concat([containerBytes('xenserver-v2-native-hvm64.img.gz'), Buffer.from('the rest of a VDI')])
    const r = await runXstInProcess(['verify', '--json', tempFile('in.img', image)])
    expect(r.code, r.stdout).toBe(0)
    expect(verifyReport(r).container.afterEnd).toBe(17)
    const t = await runXstInProcess(['verify', tempFile('in.img', image)])
    expect(t.code).toBe(0)
    expect(t.stdout).toMatch(/^.*in\.img \(XenServer structured suspend image; 17 bytes after End_of_image, not checked\): valid — /)
  })

  it('several images: one verdict line each, exit 1 if any is invalid', async () => {
    const files = ['libvirt-v2-hvm64', 'xenserver-v2-native-hvm64', 'bad-xenserver-v2-no-end'].map((n) => tempFile(`${n}.img`, containerBytes(`${n}.img.gz`)))
    const r = await runXstInProcess(['verify', ...files])
    expect(r.code).toBe(1)
    // One verdict line each (a restore block under a stream that verifies is indented).
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith(' '))
    expect(lines).toHaveLength(3)
    expect(lines.map((l) => /: (valid|INVALID) — /.exec(l)![1])).toEqual(['valid', 'valid', 'INVALID'])
    // Problem lines name their image.
    expect(r.stderr).toMatch(new RegExp(`^${files[2].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: error: byte 297694`, 'm'))
    const ok = await runXstInProcess(['verify', ...files.slice(0, 2), '--json'])
    expect(ok.code).toBe(0)
    const doc = JSON.parse(ok.stdout)
    expect(doc.ok).toBe(true)
    expect(doc.images.map((x: {verdict: string}) => x.verdict)).toEqual(['valid', 'valid'])
  })
})

describe('identify', () => {
  const VERDICT: Record<string, string> = {
    'libvirt-v1-holding-v2': 'needs conversion',
    'libvirt-v2-hvm64': 'v2, restorable',
    'xenserver-v2-native-hvm64': 'v2, restorable',
    // These defects lie after the Libxc stream, whose record headers identify
    // steps over (on a file) to read the section headers after it: what
    // restores a XenServer image depends on them, and xenopsd refuses these.
    'bad-xenserver-v2-no-end': 'damaged',
    'bad-xenserver-v2-qemu-past-eof': 'damaged',
    'bad-xenserver-v2-unknown-header': 'damaged',
  }
  const DAMAGE: Record<string, string> = {
    'bad-xenserver-v2-no-end': 'xenserver-no-end',
    'bad-xenserver-v2-qemu-past-eof': 'truncated',
    'bad-xenserver-v2-unknown-header': 'xenserver-unknown-section',
  }

  it('every vector at once: one line each, the facts index.json gives, exit 1 for the damaged ones', async () => {
    const dir = tempDir()
    const files = vectors.map((v) => {
      const p = join(dir, `${v.name}.img`)
      writeFileSync(p, containerBytes(v.input))
      return p
    })
    const r = await runXstInProcess(['identify', ...files])
    expect(r.code, r.stderr).toBe(1)
    // One line each (a restore block under one is indented).
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith(' '))
    expect(lines).toHaveLength(vectors.length)
    const j = await runXstInProcess(['identify', '--json', ...files])
    const doc = JSON.parse(j.stdout)
    expect(doc.ok).toBe(false)
    vectors.forEach((v, i) => {
      const x = doc.images[i]
      expect(x.input.path).toBe(files[i])
      expect(x.verdict, v.name).toBe(VERDICT[v.name] ?? 'needs conversion')
      expect(x.error?.code ?? null, v.name).toBe(DAMAGE[v.name] ?? null)
      expect(x.stream.format, v.name).toBe(v.stream)
      if (v.guest) expect(x.guest, v.name).toBe(v.guest)
      if (v.stream === 'legacy') expect(x.toolstackWidth, v.name).toBe(v.toolstack_width)
      expect(x.input.size).toBe(containerBytes(v.input).length)
      expect(lines[i].startsWith(`${files[i]}: `)).toBe(true)
      expect(lines[i].endsWith(x.verdict) || lines[i].includes(`${x.verdict} (`) || lines[i].includes(`${x.verdict}; restored by `) || lines[i].includes(`: ${x.verdict}: ${x.error?.message}`)).toBe(
        true,
      )
      // What restores it: none for a damaged image; the same words in the text and in --json.
      if (x.verdict === 'damaged') expect(x.restore.by).toEqual([])
      else expect(lines[i].endsWith(`; restored by ${x.restore.by.join(', or ')}${x.stream.format === 'legacy' ? '' : ` (${x.restore.releases})`}`), lines[i]).toBe(true)
    })
    expect(doc.images.find((x: {input: {path: string}}) => x.input.path.endsWith('xend-pv64.img'))).toMatchObject({domainName: 'web400', container: {kind: 'xend'}})
    expect(doc.images.find((x: {input: {path: string}}) => x.input.path.endsWith('libvirt-v1-pv64.img'))).toMatchObject({domainName: 'db400', guestWidth: 64})
  })

  it('a compressed image, the plain streams, and what is not an image (exit 1)', async () => {
    const gz = tempFile('x.img.gz', gzipSync(containerBytes('xend-pv64.img.gz')))
    const legacy = tempFile('old.save', vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    const v2 = tempFile('new.save', vectorBytes('legacy', 'pv64-xl.libxl.v2.gz'))
    const text = tempFile('notes.txt', Buffer.from('just some text, nothing like a save image\n'.repeat(20)))
    const r = await runXstInProcess(['identify', gz, legacy, v2, text])
    expect(r.code).toBe(1)
    // A line each (the restore block under the v2 stream's is indented).
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith(' '))
    expect(lines[0]).toMatch(
      /: gzip-compressed, xend \(xm save\) image, legacy \(Xen <= 4\.5\) stream, PV 64-bit guest, 64-bit toolstack, domain "web400", \d+ bytes: needs conversion; restored by xm restore \(xend, Xen <= 4\.4\), or xl restore CONFIG on Xen 4\.6\+ after `xst convert`/,
    )
    expect(lines[1]).toMatch(
      /: xl save file, legacy \(Xen <= 4\.5\) stream, PV 64-bit guest, 64-bit toolstack, domain "web01", \d+ bytes: needs conversion; restored by xl restore \(Xen <= 4\.5; Xen 4\.6\+ runs the legacy converter\)$/,
    )
    expect(lines[2]).toMatch(/: xl save file, libxl v2 stream \(libxc v3\), PV 64-bit guest, domain "web01", \d+ bytes: v2, restorable; restored by xl restore \(Xen 4\.14 and later\)$/)
    expect(lines[3]).toMatch(/notes\.txt: \d+ bytes: not a Xen image$/)
    expect(r.stderr).toBe('')
  })

  it('gzip-compressed, what is not an image and a cut container get the verdict their bytes get', async () => {
    const bytes = [Buffer.from('just some text, nothing like a save image\n'.repeat(20)), containerBytes('libvirt-v1-pv64.img.gz').subarray(0, 40), containerBytes('xend-pv64.img.gz').subarray(0, 30)]
    const files = bytes.flatMap((b, i) => [tempFile(`f${i}`, b), tempFile(`f${i}.gz`, gzipSync(b))])
    const r = await runXstInProcess(['identify', '--json', ...files])
    expect(r.code).toBe(1)
    const images = JSON.parse(r.stdout).images
    expect(images.map((x: {verdict: string}) => x.verdict)).toEqual(['not a Xen image', 'not a Xen image', 'damaged', 'damaged', 'damaged', 'damaged'])
    for (let i = 0; i < files.length; i += 2) {
      const [plain, gz] = [images[i], images[i + 1]]
      expect(gz.container).toEqual({...plain.container, compressed: true})
      expect({...gz, input: null, size: null, container: null}).toEqual({...plain, input: null, size: null, container: null})
    }
    expect(images[3].container).toMatchObject({kind: 'libvirt', compressed: true})
    const text = await runXstInProcess(['identify', files[0], files[1]])
    expect(text.stdout).toMatch(/f0: \d+ bytes: not a Xen image\n.*f0\.gz: gzip-compressed, \d+ bytes: not a Xen image\n$/)
  })

  it('a damaged container header, and a file that is not there', async () => {
    const cut = tempFile('cut.img', containerBytes('libvirt-v1-pv64.img.gz').subarray(0, 40))
    const r = await runXstInProcess(['identify', cut, '/nonexistent/x.save', '--json'])
    expect(r.code).toBe(2)
    const doc = JSON.parse(r.stdout)
    expect(doc.ok).toBe(false)
    expect(doc.images[0]).toMatchObject({verdict: 'damaged', error: {code: 'truncated', offset: 40}})
    expect(doc.images[1]).toMatchObject({verdict: 'unreadable', error: {code: 'no-such-file'}})
  })
})

describe('inspect-legacy', () => {
  it('shows the container, then walks the stream with its qemu record framing', async () => {
    const cases: Array<[string, RegExp[]]> = [
      ['xend-pv64', [/^ {2}container +xend \(xm save\) image$/m, /^ {2}xend config +SXP config 94 bytes, domain "web400", memory 256 MiB, 2 vcpus, image linux$/m]],
      ['xenserver-legacy-hvm32', [/^ {2}container +XenServer legacy suspend image$/m, /^ {2}qemu record +"QemuDeviceModelRecord\\n", 1500 bytes$/m, /^ {2}trailing bytes +none$/m]],
      ['xenserver-legacy-hvm32-dmr0002', [/^ {2}qemu record +DeviceModelRecord0002, 700 bytes$/m]],
      ['xenserver-v2-libxc-legacy-hvm64', [/^ {2}sections +Xenops@15\(43\), Libxc_legacy@74, End_of_image@297615$/m, /^ {2}qemu record +DeviceModelRecord0002, 900 bytes$/m]],
      ['libvirt-v1-hvm64', [/^ {2}libvirt header +version 1 \(claims a legacy stream\), domain XML 89 bytes, domain "db400"$/m]],
    ]
    for (const [name, lines] of cases) {
      const r = await runXstInProcess(['inspect-legacy', tempFile('in.img', containerBytes(`${name}.img.gz`))])
      expect(r.code, `${name}: ${r.stderr}`).toBe(0)
      for (const l of lines) expect(r.stdout, name).toMatch(l)
    }
  })

  it('through gzip, from a pipe: the same report (offsets into the decompressed image)', async () => {
    const data = containerBytes('xenserver-legacy-hvm32.img.gz')
    const plain = JSON.parse((await runXstInProcess(['inspect-legacy', '--json', '-'], {input: data})).stdout)
    const gz = JSON.parse((await runXstInProcess(['inspect-legacy', '--json', '-'], {input: gzipSync(data)})).stdout)
    expect(gz.container.compressed).toBe(true)
    expect({...gz, input: null, container: null}).toEqual({...plain, input: null, container: null})
    expect(plain.tail.qemu).toMatchObject({signature: 'QemuDeviceModelRecord\n', length: 1500})
  })

  it("the xend config's guest type is a claim: the stream says HVM, and a warning says they differ", async () => {
    const r = await runXstInProcess(['inspect-legacy', tempFile('in.img', containerBytes('xend-hvm64.img.gz'))])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^ {2}guest +HVM \(detected\)$/m)
    expect(r.stderr).toMatch(/^warning: the xend config says the guest is PV \(image linux\), but the stream is an HVM image/m)
  })
})

describe('convert --container, --config, --gzip', () => {
  it('refuses what cannot be restored, before writing anything', async () => {
    const cases: Array<[string, string[], RegExp]> = [
      ['xend-pv64', ['--container', 'libvirt'], /--container libvirt: a libvirt image carries the domain XML/],
      ['libvirt-v1-pv64', ['--format', 'libxc'], /libvirt's libxl driver restores a libxl stream/],
      ['xend-pv64', ['--format', 'libxc'], /xl restore reads a libxl stream behind an xl header/],
      ['xenserver-legacy-pv32', ['--format', 'libxl'], /a XenServer image holds a libxc stream/],
      ['libvirt-v1-pv64', ['--config', '/etc/hostname'], /--config embeds a domain config in a new xl header/],
      ['libvirt-v2-hvm64', [], /already holds a libxl v2 stream/],
      ['xenserver-v2-native-hvm64', [], /already holds a v2 stream \(a Libxc section\)/],
    ]
    for (const [name, args, message] of cases) {
      const {r, dir} = await convertFile(containerBytes(`${name}.img.gz`), args)
      expect([1, 2], `${name} ${args.join(' ')}: ${r.stderr}`).toContain(r.code)
      expect(r.stderr).toMatch(message)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(readdirSync(dir)).toEqual(['in.img'])
    }
  })

  it('every legacy family into every family that takes it, each output verified', async () => {
    const targets: Array<[string, string[], RegExp]> = [
      ['xenserver-legacy-hvm32', ['--container', 'xl'], /^Xen saved domain, xl format/],
      ['xenserver-legacy-hvm32', ['--container', 'none', '--format', 'libxc'], /^\xff{8}XENF/],
      ['xend-hvm64', ['--container', 'xenserver'], /^XenSavedDomv2-\n/],
      ['xend-hvm64', ['--container', 'none'], /^LibxlFmt/],
      ['libvirt-v1-pv64', ['--container', 'xl'], /^Xen saved domain, xl format/],
      ['libvirt-v1-hvm64', ['--container', 'xenserver'], /^XenSavedDomv2-\n/],
      ['libvirt-v1-holding-v2', ['--container', 'none'], /^LibxlFmt/],
      ['xenserver-v2-libxc-legacy-hvm64', ['--container', 'none', '--format', 'libxl'], /^LibxlFmt/],
    ]
    for (const [name, args, start] of targets) {
      const {r, out} = await convertFile(containerBytes(`${name}.img.gz`), args)
      expect(r.code, `${name} ${args.join(' ')}: ${r.stderr}`).toBe(0)
      expect(out!.toString('latin1', 0, 32)).toMatch(start)
      await expectVerifies(out!, `${name} ${args.join(' ')}`)
    }
    // Many conversions one after another: allow for a loaded machine.
  }, 240_000)

  it('--container none --format libxc from a XenServer image: the qemu record in the form a bare libxc stream has', async () => {
    const {r, out} = await convertFile(containerBytes('xenserver-legacy-hvm32.img.gz'), ['--container', 'none', '--format', 'libxc'])
    expect(r.code, r.stderr).toBe(0)
    const libxc = containerBytes('xenserver-legacy-hvm32.libxc.expected.gz')
    const qemu = containerBytes('xenserver-legacy-hvm32.qemu_trad.expected.gz')
    expect(out!.subarray(0, libxc.length).equals(libxc)).toBe(true)
    const tail = out!.subarray(libxc.length)
    expect(tail.toString('latin1', 0, 21)).toBe('DeviceModelRecord0002')
    expect(tail.readUInt32LE(21)).toBe(qemu.length)
    expect(tail.subarray(25).equals(qemu)).toBe(true)
    expect(r.stdout).toMatch(/rewritten as a DeviceModelRecord0002 record/)
  })

  it('--config embeds an xl config (mandatory bit 0 clear) or a JSON one (bit 0 set); without it, a hint', async () => {
    const data = containerBytes('xend-pv64.img.gz')
    const expected = containerBytes('xend-pv64.expected.gz')
    const plain = await convertFile(data)
    expect(plain.r.stdout).toMatch(/restore with `xl restore CONFIG NEW`/)
    for (const [text, json] of [
      ['name = "web400"\nmemory = 256\n', false],
      ['{"c_info": {"name": "web400"}}', true],
    ] as const) {
      const cfg = tempFile('web400.cfg', Buffer.from(text))
      const {r, out} = await convertFile(data, ['--config', cfg])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).not.toMatch(/xl restore CONFIG NEW/)
      const h = XlHeader.get(out!)
      expect(h.mandatoryFlags).toBe(XL_MANDATORY_STREAM_V2 | (json ? XL_MANDATORY_CONFIG_JSON : 0))
      const optional = out!.subarray(XlHeader.size, XlHeader.size + h.optionalDataLen)
      expect(optional.readUInt32LE(0)).toBe(text.length + 1)
      expect(optional.toString('utf8', 4)).toBe(text + '\0')
      // The stream after the header is the same as without a config.
      expect(out!.subarray(XlHeader.size + h.optionalDataLen).equals(expected.subarray(XlHeader.size))).toBe(true)
      const v = await expectVerifies(out!, json ? 'JSON config' : 'xl config')
      expect(v.stdout).toMatch(/valid/)
      const inspect = verifyReport(await runXstInProcess(['verify', '--json', tempFile('o.img', out!)]))
      expect(inspect.summary.xlHeader.domainName).toBe('web400')
    }
  })

  it('--gzip: the output gunzips to the expected bytes', async () => {
    const {r, out} = await convertFile(containerBytes('libvirt-v1-hvm64.img.gz'), ['--gzip'])
    expect(r.code, r.stderr).toBe(0)
    expect(out![0]).toBe(0x1f)
    expect(gunzipSync(out!).equals(containerBytes('libvirt-v1-hvm64.expected.gz'))).toBe(true)
    expect(r.stdout).toMatch(/not byte-identical/)
    // xst reads its own compressed output.
    await expectVerifies(out!, 'gzip output')
    const p = await runXstInProcess(['convert', '--gzip', '-', '-'], {input: containerBytes('xend-pv64.img.gz')})
    expect(p.code, p.stderr).toBe(0)
    expect(gunzipSync(p.stdoutBytes).equals(containerBytes('xend-pv64.expected.gz'))).toBe(true)
  })
})

describe('wrapper defects: one line with the offset, exit 1, nothing written', () => {
  const XML = '<domain><name>h</name></domain>'
  const legacy = () => vectorBytes('legacy', 'pv64-basic.legacy.gz')
  const libvirtWith = (mutate: (b: Buffer) => void, stream = legacy()) => {
    const b = Buffer.concat([encodeLibvirtHeader({version: 1, xml: XML}), stream])
    mutate(b)
    return b
  }
  const xenops = encodeXenopsSection(Buffer.from(VECTOR_XENOPS))
  /** The first deflate block's header made a reserved block type (11): zlib stops there. */
  const corruptGzip = () => {
    const gz = gzipSync(containerBytes('libvirt-v1-pv64.img.gz'))
    gz[10] = 0x07
    return gz
  }
  /** The CRC in the trailer wrong: found only once the whole image has been read. */
  const badCrc = () => {
    const gz = gzipSync(containerBytes('libvirt-v1-pv64.img.gz'))
    gz[gz.length - 8] ^= 0xff
    return gz
  }

  const CASES: Array<[string, () => Buffer, RegExp]> = [
    ['libvirt header cut short', () => containerBytes('libvirt-v1-pv64.img.gz').subarray(0, 30), /^stream ends at byte 30 inside libvirt save header/],
    ['libvirt signature cut short', () => Buffer.from('libvirt-x'), /^stream ends at byte 9 inside the libvirt libxl-driver save image signature/],
    [
      'libvirt xml_len 0',
      () => libvirtWith((b) => LibvirtHeader.fields.xmlLength.put(b, LibvirtHeader.offsets.xmlLength, 0)),
      /^byte 20, libvirt header: libvirt save header has no domain XML \(xml_len is 0\)/,
    ],
    [
      'libvirt xml_len past the end',
      () => libvirtWith((b) => LibvirtHeader.fields.xmlLength.put(b, LibvirtHeader.offsets.xmlLength, 0x7fffffff)),
      /^byte 20, libvirt domain XML: libvirt domain XML length \d+ exceeds MAX_LIBVIRT_XML/,
    ],
    [
      'libvirt xml_len past a small file',
      () => Buffer.concat([encodeLibvirtHeader({version: 1, xml: XML}).subarray(0, 64 + 10)]).fill(0x41, 64),
      /^stream ends at byte 74 inside libvirt domain XML \(\d+ more bytes needed\)/,
    ],
    [
      'libvirt unknown version',
      () => libvirtWith((b) => LibvirtHeader.fields.version.put(b, LibvirtHeader.offsets.version, 3)),
      /^byte 16, libvirt header: libvirt save header version 3 is not one xst knows/,
    ],
    ['xend config not an s-expression', () => Buffer.concat([encodeXendHeader('(domain (name x)'), legacy()]), /^byte 20, xend config: xend config is not a well-formed s-expression/],
    ['xend config length negative', () => Buffer.concat([encodeXendHeader('(domain)')]).fill(0xff, 16, 20), /^byte 16, xend header: xend config length -1 is not a length/],
    [
      'Xenops not an s-expression',
      () => Buffer.concat([encodeStructuredSignature(), encodeXenopsSection(Buffer.from('((time "x")(word_size 64)')), encodeSectionHeader('Libxc_legacy'), legacy()]),
      /^byte 31, Xenops record: Xenops record is not a well-formed s-expression/,
    ],
    [
      'Libxc_legacy stream never ends',
      () => Buffer.concat([encodeStructuredSignature(), xenops, encodeSectionHeader('Libxc_legacy'), legacy().subarray(0, 30000)]),
      /^stream ends at byte \d+ inside /,
    ],
    [
      'XenServer section header cut short',
      () => Buffer.concat([encodeStructuredSignature(), xenops, SectionHeader.encode({type: 0xf2n, length: 0n}).subarray(0, 9)]),
      /^stream ends at byte 83 inside XenServer section header/,
    ],
    ['gzip corrupt', corruptGzip, /^byte \d+, gzip: gzip data is corrupt at compressed byte \d+ \(invalid block type\)$/],
    ['gzip CRC wrong', badCrc, /^byte \d+, gzip: gzip data is corrupt at compressed byte \d+ \(incorrect data check\)$/],
    ['gzip cut short', () => gzipSync(containerBytes('libvirt-v1-pv64.img.gz')).subarray(0, 3000), /^byte 3000, gzip: gzip stream ends at compressed byte 3000 before its end/],
  ]

  it.each(CASES)('%s', async (_what, bytes, message) => {
    const input = bytes()
    const {r, dir} = await convertFile(input)
    expect(r.code, r.stderr).toBe(1)
    noStack(r.stderr)
    const lines = r.stderr.trim().split('\n')
    expect(lines, r.stderr).toHaveLength(1)
    expect(lines[0].replace(/^xst convert: /, '')).toMatch(message)
    expect(readdirSync(dir)).toEqual(['in.img'])
    // inspect-legacy and a pipe say the same.
    const i = await runXstInProcess(['inspect-legacy', '-'], {input})
    expect(i.code).toBe(1)
    expect(i.stderr.trim().replace(/^xst inspect-legacy: /, '')).toBe(lines[0].replace(/^xst convert: /, ''))
  })

  it('a Libxc section whose stream never ends: verify names it', async () => {
    const native = containerBytes('xenserver-v2-native-hvm64.img.gz')
    const cut = native.subarray(0, 200000)
    const r = await runXstInProcess(['verify', tempFile('cut.img', cut)])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error: stream ends at byte 200000 inside libxc record \d+ \(PAGE_DATA\)/m)
  })

  it('a corrupt gzip in verify names the compressed byte', async () => {
    const r = await runXstInProcess(['verify', tempFile('bad.gz', corruptGzip())])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/gzip data is corrupt at compressed byte \d+/)
    noStack(r.stderr)
  })
})
