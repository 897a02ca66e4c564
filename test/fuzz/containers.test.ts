// Mutated container images (libvirt, XenServer legacy and structured, xend,
// and gzip around them) through the built CLI: identify, inspect-legacy,
// verify and convert each exit 0 or 1 with no stack trace (never 2: the
// paths are fine), a failure is one line, and convert leaves its output
// only when it succeeded, never a temporary file.
import fc from 'fast-check'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {beforeAll, describe, expect, it} from 'vitest'
import {openImage} from '../../src/container/open.js'
import {walkSections} from '../../src/container/xenserver.js'
import {ByteReader} from '../../src/io/reader.js'
import {BufferSource} from '../../src/io/source.js'
import {containerBytes} from '../helpers/containers.js'
import {describeMutations, FUZZ_RUNS, type ImageLayout, LONG, legacyLayout, mutate, mutations, params, reportCases, TEST_TIMEOUT, v2Layout} from './harness.js'
import {expectCleanRun} from './procs.js'
import {runXst, tempDir} from '../helpers/cli.js'

reportCases('containers')

interface Base {
  name: string
  bytes: Buffer
  layout: ImageLayout
  /** Mutations go to the image, which is then gzipped (the gzip layer stays sound). */
  gzip?: boolean
}
const bases: Base[] = []

const shift = (l: ImageLayout, by: number): ImageLayout => ({
  size: l.size + by,
  starts: l.starts.map((s) => s + by),
  bulk: l.bulk.map(([a, b]) => [a + by, b + by]),
  arrays: l.arrays.map(([a, b]) => [a + by, b + by]),
})

/** Where a container image's parts are: its header fields and sections, and the stream inside. */
async function containerLayout(bytes: Buffer): Promise<ImageLayout> {
  const img = await openImage(new ByteReader(new BufferSource(bytes)))
  const starts = [0]
  let inner: ImageLayout | undefined
  const c = img.container
  if (c.kind === 'libvirt') starts.push(16, 20, 24, 64)
  if (c.kind === 'xend') starts.push(16, 20)
  if (c.kind === 'xenserver-structured') {
    for await (const s of walkSections(img.reader)) {
      starts.push(s.offset, s.offset + 8)
      if (s.section.body === 'libxc-stream' || s.section.body === 'legacy-stream') {
        const at = img.reader.offset
        // The stream runs to the section after it; the image's own reader finds where.
        inner = shift(s.section.body === 'legacy-stream' ? await legacyLayout(bytes.subarray(at)).catch(() => emptyLayout()) : await v2Layout(bytes.subarray(at)).catch(() => emptyLayout()), at)
        break
      }
    }
  } else {
    const at = img.reader.offset
    inner = shift(img.stream === 'libxl' || img.stream === 'libxc' ? await v2Layout(bytes.subarray(at)) : await legacyLayout(bytes.subarray(at)), at)
  }
  return {size: bytes.length, starts: [...new Set([...starts, ...(inner?.starts ?? [])])].sort((a, b) => a - b), bulk: inner?.bulk ?? [], arrays: inner?.arrays ?? []}
}

function emptyLayout(): ImageLayout {
  return {size: 0, starts: [], bulk: [], arrays: []}
}

beforeAll(async () => {
  for (const name of ['libvirt-v1-hvm64', 'libvirt-v1-holding-v2', 'xend-hvm64', 'xenserver-legacy-hvm32', 'xenserver-legacy-pv32', 'xenserver-v2-libxc-legacy-hvm64', 'xenserver-v2-native-hvm64']) {
    const bytes = containerBytes(`${name}.img.gz`)
    bases.push({name, bytes, layout: await containerLayout(bytes)})
  }
  const xend = bases.find((b) => b.name === 'xend-hvm64')!
  bases.push({...xend, name: 'xend-hvm64 in gzip', gzip: true})
})

/** A few cases in npm test, one in 500 of XST_FUZZ_RUNS in the fuzz run. */
const RUNS = LONG ? Math.max(6, Math.round(FUZZ_RUNS / 500)) : 6

describe('mutated container images through the CLI', {timeout: LONG ? TEST_TIMEOUT : 180_000}, () => {
  it('identify, inspect-legacy, verify and convert: exit 0 or 1, one line, nothing left behind', async () => {
    const arb = fc
      .tuple(fc.nat({max: bases.length - 1}), fc.boolean(), fc.boolean())
      .chain(([i, json, gzipAfter]) => fc.tuple(fc.constant(i), mutations(bases[i].layout, 3), fc.constant(json), fc.constant(gzipAfter)))
    await fc.assert(
      fc.asyncProperty(arb, async ([i, ms, json, gzipAfter]) => {
        const b = bases[i]
        let input = mutate(b.bytes, ms)
        // Mutated, then compressed: the gzip layer is sound and the image inside is not. Or (the
        // other way) a mutated gzip stream: flip bytes of the compressed data itself.
        if (b.gzip)
          input = gzipAfter
            ? gzipSync(input)
            : mutate(
                gzipSync(b.bytes),
                ms.map((m) => ({...m, at: m.at % 4096})),
              )
        const label = `${b.name} + ${describeMutations(ms)}${b.gzip ? (gzipAfter ? ' (then gzipped)' : ' (in the gzip data)') : ''}`
        const dir = tempDir('xst-containerfuzz-')
        const file = join(dir, 'in.img')
        writeFileSync(file, input)
        const out = join(dir, 'out.img')
        const outFromFile = join(dir, 'out-file.img')
        const j = json ? ['--json'] : []
        const [identify, inspect, verify, convert, convertFile] = await Promise.all([
          runXst(['identify', ...j, file], {timeoutMs: 30_000}),
          runXst(['inspect-legacy', ...j, file], {timeoutMs: 30_000}),
          runXst(['verify', ...j, file], {timeoutMs: 30_000}),
          // A new Xenops record holds the time it was written: the same for both, so that their bytes can be compared.
          runXst(['convert', ...j, '-', out], {timeoutMs: 30_000, input, env: {SOURCE_DATE_EPOCH: '1700000000'}}),
          runXst(['convert', ...j, file, outFromFile], {timeoutMs: 30_000, env: {SOURCE_DATE_EPOCH: '1700000000'}}),
        ])
        for (const [cmd, r] of [
          ['identify', identify],
          ['inspect-legacy', inspect],
          ['verify', verify],
          ['convert', convert],
        ] as const)
          expectCleanRun(cmd, r, json, label)
        expectCleanRun('convert', convertFile, json, `${label} (from the file)`)
        expect(existsSync(out), `${label}: convert exit ${convert.code}: ${convert.stderr}`).toBe(convert.code === 0)
        // One verdict per input (README, Safety): every command reads the same bytes from the file and from a pipe to the same end.
        const [verifyPipe, inspectPipe, dumpFile, dumpPipe] = await Promise.all([
          runXst(['verify', '-'], {timeoutMs: 30_000, input}),
          runXst(['inspect-legacy', '-'], {timeoutMs: 30_000, input}),
          runXst(['dump-core', '-f', 'raw', file, join(dir, 'core-file.raw')], {timeoutMs: 30_000}),
          runXst(['dump-core', '-f', 'raw', '-', join(dir, 'core-pipe.raw')], {timeoutMs: 30_000, input}),
        ])
        expect(verifyPipe.code, `${label}: verify from a pipe exit ${verifyPipe.code}, from the file ${verify.code}: ${verifyPipe.stderr.trim()} / ${verify.stderr.trim()}`).toBe(verify.code)
        expect(inspectPipe.code, `${label}: inspect-legacy from a pipe exit ${inspectPipe.code}, from the file ${inspect.code}: ${inspectPipe.stderr.trim()} / ${inspect.stderr.trim()}`).toBe(
          inspect.code,
        )
        expect(dumpPipe.code, `${label}: dump-core from a pipe exit ${dumpPipe.code}, from the file ${dumpFile.code}: ${dumpPipe.stderr.trim()} / ${dumpFile.stderr.trim()}`).toBe(dumpFile.code)
        if (dumpFile.code === 0) expect(readFileSync(join(dir, 'core-pipe.raw')).equals(readFileSync(join(dir, 'core-file.raw'))), `${label}: the file and the pipe dump different memory`).toBe(true)
        // convert from the file and from a pipe agree, and write the same bytes.
        expect(convertFile.code, `${label}: convert from the file exit ${convertFile.code} (${convertFile.stderr.trim()}), from a pipe ${convert.code} (${convert.stderr.trim()})`).toBe(convert.code)
        if (convert.code === 0) expect(readFileSync(outFromFile).equals(readFileSync(out)), `${label}: the file and the pipe convert to different bytes`).toBe(true)
        expect(readdirSync(dir).filter((f) => f.endsWith('.xst-partial'))).toEqual([])
      }),
      params('containers-cli', RUNS, 0),
    )
  })
})
