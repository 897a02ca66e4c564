// XenServer suspend images (README, "Containers"): the legacy signature and its
// qemu record, the structured image's sections and the Xenops record, over
// the conformance images; section headers and Xenops bodies written and
// read back; hostile lengths; truncation at every byte of the headers.
//
// Sections after a Libxc or Libxc_legacy section can only be reached by
// reading the stream inside it to its end: the v2 record reader and the
// legacy walker do that here (so the bad-xenserver-v2-* defects, which all
// lie after the Libxc stream, need the full stream walk to be found).
import {describe, expect, test} from 'vitest'
import {FormatError, TruncatedError, UsageError} from '../src/errors.js'
import type {ByteReader} from '../src/io/reader.js'
import {detectLegacy} from '../src/legacy/detect.js'
import type {ImageEvent} from '../src/legacy/events.js'
import {walkLegacy} from '../src/legacy/walker.js'
import {V2RecordReader} from '../src/v2/reader.js'
import {readQemuRecordHeader, XENSERVER_LEGACY_QEMU_RECORDS, XENSERVER_LIBXC_LEGACY_QEMU_RECORDS} from '../src/legacy/qemu-record.js'
import {
  CONVERTED_WORD_SIZE,
  encodeSectionHeader,
  encodeStructuredSignature,
  encodeXenopsRecord,
  encodeXenopsSection,
  MAX_VM_NAME,
  MAX_XENOPS_RECORD,
  parseXenopsRecord,
  readSectionHeader,
  readXenServerSignature,
  section,
  SECTION_TYPES,
  SectionHeader,
  walkSections,
  XENSERVER_LEGACY_SIGNATURE,
  XENSERVER_STRUCTURED_SIGNATURE,
  vmIdentity,
  xenopsTime,
  xenopsTimeNow,
} from '../src/container/xenserver.js'
import {sexplibAtom} from '../src/container/sexpr.js'
import {type ContainerVector, containerBytes, containerVectors, formatError, readerOver, rejection, SOURCE_KINDS, type SourceKind, truncation} from './helpers/containers.js'

const vectors = containerVectors()
const legacyVectors = vectors.filter((v) => v.kind === 'xenserver-legacy')
const structuredVectors = vectors.filter((v) => v.kind === 'xenserver-v2')
const VECTOR_XENOPS = '((time "20150312T10:11:12Z")(word_size 64))'

/** Read a libxc stream to its END record. */
async function skipLibxc(r: ByteReader): Promise<void> {
  const records = new V2RecordReader(r)
  await records.libxcHeaders()
  while ((await records.record('libxc')).type !== 0);
}

/**
 * Walk a legacy stream up to where its qemu record would be (HVM) or to
 * its end (PV), leaving the reader there.
 */
async function walkLegacyStream(r: ByteReader): Promise<ImageEvent> {
  let image: ImageEvent | undefined
  for await (const ev of walkLegacy(r, {skipQemu: true})) {
    if (ev.kind === 'image') image = ev
    if (ev.kind === 'no-qemu-record' || ev.kind === 'shared-info') break
  }
  return image!
}

interface SectionSeen {
  name: string
  offset: number
  length: number
  body?: Buffer
  qemu?: {variant: string; length: number; data: Buffer}
}

/** Every section of a structured image, reading the streams inside Libxc and Libxc_legacy sections. */
async function sections(r: ByteReader, seen: SectionSeen[] = []): Promise<SectionSeen[]> {
  const sig = await readXenServerSignature(r)
  expect(sig.format).toBe('structured')
  for await (const s of walkSections(r)) {
    const item: SectionSeen = {name: s.section.name, offset: s.offset, length: s.length}
    seen.push(item)
    if (s.body) item.body = await s.body.read()
    if (s.section.name === 'Libxc') await skipLibxc(r)
    if (s.section.name === 'Libxc_legacy') {
      await walkLegacyStream(r)
      const q = await readQemuRecordHeader(r, XENSERVER_LIBXC_LEGACY_QEMU_RECORDS)
      item.qemu = {variant: q!.variant.name, length: q!.length!, data: await r.read(q!.length!, 'qemu state')}
    }
  }
  return seen
}

const SECTION_OF: Record<string, string> = {xenops: 'Xenops', libxc: 'Libxc', qemu_trad: 'Qemu_trad', end: 'End_of_image'}

describe('XenServer legacy images', () => {
  test('there are legacy vectors to read', () => {
    expect(legacyVectors.map((v) => v.name).sort()).toEqual(['xenserver-legacy-hvm32', 'xenserver-legacy-hvm32-dmr0002', 'xenserver-legacy-pv32'])
  })

  describe.each(legacyVectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const data = containerBytes(v.input)

    test.each(SOURCE_KINDS)('signature, then a legacy stream of the guest and width index.json gives (%s)', async (kind) => {
      const r = readerOver(data, kind)
      const sig = await readXenServerSignature(r)
      expect(sig).toMatchObject({offset: 0, format: 'legacy'})
      expect(r.offset).toBe(XENSERVER_LEGACY_SIGNATURE.length)
      const det = await detectLegacy(r)
      expect(det).toMatchObject({width: v.toolstack_width, guest: v.guest})
    })

    test('the qemu record after the HVM tail is found by walking the stream, in its XenServer variant', async () => {
      const r = readerOver(data)
      await readXenServerSignature(r)
      const image = await walkLegacyStream(r)
      expect(image).toMatchObject({guest: v.guest, toolstackWidth: v.toolstack_width})
      const q = await readQemuRecordHeader(r, XENSERVER_LEGACY_QEMU_RECORDS)
      if (v.guest === 'pv') {
        expect(q).toBeUndefined()
        return
      }
      const expectedBlob = containerBytes(v.expect.sections!.find((s) => s[0] === 'qemu_trad')![1]!)
      expect(q!.variant.name).toBe(v.name.endsWith('dmr0002') ? 'dm-0002' : 'xenserver')
      expect(q!.length).toBe(expectedBlob.length)
      expect((await r.read(q!.length!, 'qemu state')).equals(expectedBlob)).toBe(true)
      expect(await r.atEnd()).toBe(true)
    })

    test('the structured image a conversion writes holds the expected sections, in order', async () => {
      const time = xenopsTimeNow({SOURCE_DATE_EPOCH: '1426155072'})
      const parts = [encodeStructuredSignature(), encodeXenopsSection(encodeXenopsRecord({time, wordSize: CONVERTED_WORD_SIZE}))]
      for (const [name, file] of v.expect.sections!) {
        const body = file ? containerBytes(file) : undefined
        if (name === 'xenops') continue
        if (name === 'libxc') parts.push(encodeSectionHeader('Libxc'), body!)
        if (name === 'qemu_trad') parts.push(encodeSectionHeader('Qemu_trad', body!.length), body!)
        if (name === 'end') parts.push(encodeSectionHeader('End_of_image'))
      }
      const image = Buffer.concat(parts)
      const seen = await sections(readerOver(image))
      expect(seen.map((s) => s.name)).toEqual(v.expect.sections!.map(([n]) => SECTION_OF[n]))
      const xenops = parseXenopsRecord(seen[0].body!, seen[0].offset + 16)
      expect(xenops).toMatchObject({time: '20150312T10:11:12Z', wordSize: 64, unknownFields: []})
      expect(seen[0].body!.toString('latin1')).toBe(VECTOR_XENOPS)
      const qemu = seen.find((s) => s.name === 'Qemu_trad')
      if (qemu) expect(qemu.body!.equals(containerBytes(v.expect.sections!.find((s) => s[0] === 'qemu_trad')![1]!))).toBe(true)
    })
  })
})

/** The sections each structured vector holds, or the defect that stops the walk. */
const STRUCTURED: Record<string, {sections: string[]; pipeSections?: string[]; defect?: {code: string; offset: number}}> = {
  'xenserver-v2-native-hvm64': {sections: ['Xenops', 'Libxc', 'Qemu_trad', 'Varstored', 'End_of_image']},
  'xenserver-v2-libxc-legacy-hvm64': {sections: ['Xenops', 'Libxc_legacy', 'End_of_image']},
  // Qemu_trad ends exactly at the end of the file: no End_of_image.
  'bad-xenserver-v2-no-end': {sections: ['Xenops', 'Libxc', 'Qemu_trad'], defect: {code: 'xenserver-no-end', offset: 297694}},
  // Qemu_trad claims 4996 bytes; 900 are left. On a file that is known from
  // its header; on a pipe, when the stream ends inside the body.
  'bad-xenserver-v2-qemu-past-eof': {sections: ['Xenops', 'Libxc'], pipeSections: ['Xenops', 'Libxc', 'Qemu_trad'], defect: {code: 'truncated', offset: 297694}},
  // A section of type 0x777 after Qemu_trad.
  'bad-xenserver-v2-unknown-header': {sections: ['Xenops', 'Libxc', 'Qemu_trad'], defect: {code: 'xenserver-unknown-section', offset: 297694}},
}

describe('XenServer structured images', () => {
  test('there are structured vectors to read', () => {
    expect(structuredVectors.map((v) => v.name).sort()).toEqual(Object.keys(STRUCTURED).sort())
  })

  describe.each(structuredVectors.map((v) => [v.name, v] as const))('%s', (name, v: ContainerVector) => {
    const data = containerBytes(v.input)
    const want = STRUCTURED[name]

    test.each(SOURCE_KINDS)('sections, or the defect with its offset (%s)', async (kind: SourceKind) => {
      const seen: SectionSeen[] = []
      const run = sections(readerOver(data, kind), seen)
      if (!want.defect) {
        await run
        expect(v.valid).toBe(true)
      } else {
        const err = (await rejection(run)) as FormatError
        expect(err).toBeInstanceOf(FormatError)
        expect(err.code).toBe(want.defect.code)
        expect(err.offset).toBe(want.defect.offset)
        expect(v.valid).toBe(false)
        expect(v.expect.verify).toBe(1)
      }
      expect(seen.map((s) => s.name)).toEqual(kind === 'pipe' ? (want.pipeSections ?? want.sections) : want.sections)
    })

    test('the Xenops record', async () => {
      const seen: SectionSeen[] = []
      await sections(readerOver(data), seen).catch(() => {})
      expect(seen[0]).toMatchObject({name: 'Xenops', offset: 15, length: 43})
      expect(seen[0].body!.toString('latin1')).toBe(VECTOR_XENOPS)
      expect(parseXenopsRecord(seen[0].body!)).toMatchObject({time: '20150312T10:11:12Z', wordSize: 64, vmStrLength: undefined, xsSubtreeEntries: undefined})
      // Written back byte for byte.
      expect(encodeXenopsSection(seen[0].body!).equals(data.subarray(15, 15 + 16 + 43))).toBe(true)
      expect(encodeXenopsRecord({time: '20150312T10:11:12Z', wordSize: 64}).toString('latin1')).toBe(VECTOR_XENOPS)
    })
  })

  test('native: every section header written back gives the stored bytes', async () => {
    const data = containerBytes('xenserver-v2-native-hvm64.img.gz')
    const seen = await sections(readerOver(data))
    for (const s of seen) {
      expect(encodeSectionHeader(s.name, s.length).equals(data.subarray(s.offset, s.offset + 16))).toBe(true)
    }
    expect(seen.find((s) => s.name === 'Varstored')).toMatchObject({offset: 297694, length: 768})
  })

  test('libxc-legacy: the legacy stream inside, its DeviceModelRecord0002 qemu record, and what the conversion writes', async () => {
    const data = containerBytes('xenserver-v2-libxc-legacy-hvm64.img.gz')
    const expected = containerBytes('xenserver-v2-libxc-legacy-hvm64.expected.gz')
    const seen = await sections(readerOver(data))
    const legacy = seen[1]
    expect(legacy.qemu).toMatchObject({variant: 'dm-0002', length: 900})
    const out = await sections(readerOver(expected))
    expect(out.map((s) => s.name)).toEqual(['Xenops', 'Libxc', 'Qemu_trad', 'End_of_image'])
    // The Xenops section is copied; the qemu blob moves into a Qemu_trad section.
    expect(out[0].body!.equals(seen[0].body!)).toBe(true)
    expect(out[2].body!.equals(legacy.qemu!.data)).toBe(true)
    // The output assembled from the pieces: signature and Xenops copied,
    // Libxc header, the converted libxc stream, Qemu_trad, End_of_image.
    const libxcStream = expected.subarray(out[1].offset + 16, out[2].offset)
    const assembled = Buffer.concat([
      data.subarray(0, seen[1].offset),
      encodeSectionHeader('Libxc'),
      libxcStream,
      encodeSectionHeader('Qemu_trad', legacy.qemu!.length),
      legacy.qemu!.data,
      encodeSectionHeader('End_of_image'),
    ])
    expect(assembled.equals(expected)).toBe(true)
  })

  test.each(SOURCE_KINDS)('cut at any byte of the signature, the Xenops section or the Libxc header (%s)', async (kind) => {
    const data = containerBytes('xenserver-v2-native-hvm64.img.gz')
    for (let cut = 0; cut < 15 + 16 + 43 + 16; cut++) {
      const err = await rejection(sections(readerOver(data.subarray(0, cut), kind)))
      if (cut === 15 || cut === 15 + 16 + 43) {
        // Cut between sections: the image just has no End_of_image.
        expect((err as FormatError).code).toBe('xenserver-no-end')
        expect((err as FormatError).offset).toBe(cut)
      } else {
        expect(err).toBeInstanceOf(TruncatedError)
        expect((err as TruncatedError).offset).toBe(cut)
      }
    }
  })
})

describe('section headers', () => {
  const header = (type: bigint, length: bigint) => SectionHeader.encode({type, length})
  const T = (name: string) => BigInt(section(name).type)

  test('one table: every type once, names and bodies as xenopsd writes them', () => {
    expect(SECTION_TYPES.map((s) => [s.name, s.type.toString(16), s.body, s.refusedByRestore])).toEqual([
      ['Xenops', 'f', 'sized', false],
      ['Libxc', 'f0', 'libxc-stream', false],
      ['Libxl', 'f1', 'libxl-stream', true],
      ['Libxc_legacy', 'f2', 'legacy-stream', false],
      ['Qemu_trad', 'f00', 'sized', false],
      ['Qemu_xen', 'f01', 'sized', true],
      ['Demu', 'f10', 'opaque-stream', false],
      ['Varstored', 'f11', 'sized', false],
      ['Swtpm0', 'f12', 'sized', false],
      ['Swtpm', 'f13', 'sized', false],
      ['End_of_image', 'ffff', 'none', false],
    ])
    expect(new Set(SECTION_TYPES.map((s) => s.type)).size).toBe(SECTION_TYPES.length)
    expect(SectionHeader.size).toBe(16)
  })

  test('read back what is written', async () => {
    for (const s of SECTION_TYPES) {
      const len = s.body === 'sized' ? 5 : 0
      const r = readerOver(Buffer.concat([encodeSectionHeader(s.name, len), Buffer.alloc(len)]))
      expect(await readSectionHeader(r)).toMatchObject({offset: 0, section: s, length: len, rawLength: BigInt(len), bodyOffset: 16})
    }
    expect(() => encodeSectionHeader('Libxc', 3)).toThrow(/no sized body/)
    expect(() => section('Nope')).toThrow()
  })

  test('a stream section keeps the length field as stored, but has no sized body', async () => {
    const h = await readSectionHeader(readerOver(header(T('Libxc'), 12n)))
    expect(h).toMatchObject({length: 0, rawLength: 12n})
  })

  test.each([0n, 0x777n, 0x1_0000_000fn, (1n << 64n) - 1n])('unknown type %s', async (type) => {
    const err = await formatError(readSectionHeader(readerOver(header(type, 0n))), 'xenserver-unknown-section', 0)
    expect(err.got).toBe('0x' + type.toString(16))
  })

  test.each(SOURCE_KINDS)('hostile lengths are refused before anything is read or allocated (%s)', async (kind) => {
    const big = Buffer.alloc(64)
    // 2^63 and 2^64-1: over any bound.
    for (const len of [1n << 63n, (1n << 64n) - 1n, 1n << 53n]) {
      const err = await formatError(readSectionHeader(readerOver(Buffer.concat([header(T('Qemu_trad'), len), big]), kind)), 'length-too-large', 8)
      expect(err.message).toContain('MAX_SECTION_BODY')
    }
    // A Xenops record is read into memory: its own, smaller bound.
    for (const len of [0xffffffffn, BigInt(MAX_XENOPS_RECORD + 1)]) {
      const err = await formatError(readSectionHeader(readerOver(Buffer.concat([header(T('Xenops'), len), big]), kind)), 'length-too-large', 8)
      expect(err.message).toContain('MAX_XENOPS_RECORD')
    }
    // 2^32-1 of qemu state: past the end of a file at once; on a pipe,
    // skipped by reading and discarding, until the stream ends.
    const image = Buffer.concat([encodeStructuredSignature(), header(T('Qemu_trad'), 0xffffffffn), big])
    const err = (await rejection(sections(readerOver(image, kind)))) as TruncatedError
    expect(err).toBeInstanceOf(TruncatedError)
    expect(err.offset).toBe(image.length)
  })

  test('End_of_image ends the walk; bytes after it are not read', async () => {
    const image = Buffer.concat([encodeStructuredSignature(), encodeSectionHeader('End_of_image'), Buffer.from('VDI tail')])
    const r = readerOver(image)
    expect((await sections(r)).map((s) => s.name)).toEqual(['End_of_image'])
    expect(r.offset).toBe(31)
  })

  test('a stream section left unread stops the walk (an internal error, not a misread)', async () => {
    const image = Buffer.concat([encodeStructuredSignature(), encodeSectionHeader('Demu'), Buffer.alloc(32)])
    const r = readerOver(image)
    await readXenServerSignature(r)
    const walk = walkSections(r)
    expect((await walk.next()).value).toMatchObject({section: {name: 'Demu'}})
    await expect(walk.next()).rejects.toThrow(/internal: the Demu section's stream was not read/)
  })

  test('signature: wrong, or cut', async () => {
    await formatError(readXenServerSignature(readerOver(Buffer.from('XenSavedDomv3-\n...'))), 'xenserver-bad-signature', 0)
    for (let cut = 0; cut < 15; cut++) {
      expect((await truncation(readXenServerSignature(readerOver(Buffer.from(XENSERVER_STRUCTURED_SIGNATURE).subarray(0, cut))))).offset).toBe(cut)
    }
  })
})

describe('the Xenops record', () => {
  const parse = (s: string, offset = 100) => parseXenopsRecord(Buffer.from(s, 'latin1'), offset)
  const bad = (s: string, offset: number, message: RegExp) => {
    let err: unknown
    try {
      parse(s)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(FormatError)
    expect((err as FormatError).code).toBe('xenops-record')
    expect((err as FormatError).offset).toBe(offset)
    expect((err as FormatError).message).toMatch(message)
  }

  test("xenopsd's machine form, with the optional fields", () => {
    const r = parse('((time 20240101T00:00:00Z)(word_size 64)(vm_str "{\\"a\\": 1}")(xs_subtree((a b)(c "d e"))))')
    expect(r).toMatchObject({time: '20240101T00:00:00Z', wordSize: 64, vmStrLength: 8, xsSubtreeEntries: 2, unknownFields: []})
  })

  test('fields in any order; unknown ones noted, with where the first is', () => {
    expect(parse('((word_size 32) (time "t") (future 1))')).toMatchObject({time: 't', wordSize: 32, unknownFields: ['future'], unknownFieldAt: 127})
    expect(parse('((word_size 32) (time "t"))').unknownFieldAt).toBeUndefined()
  })

  test("the VM's name and uuid, from the VM record in vm_str (as xenopsd quotes it)", () => {
    // The VM record is an s-expression held as text in the vm_str atom: a name that needs quotes is quoted inside it.
    const vm = sexplibAtom('((id 6bb067d6-c2b3-4ca7-b3cc-9725089c3cb5)(name "db \\"main\\" caf\\195\\169")(ssidref 0)(xsdata())(ty(HVM((hap true)))))')
    const r = parse(`((time 20240101T00:00:00Z)(word_size 64)(vm_str ${vm})(xs_subtree()))`)
    expect(r).toMatchObject({vmName: 'db "main" café', vmUuid: '6bb067d6-c2b3-4ca7-b3cc-9725089c3cb5'})
    expect(parse('((time t)(word_size 64))')).toMatchObject({vmName: null, vmUuid: null})
  })

  test.each([
    ['not an s-expression', '((id 6bb067d6-c2b3-4ca7-b3cc-9725089c3cb5)(name a)', null, null],
    ['JSON, not a VM record', '{"id": "x"}', null, null],
    ['an atom', 'vm', null, null],
    ['id twice', '((id 6bb067d6-c2b3-4ca7-b3cc-9725089c3cb5)(id 6bb067d6-c2b3-4ca7-b3cc-9725089c3cb6)(name a))', 'a', null],
    ['id not a uuid', '((id vm-1)(name a))', 'a', null],
    ['name a list', '((id 6bb067d6-c2b3-4ca7-b3cc-9725089c3cb5)(name (a b)))', null, '6bb067d6-c2b3-4ca7-b3cc-9725089c3cb5'],
    ['name with a control character', '((name "a\\027[2Jb"))', null, null],
    ['name not UTF-8', '((name "\\255\\254"))', null, null],
    ['name too long', `((name ${'x'.repeat(MAX_VM_NAME + 1)}))`, null, null],
    ['deeper than the nesting bound', '('.repeat(1000) + ')'.repeat(1000), null, null],
  ])('vm_str %s: null where odd, never an error', (_what, vmStr, name, uuid) => {
    expect(vmIdentity(vmStr)).toEqual({name, uuid})
    expect(parse(`((time t)(word_size 64)(vm_str ${sexplibAtom(vmStr)}))`)).toMatchObject({vmName: name, vmUuid: uuid})
  })

  test('vm_str of hostile bytes never throws', () => {
    let seed = 7
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff)
    const alphabet = '()"\\ ;#|xnameid\n\x00\xff0123-'
    for (let i = 0; i < 2000; i++) {
      const s = Array.from({length: rand() % 60}, () => alphabet[rand() % alphabet.length]).join('')
      const r = vmIdentity(s)
      expect(r.name === null || typeof r.name === 'string').toBe(true)
    }
  })

  test.each([
    ['((time "t")', 100, /never closed/],
    ['((word_size 64))', 100, /no time field/],
    ['((time "t"))', 100, /no word_size field/],
    ['((time "t")(word_size 64)(time "u"))', 125, /time twice/],
    ['((time "t")(word_size sixty-four))', 122, /word_size is not an integer/],
    ['((time (a b))(word_size 64))', 107, /time is a list/],
    ['((time "t" extra)(word_size 64))', 101, /not a \(name value\) pair/],
    ['(time "t")', 101, /not a \(name value\) pair/],
    ['"just an atom"', 100, /atom, not a list/],
    ['((time "t")(word_size 64)(xs_subtree (a b)))', 137, /xs_subtree is not a list of \(key value\) pairs/],
  ])('defect in %j', (s, offset, message) => bad(s, offset, message))

  test('time in xenopsd form; SOURCE_DATE_EPOCH honoured', () => {
    expect(xenopsTime(new Date(Date.UTC(2015, 2, 12, 10, 11, 12)))).toBe('20150312T10:11:12Z')
    expect(xenopsTime(new Date(Date.UTC(1970, 0, 1)))).toBe('19700101T00:00:00Z')
    expect(xenopsTimeNow({SOURCE_DATE_EPOCH: '1426155072'})).toBe('20150312T10:11:12Z')
    expect(xenopsTimeNow({}, () => new Date(Date.UTC(2030, 11, 31, 23, 59, 59)))).toBe('20301231T23:59:59Z')
    expect(xenopsTimeNow({SOURCE_DATE_EPOCH: ''}, () => new Date(0))).toBe('19700101T00:00:00Z')
    for (const bad of ['-1', '1.5', 'soon', '99999999999999999999']) {
      expect(() => xenopsTimeNow({SOURCE_DATE_EPOCH: bad})).toThrow(UsageError)
    }
  })

  test('a new record reads back', () => {
    const body = encodeXenopsRecord({time: xenopsTimeNow({SOURCE_DATE_EPOCH: '0'}), wordSize: CONVERTED_WORD_SIZE})
    expect(body.toString('latin1')).toBe('((time "19700101T00:00:00Z")(word_size 64))')
    expect(parseXenopsRecord(body)).toMatchObject({time: '19700101T00:00:00Z', wordSize: 64})
  })
})
