// A whole conversion as the CLI runs it: open the input, open the output
// safely, convert, and make the output visible only when everything worked.
// Aborting it (the CLI does on an interrupt: src/cli/signals.ts) removes the
// partial output at once.
import {type ConvertRestore, convertRestore, currentReleaseWarning} from './restore.js'
import {ByteReader} from '../io/reader.js'
import {openInput} from '../io/source.js'
import {openOutput, type Output} from '../io/output.js'
import {GzipSink} from '../io/gzip-sink.js'
import {cancelNative} from '../io/native.js'
import type {ByteSink} from '../io/sink.js'
import type {Guest, ToolstackWidth} from '../legacy/events.js'
import {FormatError, OutputError} from '../errors.js'
import {closeImage, type OpenedImage, openImage} from '../container/open.js'
import type {Problem, VerifyReport} from '../v2/verify/verifier.js'
import type {ConvertSummary, OutputFormat} from './convert.js'
import {type CheckpointedInput, openCheckpointed, planPlain, runPlain} from './checkpointed.js'
import {type ContainerChoice, type FamilyResult, planConversion, prepareInput, runFamily, type XlConfig} from './families.js'

export interface ConvertJob {
  input: string
  output: string
  /** Called once the output is in place (renamed, or flushed to its descriptor): an interrupt after this must not say it was not written. */
  onCommitted?: () => void
  /** --format; when absent the output's family decides (libxc for XenServer and for a helper, libxl otherwise). */
  format?: OutputFormat
  /** --container (default keep: the input's family). */
  container?: ContainerChoice
  /** An xl domain config for a new xl header (--config). */
  config?: XlConfig
  /** gzip the output (--gzip). */
  gzip?: boolean
  /** Run as a toolstack's helper (--in/--out). */
  helper?: boolean
  width?: ToolstackWidth
  guest?: Guest
  skipQemu?: boolean
  xlHeader?: boolean
  force?: boolean
  /** Accept decimal descriptor numbers for input and output (--in/--out). */
  fdNumbers?: boolean
  /**
   * Check the stream with the v2 verifier as it is written (the CLI's
   * default): the first record that fails stops the conversion before it is
   * written, and a file output is not kept.
   */
  verify?: boolean
  /** The libxc stream version to write: 2 for a Xen 4.6-4.13 host, 3 otherwise (the default). */
  libxcVersion?: 2 | 3
  onWarning?: (message: string) => void
  /** A checkpointed stream (v2 Remus or COLO, legacy Remus): write checkpoint K (from 1) instead of the last complete one (--checkpoint). */
  checkpoint?: number
  /** Input bytes done, and total when known. */
  onProgress?: (done: number, total: number | undefined) => void
  onStart?: (info: {inputBytes: number | undefined; output: string}) => void
  onImage?: (image: {guest: Guest; toolstackWidth: ToolstackWidth}) => void
  /**
   * When it aborts, the partial output is removed at once (synchronously,
   * so that a signal handler can exit right after); the conversion itself
   * is not stopped.
   */
  abort?: AbortSignal
}

export interface ConvertResult {
  summary: ConvertSummary
  /** The input's length as given (compressed, when gzip); null for a pipe. */
  inputSize: number | null
  /** The verifier's report on the written stream, when verify was asked for. */
  verify: VerifyReport | null
  container: FamilyResult['container']
  notes: string[]
  /** The output as written: bytes (after gzip, when --gzip), and whether it is compressed. */
  written: {bytes: number; gzip: boolean}
  /** What restores the input as it was, and the output (null without --verify, whose facts it takes). */
  restore: ConvertRestore | null
}

export async function runConvertJob(job: ConvertJob): Promise<ConvertResult> {
  // On a stream, read exactly the image: the toolstack may go on using the descriptor.
  const source = openInput(job.input, {fdNumbers: job.fdNumbers, exact: true})
  const reader = new ByteReader(source)
  let output: Output | undefined
  const onAbort = () => {
    // A pool thread of the native addon waiting on a pipe would hold up the exit.
    cancelNative()
    output?.abort()
  }
  job.abort?.addEventListener('abort', onAbort)
  let img: OpenedImage | undefined
  let stateHead: Buffer | undefined
  let checkpointed: CheckpointedInput | undefined
  try {
    // Everything about the input that can be known before writing is known before the output is opened.
    img = await openImage(reader)
    const prepared = await prepareInput(img)
    const request = {container: job.container ?? 'keep', format: job.format, helper: job.helper ?? false, config: job.config}
    // A checkpointed v2 stream (Remus, COLO) is made plain; anything else is converted as before.
    checkpointed = await openCheckpointed(prepared, job.checkpoint, job.onWarning)
    const plainPlan = checkpointed ? planPlain(checkpointed, request) : undefined
    const plan = plainPlan ? undefined : planConversion(prepared, request)
    output = await openOutput(job.output, {force: job.force, input: source.identity, fdNumbers: job.fdNumbers})
    if (job.abort?.aborted) output.abort()
    job.onStart?.({inputBytes: source.size, output: output.name})
    const gzip = job.gzip ? new GzipSink(output.sink) : undefined
    const sink: ByteSink = gzip ?? output.sink
    // A record the verifier rejects is never written: the problem stops the conversion from inside the writer.
    // The verifier is loaded only when it is used.
    const verifier = job.verify
      ? new (await import('../v2/verify/verifier.js')).V2Verifier({
          onProblem: (p) => {
            if (p.severity === 'error') throw streamInvalid(p)
          },
        })
      : undefined
    const result = checkpointed
      ? await runPlain(prepared, checkpointed, plainPlan!, request, sink, verifier ?? new (await import('../v2/verify/verifier.js')).V2Verifier())
      : await runFamily(prepared, plan!, request, sink, {
          width: job.width,
          guest: job.guest,
          layoutFlags: true,
          skipQemu: job.skipQemu,
          checkpoint: job.checkpoint,
          xlHeader: job.xlHeader,
          libxcVersion: job.libxcVersion,
          stopAtEnd: true,
          // A Remus stream goes on past its first image, which says so (it has no last_checkpoint chunk): read on, unless a toolstack runs xst as its helper.
          checkpointsOnStream: !job.helper,
          verifier,
          onWarning: job.onWarning,
          onImage: job.onImage,
          onProgress: job.onProgress ? (at) => job.onProgress!(at, source.size) : undefined,
          onDeviceState: (head) => {
            stateHead = head
          },
        })
    const report = job.verify ? (result.report ?? verifier?.finish(result.summary.output.bytes) ?? null) : null
    // Will NEW restore (the verifier's facts of it; without --verify, not said), and a warning when no current release can.
    const restore = report?.valid ? (convertRestore(result, report, stateHead) ?? null) : null
    const warning = restore && currentReleaseWarning(restore.after)
    if (warning) job.onWarning?.(warning)
    await gzip?.finish()
    await output.commit()
    job.onCommitted?.()
    if (gzip) result.notes.push('the output is gzip-compressed (so it is not byte-identical to an uncompressed conversion; gunzip it for that)')
    return {
      summary: result.summary,
      inputSize: source.size ?? null,
      verify: report,
      container: result.container,
      notes: result.notes,
      written: {bytes: output.sink.bytesWritten, gzip: gzip !== undefined},
      restore,
    }
  } catch (err) {
    output?.abort()
    // A file output is gone; a descriptor may already have taken part of the
    // stream, which no one can take back: say how much, so it is discarded.
    const written = output && !output.atomic ? await output.sink.abandon() : 0
    if (err instanceof FormatError) {
      if (written > 0) err.notePartialOutput(output!.name, written)
      else if (err.code === 'converted-stream-invalid') err.message += '; nothing was written'
    }
    // A device too small for the stream keeps what fitted.
    if (err instanceof OutputError && err.code === 'no-space' && written > 0) err.noteIncompleteOutput(output!.name, written)
    throw err
  } finally {
    job.abort?.removeEventListener('abort', onAbort)
    await checkpointed?.close()
    if (img) await closeImage(img)
    await reader.close()
  }
}

function streamInvalid(p: Problem): FormatError {
  const where = p.layer && p.record ? ` (${p.layer}${typeof p.index === 'number' ? ` record ${p.index}` : ''}, ${p.record})` : ''
  return new FormatError('converted-stream-invalid', `the converted stream does not verify: output byte ${p.offset}${where}: ${p.message}`)
}
