// A whole conversion as the CLI runs it: open the input, open the output
// safely, convert, and make the output visible only when everything worked.
// Aborting it (the CLI does on an interrupt: src/cli/signals.ts) removes the
// partial output at once.
import {ByteReader} from '../io/reader.js'
import {openInput} from '../io/source.js'
import {openOutput, type Output} from '../io/output.js'
import {refuseGzip} from '../io/sniff.js'
import type {Guest, ToolstackWidth} from '../legacy/events.js'
import {FormatError} from '../errors.js'
import {type Problem, V2Verifier, type VerifyReport} from '../v2/verify/verifier.js'
import {convertLegacy, type ConvertSummary, type OutputFormat} from './convert.js'

export interface ConvertJob {
  input: string
  output: string
  format: OutputFormat
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
  onWarning?: (message: string) => void
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
  /** The verifier's report on the written stream, when verify was asked for. */
  verify: VerifyReport | null
}

export async function runConvertJob(job: ConvertJob): Promise<ConvertResult> {
  // On a stream, read exactly the image: the toolstack may go on using the descriptor.
  const source = openInput(job.input, {fdNumbers: job.fdNumbers, exact: true})
  const reader = new ByteReader(source)
  let output: Output | undefined
  const onAbort = () => output?.abort()
  job.abort?.addEventListener('abort', onAbort)
  try {
    await refuseGzip(reader, 'convert')
    output = await openOutput(job.output, {force: job.force, input: source.identity, fdNumbers: job.fdNumbers})
    if (job.abort?.aborted) output.abort()
    job.onStart?.({inputBytes: source.size, output: output.name})
    // A record the verifier rejects is never written: the problem stops the conversion from inside the writer.
    const verifier = job.verify
      ? new V2Verifier({
          onProblem: (p) => {
            if (p.severity === 'error') throw streamInvalid(p)
          },
        })
      : undefined
    const summary = await convertLegacy(reader, output.sink, {
      format: job.format,
      width: job.width,
      guest: job.guest,
      skipQemu: job.skipQemu,
      xlHeader: job.xlHeader,
      stopAtEnd: true,
      observer: verifier,
      onWarning: job.onWarning,
      onImage: job.onImage,
      onProgress: job.onProgress ? (at) => job.onProgress!(at, source.size) : undefined,
    })
    const report = verifier?.finish(output.sink.bytesWritten) ?? null
    await output.commit()
    return {summary, verify: report}
  } catch (err) {
    output?.abort()
    // A file output is gone; a descriptor may already have taken part of the
    // stream, which no one can take back: say how much, so it is discarded.
    const written = output && !output.atomic ? await output.sink.abandon() : 0
    if (err instanceof FormatError) {
      if (written > 0) err.notePartialOutput(output!.name, written)
      else if (err.code === 'converted-stream-invalid') err.message += '; nothing was written'
    }
    throw err
  } finally {
    job.abort?.removeEventListener('abort', onAbort)
    await reader.close()
  }
}

function streamInvalid(p: Problem): FormatError {
  const where = p.layer && p.record ? ` (${p.layer}${typeof p.index === 'number' ? ` record ${p.index}` : ''}, ${p.record})` : ''
  return new FormatError('converted-stream-invalid', `the converted stream does not verify: output byte ${p.offset}${where}: ${p.message}`)
}
