// Shared pieces of the fuzz tests: how many runs, which seed, running one
// case with a time limit, what counts as an acceptable outcome, and the
// mutations applied to valid images.
//
// `npm test` runs every property a small, fixed number of times with a fixed
// seed, so the suite is fast and the same on every run. `npm run fuzz` sets
// XST_FUZZ_RUNS (and may set XST_FUZZ_SEED to replay a failure); without a
// seed it picks a random one, which fast-check prints with any failure.
import fc from 'fast-check'
import {afterAll, expect} from 'vitest'
import {XstError} from '../../src/errors.js'
import {convertLegacy} from '../../src/convert/convert.js'
import {inspectLegacy} from '../../src/inspect/report.js'
import {ByteReader} from '../../src/io/reader.js'
import {type ByteSink, MemorySink} from '../../src/io/sink.js'
import {BufferSource, ChunkedSource, type ByteSource} from '../../src/io/source.js'
import type {LegacyEvent} from '../../src/legacy/events.js'
import {walkLegacy} from '../../src/legacy/walker.js'
import {verifyStream} from '../../src/v2/reader.js'
import {type RecordNote, V2Verifier, type VerifyReport} from '../../src/v2/verify/verifier.js'

/** Set by `npm run fuzz`: the long run. */
export const FUZZ_RUNS = Number(process.env.XST_FUZZ_RUNS ?? '') || 0
export const LONG = FUZZ_RUNS > 0
const SEED_ENV = process.env.XST_FUZZ_SEED
const BASE_SEED = SEED_ENV !== undefined && SEED_ENV !== '' ? Number(SEED_ENV) : LONG ? (Math.random() * 2 ** 31) | 0 : 0x5eed

/** Time a whole property may take (long in the fuzz run). */
export const TEST_TIMEOUT = LONG ? 6 * 3600_000 : 60_000

/** Time one in-process case may take before it counts as a hang. */
export const CASE_TIMEOUT_MS = 10_000

/** Cases run per file (printed at the end, summed up for the README). */
const tally = {cases: 0, failures: 0}
let tallyRegistered = false

/** Register the per-file report of how many cases ran; call once per test file. */
export function reportCases(file: string): void {
  if (tallyRegistered) return
  tallyRegistered = true
  afterAll(() => {
    // One line a file, easy to add up: "fuzz-cases <file> <cases> <failures>".
    console.log(`fuzz-cases ${file} ${tally.cases} ${tally.failures} (seed ${BASE_SEED}${LONG ? `, XST_FUZZ_RUNS=${FUZZ_RUNS}` : ''})`)
  })
}

/** Count cases run outside fast-check (exhaustive loops). */
export function countCases(n: number, failures = 0): void {
  tally.cases += n
  tally.failures += failures
}

/**
 * fast-check parameters for one property: `quick` runs in npm test,
 * `share` of XST_FUZZ_RUNS in the long run. Each property gets its own
 * seed derived from the base seed and its name, so adding a property does
 * not change the cases the others see.
 */
export function params<T>(name: string, quick: number, share = 1): fc.Parameters<T> {
  let h = BASE_SEED | 0
  for (let i = 0; i < name.length; i++) h = (Math.imul(h, 31) + name.charCodeAt(i)) | 0
  const numRuns = LONG ? Math.max(quick, Math.round(FUZZ_RUNS * share)) : quick
  return {
    numRuns,
    seed: h,
    // A predicate that never settles is a failure, not a stuck test.
    timeout: CASE_TIMEOUT_MS,
    reporter: (out) => {
      tally.cases += out.numRuns
      if (out.failed) {
        tally.failures++
        const cause = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance)
        throw new Error(`${name}: ${fc.defaultReportMessage(out)}\n${cause}\n(replay the whole fuzz run with XST_FUZZ_SEED=${BASE_SEED})`)
      }
    },
  }
}

/** Reject when `p` does not settle within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms = CASE_TIMEOUT_MS, what = 'case'): Promise<T> {
  let timer: NodeJS.Timeout
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms (a hang)`)), ms)
  })
  return Promise.race([p, limit]).finally(() => clearTimeout(timer))
}

export type Outcome<T> = {ok: true; value: T} | {ok: false; error: XstError}

/**
 * Run `fn`: success, or a typed XstError with exit code 1. Anything else (an
 * exception of another class, exit code 2, a hang) is a failure and rethrown
 * with what went in.
 */
export async function expectClean<T>(what: string, fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return {ok: true, value: await withTimeout(fn(), CASE_TIMEOUT_MS, what)}
  } catch (err) {
    if (err instanceof XstError && err.exitCode === 1 && typeof err.message === 'string' && !err.message.includes('\n')) {
      return {ok: false, error: err}
    }
    const e = err as Error
    const desc = err instanceof XstError ? `${e.name} (code ${err.code}, exit ${err.exitCode})` : `${e?.name ?? typeof err} (not an XstError)`
    throw new Error(`${what}: ended in ${desc}: ${e?.message ?? String(err)}\n${e?.stack ?? ''}`)
  }
}

// ---- running the library -------------------------------------------------------

export type SourceKind = 'file' | 'pipe'

export function source(bytes: Buffer, kind: SourceKind, maxRead = 997): ByteSource {
  return kind === 'file' ? new BufferSource(bytes) : new ChunkedSource(bytes, maxRead)
}

/** inspect-legacy, in process. */
export async function inspect(bytes: Buffer, kind: SourceKind = 'file', opts: Parameters<typeof inspectLegacy>[2] = {}) {
  const reader = new ByteReader(source(bytes, kind))
  try {
    return await inspectLegacy(reader, 'fuzz', {verbose: true, ...opts})
  } finally {
    await reader.close()
  }
}

/** A sink that only counts (when the output itself is not looked at). */
export class NullSink implements ByteSink {
  bytesWritten = 0
  async write(buf: Uint8Array): Promise<void> {
    this.bytesWritten += buf.length
  }
  async flush(): Promise<void> {}
}

/** convert, in process, checked by the verifier as it is written (as the CLI does). */
export async function convert(bytes: Buffer, format: 'libxc' | 'libxl', kind: SourceKind = 'file', opts: {width?: 32 | 64; guest?: 'pv' | 'hvm'; skipQemu?: boolean; discard?: boolean} = {}) {
  const reader = new ByteReader(source(bytes, kind, kind === 'pipe' && opts.discard ? 65536 : undefined))
  const sink = opts.discard ? new NullSink() : new MemorySink()
  const verifier = new V2Verifier()
  try {
    const summary = await convertLegacy(reader, sink, {format, observer: verifier, width: opts.width, guest: opts.guest, skipQemu: opts.skipQemu})
    return {summary, output: sink instanceof MemorySink ? sink.data : Buffer.alloc(0), pushed: verifier.finish(sink.bytesWritten)}
  } finally {
    await reader.close()
  }
}

/** verify, in process: never throws for a bad image, only reports. */
export async function verify(bytes: Buffer, kind: SourceKind = 'file', onRecord?: (n: RecordNote) => void, maxRead?: number, format?: 'libxc' | 'libxl'): Promise<VerifyReport> {
  const reader = new ByteReader(source(bytes, kind, maxRead))
  try {
    return await verifyStream(reader, new V2Verifier({onRecord}), {format})
  } finally {
    await reader.close()
  }
}

/** A verify report must be well formed whatever the input. */
export function checkReport(rep: VerifyReport, inputLength: number): void {
  if (typeof rep.valid !== 'boolean') throw new Error('report has no verdict')
  if (rep.valid !== (rep.errors.length === 0)) throw new Error(`verdict ${rep.valid} disagrees with ${rep.errors.length} errors`)
  for (const p of [...rep.errors, ...rep.warnings]) {
    if (typeof p.message !== 'string' || p.message.length === 0 || p.message.includes('\n')) throw new Error(`problem without a one-line message: ${JSON.stringify(p)}`)
    if (!Number.isSafeInteger(p.offset) || p.offset < 0 || p.offset > inputLength) throw new Error(`problem offset ${p.offset} outside the ${inputLength}-byte input: ${p.message}`)
  }
}

/** Largest read a pipe returns: short and odd, so reads end inside headers. */
export const PIPE_READ = 8191

/** Run verify on a file and a pipe, and check the reports and that they agree. */
export async function checkVerify(input: Buffer, label: string): Promise<VerifyReport> {
  const file = await expectClean(`${label}: verify (file)`, () => verify(input, 'file'))
  const pipe = await expectClean(`${label}: verify (pipe)`, () => verify(input, 'pipe', undefined, PIPE_READ))
  // verify reports problems; it throws only when reading fails, which a buffer never does.
  if (!file.ok || !pipe.ok) throw new Error(`${label}: verify threw ${!file.ok ? file.error.message : ''}${!pipe.ok ? pipe.error.message : ''}`)
  checkReport(file.value, input.length)
  checkReport(pipe.value, input.length)
  const msgs = (r: VerifyReport) => r.errors.map((e) => `${e.code} at ${e.offset}: ${e.message}`)
  expect(pipe.value.valid, `${label}: file ${JSON.stringify(msgs(file.value))} / pipe ${JSON.stringify(msgs(pipe.value))}`).toBe(file.value.valid)
  // A file knows its size, so a length running past the end is a truncation
  // at once; otherwise both see the same problems.
  if (!file.value.errors.some((e) => e.code === 'truncated')) {
    expect(msgs(pipe.value), label).toEqual(msgs(file.value))
  }
  return file.value
}

// ---- where the fields of a valid image are ---------------------------------------

/** Byte ranges of a valid image: `bulk` are contents (pages, contexts, blobs), the rest is structure. */
export interface ImageLayout {
  size: number
  /** Offsets where a header, chunk or record starts. */
  starts: number[]
  /** [start, end) ranges of contents nobody parses. */
  bulk: Array<[number, number]>
  /** [start, end) ranges of pfn arrays (page batch entries, PAGE_DATA pfns): structure, but long and uniform. */
  arrays: Array<[number, number]>
}

/** Walk a valid legacy image and note where its parts are. */
export async function legacyLayout(bytes: Buffer): Promise<ImageLayout> {
  const starts: number[] = []
  const bulk: Array<[number, number]> = []
  const arrays: Array<[number, number]> = []
  for await (const ev of walkLegacy(new ByteReader(new BufferSource(bytes))) as AsyncGenerator<LegacyEvent>) {
    starts.push(ev.offset)
    switch (ev.kind) {
      case 'page-batch':
        arrays.push([ev.offset + 4, ev.data.offset])
        if (ev.data.length) bulk.push([ev.data.offset, ev.data.offset + ev.data.length])
        break
      case 'vcpu-context':
        bulk.push([ev.offset + (ev.part === 'xsave' ? 16 : 0), ev.offset + (ev.part === 'xsave' ? 16 : 0) + ev.data.length])
        break
      case 'shared-info':
        bulk.push([ev.offset, ev.offset + ev.data.length])
        break
      case 'hvm-context':
        bulk.push([ev.data.offset, ev.data.offset + ev.length])
        break
      case 'qemu-record':
        bulk.push([ev.data.offset, ev.data.offset + (ev.data.length ?? bytes.length - ev.data.offset)])
        break
      case 'extended-info':
        for (const b of ev.blocks) if (b.id === 'vcpu') bulk.push([b.offset + 8, b.offset + 8 + b.size])
        break
    }
  }
  return {size: bytes.length, starts: [...new Set(starts)].sort((a, b) => a - b), bulk: bulk.filter(([a, b]) => b > a), arrays}
}

/** Read a valid v2 stream and note where its parts are. */
export async function v2Layout(bytes: Buffer): Promise<ImageLayout> {
  const notes: RecordNote[] = []
  const rep = await verify(bytes, 'file', (n) => notes.push(n))
  if (!rep.valid) throw new Error(`v2Layout: the stream is not valid: ${rep.errors[0]?.message}`)
  const starts: number[] = []
  const bulk: Array<[number, number]> = []
  const arrays: Array<[number, number]> = []
  for (const n of notes) {
    starts.push(n.offset)
    if (n.length === undefined) continue
    const body = n.offset + 8
    switch (n.name) {
      case 'PAGE_DATA':
        arrays.push([body + 8, body + 8 + 8 * (n.pages?.pfns ?? 0)])
        bulk.push([body + 8 + 8 * (n.pages?.pfns ?? 0), body + n.length])
        break
      case 'X86_PV_VCPU_BASIC':
      case 'X86_PV_VCPU_EXTENDED':
      case 'X86_PV_VCPU_XSAVE':
      case 'X86_PV_VCPU_MSRS':
      case 'EMULATOR_CONTEXT':
        bulk.push([body + 8, body + n.length])
        break
      case 'SHARED_INFO':
      case 'HVM_CONTEXT':
      case 'X86_CPUID_POLICY':
      case 'X86_MSR_POLICY':
        bulk.push([body, body + n.length])
        break
      case 'device-model record':
        // No record header: the qemu signature (21) and length (4), then state.
        bulk.push([n.offset + 25, n.offset + n.length])
        break
    }
  }
  return {size: bytes.length, starts: [...new Set(starts)].sort((a, b) => a - b), bulk: bulk.filter(([a, b]) => b > a), arrays}
}

/** Is `at` inside a bulk range (not at its first byte)? */
export function inBulk(layout: ImageLayout, at: number): [number, number] | undefined {
  return layout.bulk.find(([a, b]) => at > a && at < b)
}

/**
 * A lighter set of cut points for the quick run: inside pfn arrays only the
 * first and last 16 bytes and every 8th entry's first byte, every other
 * cut as `cutPoints` gives it.
 */
export function sampleCuts(layout: ImageLayout, cuts: number[]): number[] {
  return cuts.filter((c) => {
    const a = layout.arrays.find(([s, e]) => c >= s && c < e)
    return !a || c - a[0] < 16 || a[1] - c <= 16 || (c - a[0]) % 64 === 0
  })
}

/**
 * Cut points: every byte outside bulk contents, and every page boundary
 * (4096 bytes from the start of the contents) and the last byte inside them.
 */
export function cutPoints(layout: ImageLayout): number[] {
  const cuts: number[] = []
  for (let at = 0; at < layout.size; ) {
    const b = layout.bulk.find(([s, e]) => at >= s && at < e)
    if (!b) {
      cuts.push(at++)
      continue
    }
    const [s, e] = b
    for (let p = s; p < e; p += 4096) cuts.push(p)
    if (e - 1 > s) cuts.push(e - 1)
    at = e
  }
  return cuts
}

// ---- mutations -----------------------------------------------------------------

export type Mutation =
  | {op: 'flip'; at: number; xor: number}
  | {op: 'insert'; at: number; bytes: number[]}
  | {op: 'delete'; at: number; count: number}
  | {op: 'set32'; at: number; value: number}
  | {op: 'set64'; at: number; value: bigint}
  | {op: 'truncate'; at: number}

/** Values worth writing into a length or count field. */
const HOSTILE_U32 = [0, 1, 2, 3, 4, 7, 8, 0x10, 0xff, 0x400, 0x401, 0xfff, 0x1000, 0x1001, 0xffff, 0x7fffffff, 0x80000000, 0xfffffff0, 0xfffffffe, 0xffffffff]
const HOSTILE_U64 = [0n, 1n, 0xffffffffn, 0x100000000n, 0x7fffffffffffffffn, 0xffffffffffffffffn, 1n << 52n, 1n << 60n]

/**
 * A position: uniform over the image, or near the start of a part (where
 * lengths, counts and types live) when the layout is known.
 */
function position(layout: ImageLayout): fc.Arbitrary<number> {
  const size = Math.max(1, layout.size)
  const uniform = fc.nat({max: size - 1})
  if (layout.starts.length === 0) return uniform
  const near = fc.tuple(fc.constantFrom(...layout.starts), fc.integer({min: -4, max: 40})).map(([s, d]) => Math.min(size - 1, Math.max(0, s + d)))
  return fc.oneof({arbitrary: near, weight: 4}, {arbitrary: uniform, weight: 1})
}

export function mutation(layout: ImageLayout): fc.Arbitrary<Mutation> {
  const at = position(layout)
  // A length field: a u32 at a part's start + 4k, the place most formats keep one.
  const field = layout.starts.length ? fc.tuple(fc.constantFrom(...layout.starts), fc.nat({max: 12})).map(([s, k]) => s + 4 * k) : at
  return fc.oneof(
    {arbitrary: fc.record({op: fc.constant('flip' as const), at, xor: fc.integer({min: 1, max: 255})}), weight: 4},
    {arbitrary: fc.record({op: fc.constant('insert' as const), at, bytes: fc.array(fc.nat({max: 255}), {minLength: 1, maxLength: 16})}), weight: 2},
    {arbitrary: fc.record({op: fc.constant('delete' as const), at, count: fc.integer({min: 1, max: 16})}), weight: 2},
    {
      arbitrary: fc.record({
        op: fc.constant('set32' as const),
        at: field,
        value: fc.oneof(fc.constantFrom(...HOSTILE_U32), fc.nat({max: 0xffffffff})),
      }),
      weight: 4,
    },
    {arbitrary: fc.record({op: fc.constant('set64' as const), at: field, value: fc.constantFrom(...HOSTILE_U64)}), weight: 1},
    {arbitrary: fc.record({op: fc.constant('truncate' as const), at}), weight: 1},
  )
}

export function mutations(layout: ImageLayout, max = 4): fc.Arbitrary<Mutation[]> {
  return fc.array(mutation(layout), {minLength: 1, maxLength: max})
}

/** Apply mutations in order (positions beyond the end are clamped). */
export function mutate(bytes: Buffer, ms: Mutation[]): Buffer {
  let b = bytes
  let copied = false
  const own = () => {
    if (!copied) {
      b = Buffer.from(b)
      copied = true
    }
  }
  for (const m of ms) {
    const at = Math.min(m.at, Math.max(0, b.length - 1))
    switch (m.op) {
      case 'flip':
        if (b.length === 0) break
        own()
        b[at] ^= m.xor
        break
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)])
        copied = true
        break
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)])
        copied = true
        break
      case 'set32':
        if (at + 4 > b.length) break
        own()
        b.writeUInt32LE(m.value >>> 0, at)
        break
      case 'set64':
        if (at + 8 > b.length) break
        own()
        b.writeBigUInt64LE(m.value, at)
        break
      case 'truncate':
        b = b.subarray(0, at)
        break
    }
  }
  return b
}

export function describeMutations(ms: Mutation[]): string {
  return ms.map((m) => JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))).join(' ')
}
