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

export const NATIVE = join(CONFORMANCE, 'native')

/** A case of native/index.json: a stream laid out as a real saver writes it (see fixtures/conformance/README.md). */
export interface NativeCase {
  name: string
  kind: 'libxc' | 'libxl' | 'xl' | 'libvirt' | 'xenserver' | 'legacy'
  guest: 'pv' | 'hvm' | 'pvh'
  stream_version: 2 | 3 | 'legacy'
  xen: string
  /** Its file in native/, gzipped once for storage (`*.gz.gz` holds a gzip file). */
  input: string
  /** The pages the guest resumes with: a native/ file read by nativeMemory(). */
  memory: string
  memory_first_checkpoint?: string
  /** Complete checkpoints; null when the stream is not checkpointed. */
  checkpoints: number | null
  /** Vcpus whose registers the stream carries. */
  vcpus: number
  domain_name: string | null
  /** XenServer: the VM name in the Xenops record's vm_str. */
  vm_str_name?: string
  uuid?: string
  /** The stored input is a gzip file once decompressed. */
  gzip?: boolean
  restorable_by: string[]
  not_restorable_by?: string[]
  stream: {libxl_version?: number; libxc_version?: number; trailing_bytes?: number; sections?: string[]; [k: string]: unknown}
}

/** The native cases, and what index.json says of them all. */
export function nativeIndex(): {cases: NativeCase[]; pageSize: number; zeroSha256: string} {
  const idx = JSON.parse(readFileSync(join(NATIVE, 'index.json'), 'utf8'))
  const cases = Object.entries(idx.cases).map(([name, v]) => ({...(v as object), name}) as NativeCase)
  return {cases, pageSize: idx.page_size, zeroSha256: idx.zero_sha256}
}

export function nativeCases(): NativeCase[] {
  return nativeIndex().cases
}

/** A native case's input, decompressed once (the fullspan case stays a gzip file, which xst reads through). */
export function nativeBytes(file: string): Buffer {
  return gunzipSync(readFileSync(join(NATIVE, file)))
}

/** pfn -> sha256 of its page; `alternatives`: PV p2m pages rewritten to the identity, either form allowed. */
export interface NativeMemory {
  pfns: Map<number, string>
  alternatives: Map<number, string>
}

/** A case's `memory` (or `memory_first_checkpoint`) file. */
export function nativeMemory(file: string): NativeMemory {
  const m = JSON.parse(readFileSync(join(NATIVE, file), 'utf8'))
  const pfns = (o: Record<string, string> | undefined) => new Map(Object.entries(o ?? {}).map(([pfn, h]) => [Number(pfn), h]))
  return {pfns: pfns(m.pfns), alternatives: pfns(m.alternatives?.pfns)}
}
