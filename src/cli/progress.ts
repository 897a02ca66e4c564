// When stderr is a terminal, a conversion shows a listr2 task list there
// (detect, convert with a progress line, verify); elsewhere it runs quietly.
// The list never goes to stdout, which holds the report (or the stream).
// listr2 is only loaded when it is used, to keep start-up fast.
import {runConvertJob, type ConvertJob, type ConvertResult} from '../convert/job.js'
import {formatBytes} from '../convert/render.js'
import {plural} from '../text.js'
import {exitOnSignals} from './signals.js'

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

/**
 * The width the task list may use: the terminal's (stderr's), or 80 when it
 * reports none (a terminal of 0 columns, as `script` gives without a size).
 */
function terminalColumns(): number {
  return process.stderr.columns || 80
}

export interface ProgressOptions {
  /** Draw the task list (the caller enables it only when stderr is a terminal). */
  enabled: boolean
  /** Called on an interrupt, once the partial output is removed and the list closed; the process then exits. */
  onSignal?: (signal: NodeJS.Signals) => void
}

/**
 * Run `job`, with a task list on stderr when enabled. An interrupt removes
 * the partial output, closes the list, calls `onSignal` and exits (see
 * signals.ts). The conversion's own outcome is returned or thrown as is: a
 * failure is never left pending while the list draws (which Node would
 * report as an unhandled rejection, with a stack trace).
 */
export async function runWithProgress(job: ConvertJob, opts: ProgressOptions): Promise<ConvertResult> {
  const abort = new AbortController()
  let closeList = () => {}
  const onSignal = (signal: NodeJS.Signals) => {
    abort.abort()
    closeList()
    opts.onSignal?.(signal)
  }
  const abortable: ConvertJob = {...job, abort: abort.signal}
  return exitOnSignals(onSignal, () => (opts.enabled ? withTaskList(abortable, (close) => (closeList = close)) : runConvertJob(abortable)))
}

/** Run `job` under a listr2 task list; `onClose` is given what closes the list early (on an interrupt). */
async function withTaskList(job: ConvertJob, onClose: (close: () => void) => void): Promise<ConvertResult> {
  const {Listr, DefaultRenderer, ListrLogger, ListrTaskState, ProcessOutput} = await import('listr2')

  // listr2 picks its renderer by whether *stdout* is a terminal, draws to
  // stdout, and wraps lines to stdout's width. The list belongs on stderr
  // (stdout is for the report, and may be a log file), so: a renderer that
  // does not ask about stdout, a logger whose two outputs are both stderr,
  // and lines fitted to stderr's width.
  let renderer: InstanceType<typeof DefaultRenderer> | undefined
  class StderrRenderer extends DefaultRenderer {
    static override nonTTY = true
    constructor(...a: ConstructorParameters<typeof DefaultRenderer>) {
      super(...a)
      renderer = this
    }
    protected override format(message: string, icon: string, level: number): string[] {
      // DefaultRenderer reads process.stdout.columns here and nowhere else.
      const own = Object.getOwnPropertyDescriptor(process.stdout, 'columns')
      Object.defineProperty(process.stdout, 'columns', {value: terminalColumns(), configurable: true, writable: true})
      try {
        return super.format(message, icon, level)
      } finally {
        if (own) Object.defineProperty(process.stdout, 'columns', own)
        else delete (process.stdout as {columns?: number}).columns
      }
    }
  }
  // What the list is drawn on: stderr, with a usable size. log-update cuts
  // the list to `rows` lines and wraps it at `columns`, and a terminal that
  // reports 0x0 would get nothing drawn at all. Its writes bypass the
  // buffering below (the original write, taken before listr2 replaces it).
  const screen = {write: process.stderr.write.bind(process.stderr), isTTY: true, columns: terminalColumns(), rows: process.stderr.rows || 24}
  // Anything else written to stderr while the list is drawn (warnings) is
  // held by listr2 and printed below the list when it is done.
  const processOutput = new ProcessOutput(screen as unknown as NodeJS.WriteStream, process.stderr)
  const logger = new ListrLogger({useIcons: true, processOutput})

  let list: InstanceType<typeof Listr> | undefined
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
  // On an interrupt the process exits right after this: close the list
  // (marking what was running as failed, showing the cursor again) before
  // the message.
  onClose(() => {
    for (const t of list?.tasks ?? []) if (t.isPending()) t.state$ = ListrTaskState.FAILED
    try {
      renderer?.end()
    } catch {}
  })
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
  if (!(await opened.promise.then(() => true, () => false))) return conversion
  list = new Listr(
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
      renderer: StderrRenderer,
      rendererOptions: {collapseErrors: true, showErrorMessage: false, logger},
    },
  )
  // The list fails when the conversion does; the error itself comes from `conversion`.
  await list.run().catch(() => {})
  return conversion
}

/** One line on the verifier's verdict for a converted stream. */
export function verifyLine(report: ConvertResult['verify']): string {
  if (!report) return 'not checked'
  const w = report.warnings.length
  return `valid v2 stream (checked as written${w ? `, ${plural(w, 'warning')}` : ''})`
}
