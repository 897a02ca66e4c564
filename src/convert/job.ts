// A whole conversion as the CLI runs it: open the input, open the output
// safely, convert, and make the output visible only when everything worked.
// Interrupts (SIGINT, SIGTERM) remove the partial output before exiting.
import {ByteReader} from '../io/reader.js'
import {openInput} from '../io/source.js'
import {openOutput, type Output} from '../io/output.js'
import type {Guest, ToolstackWidth} from '../legacy/events.js'
import type {StreamObserver} from '../v2/writer.js'
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
  /** Checks the stream as it is written; its verdict is read by the caller. */
  observer?: StreamObserver
  onWarning?: (message: string) => void
  /** Input bytes done, and total when known. */
  onProgress?: (done: number, total: number | undefined) => void
  onStart?: (info: {inputBytes: number | undefined; output: string}) => void
  onImage?: (image: {guest: Guest; toolstackWidth: ToolstackWidth}) => void
  /** Called when a signal arrives, after the partial output is removed, before exiting. */
  onSignal?: (signal: NodeJS.Signals) => void
  /** Run before the output is committed; throwing here discards the output. */
  beforeCommit?: (summary: ConvertSummary) => void
}

export const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = {SIGINT: 130, SIGTERM: 143, SIGHUP: 129}

export async function runConvertJob(job: ConvertJob): Promise<ConvertSummary> {
  const source = openInput(job.input, {fdNumbers: job.fdNumbers})
  const reader = new ByteReader(source)
  let output: Output | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    output?.abort()
    job.onSignal?.(sig)
    process.exit(SIGNAL_EXIT[sig] ?? 1)
  }
  const signals = Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]
  for (const s of signals) process.on(s, onSignal)
  try {
    output = openOutput(job.output, {force: job.force, input: source.identity, fdNumbers: job.fdNumbers})
    job.onStart?.({inputBytes: source.size, output: output.name})
    const summary = await convertLegacy(reader, output.sink, {
      format: job.format,
      width: job.width,
      guest: job.guest,
      skipQemu: job.skipQemu,
      xlHeader: job.xlHeader,
      observer: job.observer,
      onWarning: job.onWarning,
      onImage: job.onImage,
      onProgress: job.onProgress ? (at) => job.onProgress!(at, source.size) : undefined,
    })
    job.beforeCommit?.(summary)
    await output.commit()
    return summary
  } catch (err) {
    output?.abort()
    throw err
  } finally {
    for (const s of signals) process.off(s, onSignal)
    await reader.close()
  }
}
