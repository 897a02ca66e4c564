// Walk a legacy image held in memory, as a file (seekable) or as a pipe
// (short reads), collecting every event with its payload read.
import {FormatError} from '../../src/errors.js'
import {ByteReader} from '../../src/io/reader.js'
import {BufferSource, ChunkedSource} from '../../src/io/source.js'
import type {LegacyEvent} from '../../src/legacy/events.js'
import {walkLegacy, type WalkOptions} from '../../src/legacy/walker.js'

export type Src = 'file' | 'pipe'

export async function walk(bytes: Buffer, opts: WalkOptions = {}, src: Src = 'file', pipeRead = 1021): Promise<any[]> {
  const r = new ByteReader(src === 'file' ? new BufferSource(bytes) : new ChunkedSource(bytes, pipeRead))
  const out: any[] = []
  for await (const ev of walkLegacy(r, opts) as AsyncGenerator<LegacyEvent>) {
    const e: any = {...ev}
    if (ev.kind === 'page-batch' || ev.kind === 'hvm-context' || ev.kind === 'qemu-record') e.data = await ev.data.read()
    out.push(e)
  }
  return out
}

/** The FormatError walking `bytes` ends with (fails the test if it ends otherwise). */
export async function walkError(bytes: Buffer, opts: WalkOptions = {}, src: Src = 'file', pipeRead = 1021): Promise<FormatError> {
  const err = await walk(bytes, opts, src, pipeRead).then(
    () => undefined,
    (e) => e,
  )
  if (!(err instanceof FormatError)) throw new Error(`expected a FormatError, got ${err}`)
  return err
}
