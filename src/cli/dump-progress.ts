// dump-core as the CLI runs it, with the progress progressMode() chose
// (progress-mode.ts): a task list on stderr (reading the image with
// progress by input bytes, then writing the dump by pages), drawn the way
// convert's is (task-list.ts), or a single line there, or none; an
// interrupt removes the partial output, closes the progress and exits
// (signals.ts).
import {describeInput} from '../dump/render.js'
import {type DumpJob, type DumpProgress, type DumpSummary, runDumpJob} from '../dump/job.js'
import {byteProgress, deferred, drawTaskList, progressBar, type ProgressOptions, runInterruptible, ticking, withProgressLine} from './task-list.js'
import {formatBytes} from '../text.js'

function progressLine(p: DumpProgress, since: number): string {
  if (p.phase === 'write') return p.total ? `${progressBar(p.done, p.total)} ${p.done} / ${p.total} pages` : `${p.done} pages`
  return (p.phase === 'locate' ? 'finding pages: ' : '') + byteProgress(p.done, p.total, since)
}

/** Run a dump, with the progress `opts.mode` says on stderr; see runInterruptible (task-list.ts). */
export function runDumpWithProgress(job: DumpJob, opts: ProgressOptions): Promise<DumpSummary> {
  return runInterruptible(job, opts, runDumpJob, {redraw: withTaskList, line: withLine})
}

/** Run `job` with a single progress line on stderr (no cursor movement but \r). */
function withLine(job: DumpJob, onClose: (close: () => void) => void): Promise<DumpSummary> {
  let latest: DumpProgress | undefined
  const t0 = Date.now()
  const text = () => (latest ? `${latest.phase === 'read' ? 'reading image' : 'writing dump'}: ${progressLine(latest, t0)}` : '')
  const wrapped: DumpJob = {
    ...job,
    onProgress: (p) => {
      latest = p
      job.onProgress?.(p)
    },
  }
  return withProgressLine(() => runDumpJob(wrapped), text, onClose)
}

async function withTaskList(job: DumpJob, onClose: (close: () => void) => void): Promise<DumpSummary> {
  const opened = deferred<void>()
  const scanned = deferred<string>()
  const done = deferred<DumpSummary>()
  let latest: DumpProgress | undefined
  const t0 = Date.now()
  const dump = runDumpJob({
    ...job,
    onStart: (info) => {
      opened.resolve()
      job.onStart?.(info)
    },
    onProgress: (p) => {
      latest = p
      job.onProgress?.(p)
    },
    onScanned: (input, pages) => {
      scanned.resolve(`${describeInput(input)}, ${pages} pages`)
      job.onScanned?.(input, pages)
    },
  })
  // Handled here, at once; the caller gets the same outcome from `dump`.
  dump.then(
    (s) => done.resolve(s),
    (e) => {
      opened.reject(e)
      scanned.reject(e)
      done.reject(e)
    },
  )
  // A failure before the output is open (no such input, CORE exists) is a
  // usage error: reported alone, without a task list.
  if (
    !(await opened.promise.then(
      () => true,
      () => false,
    ))
  )
    return dump
  const showing = (phases: DumpProgress['phase'][], setOutput: (line: string) => void) => () => {
    if (latest && phases.includes(latest.phase)) setOutput(progressLine(latest, t0))
  }
  await drawTaskList(
    [
      {title: 'Read image', run: async (setOutput) => `Read image: ${await ticking(scanned.promise, showing(['read'], setOutput))}`},
      {
        title: 'Write dump',
        run: async (setOutput) => {
          const s = await ticking(done.promise, showing(['locate', 'write'], setOutput))
          return `Write dump: ${formatBytes(s.output.bytes)} (${s.output.format}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`
        },
      },
    ],
    onClose,
  )
  return dump
}
