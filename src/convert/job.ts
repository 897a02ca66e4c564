// A whole conversion as the CLI runs it: open the input, open the output
// safely, convert, and make the output visible only when everything worked.
// Interrupts (SIGINT, SIGTERM) remove the partial output before exiting.
import {ByteReader} from '../io/reader.js'
import {openInput} from '../io/source.js'
import {openOutput, type Output} from '../io/output.js'
import {refuseGzip} from '../io/sniff.js'
import {loadNative} from '../io/native.js'
import type {Guest, ToolstackWidth} from '../legacy/events.js'
import {FormatError} from '../errors.js'
import type {Problem, VerifyReport} from '../v2/verify/verifier.js'
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
  /** Called when a signal arrives, after the partial output is removed, before exiting. */
  onSignal?: (signal: NodeJS.Signals) => void
}

export interface ConvertResult {
  summary: ConvertSummary
  /** The verifier's report on the written stream, when verify was asked for. */
  verify: VerifyReport | null
}

export const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = {SIGINT: 130, SIGTERM: 143, SIGHUP: 129}

export async function runConvertJob(job: ConvertJob): Promise<ConvertResult> {
  // On a stream, read exactly the image: the toolstack may go on using the descriptor.
  const source = openInput(job.input, {fdNumbers: job.fdNumbers, exact: true})
  const reader = new ByteReader(source)
  let output: Output | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    // A pool thread of the native addon waiting on a pipe would hold up the exit.
    loadNative()?.cancelAll()
    output?.abort()
    job.onSignal?.(sig)
    process.exit(SIGNAL_EXIT[sig] ?? 1)
  }
  const signals = Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]
  for (const s of signals) process.on(s, onSignal)
  try {
    await refuseGzip(reader, 'convert')
    output = await openOutput(job.output, {force: job.force, input: source.identity, fdNumbers: job.fdNumbers})
    job.onStart?.({inputBytes: source.size, output: output.name})
    // A record the verifier rejects is never written: the problem stops the conversion from inside the writer.
    // The verifier is loaded only when it is used.
    const verifier = job.verify
      ? new (await import('../v2/verify/verifier.js')).V2Verifier({
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
    for (const s of signals) process.off(s, onSignal)
    await reader.close()
  }
}

function streamInvalid(p: Problem): FormatError {
  const where = p.layer && p.record ? ` (${p.layer}${typeof p.index === 'number' ? ` record ${p.index}` : ''}, ${p.record})` : ''
  return new FormatError('converted-stream-invalid', `the converted stream does not verify: output byte ${p.offset}${where}: ${p.message}`)
}
