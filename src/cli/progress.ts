// On a terminal, a conversion shows a listr2 task list (detect, convert with
// a progress line, verify); elsewhere it runs quietly. listr2 is only loaded
// when it is used, to keep start-up fast.
import {runConvertJob, type ConvertJob, type ConvertResult} from '../convert/job.js'
import {formatBytes} from '../convert/render.js'

interface Deferred<T> {
  promise: Promise<T>
  resolve(v: T): void
  reject(e: unknown): void
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((a, b) => {
    resolve = a
    reject = b
  })
  promise.catch(() => {})
  return {promise, resolve, reject}
}

export async function runWithProgress(job: ConvertJob, opts: {enabled: boolean}): Promise<ConvertResult> {
  if (!opts.enabled) return runConvertJob(job)
  const {Listr, ProcessOutput} = await import('listr2')
  const started = deferred<string>()
  const done = deferred<ConvertResult>()
  let total: number | undefined
  let progressText = ''
  const t0 = Date.now()
  const wrapped: ConvertJob = {
    ...job,
    onStart: (info) => {
      total = info.inputBytes
      job.onStart?.(info)
    },
    onImage: (image) => {
      started.resolve(`legacy ${image.guest.toUpperCase()} image, ${image.toolstackWidth}-bit toolstack`)
      job.onImage?.(image)
    },
    onProgress: (at, size) => {
      const secs = Math.max(0.001, (Date.now() - t0) / 1000)
      const rate = `${formatBytes(at / secs)}/s`
      if (size) {
        const pct = Math.min(100, (at / size) * 100)
        const width = 30
        const fill = Math.round((pct / 100) * width)
        progressText = `[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${pct.toFixed(0)}% ${formatBytes(at)} / ${formatBytes(size)}, ${rate}`
      } else progressText = `${formatBytes(at)}, ${rate}`
      job.onProgress?.(at, size)
    },
  }
  const conversion = runConvertJob(wrapped).then(
    (s) => {
      done.resolve(s)
      return s
    },
    (e) => {
      started.reject(e)
      done.reject(e)
      throw e
    },
  )
  const list = new Listr(
    [
      {
        title: 'Detect image',
        task: async (_ctx, task) => {
          task.title = `Detect image: ${await started.promise}`
        },
      },
      {
        title: 'Convert',
        task: async (_ctx, task) => {
          const timer = setInterval(() => {
            if (progressText) task.output = progressText
          }, 100)
          try {
            const {summary: s} = await done.promise
            task.title = `Convert: ${formatBytes(s.input.bytes)} -> ${formatBytes(s.output.bytes)} (${s.output.format}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`
          } finally {
            clearInterval(timer)
          }
        },
        rendererOptions: {outputBar: 1},
      },
      ...(job.verify
        ? [
            {
              title: 'Verify',
              task: async (_ctx: unknown, task: {title: string}) => {
                const {verify} = await done.promise
                task.title = `Verify: ${verifyLine(verify)}`
              },
            },
          ]
        : []),
    ],
    {
      concurrent: false,
      exitOnError: true,
      registerSignalListeners: false,
      rendererOptions: {collapseErrors: true, showErrorMessage: false},
      processOutput: new ProcessOutput(process.stderr, process.stderr),
    } as any,
  )
  await list.run().catch(() => {})
  return conversion
}

/** One line on the verifier's verdict for a converted stream. */
export function verifyLine(report: ConvertResult['verify']): string {
  if (!report) return 'not checked'
  const w = report.warnings.length
  return `valid v2 stream (checked as written${w ? `, ${w} warning${w === 1 ? '' : 's'}` : ''})`
}
