// `xst verify` run as a user runs it: every v2 conformance stream, every
// converted stream in the legacy vectors, pipes, --json, --verbose,
// --max-errors, exit codes.
import {describe, expect, it} from 'vitest'
import {Rec} from '../src/format/libxc.js'
import {legacyVectors, v2Vectors, vectorBytes} from './helpers/fixtures.js'
import {runXst, tempFile} from './helpers/cli.js'
import {pfnWord, pvInfo, pvStream, sharedInfo} from './builders/v2.js'

/** The defect each invalid v2 vector holds: its code, where it is, and words the message must use. */
const V2_DEFECTS: Record<string, {code: string; offset: number; index?: number; record: string; text: RegExp}> = {
  'bad-bad-marker': {code: 'bad-marker', offset: 0, record: 'image header', text: /marker is 0xfffffffffffffffe/},
  'bad-hvm-params-count-wrong': {code: 'hvm-params-size', offset: 2101512, index: 6, record: 'HVM_PARAMS', text: /count 9 needs .* 152 bytes, but the body is 88/},
  'bad-libxl-bad-ident': {code: 'bad-ident', offset: 0, record: 'libxl header', text: /ident .*"LibxlFmX"/},
  'bad-libxl-xenstore-odd-strings': {code: 'xenstore-odd-strings', offset: 2106792, index: 3, record: 'EMULATOR_XENSTORE_DATA', text: /3 strings/},
  'bad-nonzero-padding': {code: 'nonzero-padding', offset: 936796, index: 18, record: 'X86_TSC_INFO', text: /padding .* not zero/},
  'bad-page-data-short': {code: 'page-data-size', offset: 192, index: 3, record: 'PAGE_DATA', text: /body is 1046536 bytes, but 256 pfns with 256 data pages make .* 1050632/},
  'bad-pfn-type-5': {code: 'pfn-type-invalid', offset: 208, index: 3, record: 'PAGE_DATA', text: /pfn\[0\] 0x5000000000000003 has page type 5/},
  'bad-shared-info-4095': {code: 'record-size', offset: 920216, index: 9, record: 'SHARED_INFO', text: /SHARED_INFO body is 4095 bytes/},
  'bad-strict-hvm-context-before-params': {code: 'order-hvm-params', offset: 2103512, index: 7, record: 'HVM_PARAMS', text: /HVM_PARAMS after HVM_CONTEXT \(record 6\)/},
  'bad-strict-p2m-before-pv-info': {code: 'order-x86-pv-info', offset: 40, index: 0, record: 'X86_PV_P2M_FRAMES', text: /X86_PV_P2M_FRAMES before any X86_PV_INFO/},
  'bad-truncated-mid-record': {code: 'truncated', offset: 468388, index: 6, record: 'PAGE_DATA', text: /stream ends at byte 468388 inside libxc record 6 \(PAGE_DATA\)/},
  'bad-unknown-mandatory-record': {code: 'unknown-record', offset: 936768, index: 18, record: 'unknown record 0x00000013', text: /0x00000013 is mandatory/},
  'bad-version-4': {code: 'unknown-version', offset: 12, record: 'image header', text: /version 4 is unknown/},
}

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at /)

describe('verify: the v2 conformance streams', () => {
  for (const v of v2Vectors()) {
    const path = () => tempFile(`${v.name}.v2`, vectorBytes('v2', v.input))
    if (v.valid) {
      it(`${v.name}: valid, exit 0`, async () => {
        const p = path()
        const r = await runXst(['verify', p])
        expect(r.code, r.stdout + r.stderr).toBe(0)
        expect(r.stdout + r.stderr).not.toMatch(/^error:/m)
        expect(r.stdout).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: valid — ${v.format}`, 'm'))
        const j = JSON.parse((await runXst(['verify', p, '--json'])).stdout)
        expect(j).toMatchObject({ok: true, verdict: 'valid', valid: true, errors: [], summary: {format: v.format}})
        // The verdict is the report (stdout); a warning is a diagnostic (stderr).
        expect(r.stdout.trim().split('\n')).toHaveLength(1)
        if (v.name === 'optional-rec') {
          expect(r.stderr).toMatch(/^warning: byte 2103608, libxc record 8 \(optional record 0x80000123\): .*skipped/m)
          expect(j.warnings).toMatchObject([{code: 'optional-record', offset: 2103608, index: 8}])
        } else {
          expect(j.warnings).toEqual([])
          expect(r.stderr).toBe('')
        }
      })
    } else {
      it(`${v.name}: invalid, exit 1, the defect named with its offset${v.ordering_rule ? ' (ordering rule)' : ''}`, async () => {
        const d = V2_DEFECTS[v.name]
        expect(d, `no expectation written for ${v.name}`).toBeDefined()
        const p = path()
        const r = await runXst(['verify', p])
        expect(r.code).toBe(1)
        noStack(r.stdout + r.stderr)
        const lines = r.stderr.trim().split('\n')
        const named = lines.find((l) => d.text.test(l))
        expect(named, r.stderr).toMatch(new RegExp(`^error: (byte ${d.offset}, |stream ends at byte ${d.offset} )`))
        expect(r.stdout.trim().split('\n')).toEqual([expect.stringMatching(/: INVALID — \d+ errors?/)])
        const j = await runXst(['verify', p, '--json'])
        expect(j.code).toBe(1)
        const doc = JSON.parse(j.stdout)
        expect(doc.verdict).toBe('invalid')
        expect(doc.ok).toBe(false)
        expect(doc.errors).toContainEqual(expect.objectContaining({code: d.code, offset: d.offset, index: d.index ?? null, record: d.record}))
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
        const r = await runXst(['verify', tempFile(`${v.name}.${fmt}`, vectorBytes('legacy', file)), '--json'])
        expect(r.code, r.stdout).toBe(0)
        const doc = JSON.parse(r.stdout)
        expect(doc.errors).toEqual([])
        expect(doc.warnings).toEqual([])
        expect(doc.summary).toMatchObject({
          format: fmt,
          guestType: v.guest === 'pv' ? 'x86 PV' : 'x86 HVM',
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
    const viaPipe = await runXst(['verify', '-', '--json'], {input: bytes})
    const viaFile = await runXst(['verify', tempFile('x.v2', bytes), '--json'])
    expect(viaPipe.code).toBe(0)
    const [a, b] = [JSON.parse(viaPipe.stdout), JSON.parse(viaFile.stdout)]
    expect(a.input).toBe('stdin')
    expect({...a, input: ''}).toEqual({...b, input: ''})
    const broken = await runXst(['verify', '-'], {input: vectorBytes('v2', 'bad-truncated-mid-record.v2.gz')})
    expect(broken.code).toBe(1)
    expect(broken.stderr).toMatch(/^error: stream ends at byte 468388 inside libxc record 6 \(PAGE_DATA\)/m)
  })

  const threeDefects = async () =>
    tempFile(
      'three.v2',
      (
        await pvStream()
          .replace(Rec.X86_PV_INFO, pvInfo(8, 3))
          .edit(Rec.PAGE_DATA, (r) => r.head.writeBigUInt64LE(pfnWord(7, 5), 8 + 8 * 7))
          .replace(Rec.SHARED_INFO, sharedInfo(100))
          .build()
      ).bytes,
    )

  it('reports every error, each on its own line (stderr), then the verdict (stdout)', async () => {
    const r = await runXst(['verify', await threeDefects()])
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n')).toEqual([
      'error: byte 49, libxc record 0 (X86_PV_INFO): guest width 8 with 3 pagetable levels: a 64-bit guest has 4 levels, a 32-bit (PAE) guest 3',
      'error: byte 304, libxc record 5 (PAGE_DATA): pfn[7] 0x5000000000000007 has page type 5; types 5-8 are not defined',
      expect.stringMatching(/^error: byte \d+, libxc record 8 \(SHARED_INFO\): SHARED_INFO body is 100 bytes; it must be one 4096-byte page$/),
    ])
    expect(r.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/: INVALID — 3 errors, 0 warnings \(libxc v3 stream, x86 PV \(64-bit guest\), converted from a legacy image\)$/),
    ])
  })

  it('--max-errors stops after that many', async () => {
    const r = await runXst(['verify', await threeDefects(), '--max-errors', '1'])
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1)
    expect(r.stdout.trim()).toMatch(/INVALID — 1 error, .*stopped early \(--max-errors\)$/)
    const j = JSON.parse((await runXst(['verify', await threeDefects(), '--max-errors', '2', '--json'])).stdout)
    expect(j.errors).toHaveLength(2)
    expect(j.stopped).toBe('max-errors')
  })

  it('--json: the verdict, the problems, and a summary of the stream', async () => {
    const r = await runXst(['verify', tempFile('x.v2', vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')), '--json'])
    const doc = JSON.parse(r.stdout)
    expect(Object.keys(doc)).toEqual(['ok', 'input', 'verdict', 'valid', 'errors', 'warnings', 'stopped', 'summary'])
    expect(doc.summary).toEqual({
      format: 'libxl',
      xlHeader: {flags: ['stream-v2'], optionalDataLength: expect.any(Number), domainName: 'web01'},
      version: {libxl: 2, libxc: 3},
      legacyConverted: true,
      guestType: 'x86 PV',
      guestWidth: 8,
      ptLevels: 4,
      xenVersion: {major: 0, minor: 1},
      records: {
        libxl: {LIBXC_CONTEXT: 1, END: 1},
        libxc: {X86_PV_INFO: 1, STATIC_DATA_END: 1, X86_PV_P2M_FRAMES: 1, X86_TSC_INFO: 1, PAGE_DATA: 1, X86_PV_VCPU_BASIC: 2, X86_PV_VCPU_EXTENDED: 2, SHARED_INFO: 1, END: 1},
      },
      pages: {pfns: 128, withData: 128, byType: expect.any(Object)},
      vcpus: [0, 1],
      p2mEndPfn: 127,
      emulator: {contexts: 0, contextBytes: 0, xenstoreKeys: 0},
      tail: null,
      bytes: 540338,
    })
  })

  it('--verbose: a line per record, PAGE_DATA runs squashed', async () => {
    const r = await runXst(['verify', '--verbose', tempFile('x.v2', vectorBytes('legacy', 'hvm32-tw32.libxc.v2.gz'))])
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^\s+0\s+libxc\s+image header\s+24 bytes\s+version 3$/)
    expect(lines).toContainEqual(expect.stringMatching(/^\s+80\s+libxc #2-4\s+PAGE_DATA ×3\s+200 pfns, 200 with data$/))
    expect(lines).toContainEqual(expect.stringMatching(/^\s+822112\s+libxc\s+device-model record\s+1025 bytes\s+DeviceModelRecord0002$/))
    expect(lines.filter((l) => /PAGE_DATA/.test(l))).toHaveLength(1)
    expect(lines.at(-1)).toMatch(/valid — libxc v3 stream, x86 HVM/)
  })

  it('a legacy image: exit 1, sent to xst convert', async () => {
    const r = await runXst(['verify', tempFile('old.save', vectorBytes('legacy', 'pv64-basic.legacy.gz'))])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error: byte 0: this is a legacy image; convert it with `xst convert`$/m)
    noStack(r.stdout + r.stderr)
  })

  it('usage errors exit 2', async () => {
    const missing = await runXst(['verify', '/nonexistent/image'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/no such file/)
    noStack(missing.stderr)
    expect((await runXst(['verify', '--format', 'xml', '-'])).code).toBe(2)
    expect((await runXst(['verify', '--max-errors', '0', '-'])).code).toBe(2)
    expect((await runXst(['verify'])).code).toBe(2)
  })
})
