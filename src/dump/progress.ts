// On a terminal, a dump shows a listr2 task list like convert's: reading
// the image (progress by input bytes), then writing the dump (by pages).
// listr2 is only loaded when it is used.
import {formatBytes} from '../convert/render.js'
import {describeInput} from './render.js'
import {type DumpJob, type DumpProgress, type DumpSummary, runDumpJob} from './job.js'

function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((a, b) => {
    resolve = a
    reject = b
  })
  promise.catch(() => {})
  return {promise, resolve, reject}
}

function bar(done: number, total: number): string {
  const pct = Math.min(100, (done / Math.max(1, total)) * 100)
  const width = 30
  const fill = Math.round((pct / 100) * width)
  return `[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${pct.toFixed(0)}%`
}

function describe(p: DumpProgress, t0: number): string {
  const secs = Math.max(0.001, (Date.now() - t0) / 1000)
  if (p.phase === 'write') return p.total ? `${bar(p.done, p.total)} ${p.done} / ${p.total} pages` : `${p.done} pages`
  const rate = `${formatBytes(p.done / secs)}/s`
  const what = p.phase === 'locate' ? 'finding pages: ' : ''
  return p.total ? `${what}${bar(p.done, p.total)} ${formatBytes(p.done)} / ${formatBytes(p.total)}, ${rate}` : `${what}${formatBytes(p.done)}, ${rate}`
}

export async function runDumpWithProgress(job: DumpJob, opts: {enabled: boolean}): Promise<DumpSummary> {
  if (!opts.enabled) return runDumpJob(job)
  const {Listr, ProcessOutput} = await import('listr2')
  const scanned = deferred<string>()
  const done = deferred<DumpSummary>()
  let latest: DumpProgress | undefined
  const t0 = Date.now()
  const run = runDumpJob({
    ...job,
    onProgress: (p) => {
      latest = p
      job.onProgress?.(p)
    },
    onScanned: (input, pages) => {
      scanned.resolve(`${describeInput(input)}, ${pages} pages`)
      job.onScanned?.(input, pages)
    },
  }).then(
    (s) => {
      done.resolve(s)
      return s
    },
    (e) => {
      scanned.reject(e)
      done.reject(e)
      throw e
    },
  )
  const ticker = (task: {output: string}, phases: DumpProgress['phase'][]) =>
    setInterval(() => {
      if (latest && phases.includes(latest.phase)) task.output = describe(latest, t0)
    }, 100)
  const list = new Listr(
    [
      {
        title: 'Read image',
        task: async (_ctx: unknown, task: {title: string; output: string}) => {
          const timer = ticker(task, ['read'])
          try {
            task.title = `Read image: ${await scanned.promise}`
          } finally {
            clearInterval(timer)
          }
        },
        rendererOptions: {outputBar: 1},
      },
      {
        title: 'Write dump',
        task: async (_ctx: unknown, task: {title: string; output: string}) => {
          const timer = ticker(task, ['locate', 'write'])
          try {
            const s = await done.promise
            task.title = `Write dump: ${formatBytes(s.output.bytes)} (${s.output.format}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`
          } finally {
            clearInterval(timer)
          }
        },
        rendererOptions: {outputBar: 1},
      },
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
  return run
}
