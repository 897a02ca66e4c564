// The benchmark's input images: made once with the project's own legacy
// builder, streamed to disk a batch at a time, and kept in a cache directory
// until `npm run bench -- --clean`. A stamp beside each image records the
// spec and the builder it came from, so a changed builder remakes it.
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {largeImageSpec, smallSpec, writeLegacy, type GuestKind, type LegacySpec} from '../test/builders/legacy.js'

export interface BenchImage {
  /** Short name used in the table: pv-2g, hvm-1g, pv-256m. */
  name: string
  guest: GuestKind
  path: string
  bytes: number
}

const GiB = 1 << 30
const MiB = 1 << 20

/** The large images: name, guest type, approximate size. */
export const LARGE_IMAGES: Array<{name: string; guest: GuestKind; bytes: number}> = [
  {name: 'pv-2g', guest: 'pv', bytes: 2 * GiB},
  {name: 'hvm-1g', guest: 'hvm', bytes: 1 * GiB},
  {name: 'pv-256m', guest: 'pv', bytes: 256 * MiB},
]

function builderHash(): string {
  const builder = fileURLToPath(new URL('../test/builders/legacy.js', import.meta.url))
  return createHash('sha256').update(fs.readFileSync(builder)).digest('hex').slice(0, 16)
}

function stampOf(spec: LegacySpec): string {
  const json = JSON.stringify(spec, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))
  return `${builderHash()} ${createHash('sha256').update(json).digest('hex').slice(0, 16)}`
}

/** Write `spec` to `file` (through a temporary name) unless a matching one is cached. */
async function ensureImage(file: string, spec: LegacySpec, log: (m: string) => void): Promise<number> {
  const stampFile = file + '.stamp'
  const stamp = stampOf(spec)
  try {
    if (fs.readFileSync(stampFile, 'utf8') === stamp) return fs.statSync(file).size
  } catch {}
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
  fs.writeFileSync(stampFile, stamp)
  const size = fs.statSync(file).size
  log(`made ${path.basename(file)} (${(size / GiB).toFixed(2)} GiB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  return size
}

export async function ensureImages(dir: string, only: string[] | undefined, log: (m: string) => void): Promise<BenchImage[]> {
  fs.mkdirSync(dir, {recursive: true})
  const out: BenchImage[] = []
  for (const img of LARGE_IMAGES) {
    if (only && !only.includes(img.name)) continue
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
