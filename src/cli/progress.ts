// A conversion's progress, as progressMode() (progress-mode.ts) chose: a
// listr2 task list on stderr (detect, convert with a progress line,
// verify), a single progress line there, or none. It never goes to stdout,
// which holds the report (or the stream). listr2 is only loaded when it is
// used, to keep start-up fast.
import {runConvertJob, type ConvertJob, type ConvertResult} from '../convert/job.js'
import {formatBytes, plural} from '../text.js'
import {byteProgress, deferred, drawTaskList, type ProgressOptions, runInterruptible, type Step, ticking, withProgressLine} from './task-list.js'

/** Run a conversion, with the progress `opts.mode` says on stderr; see runInterruptible. */
export function runWithProgress(job: ConvertJob, opts: ProgressOptions): Promise<ConvertResult> {
  return runInterruptible(job, opts, runConvertJob, {redraw: withTaskList, line: withLine})
}

/** Run `job` with a single progress line on stderr (no cursor movement but \r). */
function withLine(job: ConvertJob, onClose: (close: () => void) => void): Promise<ConvertResult> {
  let text = ''
  const t0 = Date.now()
  const wrapped: ConvertJob = {
    ...job,
    onProgress: (at, size) => {
      text = `converting: ${byteProgress(at, size, t0)}`
      job.onProgress?.(at, size)
    },
  }
  return withProgressLine(
    () => runConvertJob(wrapped),
    () => text,
    onClose,
  )
}

/** Run `job` under a task list; `onClose` is given what closes the list early (on an interrupt). */
async function withTaskList(job: ConvertJob, onClose: (close: () => void) => void): Promise<ConvertResult> {
  const opened = deferred<void>()
  const started = deferred<string>()
  const done = deferred<ConvertResult>()
  let progressText = ''
  const t0 = Date.now()
  const wrapped: ConvertJob = {
    ...job,
    onStart: (info) => {
      opened.resolve()
      job.onStart?.(info)
    },
    onImage: (image) => {
      started.resolve(`legacy ${image.guest.toUpperCase()} image, ${image.toolstackWidth}-bit toolstack`)
      job.onImage?.(image)
    },
    onProgress: (at, size) => {
      progressText = byteProgress(at, size, t0)
      job.onProgress?.(at, size)
    },
  }
  const conversion = runConvertJob(wrapped)
  // Handled here, at once; the caller gets the same outcome from `conversion` below.
  conversion.then(
    (s) => {
      // A v2 stream copied into a new container is never "detected" as a legacy image.
      started.resolve('a v2 stream, copied into its new container')
      done.resolve(s)
    },
    (e) => {
      opened.reject(e)
      started.reject(e)
      done.reject(e)
    },
  )
  // A failure before the output is open (no such input, NEW exists, NEW is
  // OLD) is a usage error: reported alone, without a task list.
  if (
    !(await opened.promise.then(
      () => true,
      () => false,
    ))
  )
    return conversion
  const steps: Step[] = [
    {title: 'Detect image', run: async () => `Detect image: ${await started.promise}`},
    {
      title: 'Convert',
      run: async (setOutput) => {
        const {summary: s} = await ticking(done.promise, () => progressText && setOutput(progressText))
        return `Convert: ${formatBytes(s.input.bytes)} -> ${formatBytes(s.output.bytes)} (${s.output.format}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`
      },
    },
  ]
  if (job.verify) steps.push({title: 'Verify', run: async () => `Verify: ${verifyLine((await done.promise).verify)}`})
  await drawTaskList(steps, onClose)
  return conversion
}

/** One line on the verifier's verdict for a converted stream. */
export function verifyLine(report: ConvertResult['verify']): string {
  if (!report) return 'not checked'
  const w = report.warnings.length
  return `valid v2 stream (checked as written${w ? `, ${plural(w, 'warning')}` : ''})`
}
