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
