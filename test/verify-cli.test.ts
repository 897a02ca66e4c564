// `xst verify` run as a user runs it: every v2 conformance stream, every
// converted stream in the legacy vectors, pipes, --json, --verbose,
// --max-errors, exit codes.
import {describe, expect, it} from 'vitest'
import {ImageHeader, PageDataHeader, Rec, X86PvInfo} from '../src/v2/libxc/layout.js'
import {EmulatorHeader} from '../src/v2/libxl/layout.js'
import {RecordHeader} from '../src/v2/record.js'
import {legacyVectors, v2Vectors, vectorBytes} from './helpers/fixtures.js'
import {tempFile} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {schemaErrors} from './helpers/json-schema.js'
import {locate, type Located, locateV2} from './helpers/v2-walk.js'
import {pfnWord, pvInfo, pvStream, sharedInfo} from './builders/v2.js'
import {verifyReport} from './helpers/verify-json.js'

/** A record's body starts after its 8-byte header. */
const BODY = RecordHeader.size

/**
 * The defect each invalid v2 vector holds: its code, where it is, and words
 * the message must use. Where is the `nth` header or record the walk of the
 * stream names `in` (test/helpers/v2-walk.ts), and `within` bytes into it;
 * `truncated` defects are at the end of the stream, inside that record.
 */
const V2_DEFECTS: Record<string, {code: string; in: string; nth?: number; within?: number | ((l: Located) => number); record: string; text: RegExp}> = {
  'bad-bad-marker': {code: 'bad-marker', in: 'image header', record: 'image header', text: /marker is 0xfffffffffffffffe/},
  'bad-hvm-params-count-wrong': {code: 'hvm-params-size', in: 'HVM_PARAMS', within: BODY, record: 'HVM_PARAMS', text: /count 9 needs .* 152 bytes, but the body is 88/},
  'bad-libxl-bad-ident': {code: 'bad-ident', in: 'libxl header', record: 'libxl header', text: /ident .*"LibxlFmX"/},
  // The second EMULATOR_XENSTORE_DATA; the strings start after the emulator header.
  'bad-libxl-xenstore-odd-strings': {code: 'xenstore-odd-strings', in: 'EMULATOR_XENSTORE_DATA', nth: 1, within: BODY + EmulatorHeader.size, record: 'EMULATOR_XENSTORE_DATA', text: /3 strings/},
  // The second X86_TSC_INFO is 20 bytes long, which handle_x86_tsc_info() refuses; its
  // non-zero padding (tested below) is only a warning, as read_record() never looks at it.
  'bad-nonzero-padding': {code: 'record-size', in: 'X86_TSC_INFO', nth: 1, record: 'X86_TSC_INFO', text: /X86_TSC_INFO body is 20 bytes; it must be 24/},
  'bad-page-data-short': {code: 'page-data-size', in: 'PAGE_DATA', record: 'PAGE_DATA', text: /body is 1046536 bytes, but 256 pfns with 256 data pages make .* 1050632/},
  // pfn[0], after the PAGE_DATA header.
  'bad-pfn-type-5': {code: 'pfn-type-invalid', in: 'PAGE_DATA', within: BODY + PageDataHeader.size, record: 'PAGE_DATA', text: /pfn\[0\] 0x5000000000000003 has page type 5/},
  'bad-shared-info-4095': {code: 'record-size', in: 'SHARED_INFO', record: 'SHARED_INFO', text: /SHARED_INFO body is 4095 bytes/},
  'bad-strict-p2m-before-pv-info': {code: 'order-x86-pv-info', in: 'X86_PV_P2M_FRAMES', record: 'X86_PV_P2M_FRAMES', text: /X86_PV_P2M_FRAMES before any X86_PV_INFO/},
  // The second PAGE_DATA is the record the stream ends in.
  'bad-truncated-mid-record': {code: 'truncated', in: 'PAGE_DATA', nth: 1, record: 'PAGE_DATA', text: /stream ends at byte \d+ inside libxc record 6 \(PAGE_DATA\)/},
  'bad-unknown-mandatory-record': {code: 'unknown-record', in: 'unknown 0x13', record: 'unknown record 0x00000013', text: /0x00000013 is mandatory/},
  'bad-version-4': {code: 'unknown-version', in: 'image header', within: ImageHeader.offsets.version, record: 'image header', text: /version 4 is unknown/},
}

/** Where a defect of V2_DEFECTS is in `bytes`: the problem's offset and record index. */
function defectAt(bytes: Buffer, d: (typeof V2_DEFECTS)[string]): {offset: number; index: number | null} {
  const l = locate(bytes, d.in, d.nth)
  if (d.code === 'truncated') return {offset: bytes.length, index: l.index ?? null}
  const within = typeof d.within === 'function' ? d.within(l) : (d.within ?? 0)
  return {offset: l.offset + within, index: l.index ?? null}
}

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at /)

describe('verify: the v2 conformance streams', () => {
  for (const v of v2Vectors()) {
    const path = () => tempFile(`${v.name}.v2`, vectorBytes('v2', v.input))
    if (v.valid) {
      it(`${v.name}: valid, exit 0`, async () => {
        const p = path()
        const r = await runXstInProcess(['verify', p])
        expect(r.code, r.stdout + r.stderr).toBe(0)
        expect(r.stdout + r.stderr).not.toMatch(/^error:/m)
        expect(r.stdout).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: valid — ${v.format}`, 'm'))
        const j = verifyReport(await runXstInProcess(['verify', p, '--json']))
        expect(j).toMatchObject({ok: true, verdict: 'valid', valid: true, errors: [], summary: {format: v.format}})
        // The verdict (and, indented under it, the restore block) is the report (stdout); a warning is a diagnostic (stderr).
        expect(
          r.stdout
            .trim()
            .split('\n')
            .filter((l) => !l.startsWith(' ')),
        ).toHaveLength(1)
        expect(r.stdout).toMatch(/^ {2}restore:$/m)
        if (v.name === 'optional-rec') {
          const o = locate(vectorBytes('v2', v.input), 'unknown 0x80000123')
          expect(r.stderr).toMatch(new RegExp(`^warning: byte ${o.offset}, libxc record ${o.index} \\(optional record 0x80000123\\): .*skipped`, 'm'))
          expect(j.warnings).toMatchObject([{code: 'optional-record', offset: o.offset, index: o.index}])
        } else {
          expect(j.warnings).toEqual([])
          expect(r.stderr).toBe('')
        }
      })
    } else {
      it(`${v.name}: invalid, exit 1, the defect named with its offset${v.ordering_rule ? ' (ordering rule)' : ''}`, async () => {
        const d = V2_DEFECTS[v.name]
        expect(d, `no expectation written for ${v.name}`).toBeDefined()
        const {offset, index} = defectAt(vectorBytes('v2', v.input), d)
        const p = path()
        const r = await runXstInProcess(['verify', p])
        expect(r.code).toBe(1)
        noStack(r.stdout + r.stderr)
        const lines = r.stderr.trim().split('\n')
        const named = lines.find((l) => d.text.test(l))
        expect(named, r.stderr).toMatch(new RegExp(`^error: (byte ${offset}, |stream ends at byte ${offset} )`))
        expect(r.stdout.trim().split('\n')).toEqual([expect.stringMatching(/: INVALID — \d+ errors?/)])
        const j = await runXstInProcess(['verify', p, '--json'])
        expect(j.code).toBe(1)
        const doc = verifyReport(j)
        expect(doc.verdict).toBe('invalid')
        expect(doc.ok).toBe(false)
        expect(doc.errors).toContainEqual(expect.objectContaining({code: d.code, offset, index, record: d.record}))
        if (v.name === 'bad-nonzero-padding') {
          const l = locate(vectorBytes('v2', v.input), 'X86_TSC_INFO', 1)
          expect(doc.warnings).toContainEqual(expect.objectContaining({code: 'nonzero-padding', offset: l.offset + BODY + l.length}))
        }
      })
    }
  }
})

describe('verify: every stream the reference converter wrote for the legacy vectors', () => {
  for (const v of legacyVectors()) {
    for (const fmt of ['libxc', 'libxl'] as const) {
      const file = v.expected?.[fmt]
      if (!file) continue
      it(`${v.name} (${fmt}): valid, exit 0`, async () => {
        const r = await runXstInProcess(['verify', tempFile(`${v.name}.${fmt}`, vectorBytes('legacy', file)), '--json'])
        expect(r.code, r.stdout).toBe(0)
        const doc = verifyReport(r)
        expect(doc.errors).toEqual([])
        expect(doc.warnings).toEqual([])
        expect(doc.summary).toMatchObject({
          format: fmt,
          guest: v.guest,
          legacyConverted: fmt === 'libxl' ? true : null,
          xenVersion: {major: 0, minor: 1},
          xlHeader: v.xl_header ? expect.anything() : null,
        })
      })
    }
  }
})

describe('verify: input and output', () => {
  it('reads a stream from a pipe (-) the same as from a file', async () => {
    const bytes = vectorBytes('v2', 'libxl-pv3.v2.gz')
    const viaPipe = await runXstInProcess(['verify', '-', '--json'], {input: bytes})
    const viaFile = await runXstInProcess(['verify', tempFile('x.v2', bytes), '--json'])
    expect(viaPipe.code).toBe(0)
    const [a, b] = [verifyReport(viaPipe), verifyReport(viaFile)]
    expect(a.input).toEqual({path: 'stdin', size: null, bytes: null})
    expect({...a, input: ''}).toEqual({...b, input: ''})
    const cut = vectorBytes('v2', 'bad-truncated-mid-record.v2.gz')
    const broken = await runXstInProcess(['verify', '-'], {input: cut})
    expect(broken.code).toBe(1)
    const inside = locateV2(cut).at(-1)!
    expect(broken.stderr).toMatch(new RegExp(`^error: stream ends at byte ${cut.length} inside libxc record ${inside.index} \\(${inside.what}\\)`, 'm'))
  })

  /** A PV stream with three defects: pagetable levels, pfn[7]'s type, SHARED_INFO's size. */
  const threeDefectBytes = async () =>
    (
      await pvStream()
        .replace(Rec.X86_PV_INFO, pvInfo(8, 3))
        .edit(Rec.PAGE_DATA, (r) => r.head.writeBigUInt64LE(pfnWord(7, 5), PageDataHeader.size + 8 * 7))
        .replace(Rec.SHARED_INFO, sharedInfo(100))
        .build()
    ).bytes
  const threeDefects = async () => tempFile('three.v2', await threeDefectBytes())

  it('reports every error, each on its own line (stderr), then the verdict (stdout)', async () => {
    const bytes = await threeDefectBytes()
    const [info, pages, shared] = [locate(bytes, 'X86_PV_INFO'), locate(bytes, 'PAGE_DATA'), locate(bytes, 'SHARED_INFO')]
    const r = await runXstInProcess(['verify', tempFile('three.v2', bytes)])
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n')).toEqual([
      `error: byte ${info.offset + BODY + X86PvInfo.offsets.ptLevels}, libxc record ${info.index} (X86_PV_INFO): guest width 8 with 3 pagetable levels: a 64-bit guest has 4 levels, a 32-bit (PAE) guest 3`,
      `error: byte ${pages.offset + BODY + PageDataHeader.size + 8 * 7}, libxc record ${pages.index} (PAGE_DATA): pfn[7] 0x5000000000000007 has page type 5; types 5-8 are not defined`,
      `error: byte ${shared.offset}, libxc record ${shared.index} (SHARED_INFO): SHARED_INFO body is 100 bytes; it must be one 4096-byte page`,
    ])
    expect(r.stdout.trim().split('\n')).toEqual([expect.stringMatching(/: INVALID — 3 errors, 0 warnings \(libxc v3 stream, x86 PV \(64-bit guest\), converted from a legacy image\)$/)])
  })

  it('a stream of thousands of errors: every one told on stderr and counted, the first thousand (and one of each other kind) kept in --json', async () => {
    const head = vectorBytes('legacy', 'pv64-basic.libxc.v2.gz').subarray(0, ImageHeader.size + 16)
    const empty = (type: number) => RecordHeader.encode({type, length: 0})
    // 5,000 vcpu records too short for their vcpu id, then an unknown mandatory record; no END.
    const bytes = Buffer.concat([head, ...Array.from({length: 5000}, () => empty(Rec.X86_PV_VCPU_BASIC)), empty(0x7fff0000)])
    const file = tempFile('many.v2', bytes)
    const text = await runXstInProcess(['verify', file])
    expect(text.code).toBe(1)
    const lines = text.stderr.trim().split('\n')
    expect(lines.filter((l) => /X86_PV_VCPU_BASIC body is 0 bytes/.test(l))).toHaveLength(5000)
    // The one warning: vcpu state before any memory (order-page-data), said once.
    const errors = lines.filter((l) => l.startsWith('error:'))
    expect(lines.filter((l) => l.startsWith('warning:'))).toHaveLength(1)
    expect(text.stdout).toMatch(new RegExp(`INVALID — ${errors.length} errors, 1 warning`))
    const doc = verifyReport(await runXstInProcess(['verify', '--json', file]))
    expect(doc.errorCount).toBe(errors.length)
    expect(doc.errors.slice(0, 1000).every((e: {record: string}) => e.record === 'X86_PV_VCPU_BASIC')).toBe(true)
    // Past the thousandth, only a kind not kept yet: the unknown record, and the stream ending with no END.
    expect(
      doc.errors
        .slice(1000)
        .map((e: {code: string}) => e.code)
        .sort(),
    ).toEqual(['truncated', 'unknown-record'])
  })

  it('--max-errors stops after that many', async () => {
    const r = await runXstInProcess(['verify', await threeDefects(), '--max-errors', '1'])
    expect(r.code).toBe(1)
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('error:')),
    ).toHaveLength(1)
    expect(r.stdout.trim()).toMatch(/INVALID — 1 error, .*stopped early \(--max-errors\)$/)
    const j = verifyReport(await runXstInProcess(['verify', await threeDefects(), '--max-errors', '2', '--json']))
    expect(j.errors).toHaveLength(2)
    expect(j.stopped).toBe('max-errors')
  })

  it('--json: the verdict, the problems, and a summary of the stream', async () => {
    const bytes = vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')
    const r = await runXstInProcess(['verify', tempFile('x.v2', bytes), '--json'])
    const doc = verifyReport(r)
    expect(Object.keys(doc)).toEqual(['ok', 'input', 'verdict', 'valid', 'errors', 'warnings', 'errorCount', 'warningCount', 'stopped', 'summary', 'container', 'restore'])
    expect([doc.errors, doc.warnings, doc.errorCount, doc.warningCount]).toEqual([[], [], 0, 0])
    expect(doc.container).toEqual({kind: 'none', label: 'no container', compressed: false})
    expect(doc.summary).toEqual({
      format: 'libxl',
      xlHeader: {flags: ['stream-v2'], optionalDataLength: expect.any(Number), domainName: 'web01', config: {deviceModel: null}},
      version: {libxl: 2, libxc: 3},
      legacyConverted: true,
      guest: 'pv',
      guestWidth: 64,
      pagetableLevels: 4,
      xenVersion: {major: 0, minor: 1},
      records: {
        libxl: {LIBXC_CONTEXT: 1, END: 1},
        libxc: {X86_PV_INFO: 1, STATIC_DATA_END: 1, X86_PV_P2M_FRAMES: 1, X86_TSC_INFO: 1, PAGE_DATA: 1, X86_PV_VCPU_BASIC: 2, X86_PV_VCPU_EXTENDED: 2, SHARED_INFO: 1, END: 1},
      },
      pages: {count: 128, withData: 128, byType: expect.any(Object)},
      vcpus: {count: 2, ids: [0, 1]},
      p2mEndPfn: 127,
      emulator: {contexts: 0, contextBytes: 0, xenstoreKeys: 0, firstId: null},
      checkpoints: null,
      tail: null,
      bytes: bytes.length,
    })
  })

  it('--json: one top level for one image or several, {ok, images: [...]} as identify gives; ok false when any image is not valid', async () => {
    const good = tempFile('good.v2', vectorBytes('v2', 'pv3.v2.gz'))
    const bad = tempFile('bad.v2', vectorBytes('v2', 'bad-pfn-type-5.v2.gz'))
    const run = async (...files: string[]) => {
      const r = await runXstInProcess(['verify', '--json', ...files])
      const doc = JSON.parse(r.stdout)
      expect(schemaErrors('verify', doc), files.join(' ')).toBe('')
      expect(Object.keys(doc), files.join(' ')).toEqual(['ok', 'images'])
      return {code: r.code, doc}
    }
    const one = await run(good)
    expect(one.code).toBe(0)
    expect(one.doc.ok).toBe(true)
    expect(one.doc.images).toHaveLength(1)
    expect(one.doc.images[0]).toMatchObject({ok: true, input: {path: good}, verdict: 'valid', valid: true, errors: []})
    const oneBad = await run(bad)
    expect(oneBad.code).toBe(1)
    expect(oneBad.doc.ok).toBe(false)
    expect(oneBad.doc.images).toEqual([expect.objectContaining({ok: false, input: expect.objectContaining({path: bad}), verdict: 'invalid', valid: false})])
    // Several: the same reports, in the order given, under the same top level.
    const both = await run(good, bad)
    expect(both.code).toBe(1)
    expect(both.doc).toEqual({ok: false, images: [one.doc.images[0], oneBad.doc.images[0]]})
    const twice = await run(good, good)
    expect(twice.code).toBe(0)
    expect(twice.doc).toEqual({ok: true, images: [one.doc.images[0], one.doc.images[0]]})
  })

  it('--json: a file that cannot be read is one of the images, {ok: false, input, verdict: "error", error}, alone or among others; a usage error is the failure document', async () => {
    const good = tempFile('good.v2', vectorBytes('v2', 'pv3.v2.gz'))
    const missing = `${good}.missing`
    const unreadable = {
      ok: false,
      input: {path: missing, size: null, bytes: null},
      verdict: 'unreadable',
      error: {code: 'no-such-file', message: `${missing}: no such file`, offset: null, index: null, context: null, expected: null, got: null},
    }
    const alone = await runXstInProcess(['verify', '--json', missing])
    expect(alone.code).toBe(2)
    expect(alone.stderr).toBe('')
    const doc = JSON.parse(alone.stdout)
    expect(doc).toEqual({ok: false, images: [unreadable]})
    expect(schemaErrors('verify', doc)).toBe('')
    // Among others: they are still checked.
    const among = await runXstInProcess(['verify', '--json', missing, good])
    expect(among.code).toBe(2)
    const several = JSON.parse(among.stdout)
    expect(several.ok).toBe(false)
    expect(several.images[0]).toEqual(unreadable)
    expect(several.images[1]).toMatchObject({ok: true, verdict: 'valid', input: {path: good}})
    expect(schemaErrors('verify', several)).toBe('')
    // The command as a whole failing (a usage error) is not an image's: {ok: false, error, warnings}.
    const usage = await runXstInProcess(['verify', '--json', '--format', 'xml', good])
    expect(usage.code).toBe(2)
    expect(JSON.parse(usage.stdout)).toMatchObject({ok: false, error: {code: 'usage'}, warnings: []})
  })

  it('guestWidth is in bits, as inspect-legacy gives it for the same guest', async () => {
    for (const [name, bits] of [
      ['pv32-tw32', 32],
      ['pv64-basic', 64],
    ] as const) {
      const legacy = JSON.parse((await runXstInProcess(['inspect-legacy', tempFile(`${name}.legacy`, vectorBytes('legacy', `${name}.legacy.gz`)), '--json'])).stdout)
      const v2 = await runXstInProcess(['verify', tempFile(`${name}.v2`, vectorBytes('legacy', `${name}.libxc.v2.gz`)), '--json'])
      expect([legacy.image.guestWidth, verifyReport(v2).summary.guestWidth], name).toEqual([bits, bits])
    }
    const text = await runXstInProcess(['verify', tempFile('pv32.v2', vectorBytes('legacy', 'pv32-tw32.libxl.v2.gz'))])
    expect(text.stdout).toMatch(/: valid — libxl v2 \/ libxc v3 stream, x86 PV \(32-bit guest\)/)
  })

  it('--verbose: a line per record, PAGE_DATA runs squashed', async () => {
    const bytes = vectorBytes('legacy', 'hvm32-tw32.libxc.v2.gz')
    const [pages, tail] = [locate(bytes, 'PAGE_DATA'), locate(bytes, 'tail')]
    const r = await runXstInProcess(['verify', '--verbose', tempFile('x.v2', bytes)])
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^\s+0\s+libxc\s+image header\s+24 bytes\s+version 3$/)
    // Its three PAGE_DATA records, one after the other, make one line.
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^\\s+${pages.offset}\\s+libxc #${pages.index}-${pages.index! + 2}\\s+PAGE_DATA ×3\\s+200 pfns, 200 with data$`)))
    expect(locate(bytes, 'PAGE_DATA', 2).index).toBe(pages.index! + 2)
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^\\s+${tail.offset}\\s+libxc\\s+device-model record\\s+${tail.length} bytes\\s+DeviceModelRecord0002$`)))
    expect(lines.filter((l) => /PAGE_DATA/.test(l))).toHaveLength(1)
    // The verdict, then the restore block (indented) under it.
    expect(lines.filter((l) => !l.startsWith(' ')).at(-1)).toMatch(/valid — libxc v3 stream, x86 HVM/)
    expect(lines.at(-1)).toMatch(/^ {4}\S/)
  })

  it('a legacy image: exit 1, sent to xst convert', async () => {
    const r = await runXstInProcess(['verify', tempFile('old.save', vectorBytes('legacy', 'pv64-basic.legacy.gz'))])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error: byte 0: this is a legacy image; convert it with `xst convert`$/m)
    noStack(r.stdout + r.stderr)
  })

  it('usage errors exit 2', async () => {
    const missing = await runXstInProcess(['verify', '/nonexistent/image'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/no such file/)
    noStack(missing.stderr)
    expect((await runXstInProcess(['verify', '--format', 'xml', '-'])).code).toBe(2)
    expect((await runXstInProcess(['verify', '--max-errors', '0', '-'])).code).toBe(2)
    expect((await runXstInProcess(['verify'])).code).toBe(2)
  })
})
