// Conformance vectors copied from ../shared/conformance (gzipped data).
import {readFileSync} from 'node:fs'
import {gunzipSync} from 'node:zlib'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const CONFORMANCE = join(ROOT, 'fixtures', 'conformance')

export interface LegacyVector {
  name: string
  input: string
  valid: boolean
  guest: 'pv' | 'hvm'
  toolstack_width: 32 | 64
  xl_header: boolean
  expected?: {libxc: string | null; libxl: string | null}
  reference_exit?: {libxc: number; libxl: number}
  reference_flags?: string[]
}

export interface V2Vector {
  name: string
  input: string
  format: 'libxc' | 'libxl'
  valid: boolean
  ordering_rule?: boolean
  note?: string
}

export function legacyVectors(): LegacyVector[] {
  const idx = JSON.parse(readFileSync(join(CONFORMANCE, 'legacy', 'index.json'), 'utf8'))
  return Object.entries(idx).map(([name, v]) => ({name, ...(v as object)}) as LegacyVector)
}

export function v2Vectors(): V2Vector[] {
  const idx = JSON.parse(readFileSync(join(CONFORMANCE, 'v2', 'index.json'), 'utf8'))
  return Object.entries(idx).map(([name, v]) => ({name, ...(v as object)}) as V2Vector)
}

/** The bytes of a gzipped vector, e.g. vectorBytes('legacy', 'pv64-basic.legacy.gz'). */
export function vectorBytes(dir: 'legacy' | 'v2', file: string): Buffer {
  return gunzipSync(readFileSync(join(CONFORMANCE, dir, file)))
}

/** A case of fixtures/conformance/native/index.json (the fields the tests read). */
export interface NativeCase {
  name: string
  kind: string
  guest: 'pv' | 'hvm' | 'pvh'
  /** The gzipped file (`*.gz.gz` decompresses to a gzip file). */
  input: string
  /** The file of `{"pfns": {"<pfn>": sha256}}` a dump must hold. */
  memory: string
  vcpus: number
  restorable_by?: string[]
  domain_name?: string
  vm_str_name?: string
  uuid?: string
  stream?: {sections?: string[]}
}

export function nativeCases(): NativeCase[] {
  const idx = JSON.parse(readFileSync(join(CONFORMANCE, 'native', 'index.json'), 'utf8'))
  return Object.entries(idx.cases).map(([name, v]) => ({name, ...(v as object)}) as NativeCase)
}

/** A native case's image, gunzipped once (as stored). */
export function nativeBytes(c: Pick<NativeCase, 'input'>): Buffer {
  return gunzipSync(readFileSync(join(CONFORMANCE, 'native', c.input)))
}

/** A native case's memory: pfn -> sha256 of the page a dump must hold there. */
export function nativeMemory(c: Pick<NativeCase, 'memory'>): Map<number, string> {
  const doc = JSON.parse(readFileSync(join(CONFORMANCE, 'native', c.memory), 'utf8'))
  return new Map(Object.entries(doc.pfns as Record<string, string>).map(([pfn, sha]) => [Number(pfn), sha]))
}
