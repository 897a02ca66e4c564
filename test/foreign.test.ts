// Files found beside save images that are not Xen's, named by every
// command instead of being called damaged (src/foreign): libvirt's
// QEMU/KVM save images (every memory format, a save that did not finish),
// bare QEMU device state, Xen ELF dump-cores (xst's own), other ELF cores
// and ELF files; the same verdict through gzip; hostile headers cost no
// more than clean ones.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {beforeAll, describe, expect, it} from 'vitest'
import {openImage} from '../src/container/open.js'
import {FormatError} from '../src/errors.js'
import {readElf} from '../src/foreign/elf.js'
import {detectLegacy} from '../src/legacy/detect.js'
import {readLibvirtQemu} from '../src/foreign/libvirt-qemu.js'
import {FOREIGN_PEEK, ForeignFormatError, recogniseForeign} from '../src/foreign/recognise.js'
import {ByteReader} from '../src/io/reader.js'
import {BufferSource} from '../src/io/source.js'
import {elfFile, type ElfNoteSpec, libvirtQemuImage, qemuDeviceState, SHT_NOTE, SHT_PROGBITS, u64s} from './builders/foreign.js'
import {tempDir} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {vectorBytes} from './helpers/fixtures.js'

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at |\.js:\d+/)
const RESTORE = 'restore it with `virsh restore` on a KVM host'
const FORMATS = ['raw', 'gzip', 'bzip2', 'xz', 'lzop', 'zstd', 'sparse']
const FORMAT_WORDS: Record<string, string> = {raw: 'uncompressed', sparse: 'sparse (QEMU mapped-ram)'}

const CORE_NOTE = (type = 1): ElfNoteSpec => ({name: 'CORE', type, desc: Buffer.alloc(336)})

/** Every file of the tests below, by name. */
const FILES: Record<string, Buffer> = {
  ...Object.fromEntries(FORMATS.map((f, i) => [`kvm-${f}.save`, libvirtQemuImage({format: i})])),
  'kvm-part.save': libvirtQemuImage({magic: 'Part', format: 5}),
  'kvm-v1.save': libvirtQemuImage({version: 1, format: 0}),
  'kvm-be.save': libvirtQemuImage({bigEndian: true, format: 1, cookie: '<cookie/>'}),
  'kvm-format9.save': libvirtQemuImage({format: 9, xml: "<domain type='kvm'><name>a &amp; b</name></domain>"}),
  'qemu-v3.state': qemuDeviceState(3),
  'qemu-v2.state': qemuDeviceState(2),
  'qemu-core.elf': elfFile({type: 4, segmentNotes: [CORE_NOTE(), {name: 'QEMU', type: 0, desc: Buffer.alloc(456)}]}),
  'vmcore.elf': elfFile({type: 4, segmentNotes: [CORE_NOTE(), {name: 'VMCOREINFO', type: 0, desc: Buffer.from('OSRELEASE=6.1.0\n')}]}),
  'xen-host.elf': elfFile({type: 4, segmentNotes: [CORE_NOTE(), {name: 'Xen', type: 0x1000001, desc: Buffer.alloc(64)}]}),
  'process.core': elfFile({type: 4, segmentNotes: [CORE_NOTE(), CORE_NOTE(3)]}),
  'xen-sections.core': elfFile({
    type: 4,
    sections: [
      {name: '.xen_prstatus', type: SHT_PROGBITS, body: Buffer.alloc(64)},
      {name: '.xen_pages', type: SHT_PROGBITS, body: Buffer.alloc(4096)},
      {name: '.xen_pfn', type: SHT_PROGBITS, body: u64s(0)},
    ],
  }),
  'program.elf': elfFile({type: 2, sections: [{name: '.text', type: SHT_PROGBITS, body: Buffer.alloc(16, 0x90)}]}),
  'object-be32.o': elfFile({class: 32, order: 'big', type: 1, machine: 20, sections: [{name: '.note.x', type: SHT_NOTE, body: Buffer.alloc(0)}]}),
  'junk.bin': Buffer.from('just some text, nothing like a save image\n'.repeat(40)),
}

let dir: string
const path = (name: string) => join(dir, name)

beforeAll(async () => {
  dir = tempDir()
  for (const [name, bytes] of Object.entries(FILES)) {
    writeFileSync(path(name), bytes)
    writeFileSync(path(name + '.gz'), gzipSync(bytes))
  }
  // Xen ELF dump-cores as xst writes them (the layout of `xl dump-core`): PV and HVM.
  writeFileSync(path('pv.save'), vectorBytes('v2', 'pv3.v2.gz'))
  writeFileSync(path('hvm.save'), vectorBytes('v2', 'libxl-hvm3.v2.gz'))
  for (const g of ['pv', 'hvm']) {
    const r = await runXstInProcess(['dump-core', path(`${g}.save`), path(`${g}.core`)])
    expect(r.code, r.stderr).toBe(0)
    const core = readFileSync(path(`${g}.core`))
    FILES[`${g}.core`] = core
    writeFileSync(path(`${g}.core.gz`), gzipSync(core))
  }
})

async function identifyJson(names: string[]) {
  const r = await runXstInProcess(['identify', '--json', ...names.map(path)])
  noStack(r.stderr)
  return {code: r.code, images: JSON.parse(r.stdout).images as Array<Record<string, any>>}
}

async function identifyLines(names: string[]) {
  const r = await runXstInProcess(['identify', ...names.map(path)])
  noStack(r.stderr)
  expect(r.stderr).toBe('')
  return {code: r.code, lines: r.stdout.trimEnd().split('\n')}
}

describe('identify names what is not a Xen image', () => {
  it('libvirt QEMU/KVM save images: every memory format, a save that did not finish, version 1, big-endian, an unknown format', async () => {
    const names = Object.keys(FILES).filter((n) => n.startsWith('kvm-'))
    const {code, lines} = await identifyLines(names)
    expect(code).toBe(1)
    const line = (n: string) => lines[names.indexOf(n)]
    const size = (n: string) => FILES[n].length
    for (const f of FORMATS) {
      const n = `kvm-${f}.save`
      expect(line(n)).toBe(`${path(n)}: libvirt QEMU/KVM save image, version 2, memory state ${FORMAT_WORDS[f] ?? `${f}-compressed`}, domain "kvm01", ${size(n)} bytes: not a Xen image (${RESTORE})`)
    }
    expect(line('kvm-part.save')).toBe(
      `${path('kvm-part.save')}: libvirt QEMU/KVM save image, version 2, incomplete, memory state zstd-compressed, domain "kvm01", ${size('kvm-part.save')} bytes: not a Xen image (the save did not finish: the header still says "LibvirtQemudPart", and \`virsh restore\` refuses it)`,
    )
    expect(line('kvm-v1.save')).toContain(': libvirt QEMU/KVM save image, version 1, memory state uncompressed, domain "kvm01", ')
    expect(line('kvm-be.save')).toContain(': libvirt QEMU/KVM save image, version 2, big-endian, memory state gzip-compressed, domain "kvm01", ')
    expect(line('kvm-format9.save')).toContain(': libvirt QEMU/KVM save image, version 2, memory state in format 9, unknown to xst, domain "a & b", ')

    const {images} = await identifyJson(names)
    const x = images[names.indexOf('kvm-zstd.save')]
    expect(x).toMatchObject({
      container: {kind: 'none', compressed: false},
      foreign: {
        kind: 'libvirt-qemu-save',
        label: 'libvirt QEMU/KVM save image',
        advice: RESTORE,
        libvirtQemu: {complete: true, version: 2, byteOrder: 'little', formatCode: 5, memoryFormat: 'zstd', wasRunning: true, cookie: false, domainName: 'kvm01'},
      },
      stream: null,
      guest: null,
      domainName: 'kvm01',
      verdict: 'not a Xen image',
      note: RESTORE,
      error: {code: 'foreign-format', offset: null},
    })
    expect(x.error.message).toBe(`this is a libvirt QEMU/KVM save image (version 2, memory state zstd-compressed, domain "kvm01"), not a Xen save image: ${RESTORE}`)
    expect(images[names.indexOf('kvm-sparse.save')].foreign.libvirtQemu).toMatchObject({formatCode: 6, memoryFormat: 'sparse'})
    expect(images[names.indexOf('kvm-part.save')].foreign.libvirtQemu).toMatchObject({complete: false, formatCode: 5})
    expect(images[names.indexOf('kvm-be.save')].foreign.libvirtQemu).toMatchObject({byteOrder: 'big', cookie: true, memoryFormat: 'gzip'})
    expect(images[names.indexOf('kvm-format9.save')].foreign.libvirtQemu).toMatchObject({formatCode: 9, memoryFormat: null})
  })

  it('QEMU device state (QEVM, versions 3 and 2); another version is not taken for it', async () => {
    writeFileSync(path('qemu-v7.state'), qemuDeviceState(7))
    const names = ['qemu-v3.state', 'qemu-v2.state', 'qemu-v7.state']
    const {lines} = await identifyLines(names)
    expect(lines[0]).toBe(
      `${path('qemu-v3.state')}: QEMU device state, QEVM stream version 3, ${FILES['qemu-v3.state'].length} bytes: not a Xen image (QEMU's record of a guest's devices, such as the device-model state in a Xen HVM save; not a domain save image)`,
    )
    expect(lines[1]).toContain(': QEMU device state, QEVM stream version 2, ')
    expect(lines[2]).toMatch(/qemu-v7\.state: \d+ bytes: not a Xen image$/)
    const {images} = await identifyJson(names)
    expect(images[0]).toMatchObject({foreign: {kind: 'qemu-device-state', qemuDeviceState: {version: 3}}, verdict: 'not a Xen image', error: {code: 'foreign-format'}})
    expect(images[2]).toMatchObject({foreign: null, error: {code: 'undetectable'}})
  })

  it("Xen ELF dump-cores as xst writes them (xl dump-core's layout), PV and HVM", async () => {
    const {lines} = await identifyLines(['pv.core', 'hvm.core'])
    const advice = "a domain's memory dump, as `xl dump-core`, `virsh dump` and `xst dump-core` write, for crash or libkdumpfile; a dump cannot be restored"
    expect(lines[0]).toBe(`${path('pv.core')}: Xen ELF dump-core, format 0.1, Xen 4.19, 2 vcpus, 208 pages, PV guest, ${FILES['pv.core'].length} bytes: not a Xen image (${advice})`)
    expect(lines[1]).toMatch(/hvm\.core: Xen ELF dump-core, format 0\.1, (Xen \d+\.\d+, )?\d+ vcpus?, 512 pages, HVM guest, \d+ bytes: not a Xen image \(/)
    const {images} = await identifyJson(['pv.core', 'hvm.core'])
    expect(images[0]).toMatchObject({
      foreign: {
        kind: 'xen-dump-core',
        label: 'Xen ELF dump-core',
        elf: {
          class: 64,
          byteOrder: 'little',
          type: 'core',
          typeCode: 4,
          machine: 62,
          notes: ['Xen'],
          producer: 'xen-dump-core',
          xen: {guest: 'pv', vcpus: 2, pages: 208, pageSize: 4096, formatVersion: '0.1', xenVersion: '4.19'},
        },
      },
      guest: 'pv',
      verdict: 'not a Xen image',
      note: advice,
      error: {code: 'foreign-format'},
    })
    expect(images[1]).toMatchObject({foreign: {kind: 'xen-dump-core', elf: {xen: {guest: 'hvm', pages: 512}}}, guest: 'hvm'})
  })

  it('other ELF core files by what wrote them, a Xen dump-core by its section names alone, and ELF files that are not cores', async () => {
    const names = ['qemu-core.elf', 'vmcore.elf', 'xen-host.elf', 'process.core', 'xen-sections.core', 'program.elf', 'object-be32.o']
    const {lines} = await identifyLines(names)
    const rest = (i: number) => lines[i].slice(path(names[i]).length + 2).replace(/, \d+ bytes: /, ': ')
    expect(rest(0)).toBe(
      "guest memory dump (kdump-style ELF core), 64-bit ELF core: not a Xen image (a guest's memory dump, as QEMU's dump-guest-memory (`virsh dump --memory-only`) and `xst dump-core --format vmcore` write, for crash or drgn; a dump cannot be restored)",
    )
    expect(rest(1)).toBe('Linux kernel crash dump, 64-bit ELF core: not a Xen image (a kernel crash dump (vmcore) for crash; not a domain save image)')
    expect(rest(2)).toBe("Xen host crash dump, 64-bit ELF core: not a Xen image (a Xen host's crash dump (kexec/kdump) for crash; not a domain save image)")
    expect(rest(3)).toBe('ELF core file, 64-bit: not a Xen image (a memory dump for a debugger; a dump cannot be restored)')
    expect(rest(4)).toMatch(/^Xen ELF dump-core: not a Xen image \(/)
    expect(rest(5)).toBe('ELF executable, 64-bit: not a Xen image (a program, library or object file)')
    expect(rest(6)).toBe('ELF relocatable object, 32-bit: not a Xen image (a program, library or object file)')
    const {images} = await identifyJson(names)
    expect(images.map((x) => x.foreign.kind)).toEqual(['elf-core', 'elf-core', 'elf-core', 'elf-core', 'xen-dump-core', 'elf', 'elf'])
    expect(images.map((x) => x.foreign.elf.producer)).toEqual(['qemu', 'linux-kernel', 'xen-host', null, 'xen-dump-core', null, null])
    expect(images[4].foreign.elf).toMatchObject({sections: ['.xen_prstatus', '.xen_pages', '.xen_pfn', '.shstrtab'], xen: {guest: null}})
    expect(images[4].guest).toBe(null)
    expect(images[6].foreign.elf).toMatchObject({class: 32, byteOrder: 'big', type: 'relocatable', machine: 20, sections: ['.note.x', '.shstrtab']})
  })
})

describe('through gzip: the same verdict, said to be gzip-compressed', () => {
  it('identify, text and --json, for every file (a non-image too)', async () => {
    const names = Object.keys(FILES)
    const [plain, gz] = await Promise.all([identifyJson(names), identifyJson(names.map((n) => n + '.gz'))])
    const [plainText, gzText] = await Promise.all([identifyLines(names), identifyLines(names.map((n) => n + '.gz'))])
    expect(gz.code).toBe(plain.code)
    names.forEach((n, i) => {
      const p = plain.images[i]
      const g = gz.images[i]
      expect(g.container, n).toEqual({...p.container, compressed: true})
      expect(g.verdict, n).toBe('not a Xen image')
      expect(p.verdict, n).toBe('not a Xen image')
      const same = (x: Record<string, any>) => ({...x, input: null, size: null, container: null, error: x.error && {...x.error, message: null}})
      expect(same(g), n).toEqual(same(p))
      if (p.foreign) expect(g.error.message, n).toBe(p.error.message.replace(/^this is an? /, 'this is a gzip-compressed '))
      const words = (line: string, file: string) => line.slice(file.length + 2).replace(/\d+ bytes: /, 'N bytes: ')
      expect(words(gzText.lines[i], path(n + '.gz')), n).toBe('gzip-compressed, ' + words(plainText.lines[i], path(n)))
    })
  })

  it('convert, inspect-legacy, dump-core and verify refuse in one line, naming it, compressed or not', async () => {
    const names = ['kvm-zstd.save', 'kvm-part.save', 'qemu-v3.state', 'pv.core', 'qemu-core.elf', 'program.elf']
    const out = join(dir, 'out')
    const runs = names.flatMap((n) =>
      [n, n + '.gz'].flatMap((f) => [
        ['convert', path(f), out],
        ['inspect-legacy', path(f)],
        ['dump-core', path(f), out],
        ['verify', path(f)],
      ]),
    )
    const results = await Promise.all(runs.map((args) => runXstInProcess(args)))
    results.forEach((r, i) => {
      const [cmd, file] = runs[i]
      expect(r.code, `${cmd} ${file}`).toBe(1)
      noStack(r.stderr)
      const err = r.stderr.trimEnd().split('\n')
      expect(err, `${cmd} ${file}`).toHaveLength(1)
      const gz = file.endsWith('.gz')
      const said =
        cmd === 'verify' ? /^error: byte 0: this is an? (gzip-compressed )?(.*), not a Xen save image: .+$/ : new RegExp(`^xst ${cmd}: this is an? (gzip-compressed )?(.*), not a Xen save image: .+$`)
      const m = said.exec(err[0])
      expect(m, `${cmd} ${file}: ${err[0]}`).not.toBeNull()
      expect(Boolean(m![1]), `${cmd} ${file}`).toBe(gz)
      if (cmd === 'verify') expect(r.stdout).toMatch(/: INVALID — 1 error, 0 warnings/)
      else expect(r.stdout).toBe('')
    })
    // The same words for the same bytes, compressed or not.
    for (let i = 0; i < runs.length; i += 8) {
      for (let k = 0; k < 4; k++) {
        const plain = results[i + k].stderr.replace(/^(\S+ \S+ )?/, '')
        const gz = results[i + 4 + k].stderr.replace(/^(\S+ \S+ )?/, '')
        expect(gz.replace('this is a gzip-compressed ', 'this is X ')).toBe(plain.replace(/this is an? /, 'this is X '))
      }
    }
    // --json carries the code and the facts.
    const j = await runXstInProcess(['convert', '--json', path('kvm-zstd.save.gz'), out])
    expect(JSON.parse(j.stdout).error).toMatchObject({code: 'foreign-format', foreign: {kind: 'libvirt-qemu-save', libvirtQemu: {memoryFormat: 'zstd'}}})
  })
})

describe('no advice to give flags a command does not have', () => {
  it('identify and dump-core do not say "give --width and --guest"; convert and inspect-legacy, which have them, do', async () => {
    const junk = path('junk.bin')
    const [id, dump, conv, insp, idGz, dumpGz] = await Promise.all([
      runXstInProcess(['identify', '--json', junk]),
      runXstInProcess(['dump-core', junk, join(dir, 'out')]),
      runXstInProcess(['convert', junk, join(dir, 'out')]),
      runXstInProcess(['inspect-legacy', junk]),
      runXstInProcess(['identify', junk + '.gz']),
      runXstInProcess(['dump-core', junk + '.gz', join(dir, 'out')]),
    ])
    const doc = JSON.parse(id.stdout)
    expect(doc.images[0]).toMatchObject({verdict: 'not a Xen image', foreign: null, error: {code: 'undetectable'}})
    expect(doc.images[0].error.message).not.toContain('--width')
    expect(dump.code).toBe(1)
    expect(dump.stderr).toMatch(/^xst dump-core: byte 0: cannot tell what this image is: not a v2 stream, and no legacy layout \(PV or HVM, 32- or 64-bit toolstack\) fits its first bytes\n$/)
    expect(dumpGz.stderr).toBe(dump.stderr)
    expect(conv.stderr).toContain('; if it is a legacy image, give --width and --guest')
    expect(insp.stderr).toContain('; if it is a legacy image, give --width and --guest')
    // A gzipped non-image is not "damaged": the same verdict as the bytes themselves.
    expect(idGz.stdout).toMatch(/junk\.bin\.gz: gzip-compressed, \d+ bytes: not a Xen image\n$/)
  })
})

describe('hostile headers', () => {
  /** A peek over `bytes` that records the most it was asked for. */
  function peeker(bytes: Buffer) {
    const asked = {max: 0}
    return {
      asked,
      peek: async (n: number) => {
        asked.max = Math.max(asked.max, n)
        return bytes.subarray(0, n)
      },
    }
  }

  /** Deterministic bytes, so that a failure can be replayed. */
  function* mutations(base: Buffer, count: number, seed: number): Generator<Buffer> {
    let s = seed
    const rand = (n: number) => (s = (s * 1103515245 + 12345) >>> 0) % n
    for (let i = 0; i < count; i++) {
      const b = Buffer.from(base)
      // Keep the magic, so the reader under test is the one that runs.
      for (let k = 0; k < 1 + rand(12); k++) b[4 + rand(Math.min(b.length - 4, 600))] = rand(256)
      if (rand(4) === 0) yield b.subarray(0, rand(b.length))
      else yield b
    }
  }

  it('cut headers, lengths and offsets past the end, counts of 65535: named without a throw, never peeking past the bound', async () => {
    const huge = (b: Buffer, at: number, w: 16 | 32 | 64) => {
      const c = Buffer.from(b)
      if (w === 16) c.writeUInt16LE(0xffff, at)
      else if (w === 32) c.writeUInt32LE(0xffffffff, at)
      else c.writeBigUInt64LE(0xffffffffffffffffn, at)
      return c
    }
    const core = FILES['pv.core']
    const cases: Buffer[] = [
      libvirtQemuImage().subarray(0, 40),
      libvirtQemuImage().subarray(0, 92),
      libvirtQemuImage({dataLength: 0xffffffff}),
      libvirtQemuImage({cookieOffset: 0xffffffff}),
      libvirtQemuImage({xml: '<domain><name>' + 'x'.repeat(20000) + '</name></domain>'}),
      libvirtQemuImage({xml: '<!--'.repeat(4000)}),
      qemuDeviceState().subarray(0, 6),
      core.subarray(0, 10),
      core.subarray(0, 63),
      core.subarray(0, 700),
      huge(core, 60, 16), // e_shnum
      huge(core, 40, 64), // e_shoff
      huge(core, 58, 16), // e_shentsize
      huge(huge(core, 56, 16), 32, 64), // e_phnum, e_phoff
      huge(core, 64 + 2 * 64 + 32, 64), // .note.Xen's size
      huge(core, 512, 32), // the first note's namesz
      huge(core, 516, 32), // the first note's descsz
      elfFile({type: 4, segmentNotes: [CORE_NOTE()], sections: [{name: '.a', type: SHT_NOTE, body: Buffer.alloc(0)}], gapBeforeNames: 200 << 10}),
    ]
    for (const [i, bytes] of cases.entries()) {
      const {asked, peek} = peeker(bytes)
      const f = await recogniseForeign(peek)
      expect(asked.max, `case ${i}`).toBeLessThanOrEqual(FOREIGN_PEEK)
      if (bytes.length >= 16) expect(f, `case ${i}`).toBeDefined()
    }
    expect((await recogniseForeign(peeker(cases[0]).peek))?.libvirtQemu).toMatchObject({complete: true, version: null, domainName: null})
    expect((await recogniseForeign(peeker(cases[2]).peek))?.libvirtQemu).toMatchObject({dataLength: 0xffffffff, domainName: 'kvm01'})
    expect((await recogniseForeign(peeker(cases[4]).peek))?.libvirtQemu?.domainName).toBe(null)
    expect((await recogniseForeign(peeker(cases[10]).peek))?.kind).toBe('xen-dump-core')
    expect((await recogniseForeign(peeker(cases[17]).peek))?.elf?.sections).toBe(null)

    for (const base of [libvirtQemuImage(), core.subarray(0, 4096), FILES['qemu-core.elf'], FILES['object-be32.o']]) {
      for (const b of mutations(base, 400, base.length)) {
        const {asked, peek} = peeker(b)
        await recogniseForeign(peek)
        expect(asked.max).toBeLessThanOrEqual(FOREIGN_PEEK)
        expect(() => readElf(b)).not.toThrow()
        expect(() => readLibvirtQemu(b)).not.toThrow()
      }
    }
  })

  it('no legacy layout fits any of these files, so naming them takes no legacy image; a nonsensical ELF ident is not named', async () => {
    for (const [name, bytes] of Object.entries(FILES)) {
      const err = await detectLegacy(new ByteReader(new BufferSource(bytes))).catch((e: unknown) => e)
      expect((err as FormatError).code, name).toBe('undetectable')
    }
    // EI_VERSION 0: bytes 4-7 read as a 32-bit HVM image's first chunk type are 0x101, a page batch's count.
    const odd = Buffer.from(FILES['program.elf'])
    odd[6] = 0
    expect(await recogniseForeign(async (n) => odd.subarray(0, n))).toBeUndefined()
  })

  it('opening a large foreign file reads its first bytes only', async () => {
    const big = Buffer.concat([FILES['pv.core'].subarray(0, 4096), Buffer.alloc(8 << 20)])
    let reached = 0
    const source = new BufferSource(big)
    const read = source.read.bind(source)
    const readSync = source.readSync.bind(source)
    Object.assign(source, {
      read: (buf: Uint8Array, off: number, len: number, pos: number) => {
        reached = Math.max(reached, pos + len)
        return read(buf, off, len, pos)
      },
      readSync: (buf: Uint8Array, off: number, len: number, pos: number) => {
        reached = Math.max(reached, pos + len)
        return readSync(buf, off, len, pos)
      },
    })
    const err = await openImage(new ByteReader(source)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ForeignFormatError)
    expect(err).toBeInstanceOf(FormatError)
    expect((err as ForeignFormatError).foreign.kind).toBe('xen-dump-core')
    expect(reached).toBeLessThanOrEqual(FOREIGN_PEEK)
  })

  it('through the CLI: one line each, exit 1, no stack trace', async () => {
    const d = tempDir()
    const files = [
      ['cut.save', libvirtQemuImage().subarray(0, 50)],
      ['huge.save', libvirtQemuImage({dataLength: 0xffffffff, cookieOffset: 0xfffffff0})],
      ['shnum.core', Buffer.from(FILES['pv.core']).fill(0xff, 56, 64)],
      ['cut.core', FILES['pv.core'].subarray(0, 100)],
    ] as const
    for (const [n, b] of files) writeFileSync(join(d, n), b)
    const r = await runXstInProcess(['identify', ...files.map(([n]) => join(d, n))])
    expect(r.code).toBe(1)
    noStack(r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/cut\.save: libvirt QEMU\/KVM save image, header cut short, 50 bytes: not a Xen image \(restore it/)
    expect(lines[1]).toMatch(/huge\.save: libvirt QEMU\/KVM save image, version 2, memory state uncompressed, domain "kvm01", \d+ bytes: not a Xen image/)
    expect(lines[2]).toMatch(/shnum\.core: ELF core file, 64-bit, \d+ bytes: not a Xen image/)
    expect(lines[3]).toMatch(/cut\.core: ELF core file, 64-bit, 100 bytes: not a Xen image/)
    for (const [n] of files) {
      const c = await runXstInProcess(['convert', join(d, n), join(d, 'out')])
      expect(c.code).toBe(1)
      noStack(c.stderr)
      expect(c.stderr).toMatch(/^xst convert: this is an? .*, not a Xen save image: .*\n$/)
    }
  })
})
