// The progress long commands (convert, dump-core) show: the listr2 task
// list they draw when stdout and stderr are both terminals, or the single
// line (line-progress.ts); progress-mode.ts decides which.
// It is drawn on stderr, never stdout: stdout holds the report or the data,
// and may be a log file (`xst convert OLD NEW > log`). listr2 is only loaded
// when a list is drawn, to keep start-up fast.
import {exitOnSignals} from './signals.js'
import {formatBytes} from '../text.js'
import type {ProgressMode} from './progress-mode.js'

export interface Deferred<T> {
  promise: Promise<T>
  resolve(v: T): void
  reject(e: unknown): void
}

/** A promise settled from outside; its rejection is never "unhandled" (the job's own promise reports the failure). */
export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((a, b) => {
    resolve = a
    reject = b
  })
  promise.catch(() => {})
  return {promise, resolve, reject}
}

/** `[#####-----] 50%`: how far `done` is along `total`. */
export function progressBar(done: number, total: number): string {
  const pct = Math.min(100, (done / Math.max(1, total)) * 100)
  const width = 30
  const fill = Math.round((pct / 100) * width)
  return `[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${pct.toFixed(0)}%`
}

/** `12 MiB / 40 MiB, 300 MiB/s` (or without the total when it is unknown), with a bar when it is known. */
export function byteProgress(done: number, total: number | undefined, since: number): string {
  const secs = Math.max(0.001, (Date.now() - since) / 1000)
  const rate = `${formatBytes(done / secs)}/s`
  return total ? `${progressBar(done, total)} ${formatBytes(done)} / ${formatBytes(total)}, ${rate}` : `${formatBytes(done)}, ${rate}`
}

/** One step of a task list. */
export interface Step {
  title: string
  /**
   * Runs while the step is shown; resolves to the step's final title, and
   * rejects when the work it stands for failed. `setOutput` puts a progress
   * line under the title.
   */
  run(setOutput: (line: string) => void): Promise<string>
}

/**
 * The width the task list may use: the terminal's (stderr's), or 80 when it
 * reports none (a terminal of 0 columns, as `script` gives without a size).
 */
function terminalColumns(): number {
  return process.stderr.columns || 80
}

/**
 * Draw `steps` one after the other on stderr until the last is done or one
 * fails. `onClose` is given what closes the list early (an interrupt: the
 * running step is marked failed and the cursor shown again). Never throws:
 * the caller reports the outcome of the work itself.
 */
export async function drawTaskList(steps: Step[], onClose: (close: () => void) => void = () => {}): Promise<void> {
  const {Listr, DefaultRenderer, ListrLogger, ListrTaskState, ProcessOutput} = await import('listr2')

  // listr2 picks its renderer by whether *stdout* is a terminal, draws to
  // stdout, and wraps lines to stdout's width. So: a renderer that does not
  // ask about stdout, a logger whose two outputs are both stderr, and lines
  // fitted to stderr's width.
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

  const list = new Listr(
    steps.map((step) => ({
      title: step.title,
      task: async (_ctx: unknown, task: {title: string; output: string}) => {
        task.title = await step.run((line) => (task.output = line))
      },
      rendererOptions: {outputBar: 1},
    })),
    {
      concurrent: false,
      exitOnError: true,
      registerSignalListeners: false,
      renderer: StderrRenderer,
      rendererOptions: {collapseErrors: true, showErrorMessage: false, logger},
    },
  )
  onClose(() => {
    for (const t of list.tasks) if (t.isPending()) t.state$ = ListrTaskState.FAILED
    try {
      renderer?.end()
    } catch {}
  })
  // The list fails when the work does; the error itself is the caller's to report.
  await list.run().catch(() => {})
}

/** Run `update` every 100 ms while `work` is pending (a progress line). */
export async function ticking<T>(work: Promise<T>, update: () => void): Promise<T> {
  const timer = setInterval(update, 100)
  try {
    return await work
  } finally {
    clearInterval(timer)
  }
}

export interface ProgressOptions {
  /** The progress to show (progressMode(), progress-mode.ts). */
  mode: ProgressMode
  /** Called on an interrupt, once the partial output is removed and the progress closed; the process then exits. */
  onSignal?: (signal: NodeJS.Signals) => void
}

/** A job run with progress shown; `onClose` is given what closes the progress early (on an interrupt). */
export type Shown<J, R> = (job: J, onClose: (close: () => void) => void) => Promise<R>

/**
 * Run a job (a conversion, a dump) as the CLI does: under a task list
 * (`shown.redraw`), with a progress line (`shown.line`) or quietly
 * (`plain`), as `opts.mode` says. An interrupt aborts the job (which
 * removes its partial output), closes the progress, calls `onSignal` and
 * exits (signals.ts). The job's own outcome is returned or thrown as is: a
 * failure is never left pending while the list draws (which Node would
 * report as an unhandled rejection, with a stack trace).
 */
export function runInterruptible<J extends {abort?: AbortSignal}, R>(job: J, opts: ProgressOptions, plain: (job: J) => Promise<R>, shown: {redraw: Shown<J, R>; line: Shown<J, R>}): Promise<R> {
  const abort = new AbortController()
  let closeProgress = () => {}
  const onSignal = (signal: NodeJS.Signals) => {
    abort.abort()
    closeProgress()
    opts.onSignal?.(signal)
  }
  const abortable: J = {...job, abort: abort.signal}
  const onClose = (close: () => void) => {
    closeProgress = close
  }
  return exitOnSignals(onSignal, () => (opts.mode === 'none' ? plain(abortable) : shown[opts.mode](abortable, onClose)))
}

/**
 * Run `work` with a progress line on stderr: `text()` is shown every 100
 * ms (when it says something), and the line is blanked when the work ends
 * or `onClose` closes it.
 */
export async function withProgressLine<T>(work: () => Promise<T>, text: () => string, onClose: (close: () => void) => void): Promise<T> {
  const {LineProgress} = await import('./line-progress.js')
  const line = new LineProgress(process.stderr)
  onClose(() => line.end())
  try {
    return await ticking(work(), () => {
      const t = text()
      if (t) line.show(t)
    })
  } finally {
    line.end()
  }
}
