// dump-core reads the containers the other commands read (libvirt, XenServer
// legacy and structured, xend, gzip): the dump of a wrapped image is the
// dump of the stream it wraps, which the test takes from the vector's
// expected conversion. A XenServer structured image's dumps are also held
// to the pages the test finds itself in the v2 stream of its Libxc section
// (or of the conversion of its Libxc_legacy section), and its defects are
// refused the way convert and verify refuse them.
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'
import {describe, expect, type ExpectStatic, it} from 'vitest'
import {encodeSectionHeader, encodeStructuredSignature, encodeXenopsSection, SectionHeader} from '../src/container/xenserver.js'
import {buildLegacy, type LegacySpec, smallSpec} from './builders/legacy.js'
import {referenceConversion} from './builders/reference.js'
import {tempDir} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {containerBytes} from './helpers/containers.js'
import {dataExtents, filesystemHasHoles, hasPython, hasReadelf, headerNote, PAGE, parseCore, readelf, v2Copies, v2Pages} from './helpers/dump.js'
import {hasStackTrace} from './fuzz/procs.js'
import {locateV2} from './helpers/v2-walk.js'
import {verifyReport} from './helpers/verify-json.js'

// [the wrapped image, a file holding the same guest's stream (the vector's expected conversion)]
const PAIRS: Array<[string, string]> = [
  ['libvirt-v1-pv64.img.gz', 'libvirt-v1-pv64.expected.gz'],
  ['libvirt-v1-hvm64.img.gz', 'libvirt-v1-hvm64.expected.gz'],
  ['xend-pv64.img.gz', 'xend-pv64.expected.gz'],
  ['xend-hvm64.img.gz', 'xend-hvm64.expected.gz'],
  ['xenserver-legacy-hvm32.img.gz', 'xenserver-legacy-hvm32.libxc.expected.gz'],
  ['xenserver-legacy-pv32.img.gz', 'xenserver-legacy-pv32.libxc.expected.gz'],
  ['gzip-xl-pv64.img.gz', 'gzip-xl-pv64.expected.gz'],
]

describe.concurrent('dump-core through containers', () => {
  it.for(PAIRS)('%s dumps the pages of the stream it wraps', async ([wrapped, inner], {expect}) => {
    const dir = tempDir('xst-dump-containers-')
    const a = join(dir, 'wrapped')
    const b = join(dir, 'inner')
    writeFileSync(a, containerBytes(wrapped))
    writeFileSync(b, containerBytes(inner))
    for (const format of ['raw', 'elf']) {
      const [ra, rb] = await Promise.all([runXstInProcess(['dump-core', '--format', format, a, `${a}.${format}`]), runXstInProcess(['dump-core', '--format', format, b, `${b}.${format}`])])
      expect(ra.code, ra.stderr).toBe(0)
      expect(rb.code, rb.stderr).toBe(0)
      const [da, db] = [readFileSync(`${a}.${format}`), readFileSync(`${b}.${format}`)]
      expect(da.length).toBeGreaterThan(0)
      expect(da.equals(db), `${wrapped} --format ${format}`).toBe(true)
    }
    // From a pipe too (a gzip input is always read once, like a pipe).
    const piped = await runXstInProcess(['dump-core', '--format', 'raw', '-', join(dir, 'piped.raw')], {input: containerBytes(wrapped)})
    expect(piped.code, piped.stderr).toBe(0)
    expect(readFileSync(join(dir, 'piped.raw')).equals(readFileSync(`${a}.raw`))).toBe(true)
  })
})

// ---------------------------------------------------------------------------
// XenServer structured images

const XENOPS = encodeXenopsSection(Buffer.from('((time "20150312T10:11:12Z")(word_size 64))'))
const SIGNATURE_LENGTH = 15

/** A structured image: signature, Xenops, then `parts` (section headers and bodies) as given. */
const structured = (...parts: Buffer[]) => Buffer.concat([encodeStructuredSignature(), XENOPS, ...parts])
const sized = (name: string, body: Buffer) => Buffer.concat([encodeSectionHeader(name, body.length), body])

/**
 * The stream of a structured image's Libxc section, found by hand: 16-byte
 * headers {u64 type, u64 length}, sized bodies stepped over, the stream from
 * the Libxc header up to and including its END record.
 */
function libxcSectionStream(image: Buffer): Buffer {
  for (let at = SIGNATURE_LENGTH; at + 16 <= image.length; ) {
    const type = Number(image.readBigUInt64LE(at))
    if (type === 0xf0) {
      const stream = image.subarray(at + 16)
      const end = locateV2(stream).find((r) => r.layer === 'libxc' && r.type === 0)
      if (!end) throw new Error('test: the Libxc stream has no END')
      return stream.subarray(0, end.offset + 8)
    }
    if (type === 0xffff || type === 0xf2) break
    at += 16 + Number(image.readBigUInt64LE(at + 8))
  }
  throw new Error('test: no Libxc section')
}

/** A PV guest whose pfns 2 and 5 are sent twice. */
const PV_SPEC: LegacySpec = (() => {
  const spec = smallSpec('pv')
  const chunks = spec.chunks!
  const last = chunks.pop()!
  chunks.push({kind: 'pages', entries: [2, 5]}, last)
  return spec
})()

/** Its libxc stream, the second copies of pfns 2 and 5 given other contents (the last copy must win). */
const pvLibxc = (() => {
  let cached: Buffer | undefined
  return () => {
    if (cached) return cached
    const b = Buffer.from(referenceConversion(PV_SPEC, 'libxc'))
    const resent = locateV2(b)
      .filter((r) => r.layer === 'libxc' && r.type === 1)
      .at(-1)!
    // PAGE_DATA body: u32 count, u32 reserved, count pfn words, the pages.
    expect(b.readUInt32LE(resent.offset + 8)).toBe(2)
    b.fill(0xab, resent.offset + 8 + 8 + 2 * 8, resent.offset + 8 + resent.length)
    return (cached = b)
  }
})()

interface StructuredCase {
  name: string
  image: () => Buffer
  /** The v2 stream whose PAGE_DATA records say what the dump holds. */
  reference: () => Buffer
  guest: 'pv' | 'hvm'
  kind: 'legacy' | 'libxc'
  /** The image's length up to End_of_image (what follows is not the image's). */
  length: (image: Buffer) => number
}

const whole = (b: Buffer) => b.length
const STRUCTURED: StructuredCase[] = [
  {
    name: 'xenserver-v2-native-hvm64 (Libxc, v2 stream)',
    image: () => containerBytes('xenserver-v2-native-hvm64.img.gz'),
    reference: () => libxcSectionStream(containerBytes('xenserver-v2-native-hvm64.img.gz')),
    guest: 'hvm',
    kind: 'libxc',
    length: whole,
  },
  {
    name: 'xenserver-v2-libxc-legacy-hvm64 (Libxc_legacy, legacy stream)',
    image: () => containerBytes('xenserver-v2-libxc-legacy-hvm64.img.gz'),
    // Its expected conversion: the same image with a Libxc section.
    reference: () => libxcSectionStream(containerBytes('xenserver-v2-libxc-legacy-hvm64.expected.gz')),
    guest: 'hvm',
    kind: 'legacy',
    length: whole,
  },
  {
    name: 'xenserver-v2-libxc-legacy-hvm64 converted (Libxc, the conversion)',
    image: () => containerBytes('xenserver-v2-libxc-legacy-hvm64.expected.gz'),
    reference: () => libxcSectionStream(containerBytes('xenserver-v2-libxc-legacy-hvm64.expected.gz')),
    guest: 'hvm',
    kind: 'libxc',
    length: whole,
  },
  {
    name: 'built PV (Libxc_legacy, pages re-sent; Varstored after; bytes after End_of_image)',
    image: () =>
      Buffer.concat([structured(encodeSectionHeader('Libxc_legacy'), buildLegacy(PV_SPEC), sized('Varstored', Buffer.alloc(100, 7)), encodeSectionHeader('End_of_image')), Buffer.alloc(17, 0xee)]),
    reference: () => referenceConversion(PV_SPEC, 'libxc'),
    guest: 'pv',
    kind: 'legacy',
    length: (b) => b.length - 17,
  },
  {
    name: 'built PV (Libxc, pages re-sent; Varstored after)',
    image: () => structured(encodeSectionHeader('Libxc'), pvLibxc(), sized('Varstored', Buffer.alloc(100, 7)), encodeSectionHeader('End_of_image')),
    reference: pvLibxc,
    guest: 'pv',
    kind: 'libxc',
    length: whole,
  },
]

function expectRaw(raw: Buffer, ref: Map<number, Buffer>): void {
  const max = Math.max(-1, ...ref.keys())
  // The stream's pages at pfn × 4096, zeros everywhere else.
  const expected = Buffer.alloc((max + 1) * PAGE)
  for (const [pfn, page] of ref) page.copy(expected, pfn * PAGE)
  expect(raw.length).toBe(expected.length)
  expect(raw.equals(expected)).toBe(true)
}

/** Where the filesystem reports holes (SEEK_DATA, asked through python3), nothing but the stream's pages is data. */
function expectRawSparse(file: string, ref: Map<number, Buffer>): void {
  const stray: number[] = []
  for (const [s, e] of dataExtents(file)) for (let at = s; at < e; at += PAGE) if (!ref.has(Math.floor(at / PAGE))) stray.push(Math.floor(at / PAGE))
  expect(stray, 'pfns stored as data though the stream has no page for them').toEqual([])
}

function expectElf(elf: Buffer, ref: Map<number, Buffer>, guest: 'pv' | 'hvm'): void {
  const core = parseCore(elf)
  expect(core.type).toBe(4) // ET_CORE
  expect(core.index).toEqual([...ref.keys()].sort((a, b) => a - b))
  expect(
    [...ref].filter(([pfn, page]) => !core.pages.get(pfn)!.equals(page)).map(([pfn]) => pfn),
    'pfns whose page differs',
  ).toEqual([])
  if (guest === 'pv') expect(core.gmfns).toEqual(core.index)
  const h = headerNote(core)
  expect(h.magic).toBe(guest === 'pv' ? 0xf00febedn : 0xf00febeen)
  expect(h.nrPages).toBe(ref.size)
  expect(h.nrVcpus).toBe(core.prstatus.length)
}

/** binutils' readelf reads the ELF dump without a warning. */
function expectReadelf(file: string): void {
  const r = readelf(file)
  expect(r.status, r.stderr).toBe(0)
  expect(r.stderr).toBe('')
  expect(r.stdout).not.toMatch(/warning|error/i)
}

/** The checks that need a tool from outside, where it is here (skipped, and so reported, where not). */
const canSeeHoles = hasPython && filesystemHasHoles(tempDir('xst-holes-'))

/** A structured case's image dumped from a file, for the checks by outside tools. */
async function fileDump(name: string, format: 'raw' | 'elf'): Promise<{out: string; ref: Map<number, Buffer>}> {
  const c = STRUCTURED.find((x) => x.name === name)!
  const dir = tempDir('xst-dump-structured-')
  const file = join(dir, 'in.img')
  writeFileSync(file, c.image())
  const out = join(dir, `core.${format}`)
  const r = await runXstInProcess(['dump-core', '--format', format, file, out])
  expect(r.code, r.stderr).toBe(0)
  return {out, ref: v2Pages(c.reference())}
}

describe.concurrent('dump-core on XenServer structured images', () => {
  it.for(STRUCTURED.map((c) => c.name))('%s: the pages of its memory image, from a file and a pipe', async (name, {expect}) => {
    const c = STRUCTURED.find((x) => x.name === name)!
    const dir = tempDir('xst-dump-structured-')
    const image = c.image()
    const ref = v2Pages(c.reference())
    expect(ref.size).toBeGreaterThan(0)
    const file = join(dir, 'in.img')
    writeFileSync(file, image)
    const bare = join(dir, 'bare.v2')
    writeFileSync(bare, c.reference())
    const dumps: Record<string, Buffer> = {}
    for (const format of ['raw', 'elf'] as const) {
      const out = join(dir, `core.${format}`)
      const r = await runXstInProcess(['dump-core', '--json', '--format', format, file, out])
      expect(r.code, r.stderr).toBe(0)
      const d = (dumps[format] = readFileSync(out))
      if (format === 'raw') expectRaw(d, ref)
      else expectElf(d, ref, c.guest)
      const doc = JSON.parse(r.stdout)
      expect(doc).toMatchObject({
        ok: true,
        input: {path: file, guest: c.guest, bytes: c.length(image)},
        stream: {format: c.kind},
        output: {path: out, format, bytes: d.length},
        pages: {count: ref.size, copies: v2Copies(c.reference()), pfnRange: {first: Math.min(...ref.keys()), last: Math.max(...ref.keys())}},
        method: format === 'raw' ? 'positional' : 'windows',
      })
      // The bare stream the section holds (or the conversion of it) gives the same dump.
      const fromBare = await runXstInProcess(['dump-core', '--format', format, bare, `${bare}.${format}`])
      expect(fromBare.code, fromBare.stderr).toBe(0)
      expect(readFileSync(`${bare}.${format}`).equals(d), `${format}: differs from the bare stream's dump`).toBe(true)
    }
    // From a pipe (the ELF through the spool), plain and gzipped: the same bytes.
    for (const [how, input] of [
      ['pipe', image],
      ['gzip pipe', gzipSync(image)],
    ] as const) {
      for (const format of ['raw', 'elf'] as const) {
        const out = join(dir, `piped.${format}`)
        const r = await runXstInProcess(['dump-core', '--json', '--force', '--format', format, '-', out], {input})
        expect(r.code, r.stderr).toBe(0)
        expect(readFileSync(out).equals(dumps[format]), `${how} ${format}: differs from the file's dump`).toBe(true)
        const doc = JSON.parse(r.stdout)
        expect(doc.input).toMatchObject({path: 'stdin', bytes: c.length(image)})
        expect(doc.stream.format).toBe(c.kind)
        expect(doc.method).toBe(format === 'raw' ? 'positional' : 'spool')
      }
    }
    // Small windows: one header pass of the Libxc/Libxc_legacy stream per window, the same ELF.
    const windowed = await runXstInProcess(['dump-core', '--json', '--force', file, join(dir, 'win.elf')], {env: {XST_DUMP_WINDOW_PFNS: '5'}})
    expect(windowed.code, windowed.stderr).toBe(0)
    expect(JSON.parse(windowed.stdout).passes).toBe(1 + Math.ceil(ref.size / 5))
    expect(readFileSync(join(dir, 'win.elf')).equals(dumps.elf)).toBe(true)
    expect(readdirSync(dir).filter((f) => /xst-(partial|spool)/.test(f))).toEqual([])
  })

  it.skipIf(!canSeeHoles).for(STRUCTURED.map((c) => c.name))('%s: its raw dump is data only at its pages (SEEK_DATA through python3, where the filesystem has holes)', async (name) => {
    const {out, ref} = await fileDump(name, 'raw')
    expectRawSparse(out, ref)
  })

  it.skipIf(!hasReadelf).for(STRUCTURED.map((c) => c.name))('%s: readelf reads its ELF dump without a warning', async (name) => {
    expectReadelf((await fileDump(name, 'elf')).out)
  })

  const legacy = () => buildLegacy(PV_SPEC)
  const libxc = pvLibxc
  const native = () => containerBytes('xenserver-v2-native-hvm64.img.gz')
  const end = encodeSectionHeader('End_of_image')
  /** [what, the image, the command whose refusal dump-core's must match] */
  const BAD: Array<[string, () => Buffer, 'convert' | 'inspect-legacy' | 'verify']> = [
    [
      'Xenops not an s-expression',
      () => Buffer.concat([encodeStructuredSignature(), encodeXenopsSection(Buffer.from('((time "x")(word_size 64)')), encodeSectionHeader('Libxc_legacy'), legacy(), end]),
      'convert',
    ],
    ['signature cut short', () => encodeStructuredSignature().subarray(0, 9), 'convert'],
    ['section header cut short', () => Buffer.concat([structured(), SectionHeader.encode({type: 0xf2n, length: 0n}).subarray(0, 9)]), 'convert'],
    ['unknown section type', () => structured(SectionHeader.encode({type: 0x777n, length: 0n}), end), 'convert'],
    ['End_of_image before any memory image', () => structured(end), 'convert'],
    ['no section after the Xenops', () => structured(), 'convert'],
    ['a Libxl section first', () => structured(encodeSectionHeader('Libxl'), libxc(), end), 'convert'],
    ['Libxc_legacy stream cut short', () => structured(encodeSectionHeader('Libxc_legacy'), legacy().subarray(0, 30000)), 'convert'],
    ['Libxc_legacy, then no End_of_image', () => structured(encodeSectionHeader('Libxc_legacy'), legacy()), 'convert'],
    [
      'Libxc_legacy, then a Varstored longer than the file',
      () => structured(encodeSectionHeader('Libxc_legacy'), legacy(), SectionHeader.encode({type: 0xf11n, length: 5000n}), Buffer.alloc(100)),
      'convert',
    ],
    ['Libxc_legacy, then a Demu section', () => structured(encodeSectionHeader('Libxc_legacy'), legacy(), encodeSectionHeader('Demu'), end), 'inspect-legacy'],
    ['Libxc_legacy holding a v2 stream', () => structured(encodeSectionHeader('Libxc_legacy'), libxc(), end), 'convert'],
    ['Libxc stream cut inside PAGE_DATA', () => native().subarray(0, 200000), 'verify'],
    ['Libxc holding a legacy stream', () => structured(encodeSectionHeader('Libxc'), legacy(), end), 'verify'],
    ['bad-xenserver-v2-no-end', () => containerBytes('bad-xenserver-v2-no-end.img.gz'), 'verify'],
    ['bad-xenserver-v2-qemu-past-eof', () => containerBytes('bad-xenserver-v2-qemu-past-eof.img.gz'), 'verify'],
    ['bad-xenserver-v2-unknown-header', () => containerBytes('bad-xenserver-v2-unknown-header.img.gz'), 'verify'],
  ]

  it.for(BAD)('%s: one line, exit 1, nothing left (a file, a pipe)', async ([, bytes, like], {expect}) => {
    const dir = tempDir('xst-dump-structured-bad-')
    const input = bytes()
    const file = join(dir, 'in.img')
    writeFileSync(file, input)
    const lines: string[] = []
    for (const [format, from] of [
      ['elf', file],
      ['raw', '-'],
    ] as const) {
      const r = await runXstInProcess(['dump-core', '--format', format, from, join(dir, 'core')], {input: from === '-' ? input : undefined})
      expect(r.code, r.stderr).toBe(1)
      expect(hasStackTrace(r.stdout + r.stderr)).toBe(false)
      const got = r.stderr.trim().split('\n')
      expect(got, r.stderr).toHaveLength(1)
      expect(got[0]).toMatch(/^xst dump-core: /)
      lines.push(got[0].replace(/^xst dump-core: /, ''))
      expect(readdirSync(dir)).toEqual(['in.img'])
    }
    // Whichever way it is read, the same refusal.
    expect(new Set(lines).size, lines.join('\n')).toBe(1)
    const other = await runXstInProcess(like === 'verify' ? ['verify', file] : like === 'convert' ? ['convert', file, join(dir, 'out')] : ['inspect-legacy', file])
    expect(other.code).toBe(1)
    if (like === 'verify') {
      // verify lists its findings its own way ("error: byte N: message"); the words are the same.
      const found = /^error: (?:byte (\d+): )?(.*)$/m.exec(other.stdout + other.stderr)
      expect(found, other.stdout + other.stderr).not.toBeNull()
      if (found![1]) expect(lines[0]).toMatch(new RegExp(`^byte ${found![1]}\\b`))
      expect(lines[0]).toContain(found![2])
    } else {
      expect(lines[0]).toBe(other.stderr.trim().replace(new RegExp(`^xst ${like}: `), ''))
    }
    expect(readdirSync(dir)).toEqual(['in.img'])
  })
})

// ---------------------------------------------------------------------------
// The end of the input: gzip's check, and bytes after the image

/** Every container family: the image uncompressed, and which command's refusal (or warning) dump-core's must match. */
interface Family {
  name: string
  image: () => Buffer
  /** convert for a legacy stream; verify for a v2 stream, which convert declines as already v2. */
  like: 'convert' | 'verify'
  /** The command whose JSON container summary dump-core's must equal. */
  describedBy: 'inspect-legacy' | 'verify'
  /**
   * Bytes after the image: refused (after a v2 stream's END, as verify
   * refuses them), counted (after a structured image's End_of_image), or
   * warned of (after a legacy image, as convert warns).
   */
  after: 'verify-warned' | 'counted' | 'warned'
}

/** The --json report of the command that describes a family's image: verify's is its one image's, in `images`. */
const described = (f: Family, r: {stdout: string}) => (f.describedBy === 'verify' ? verifyReport(r) : JSON.parse(r.stdout))

const FAMILIES: Family[] = [
  {name: 'bare legacy PV', image: () => buildLegacy(PV_SPEC), like: 'convert', describedBy: 'inspect-legacy', after: 'warned'},
  // The vector is an xl image gzipped; its own bytes are the xl image.
  {name: 'xl header, legacy PV', image: () => gunzipSync(containerBytes('gzip-xl-pv64.img.gz')), like: 'convert', describedBy: 'inspect-legacy', after: 'warned'},
  {name: 'libvirt v1, legacy PV', image: () => containerBytes('libvirt-v1-pv64.img.gz'), like: 'convert', describedBy: 'inspect-legacy', after: 'warned'},
  {name: 'libvirt v1, legacy HVM', image: () => containerBytes('libvirt-v1-hvm64.img.gz'), like: 'convert', describedBy: 'inspect-legacy', after: 'warned'},
  {name: 'xend, legacy PV', image: () => containerBytes('xend-pv64.img.gz'), like: 'convert', describedBy: 'inspect-legacy', after: 'warned'},
  {name: 'xend, legacy HVM', image: () => containerBytes('xend-hvm64.img.gz'), like: 'convert', describedBy: 'inspect-legacy', after: 'warned'},
  {name: 'XenServer legacy, PV', image: () => containerBytes('xenserver-legacy-pv32.img.gz'), like: 'convert', describedBy: 'inspect-legacy', after: 'warned'},
  {name: 'XenServer legacy, HVM', image: () => containerBytes('xenserver-legacy-hvm32.img.gz'), like: 'convert', describedBy: 'inspect-legacy', after: 'warned'},
  {name: 'XenServer structured, Libxc_legacy', image: () => containerBytes('xenserver-v2-libxc-legacy-hvm64.img.gz'), like: 'convert', describedBy: 'inspect-legacy', after: 'counted'},
  {name: 'XenServer structured, Libxc', image: () => containerBytes('xenserver-v2-native-hvm64.img.gz'), like: 'verify', describedBy: 'verify', after: 'counted'},
  {name: 'libvirt v2, libxl', image: () => containerBytes('libvirt-v2-hvm64.img.gz'), like: 'verify', describedBy: 'verify', after: 'verify-warned'},
]

/**
 * gzip stored (level 0): the compressed input is as long as the image and
 * fed to zlib in several pieces; the damage is in the trailer alone, which
 * zlib checks only once the data before it is inflated (a cut trailer, only
 * once told the input has ended: after the image, nothing asks for that
 * unless the input is read on to its end).
 */
const stored = (b: Buffer) => gzipSync(b, {level: 0})
const DAMAGED: Array<[string, (g: Buffer) => Buffer]> = [
  ['CRC corrupted', (g) => Buffer.concat([g.subarray(0, g.length - 8), Buffer.from([g[g.length - 8] ^ 0xff]), g.subarray(g.length - 7)])],
  ['cut inside the trailer', (g) => g.subarray(0, g.length - 3)],
]

/** The refusal (one line, exit 1, nothing left) of dump-core, the same from a file and a pipe, as ELF and raw. */
async function dumpRefusal(dir: string, input: Buffer, expect: ExpectStatic): Promise<string> {
  const file = join(dir, 'in.img')
  writeFileSync(file, input)
  const lines: string[] = []
  for (const format of ['elf', 'raw'] as const) {
    for (const from of [file, '-']) {
      const r = await runXstInProcess(['dump-core', '--format', format, from, join(dir, 'core')], {input: from === '-' ? input : undefined})
      expect(r.code, `${format} ${from}: ${r.stderr}`).toBe(1)
      expect(hasStackTrace(r.stdout + r.stderr)).toBe(false)
      const got = r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('warning: '))
      expect(got, r.stderr).toHaveLength(1)
      expect(got[0]).toMatch(/^xst dump-core: /)
      lines.push(got[0].replace(/^xst dump-core: /, ''))
      expect(readdirSync(dir)).toEqual(['in.img'])
    }
  }
  expect(new Set(lines).size, lines.join('\n')).toBe(1)
  return lines[0]
}

/** dump-core's line matches the refusal `like` gives the same input. */
async function expectRefusedLike(line: string, like: 'convert' | 'verify', file: string, dir: string, expect: ExpectStatic): Promise<void> {
  if (like === 'convert') {
    const other = await runXstInProcess(['convert', file, join(dir, 'out')])
    expect(other.code).toBe(1)
    const refusal = other.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('warning: '))
    expect(refusal).toEqual([`xst convert: ${line}`])
    return
  }
  // verify lists its findings its own way ("error: byte N, layer record I (TYPE): message"); the words are the same.
  const other = await runXstInProcess(['verify', file])
  expect(other.code).toBe(1)
  const found = /^error: (?:byte (\d+)(?:, (\w+ record \d+) \((\w+)\))?: )?(.*)$/m.exec(other.stdout + other.stderr)
  expect(found, other.stdout + other.stderr).not.toBeNull()
  const [, at, record, type, message] = found!
  if (at) expect(line).toMatch(new RegExp(`^byte ${at}\\b`))
  if (record) expect(line).toContain(`${record}, ${type}`)
  expect(line).toContain(message)
}

describe.concurrent('dump-core reads the input to its end', () => {
  const cases = FAMILIES.flatMap((f) => DAMAGED.map(([how]) => [f.name, how] as [string, string]))
  it.for(cases)('gzipped %s, %s: refused as the other commands refuse it', async ([name, how], {expect}) => {
    const f = FAMILIES.find((x) => x.name === name)!
    const damage = DAMAGED.find(([h]) => h === how)![1]
    const dir = tempDir('xst-dump-gzip-end-')
    const input = damage(stored(f.image()))
    const line = await dumpRefusal(dir, input, expect)
    expect(line).toMatch(how === 'CRC corrupted' ? /gzip data is corrupt at compressed byte \d+ \(incorrect data check\)/ : /gzip stream ends at compressed byte \d+ before its end/)
    await expectRefusedLike(line, f.like, join(dir, 'in.img'), dir, expect)
    expect(readdirSync(dir)).toEqual(['in.img'])
  })

  it.for(FAMILIES.map((f) => f.name))('%s with bytes after it: what convert (or verify) says', async (name, {expect}) => {
    const f = FAMILIES.find((x) => x.name === name)!
    const dir = tempDir('xst-dump-after-end-')
    const input = Buffer.concat([f.image(), Buffer.alloc(17, 0xee)])
    const file = join(dir, 'in.img')
    writeFileSync(file, input)
    // A v2 stream's END is its end: the restorer reads nothing after it, so verify warns
    // of what follows, and dump-core dumps with the same warning.
    const verified = f.after === 'verify-warned' ? await runXstInProcess(['verify', file]) : undefined
    if (verified) {
      expect(verified.code, verified.stderr).toBe(0)
      expect(verified.stderr).toMatch(/^warning: byte \d+: 17 bytes after the libxl END record/m)
    }
    if (f.after === 'counted') {
      // After End_of_image: not the image's; counted, as inspect-legacy and verify count them.
      const other = await runXstInProcess([f.describedBy, '--json', file])
      expect(described(f, other).container.afterEnd).toBe(17)
    }
    // After a legacy image, convert warns of the bytes and goes on (an xend HVM image's qemu state runs to
    // the end of the file, so there they are qemu state, and nothing is said).
    const conv = f.after === 'warned' ? await runXstInProcess(['convert', file, join(dir, 'out')]) : undefined
    if (conv) expect(conv.code, conv.stderr).toBe(0)
    if (conv) expect(conv.stderr.split('\n').filter((l) => /after the end of the image/.test(l))).toHaveLength(name === 'xend, legacy HVM' ? 0 : 1)
    const afterEnd = (lines: string[]) => lines.filter((l) => /after the end of the image/.test(l))
    for (const format of ['elf', 'raw'] as const) {
      for (const from of [file, '-']) {
        const out = join(dir, `core.${format}`)
        const r = await runXstInProcess(['dump-core', '--json', '--force', '--format', format, from, out], {input: from === '-' ? input : undefined})
        expect(r.code, r.stderr).toBe(0)
        const doc = JSON.parse(r.stdout)
        if (conv) expect(afterEnd(doc.warnings)).toEqual(afterEnd(conv.stderr.split('\n')).map((l) => l.replace(/^warning: /, '')))
        if (f.after === 'counted') expect(doc.container.afterEnd).toBe(17)
        if (verified)
          expect(doc.warnings).toContainEqual(
            verified.stderr
              .split('\n')
              .find((l) => /after the libxl END/.test(l))!
              .replace(/^warning: /, ''),
          )
      }
    }
  })
})

describe.concurrent('dump-core names the container', () => {
  const cases = FAMILIES.flatMap((f) => [[f.name, false] as [string, boolean], [f.name, true] as [string, boolean]])
  it.for(cases)('%s (gzip: %s): in the text and in --json, as the other commands describe it', async ([name, gz], {expect}) => {
    const f = FAMILIES.find((x) => x.name === name)!
    const dir = tempDir('xst-dump-container-')
    const file = join(dir, 'in.img')
    writeFileSync(file, gz ? gzipSync(f.image()) : f.image())
    const [json, text, other] = await Promise.all([
      runXstInProcess(['dump-core', '--json', '--format', 'raw', file, join(dir, 'a.raw')]),
      runXstInProcess(['dump-core', '--format', 'raw', file, join(dir, 'b.raw')]),
      runXstInProcess([f.describedBy, '--json', file]),
    ])
    expect(json.code, json.stderr).toBe(0)
    expect(text.code, text.stderr).toBe(0)
    const container = JSON.parse(json.stdout).container
    // The one summary (src/container/describe.ts) inspect-legacy and verify report.
    expect(container).toEqual(described(f, other).container)
    expect(container.compressed).toBe(gz)
    const line = text.stdout.split('\n').find((l) => l.startsWith('  container '))
    if (container.kind === 'none' && !gz) {
      expect(line).toBeUndefined()
      return
    }
    const label = {
      libvirt: `libvirt libxl-driver save image (version ${container.libvirt?.version})`,
      xend: 'xend (xm save) image',
      'xenserver-legacy': 'XenServer legacy suspend image',
      'xenserver-structured': 'XenServer structured suspend image',
      none: '',
    }[container.kind as string]
    expect(line?.replace(/^ {2}container +/, '')).toBe(gz ? `gzip-compressed${label ? ` ${label}` : ''}` : label)
    // convert words the same container the same way ("container  WORDS -> OUTPUT").
    if (f.like === 'convert') {
      const conv = await runXstInProcess(['convert', file, join(dir, 'out')])
      expect(conv.code, conv.stderr).toBe(0)
      const words = conv.stdout.split('\n').find((l) => l.startsWith('  container '))
      expect(words?.replace(/^ {2}container +/, '').replace(/ -> .*$/, '')).toBe(line?.replace(/^ {2}container +/, ''))
      // And what the container claims of the guest, against the stream, is warned of as convert warns of it.
      const claims = (lines: string[]) => lines.filter((l) => /config says the guest/.test(l))
      const said = claims(conv.stderr.split('\n')).map((l) => l.replace(/^warning: /, ''))
      expect(said).toHaveLength(name === 'xend, legacy HVM' ? 1 : 0)
      expect(claims(JSON.parse(json.stdout).warnings)).toEqual(said)
    }
  })
})
