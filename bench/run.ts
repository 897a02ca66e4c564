// xst benchmark: `npm run bench [-- options]`. Not a test: it measures, it
// asserts nothing. See `--help`.
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {ensureImages, ensureTinyImage, LARGE_IMAGES, type BenchImage} from './images.js'
import {findGnuTime, median, Runner, sh} from './measure.js'

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)))
const BIN = path.join(ROOT, 'bin', 'run.js')
const MB = 1e6

const HELP = `usage: npm run bench -- [options]

  --runs N        timed runs per row, the median is reported (default 3, at least 1)
  --only NAMES    comma-separated images to run: ${LARGE_IMAGES.map((i) => i.name).join(', ')} (default all)
  --rows IDS      comma-separated rows to run (e.g. convert-file,inspect-pipe; their baselines come along)
  --no-startup    leave out the start-up rows
  --json [FILE]   write the results as JSON to FILE, or to stdout (the table then goes to stderr)
  --dir DIR       image cache (default $XST_BENCH_DIR or ${path.join(os.tmpdir(), 'xst-bench')})
  --clean         remove the image cache and exit
  --help          this text`

interface Args {
  runs: number
  only?: string[]
  rows?: string[]
  startup: boolean
  json?: string // '-' for stdout
  dir: string
  clean: boolean
}

function parseArgs(argv: string[]): Args {
  const a: Args = {runs: 3, startup: true, dir: process.env.XST_BENCH_DIR || path.join(os.tmpdir(), 'xst-bench'), clean: false}
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2)
    const value = () => inline ?? argv[++i]
    switch (flag) {
      case '--runs':
        a.runs = Math.max(1, Number(value()) | 0)
        break
      case '--only':
        a.only = value().split(',').filter(Boolean)
        break
      case '--rows':
        a.rows = value().split(',').filter(Boolean)
        break
      case '--no-startup':
        a.startup = false
        break
      case '--json':
        a.json = inline ?? (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : '-')
        break
      case '--dir':
        a.dir = path.resolve(value())
        break
      case '--clean':
        a.clean = true
        break
      case '--help':
      case '-h':
        process.stdout.write(HELP + '\n')
        process.exit(0)
      default:
        process.stderr.write(`bench: unknown argument ${argv[i]}\n${HELP}\n`)
        process.exit(2)
    }
  }
  if (a.only) {
    const names = LARGE_IMAGES.map((i) => i.name)
    const bad = a.only.filter((n) => !names.includes(n))
    if (bad.length) {
      process.stderr.write(`bench: unknown image ${bad.join(', ')} (have ${names.join(', ')})\n`)
      process.exit(2)
    }
  }
  return a
}

type Target = {kind: 'ratio'; max: number} | {kind: 'seconds'; max: number}

interface Row {
  image: string
  /** Stable key for comparing runs: e.g. convert-file. */
  id: string
  /** The command as shown in the table. */
  label: string
  line: string
  /** Bytes the command reads, for MB/s (a function when known only after an earlier row). */
  bytes: number | (() => number)
  /** Row id (same image) this one is compared with. */
  baseline?: string
  target?: Target
  /** A measured xst command: its RSS is held to the ceiling. */
  xst: boolean
  /** Before each run (untimed). */
  prep?: () => void
  /** Skip with this reason instead of running. */
  skip?: string
  /** Reads OUT, the output convert left. */
  readsOut?: boolean
}

interface RowResult {
  image: string
  id: string
  command: string
  bytes: number
  runs: number[]
  seconds: number | null
  mbPerSecond: number | null
  baseline: string | null
  ratio: number | null
  rssBytes: number | null
  /** User + system CPU seconds of the xst process (median run), less noisy than wall time on a busy machine. */
  cpuSeconds: number | null
  target: string | null
  met: boolean | null
  note?: string
}

const RSS_CEILING = 150 * MB

function syncDisk(): void {
  spawnSync('sync')
}

function rm(...files: string[]): void {
  for (const f of files) fs.rmSync(f, {force: true})
}

function rowsFor(img: BenchImage, dir: string, xst: string, time: string, verify: string | undefined): Row[] {
  const out = path.join(dir, `${img.name}.v2`)
  const copy = path.join(dir, `${img.name}.copy`)
  const IN = sh(img.path)
  const OUT = sh(out)
  const outBytes = () => (fs.existsSync(out) ? fs.statSync(out).size : img.bytes)
  const prepOut = () => {
    rm(out)
    syncDisk()
  }
  const base = {image: img.name, bytes: img.bytes}
  const rows: Row[] = [
    {...base, id: 'copy', label: 'cat IMAGE > OUT', line: `${time}cat ${IN} > ${sh(copy)}`, xst: false, prep: () => (rm(copy), syncDisk())},
    {...base, id: 'copy-user', label: 'dd if=IMAGE of=OUT bs=4M', line: `${time}dd if=${IN} of=${sh(copy)} bs=4M status=none`, xst: false, baseline: 'copy', prep: () => (rm(copy), syncDisk())},
    {...base, id: 'copy-fsync', label: 'cat IMAGE > OUT; sync OUT', line: `${time}cat ${IN} > ${sh(copy)} && sync ${sh(copy)}`, xst: false, baseline: 'copy', prep: () => (rm(copy), syncDisk())},
    {...base, id: 'read', label: 'cat IMAGE > /dev/null', line: `${time}cat ${IN} > /dev/null`, xst: false},
    {...base, id: 'pipe', label: 'cat IMAGE | cat > /dev/null', line: `cat ${IN} | ${time}cat > /dev/null`, xst: false, baseline: 'read'},
    {...base, id: 'convert-file', label: 'xst convert IMAGE OUT', line: `${xst} convert ${IN} ${OUT}`, xst: true, baseline: 'copy', target: {kind: 'ratio', max: 1.2}, prep: prepOut},
    {...base, id: 'convert-pipe', label: 'cat IMAGE | xst convert - - > OUT', line: `cat ${IN} | ${xst} convert - - > ${OUT}`, xst: true, baseline: 'copy', target: {kind: 'ratio', max: 1.5}, prep: prepOut},
    {...base, id: 'inspect-file', label: 'xst inspect-legacy IMAGE', line: `${xst} inspect-legacy ${IN}`, xst: true, baseline: 'read', target: {kind: 'seconds', max: 0.5}},
    {...base, id: 'inspect-pipe', label: 'cat IMAGE | xst inspect-legacy -', line: `cat ${IN} | ${xst} inspect-legacy -`, xst: true, baseline: 'read', target: {kind: 'ratio', max: 1.2}},
    // The rows below read OUT, which convert-pipe left behind.
    {...base, id: 'read-out', label: 'cat OUT > /dev/null', line: `${time}cat ${OUT} > /dev/null`, xst: false, readsOut: true},
    {...base, id: 'pipe-out', label: 'cat OUT | cat > /dev/null', line: `cat ${OUT} | ${time}cat > /dev/null`, xst: false, baseline: 'read-out', readsOut: true},
    {...base, id: 'verify-file', label: 'xst verify OUT', line: `${xst} verify ${OUT}`, xst: true, baseline: 'read-out', target: {kind: 'seconds', max: 0.5}, skip: verify, readsOut: true},
    {...base, id: 'verify-pipe', label: 'cat OUT | xst verify -', line: `cat ${OUT} | ${xst} verify -`, xst: true, baseline: 'read-out', target: {kind: 'ratio', max: 1.2}, skip: verify, readsOut: true},
  ]
  // MB/s of the rows that read OUT is over OUT's size, known once it exists.
  for (const r of rows) if (r.readsOut) r.bytes = outBytes
  return rows
}

function startupRows(tinyV2: string, xst: string, verify: string | undefined): Row[] {
  const base = {image: 'tiny', bytes: fs.statSync(tinyV2).size}
  return [
    {...base, id: 'node', label: 'node -e 0', line: `${sh(process.execPath)} -e 0`, xst: false},
    {...base, id: 'version', label: 'xst --version', line: `${xst} --version`, xst: true, baseline: 'node', target: {kind: 'seconds', max: 0.4}},
    {...base, id: 'verify-tiny', label: 'xst verify TINY', line: `${xst} verify ${sh(tinyV2)}`, xst: true, baseline: 'node', target: {kind: 'seconds', max: 0.4}, skip: verify},
  ]
}

function describeTarget(t: Target | undefined, row: Row): string | null {
  if (!t) return row.xst ? `RSS <= ${RSS_CEILING / MB} MB` : null
  const main = t.kind === 'seconds' ? `< ${t.max} s` : `<= ${t.max} x ${row.baseline}`
  return `${main}, RSS <= ${RSS_CEILING / MB} MB`
}

function emptyResult(row: Row): RowResult {
  return {
    image: row.image,
    id: row.id,
    command: row.label,
    bytes: 0,
    runs: [],
    seconds: null,
    mbPerSecond: null,
    baseline: row.baseline ?? null,
    ratio: null,
    rssBytes: null,
    cpuSeconds: null,
    target: describeTarget(row.target, row),
    met: null,
  }
}

/**
 * Run a group of rows `runs` times in rounds (each row once per round, in
 * order), so a machine that slows down for a while slows every row alike
 * instead of the few that happened to run then.
 */
async function measureGroup(runner: Runner, rows: Row[], runs: number, log: (m: string) => void): Promise<RowResult[]> {
  const results = rows.map(emptyResult)
  const samples = rows.map(() => ({rss: 0, cpu: [] as number[]}))
  rows.forEach((row, i) => {
    if (row.skip) {
      results[i].note = row.skip
      log(`  ${row.image} ${row.label}: skipped (${row.skip})`)
    }
  })
  for (let round = 0; round < runs; round++) {
    for (const [i, row] of rows.entries()) {
      const res = results[i]
      if (row.skip || res.note) continue
      row.prep?.()
      const r = await runner.run(row.line)
      if (r.code !== 0) {
        res.note = `exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`
        log(`  ${row.image} ${row.label}: failed (${res.note})`)
        continue
      }
      res.runs.push(r.seconds)
      if (r.rss !== undefined) samples[i].rss = Math.max(samples[i].rss, r.rss)
      if (r.cpu !== undefined) samples[i].cpu.push(r.cpu)
    }
    log(`  round ${round + 1}/${runs}: ${rows.map((r, i) => `${r.id} ${results[i].runs.at(-1)?.toFixed(2) ?? '-'}`).join(', ')}`)
  }
  for (const [i, row] of rows.entries()) {
    const res = results[i]
    if (res.note) {
      res.runs = []
      continue
    }
    res.bytes = typeof row.bytes === 'function' ? row.bytes() : row.bytes
    res.seconds = median(res.runs)
    res.mbPerSecond = res.bytes / MB / res.seconds
    res.rssBytes = samples[i].rss || null
    if (samples[i].cpu.length) res.cpuSeconds = median(samples[i].cpu)
  }
  for (const [i, row] of rows.entries()) {
    const res = results[i]
    if (res.seconds === null) continue
    const base = row.baseline ? results.find((b) => b.id === row.baseline) : undefined
    if (base?.seconds) res.ratio = res.seconds / base.seconds
    if (row.xst || row.target) {
      let met = res.rssBytes !== null && res.rssBytes <= RSS_CEILING
      if (row.target?.kind === 'seconds') met &&= res.seconds < row.target.max
      if (row.target?.kind === 'ratio') met &&= res.ratio !== null && res.ratio <= row.target.max
      res.met = met
    }
  }
  return results
}

function machine(dir: string) {
  const cpus = os.cpus()
  const cmd = (c: string, args: string[]) => {
    const r = spawnSync(c, args, {encoding: 'utf8'})
    return r.status === 0 ? r.stdout.trim() : null
  }
  const df = cmd('df', ['-PT', dir])?.split('\n')[1]?.split(/\s+/)
  const head = cmd('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])
  const dirty = cmd('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no', '--', 'src'])
  return {
    nproc: os.availableParallelism?.() ?? cpus.length,
    cpu: cpus[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    disk: df ? {device: df[0], fsType: df[1], dir} : {dir},
    gnuTime: findGnuTime() !== null,
    commit: head ? head + (dirty ? '+dirty' : '') : null,
  }
}

function fmt(n: number | null, digits: number): string {
  return n === null ? '-' : n.toFixed(digits)
}

function table(results: RowResult[]): string {
  const head = ['image', 'command', 'median s', 'best s', 'MB/s', 'x base', 'base', 'cpu s', 'peak RSS MB', 'target', '']
  const body = results.map((r) => [
    r.image,
    r.command,
    r.note && r.seconds === null ? (r.note.startsWith('exit') ? 'failed' : 'n/a') : fmt(r.seconds, 3),
    r.runs.length ? Math.min(...r.runs).toFixed(3) : '-',
    r.seconds === null || r.image === 'tiny' ? '-' : fmt(r.mbPerSecond, 0),
    fmt(r.ratio, 2),
    r.baseline ?? '',
    fmt(r.cpuSeconds, 2),
    fmt(r.rssBytes === null ? null : r.rssBytes / MB, 0),
    r.target ?? '',
    r.met === null ? (r.note && r.seconds === null ? r.note : '') : r.met ? 'met' : 'MISSED',
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const numeric = new Set([2, 3, 4, 5, 7, 8])
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  const out = [line(head), line(widths.map((w) => '-'.repeat(w)))]
  let last = ''
  for (let i = 0; i < body.length; i++) {
    if (last && results[i].image !== last) out.push('')
    last = results[i].image
    out.push(line(body[i]))
  }
  return out.join('\n')
}

/**
 * The rows asked for with --rows, with the rows they are compared with, and
 * the convert row that leaves OUT behind for the rows that read it.
 */
function pick(rows: Row[], ids: string[] | undefined): Row[] {
  if (!ids) return rows
  const want = new Set(ids)
  if (rows.some((r) => want.has(r.id) && r.readsOut) && !want.has('convert-file')) want.add('convert-pipe')
  for (const r of rows) if (want.has(r.id) && r.baseline) want.add(r.baseline)
  return rows.filter((r) => want.has(r.id))
}

/** Why verify rows cannot run, or undefined when `xst verify` is there. */
function verifyMissing(): string | undefined {
  if (fs.existsSync(path.join(ROOT, 'dist', 'commands', 'verify.js'))) return undefined
  return 'xst verify not available in this build'
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (args.clean) {
    fs.rmSync(args.dir, {recursive: true, force: true})
    process.stdout.write(`removed ${args.dir}\n`)
    return
  }
  const toStdout = args.json === '-'
  const say = (m: string) => (toStdout ? process.stderr : process.stdout).write(m + '\n')
  const log = (m: string) => process.stderr.write(m + '\n')

  const images = await ensureImages(args.dir, args.only, log)
  const tiny = await ensureTinyImage(args.dir, log)
  const xst = `${sh(process.execPath)} ${sh(BIN)}`
  const runner = new Runner()
  const time = runner.timePrefix
  const verify = verifyMissing()
  if (verify) log(`note: ${verify}; verify rows are skipped`)
  if (!time) log('note: GNU time not found; peak RSS is reported for the node processes only')

  const results: RowResult[] = []
  try {
    // The tiny v2 image for the start-up rows.
    const tinyV2 = path.join(args.dir, 'tiny.v2')
    rm(tinyV2)
    const made = await runner.run(`${xst} convert ${sh(tiny)} ${sh(tinyV2)}`)
    if (made.code !== 0) throw new Error(`could not convert the tiny image: ${made.stderr}`)
    if (args.startup) {
      log('start-up')
      results.push(...(await measureGroup(runner, pick(startupRows(tinyV2, xst, verify), args.rows), Math.max(args.runs, 5), log)))
    }

    for (const img of images) {
      log(`${img.name} (${(img.bytes / 2 ** 30).toFixed(2)} GiB)`)
      // Warm the page cache so the first timed row does not pay for the disk.
      await runner.run(`cat ${sh(img.path)} > /dev/null`)
      results.push(...(await measureGroup(runner, pick(rowsFor(img, args.dir, xst, time, verify), args.rows), args.runs, log)))
      rm(path.join(args.dir, `${img.name}.v2`), path.join(args.dir, `${img.name}.copy`))
    }
  } finally {
    runner.close()
  }

  const report = {
    tool: 'xst bench',
    date: new Date().toISOString(),
    machine: machine(args.dir),
    runsPerRow: args.runs,
    images: images.map((i) => ({name: i.name, guest: i.guest, bytes: i.bytes})),
    rssCeilingBytes: RSS_CEILING,
    results,
  }
  const m = report.machine
  say('')
  say(
    `xst bench: ${m.nproc} cpus (${m.cpu}), ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, node ${m.node}, ` +
      `${m.disk.fsType ?? '?'} on ${m.disk.device ?? '?'}, commit ${m.commit ?? '?'}; median of ${args.runs} runs (start-up: ${Math.max(args.runs, 5)})`,
  )
  say('')
  say(table(results))
  const missed = results.filter((r) => r.met === false)
  say('')
  say(missed.length ? `targets missed: ${missed.map((r) => `${r.image} ${r.id}`).join(', ')}` : 'all targets met')
  if (args.json !== undefined) {
    const json = JSON.stringify(report, null, 2) + '\n'
    if (toStdout) process.stdout.write(json)
    else {
      fs.writeFileSync(args.json, json)
      say(`JSON written to ${args.json}`)
    }
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err?.stack ?? err}\n`)
  process.exit(1)
})
