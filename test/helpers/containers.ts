// The containers conformance vectors (fixtures/conformance/containers) and
// small helpers the container tests share.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {expect} from 'vitest'
import {FormatError, TruncatedError} from '../../src/errors.js'
import {ByteReader} from '../../src/io/reader.js'
import {BufferSource, ChunkedSource} from '../../src/io/source.js'
import {CONFORMANCE} from './fixtures.js'

export const CONTAINERS = join(CONFORMANCE, 'containers')

export interface ContainerVector {
  name: string
  input: string
  kind: 'gzip' | 'libvirt' | 'xenserver-legacy' | 'xenserver-v2' | 'xend'
  stream: 'legacy' | 'libxl' | 'libxc'
  valid: boolean
  guest?: 'pv' | 'hvm'
  toolstack_width?: 32 | 64
  expect: {
    convert?: string
    sections?: Array<[string] | [string, string]>
    verify?: number
    verify_output?: number
  }
}

export function containerVectors(): ContainerVector[] {
  const idx = JSON.parse(readFileSync(join(CONTAINERS, 'index.json'), 'utf8'))
  return Object.entries(idx).map(([name, v]) => ({name, ...(v as object)}) as ContainerVector)
}

/** A vector file's bytes (every file is gzipped once for storage). */
export function containerBytes(file: string): Buffer {
  return gunzipSync(readFileSync(join(CONTAINERS, file)))
}

export type SourceKind = 'file' | 'pipe'
export const SOURCE_KINDS: SourceKind[] = ['file', 'pipe']

/** A reader over `data` as a file (seekable, size known) or a pipe (neither). */
export function readerOver(data: Buffer, kind: SourceKind = 'file'): ByteReader {
  return new ByteReader(kind === 'file' ? new BufferSource(data) : new ChunkedSource(data, 4093))
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))?.slice(0, 200)}`)
    },
    (e) => e,
  )
}

/** The FormatError (not a truncation) a promise rejects with, checked for code and offset. */
export async function formatError(p: Promise<unknown>, code: string, offset?: number): Promise<FormatError> {
  const err = await rejection(p)
  expect(err).toBeInstanceOf(FormatError)
  expect(err).not.toBeInstanceOf(TruncatedError)
  const fe = err as FormatError
  expect(fe.code).toBe(code)
  if (offset !== undefined) expect(fe.offset).toBe(offset)
  return fe
}

/** The TruncatedError a promise rejects with. */
export async function truncation(p: Promise<unknown>): Promise<TruncatedError> {
  const err = await rejection(p)
  expect(err).toBeInstanceOf(TruncatedError)
  return err as TruncatedError
}
