// `xst verify` on an opened image: the v2 stream inside whatever container
// holds it, checked with the container's own rules around it (each
// container module's `verify`; docs/containers.md), then a gzip input
// read to its end so its check runs.
import {FormatError} from '../errors.js'
import type {Layer} from '../v2/record.js'
import {type BodyHook, checkStream} from '../v2/reader.js'
import type {V2Verifier, VerifyReport} from '../v2/verify/verifier.js'
import {type ContainerSummary, containerSummary} from './describe.js'
import {drainGzip} from './gzip.js'
import type {OpenedImage} from './module.js'
import {containerModule} from './registry.js'

export interface VerifyImageOptions {
  format?: Layer
  /** Shown each record's body as the stream is read (src/v2/reader.ts). */
  onBody?: BodyHook
}

export type ImageVerifyReport = VerifyReport & {container: ContainerSummary}

export async function verifyImage(img: OpenedImage, verifier: V2Verifier, opts: VerifyImageOptions = {}): Promise<ImageVerifyReport> {
  const container = containerSummary(img)
  const r = img.reader
  const check = (o?: {stopAtEnd: true}) => checkStream(r, verifier, {...opts, ...o})
  const ok = await containerModule(img.container.kind).verify(img, {verifier, summary: container, check})
  if (ok && !verifier.done) {
    try {
      await drainGzip(img)
    } catch (err) {
      if (!(err instanceof FormatError)) throw err
      verifier.fatal(err)
    }
  }
  return {...verifier.finish(r.offset), container}
}
