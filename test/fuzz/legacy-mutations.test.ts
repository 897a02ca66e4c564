// Legacy images with bytes flipped, inserted, deleted, length fields set to
// hostile values, or cut short: inspect-legacy and convert (in process) end
// in success or a typed exit-1 error, never anything else; a file and a pipe
// give the same verdict; a truncation names the byte the input ends at; and
// whatever convert writes, the verifier that watched it being written and
// one reading it back agree about it.
import fc from 'fast-check'
import {beforeAll, describe, expect, it} from 'vitest'
import {FormatError, TruncatedError} from '../../src/errors.js'
import {legacyVectors, vectorBytes} from '../helpers/fixtures.js'
import {buildLegacy, smallSpec, type LegacySpec} from '../builders/legacy.js'
import {
  checkReport,
  convert,
  describeMutations,
  expectClean,
  type ImageLayout,
  inspect,
  legacyLayout,
  mutate,
  mutation,
  mutations,
  type Outcome,
  params,
  reportCases,
  TEST_TIMEOUT,
  verify,
} from './harness.js'

reportCases('legacy-mutations')

interface Base {
  name: string
  bytes: Buffer
  layout: ImageLayout
}

/** Every legacy conformance vector that walks (the others are mutated without a layout), and builder images. */
const bases: Base[] = []

const builderSpecs: Array<[string, LegacySpec]> = [
  ['builder pv64', smallSpec('pv', 64)],
  ['builder pv32', smallSpec('pv', 32, {ext: {guestWidth: 32, extv: false, xsaveLength: 0x240}})],
  ['builder hvm64', smallSpec('hvm', 64, {xl: {config: '{"c_info": {"name": "f"}}', json: true}})],
  ['builder hvm32 remus', smallSpec('hvm', 32, {hvm: {context: 64, qemu: {signature: 'RemusDeviceModelState', data: 40}}})],
  ['builder hvm64 rest-of-stream qemu', smallSpec('hvm', 64, {hvm: {context: 64, qemu: {signature: 'QemuDeviceModelRecord', data: 40}}})],
  [
    'builder pv64 everything',
    smallSpec('pv', 64, {
      xl: {config: 'name = "x"\n'},
      ext: {guestWidth: 64, extv: true, xsaveLength: 0x240},
      chunks: [
        {kind: 'tsc_info'},
        {kind: 'enable_verify_mode'},
        {kind: 'pages', entries: [1, {dropped: true}, {pfn: 2, type: 1}, {pfn: 3, type: 0xf}, {pfn: 4, type: 9}]},
        {kind: 'vcpu_info', online: [0, 1, 70]},
        {kind: 'toolstack', raw: Buffer.alloc(24, 1)},
        {kind: 'last_checkpoint'},
      ],
      pv: {unmapped: [7, 8]},
    }),
  ],
  [
    'builder hvm64 physmap',
    smallSpec('hvm', 64, {
      chunks: [
        {kind: 'pages', range: {start: 0, count: 4}},
        {kind: 'hvm_param', chunk: 'hvm_ident_pt', value: 0xfeffd000n},
        {kind: 'toolstack', physmap: [{physOffset: 0xf0000000n, startAddr: 0xf0000000n, size: 0x800000n, name: 'vga.vram'}]},
      ],
    }),
  ],
]

beforeAll(async () => {
  for (const v of legacyVectors()) {
    const bytes = vectorBytes('legacy', v.input)
    let layout: ImageLayout
    try {
      layout = await legacyLayout(bytes)
    } catch {
      layout = {size: bytes.length, starts: [], bulk: [], arrays: []}
    }
    bases.push({name: v.name, bytes, layout})
  }
  for (const [name, spec] of builderSpecs) {
    const bytes = buildLegacy(spec)
    bases.push({name, bytes, layout: await legacyLayout(bytes)})
  }
})

/** What an outcome says, for comparing two runs. */
function verdict(o: Outcome<unknown>): string {
  return o.ok ? 'ok' : o.error.code
}

/** Checks every error must pass whatever the input. */
function checkError(o: Outcome<unknown>, input: Buffer): void {
  if (o.ok) return
  const e = o.error
  if (e instanceof TruncatedError) {
    // A stream that ends early ends where the input does.
    expect(e.offset, e.message).toBe(input.length)
    expect(e.message).toContain(`stream ends at byte ${input.length} inside `)
  } else if (e instanceof FormatError && e.offset !== undefined) {
    expect(e.offset, e.message).toBeGreaterThanOrEqual(0)
    expect(e.offset, e.message).toBeLessThanOrEqual(input.length)
  }
}

/** Run inspect (file and pipe) and convert (both formats) on one input and check them. */
async function checkAll(input: Buffer, label: string): Promise<void> {
  const file = await expectClean(`${label}: inspect (file)`, () => inspect(input, 'file'))
  const pipe = await expectClean(`${label}: inspect (pipe)`, () => inspect(input, 'pipe'))
  checkError(file, input)
  checkError(pipe, input)
  // A file and a pipe agree, except that on a file a length running past the
  // end is a truncation as soon as it is read, where a pipe reads on until
  // something else is wrong or the bytes run out.
  const agree = verdict(pipe) === verdict(file) || (!file.ok && !pipe.ok && file.error.code === 'truncated')
  expect(agree, `${label}: a file and a pipe disagree: ${file.ok ? 'ok' : file.error.message} / ${pipe.ok ? 'ok' : pipe.error.message}`).toBe(true)
  for (const format of ['libxc', 'libxl'] as const) {
    const kind = format === 'libxc' ? 'pipe' : 'file'
    const c = await expectClean(`${label}: convert to ${format} (${kind})`, () => convert(input, format, kind))
    checkError(c, input)
    if (!c.ok) continue
    // What was written is read back: the verifier that watched the writing and
    // one reading the bytes agree on the verdict.
    const read = await expectClean(`${label}: verify the ${format} output`, () => verify(c.value.output))
    if (!read.ok) throw new Error(`${label}: verify threw ${read.error.message}`)
    checkReport(read.value, c.value.output.length)
    expect(read.value.valid, `${label} -> ${format}: pushed ${JSON.stringify(c.value.pushed.errors)}, read back ${JSON.stringify(read.value.errors)}`).toBe(c.value.pushed.valid)
    // A walk that convert finished, inspect finished too, or failed only on what convert does not decode.
    if (!file.ok) expect(['bad-toolstack', 'physmap-name-not-nul'], `${label}: inspect failed (${file.error.message}) where convert to ${format} succeeded`).toContain(file.error.code)
  }
}

describe('mutated legacy images', {timeout: TEST_TIMEOUT}, () => {
  it('unmutated, every base walks as its vector says', async () => {
    for (const b of bases) {
      const r = await expectClean(b.name, () => inspect(b.bytes))
      const valid = !b.name.startsWith('bad-')
      expect(r.ok, `${b.name}: ${r.ok ? '' : r.error.message}`).toBe(valid || b.name === 'bad-physmap-name-not-nul' ? r.ok : false)
      if (valid) expect(b.layout.starts.length).toBeGreaterThan(3)
    }
  })

  it('byte flips, insertions, deletions, length edits and cuts: success or a typed error', async () => {
    const arb = fc.nat({max: bases.length - 1}).chain((i) => fc.tuple(fc.constant(i), mutations(bases[i].layout)))
    await fc.assert(
      fc.asyncProperty(arb, async ([i, ms]) => {
        const b = bases[i]
        await checkAll(mutate(b.bytes, ms), `${b.name} + ${describeMutations(ms)}`)
      }),
      params('legacy-mutations', 150, 1),
    )
  })

  it('with --width, --guest and --skip-qemu given (right or wrong): success or a typed error', async () => {
    const flags = fc.record({width: fc.constantFrom(32 as const, 64 as const), guest: fc.constantFrom('pv' as const, 'hvm' as const), skipQemu: fc.boolean()}, {requiredKeys: []})
    const arb = fc.nat({max: bases.length - 1}).chain((i) => fc.tuple(fc.constant(i), fc.array(mutation(bases[i].layout), {maxLength: 2}), flags))
    await fc.assert(
      fc.asyncProperty(arb, async ([i, ms, opts]) => {
        const b = bases[i]
        const input = mutate(b.bytes, ms)
        const label = `${b.name} + ${describeMutations(ms)} with ${JSON.stringify(opts)}`
        for (const kind of ['file', 'pipe'] as const) {
          checkError(await expectClean(`${label}: inspect (${kind})`, () => inspect(input, kind, opts)), input)
          const c = await expectClean(`${label}: convert (${kind})`, () => convert(input, kind === 'file' ? 'libxl' : 'libxc', 'file', opts))
          checkError(c, input)
          if (c.ok) {
            const back = await verify(c.value.output)
            checkReport(back, c.value.output.length)
            expect(back.valid).toBe(c.value.pushed.valid)
          }
        }
      }),
      params('legacy-flags', 100, 0.5),
    )
  })

  it('small random images (random bytes behind a plausible start)', async () => {
    // A p2m_size and an extended-info marker, then anything.
    const arb = fc.tuple(fc.constantFrom(32, 64), fc.boolean(), fc.uint8Array({minLength: 0, maxLength: 300}))
    await fc.assert(
      fc.asyncProperty(arb, async ([width, pv, rest]) => {
        const w = width / 8
        const head = Buffer.alloc(w + (pv ? w + 4 : 0))
        head.writeUInt32LE(16, 0)
        if (pv) head.fill(0xff, w, 2 * w)
        if (pv) head.writeUInt32LE(rest.length, 2 * w)
        const input = Buffer.concat([head, pv ? Buffer.from('vcpu') : Buffer.alloc(0), Buffer.from(rest)])
        await checkAll(input, `random ${width}-bit ${pv ? 'PV' : 'HVM'} start + ${Buffer.from(rest).toString('hex')}`)
      }),
      params('legacy-random-bytes', 150, 0.5),
    )
  })
})
