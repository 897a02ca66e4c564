// The benchmark's input images: made once with the project's own legacy
// builder, streamed to disk a batch at a time, and kept in a cache directory
// until `npm run bench -- --clean`. A stamp beside each image records the
// spec and the builder it came from, so a changed builder remakes it.
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {buildLegacyWithMap, largeImageSpec, smallSpec, writeLegacy, type GuestKind, type LegacySpec} from '../test/builders/legacy.js'

export interface BenchImage {
  /** Short name used in the table: pv-1g, pv-256m, hvm-1g. */
  name: string
  guest: GuestKind
  path: string
  bytes: number
}

const GiB = 1 << 30
const MiB = 1 << 20

/** The images converted in full: name, guest type, approximate size, run by default. */
export const LARGE_IMAGES: Array<{name: string; guest: GuestKind; bytes: number; byDefault: boolean}> = [
  {name: 'pv-1g', guest: 'pv', bytes: 1 * GiB, byDefault: true},
  {name: 'pv-256m', guest: 'pv', bytes: 256 * MiB, byDefault: true},
  {name: 'hvm-1g', guest: 'hvm', bytes: 1 * GiB, byDefault: false},
  {name: 'pv-2g', guest: 'pv', bytes: 2 * GiB, byDefault: false},
]

/** The sparse image (page data as holes), for the rows that must not read page data. */
export const SPARSE_NAME = 'pv-64g'
const SPARSE_BATCHES = 16384 // of 1024 pages: 64 GiB of page data

function builderHash(): string {
  const builder = fileURLToPath(new URL('../test/builders/legacy.js', import.meta.url))
  return createHash('sha256').update(fs.readFileSync(builder)).digest('hex').slice(0, 16)
}

function stampOf(spec: LegacySpec, extra = ''): string {
  const json = JSON.stringify(spec, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))
  return `${builderHash()} ${createHash('sha256')
    .update(json + extra)
    .digest('hex')
    .slice(0, 16)}`
}

function cached(file: string, stamp: string): boolean {
  try {
    return fs.readFileSync(file + '.stamp', 'utf8') === stamp && fs.existsSync(file)
  } catch {
    return false
  }
}

/** Write `spec` to `file` (through a temporary name) unless a matching one is cached. */
async function ensureImage(file: string, spec: LegacySpec, log: (m: string) => void): Promise<number> {
  const stamp = stampOf(spec)
  if (cached(file, stamp)) return fs.statSync(file).size
  const t0 = Date.now()
  const partial = file + '.partial'
  const fd = fs.openSync(partial, 'w')
  try {
    await writeLegacy(spec, (buf) => {
      let off = 0
      while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off)
    })
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(partial, file)
  fs.writeFileSync(file + '.stamp', stamp)
  const size = fs.statSync(file).size
  log(`made ${path.basename(file)} (${(size / GiB).toFixed(2)} GiB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  return size
}

export async function ensureImages(dir: string, only: string[] | undefined, log: (m: string) => void): Promise<BenchImage[]> {
  fs.mkdirSync(dir, {recursive: true})
  const out: BenchImage[] = []
  for (const img of LARGE_IMAGES) {
    if (only ? !only.includes(img.name) : !img.byDefault) continue
    const file = path.join(dir, `${img.name}.legacy`)
    const bytes = await ensureImage(file, largeImageSpec({guest: img.guest, bytes: img.bytes}), log)
    out.push({name: img.name, guest: img.guest, path: file, bytes})
  }
  return out
}

/** A tiny legacy image (for the start-up rows; converted to v2 by the bench itself). */
export async function ensureTinyImage(dir: string, log: (m: string) => void): Promise<string> {
  const file = path.join(dir, 'tiny.legacy')
  await ensureImage(file, smallSpec('pv'), log)
  return file
}

/**
 * Write `head`, then `count` copies of `unit` (a record or chunk header
 * followed by `hole` bytes of page data left as a hole, so they read as
 * zeros and take no disk), each made by `vary(copy, k)`, then `tail`.
 */
function writeSparse(file: string, head: Buffer, unit: Buffer, hole: number, count: number, vary: (b: Buffer, k: number) => void, tail: Buffer): number {
  const partial = file + '.partial'
  const fd = fs.openSync(partial, 'w')
  try {
    let off = 0
    const put = (b: Buffer) => {
      let done = 0
      while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done, off + done)
      off += b.length
    }
    put(head)
    const u = Buffer.from(unit)
    for (let k = 0; k < count; k++) {
      unit.copy(u)
      vary(u, k)
      put(u)
      off += hole
    }
    put(tail)
    fs.ftruncateSync(fd, off)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(partial, file)
  return fs.statSync(file).size
}

/** Add `delta` to the low u32 of each of `n` u64 words from `at` (the pfn bits of a legacy entry or a v2 pfn word). */
function bumpPfns(b: Buffer, at: number, n: number, delta: number): void {
  for (let i = 0; i < n; i++) b.writeUInt32LE(b.readUInt32LE(at + i * 8) + delta, at + i * 8)
}

/**
 * A 64 GiB PV image whose page data are holes (`pv-64g.legacy`, ~64 GiB
 * apparent, ~200 MiB on disk), and the v2 stream xst converts it to
 * (`pv-64g.v2`, made the same way from the conversion of a one-batch image
 * of the same p2m size): for inspect-legacy and verify, which must read each
 * batch's count and pfn list and nothing of its pages. `bin` is xst's
 * bin/run.js (the v2 template is converted with it).
 */
export async function ensureSparseImages(dir: string, bin: string, log: (m: string) => void): Promise<{legacy: BenchImage; v2: BenchImage}> {
  fs.mkdirSync(dir, {recursive: true})
  const pages = SPARSE_BATCHES * 1024
  const spec = {...largeImageSpec({guest: 'pv', bytes: 4 * MiB}), p2mSize: pages}
  spec.chunks = spec.chunks!.map((c) => (c.kind === 'page-run' ? {...c, start: 0, count: 1024} : c))
  const legacy = path.join(dir, `${SPARSE_NAME}.legacy`)
  const v2 = path.join(dir, `${SPARSE_NAME}.v2`)
  const stamp = stampOf(spec, `sparse ${SPARSE_BATCHES}`)
  if (!cached(legacy, stamp) || !cached(v2, stamp)) {
    const t0 = Date.now()
    const {bytes, map} = buildLegacyWithMap(spec)
    const batch = map.chunks.find((c) => c.kind === 'pages')!
    const headerLength = 4 + 1024 * 8
    writeSparse(
      legacy,
      bytes.subarray(0, batch.at),
      bytes.subarray(batch.at, batch.at + headerLength),
      batch.size - headerLength,
      SPARSE_BATCHES,
      (b, k) => bumpPfns(b, 4, 1024, k * 1024),
      bytes.subarray(batch.at + batch.size),
    )

    // The v2 template: xst's conversion of the one-batch image.
    const small = path.join(dir, `${SPARSE_NAME}.template.legacy`)
    const smallV2 = path.join(dir, `${SPARSE_NAME}.template.v2`)
    fs.writeFileSync(small, bytes)
    fs.rmSync(smallV2, {force: true})
    const r = spawnSync(process.execPath, [bin, 'convert', small, smallV2], {encoding: 'utf8'})
    if (r.status !== 0) throw new Error(`could not convert the sparse template: ${r.stderr}`)
    const out = fs.readFileSync(smallV2)
    fs.rmSync(small)
    fs.rmSync(smallV2)
    // PAGE_DATA: type 1, length 8 + 1024 pfn words + 1024 pages; count 1024, reserved 0.
    const recLength = 8 + 1024 * 8 + 1024 * 4096
    const sig = Buffer.alloc(16)
    sig.writeUInt32LE(1, 0)
    sig.writeUInt32LE(recLength, 4)
    sig.writeUInt32LE(1024, 8)
    const at = out.indexOf(sig)
    if (at < 0 || out.indexOf(sig, at + 1) >= 0) throw new Error('sparse template: no single PAGE_DATA record found')
    const recHeader = 16 + 1024 * 8
    writeSparse(v2, out.subarray(0, at), out.subarray(at, at + recHeader), 8 + recLength - recHeader, SPARSE_BATCHES, (b, k) => bumpPfns(b, 16, 1024, k * 1024), out.subarray(at + 8 + recLength))
    fs.writeFileSync(legacy + '.stamp', stamp)
    fs.writeFileSync(v2 + '.stamp', stamp)
    log(`made ${SPARSE_NAME}.legacy and .v2 (sparse, ${(fs.statSync(legacy).size / GiB).toFixed(1)} GiB each) in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  }
  return {
    legacy: {name: SPARSE_NAME, guest: 'pv', path: legacy, bytes: fs.statSync(legacy).size},
    v2: {name: SPARSE_NAME, guest: 'pv', path: v2, bytes: fs.statSync(v2).size},
  }
}
