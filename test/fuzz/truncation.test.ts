// Every conformance image, legacy and v2, cut at every byte of its headers,
// metadata chunks, records and tails, and at every page boundary of its
// contents: each cut is refused with "stream ends at byte N" where N is the
// cut (in process). In npm test the long pfn arrays of page batches are
// sampled (their first and last 16 bytes and every 8th entry), convert takes
// every 4th cut and the pipe runs every 16th; `npm run fuzz` takes every cut
// every way. Then a
// sample of cuts through `xst convert`: exit 1, the same line, and no output
// or temporary file left behind.
import {existsSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'
import {TruncatedError} from '../../src/errors.js'
import {legacyVectors, v2Vectors, vectorBytes} from '../helpers/fixtures.js'
import {convert, countCases, cutPoints, expectClean, type ImageLayout, inspect, legacyLayout, LONG, reportCases, sampleCuts, TEST_TIMEOUT, v2Layout, verify} from './harness.js'
import {tempDir} from '../helpers/cli.js'
import {runXstInProcess} from '../helpers/in-process.js'
import {errorLines, hasStackTrace} from './procs.js'

reportCases('truncation')
interface Image {
  file: string
  bytes: Buffer
  layout: ImageLayout
  cuts: number[]
}

const legacy: Image[] = []
const v2: Image[] = []

/**
 * The v2 vectors, and the streams the conversion vectors say xst writes (in
 * npm test four of them: bare libxc HVM streams with and without the qemu
 * record after END, a libxl HVM stream, one behind an xl header).
 */
const QUICK_CONVERTED = new Set(['hvm32-tw32.libxc.v2.gz', 'hvm32-tw32.libxl.v2.gz', 'hvm64-noqemu.libxc.v2.gz', 'pv64-xl.libxl.v2.gz'])
const v2Files = [
  ...v2Vectors()
    .filter((x) => x.valid)
    .map((x) => ['v2', x.input] as const),
  ...legacyVectors()
    .flatMap((x) => [x.expected?.libxc, x.expected?.libxl])
    .filter((f): f is string => !!f && (LONG || QUICK_CONVERTED.has(f)))
    .map((f) => ['legacy', f] as const),
]

beforeAll(async () => {
  for (const v of legacyVectors().filter((x) => x.valid)) {
    const bytes = vectorBytes('legacy', v.input)
    const layout = await legacyLayout(bytes)
    const all = cutPoints(layout)
    legacy.push({file: v.input, bytes, layout, cuts: LONG ? all : sampleCuts(layout, all)})
  }
  for (const [dir, file] of v2Files) {
    const bytes = vectorBytes(dir, file)
    const layout = await v2Layout(bytes)
    const all = cutPoints(layout)
    v2.push({file, bytes, layout, cuts: LONG ? all : sampleCuts(layout, all)})
  }
})

/** The qemu record of a legacy HVM image: where it starts, and whether it runs to the end of the stream. */
function qemuOf(img: Image): {at: number; toEnd: boolean} | undefined {
  // The record is the last bulk range; its 21-byte signature (and u32 length) come just before.
  const last = img.layout.bulk[img.layout.bulk.length - 1]
  if (!last || last[1] !== img.bytes.length) return undefined
  for (const head of [25, 21]) {
    const at = last[0] - head
    const sig = img.bytes.toString('latin1', at, at + 21)
    if (['DeviceModelRecord0002', 'RemusDeviceModelState', 'QemuDeviceModelRecord'].includes(sig)) return {at, toEnd: sig === 'QemuDeviceModelRecord'}
  }
  return undefined
}

/** inspect and verify take every cut from a file; convert every 4th, and pipes every 16th (every one in the long run). */
const CONVERT_EVERY = LONG ? 1 : 4
const PIPE_EVERY = LONG ? 1 : 16

describe('legacy conformance images cut at every byte of their structure and every page boundary', {timeout: TEST_TIMEOUT}, () => {
  it('there are a few thousand cuts', () => {
    const n = legacy.reduce((s, i) => s + i.cuts.length, 0)
    console.log(`legacy cut points: ${n}`)
    expect(n).toBeGreaterThan(2000)
  })

  it.each(
    legacyVectors()
      .filter((x) => x.valid)
      .map((x) => x.input),
  )('%s: inspect and convert report the cut', async (file) => {
    const img = legacy.find((i) => i.file === file)!
    const qemu = qemuOf(img)
    const wrong: string[] = []
    let n = 0
    for (const [i, cut] of img.cuts.entries()) {
      const input = img.bytes.subarray(0, cut)
      // An HVM image may end right after its context (no qemu record), and a
      // rest-of-stream qemu record may end anywhere.
      const fine = qemu !== undefined && (cut === qemu.at || (qemu.toEnd && cut >= qemu.at + 21))
      const runs: Array<() => Promise<unknown>> = [() => inspect(input, 'file')]
      if (i % CONVERT_EVERY === 0) runs.push(() => convert(input, 'libxl', 'file', {discard: true}))
      if (i % PIPE_EVERY === 0)
        runs.push(
          () => inspect(input, 'pipe'),
          () => convert(input, 'libxc', 'pipe', {discard: true}),
        )
      for (const run of runs) {
        n++
        const r = await expectClean(`${file} cut at ${cut}`, run)
        if (fine) {
          if (!r.ok) wrong.push(`cut ${cut}: ${r.error.message}`)
          continue
        }
        if (r.ok) wrong.push(`cut ${cut}: accepted`)
        else if (!(r.error instanceof TruncatedError) || r.error.offset !== cut || !r.error.message.includes(`stream ends at byte ${cut} inside `)) wrong.push(`cut ${cut}: ${r.error.message}`)
      }
    }
    countCases(n, wrong.length)
    expect(wrong).toEqual([])
  })
})

describe('v2 conformance images cut at every byte of their structure and every page boundary', {timeout: TEST_TIMEOUT}, () => {
  it('there are a few thousand cuts', () => {
    const n = v2.reduce((s, i) => s + i.cuts.length, 0)
    console.log(`v2 cut points: ${n}`)
    expect(n).toBeGreaterThan(2000)
  })

  it.each(v2Files.map(([, f]) => f))('%s: verify (file and pipe) reports the cut', async (file) => {
    const img = v2.find((i) => i.file === file)!
    // A bare libxc stream may be followed by the qemu record, which has no
    // record framing of its own: a cut inside it is a qemu record that says
    // it is longer than what follows, and a cut just before it is a stream
    // without one.
    const tail = img.layout.starts[img.layout.starts.length - 1]
    const hasTail = img.bytes.toString('latin1', tail, tail + 21).match(/^(DeviceModelRecord0002|RemusDeviceModelState|QemuDeviceModelRecord)$/) !== null
    const wrong: string[] = []
    let n = 0
    for (const [i, cut] of img.cuts.entries()) {
      const input = img.bytes.subarray(0, cut)
      for (const kind of i % PIPE_EVERY === 0 ? (['file', 'pipe'] as const) : (['file'] as const)) {
        n++
        const r = await expectClean(`${file} cut at ${cut}`, () => verify(input, kind, undefined, 65536))
        if (!r.ok) {
          wrong.push(`cut ${cut} (${kind}): threw ${r.error.message}`)
          continue
        }
        const rep = r.value
        if (hasTail && cut === tail) {
          if (!rep.valid) wrong.push(`cut ${cut} (${kind}): a stream without its qemu record is refused: ${rep.errors[0].message}`)
          continue
        }
        if (hasTail && cut > tail) {
          // Cut anywhere in it, even inside its 21-byte signature, the record is there and cut short.
          if (rep.valid || rep.errors[0].code !== 'qemu-record-size') wrong.push(`cut ${cut} (${kind}): ${rep.valid ? 'valid' : rep.errors[0].message}`)
          continue
        }
        if (cut === 0) {
          if (rep.valid || rep.errors[0].code !== 'empty-input') wrong.push(`cut 0 (${kind}): ${rep.valid ? 'valid' : rep.errors[0].message}`)
          continue
        }
        // Cut at a record boundary the stream has no END; anywhere else it ends inside something.
        const said = rep.errors.map((e) => e.message).join('; ')
        if (rep.valid || !new RegExp(`(stream ends at byte ${cut} inside |the stream ends at byte ${cut} before its END record)`).test(said)) {
          wrong.push(`cut ${cut} (${kind}): ${rep.valid ? 'valid' : said}`)
        }
      }
    }
    countCases(n, wrong.length)
    expect(wrong).toEqual([])
  })
})

describe.concurrent('cut images through `xst convert`', () => {
  // Cuts inside the xl header, the extended info, a page batch's pfn list,
  // page data, a metadata chunk, the PV tail, the HVM context and the qemu
  // record, converted from a file and from stdin.
  const sample: Array<[string, (img: Image) => number]> = [
    ['pv64-xl.legacy.gz', () => 40],
    ['pv64-xl.legacy.gz', (img) => img.layout.starts[2] + 9],
    ['pv64-smp-xsave.legacy.gz', (img) => img.layout.bulk[1][0] + 4096 * 3],
    ['pv64-many-vcpus.legacy.gz', (img) => img.layout.starts[img.layout.starts.length - 5] + 3],
    ['hvm64-xl-physmap.legacy.gz', (img) => img.layout.starts[img.layout.starts.length - 4] + 13],
    ['hvm32-tw32.legacy.gz', (img) => img.bytes.length - 7],
  ]
  it.each(sample.map(([f, at], i) => [i, f, at] as const))('cut %i of %s: exit 1 with the cut in one line, nothing left behind', async (i, file, at) => {
    const img = legacy.find((x) => x.file === file)!
    const cut = at(img)
    const dir = tempDir('xst-cut-')
    const input = join(dir, 'cut.legacy')
    writeFileSync(input, img.bytes.subarray(0, cut))
    const out = join(dir, 'out.v2')
    const fromStdin = i % 2 === 1
    const r = await runXstInProcess(fromStdin ? ['convert', '-', out] : ['convert', input, out], {input: fromStdin ? img.bytes.subarray(0, cut) : undefined, timeoutMs: 30_000})
    expect(r.timedOut).toBe(false)
    expect(r.code, r.stderr).toBe(1)
    expect(hasStackTrace(r.stderr)).toBe(false)
    const lines = errorLines(r.stderr)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^xst convert: stream ends at byte ${cut} inside `))
    expect(existsSync(out)).toBe(false)
    expect(readdirSync(dir)).toEqual(['cut.legacy'])
  })
})
