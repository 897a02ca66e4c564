// xst benchmark: `npm run bench [-- options]`. Not a test: it measures, it
// asserts nothing. See `--help`.
//
// Every xst row is compared with Xen's own converter doing the same thing
// (bench/xen.ts; rows skipped when XEN_SCRIPTS is not set) and with cat/dd
// doing the same I/O. Rows run in rounds (each row once per round, in
// order), and a ratio is the median of the per-round ratios: a machine that
// slows down for a while slows both sides of a ratio alike.
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {ensureImages, ensureSparseImages, ensureTinyImage, LARGE_IMAGES, SPARSE_NAME, type BenchImage} from './images.js'
import {findGnuTime, median, Runner, sh} from './measure.js'
import {findXen} from './xen.js'

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)))
const BIN = path.join(ROOT, 'bin', 'run.js')
const MB = 1e6

const HELP = `usage: npm run bench -- [options]

  --runs N        rounds per group, the median is reported (default 5, at least 1)
  --only NAMES    comma-separated images: ${[...LARGE_IMAGES.map((i) => i.name), SPARSE_NAME].join(', ')}
                  (default: ${[...LARGE_IMAGES.filter((i) => i.byDefault).map((i) => i.name), SPARSE_NAME].join(', ')})
  --rows IDS      comma-separated rows to run (e.g. pipe-js,null-js; the rows they are compared with come along)
  --no-startup    leave out the start-up rows
  --json [FILE]   write the results as JSON to FILE, or to stdout (the table then goes to stderr)
  --dir DIR       image cache (default $XST_BENCH_DIR or ${path.join(os.tmpdir(), 'xst-bench')})
  --clean         remove the image cache and exit
  --help          this text

Xen's converter: set XEN_SCRIPTS to a Xen tree's tools/python (see bench/xen.ts).`

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
  const a: Args = {runs: 5, startup: true, dir: process.env.XST_BENCH_DIR || path.join(os.tmpdir(), 'xst-bench'), clean: false}
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
        return process.exit(0)
      default:
        process.stderr.write(`bench: unknown argument ${argv[i]}\n${HELP}\n`)
        process.exit(2)
    }
  }
  if (a.only) {
    const names = [...LARGE_IMAGES.map((i) => i.name), SPARSE_NAME]
    const bad = a.only.filter((n) => !names.includes(n))
    if (bad.length) {
      process.stderr.write(`bench: unknown image ${bad.join(', ')} (have ${names.join(', ')})\n`)
      process.exit(2)
    }
  }
  return a
}

/** What a row is held to: a ratio to another row of its group, or seconds. */
type Target = {kind: 'ratio'; to: string; max: number} | {kind: 'seconds'; max: number}

interface Row {
  image: string
  /** Stable key for comparing runs: e.g. pipe-js. */
  id: string
  /** The command as shown in the table. */
  label: string
  line: string
  /** Extra environment (XST_NO_NATIVE=1 for the JavaScript rows). */
  env?: Record<string, string>
  /** Bytes of input, for MB/s. */
  bytes: number
  /** Rows (same group) shown as ratios: Xen's converter and cat/dd doing the same. */
  xen?: string
  cat?: string
  target?: Target
  /** An xst command: its peak RSS is held to the ceiling. */
  xst: boolean
  /** Before each run (untimed). */
  prep?: () => void
  /** Skip with this reason instead of running. */
  skip?: string
  /** Run in the last round only (a long row measured for its memory). */
  once?: boolean
}

interface RowResult {
  image: string
  id: string
  command: string
  bytes: number
  /** Wall seconds per round (null: failed or skipped that round). */
  runs: Array<number | null>
  seconds: number | null
  best: number | null
  mbPerSecond: number | null
  xen: string | null
  xXen: number | null
  cat: string | null
  xCat: number | null
  rssBytes: number | null
  /** User + system CPU seconds of the node processes (median run). */
  cpuSeconds: number | null
  target: string | null
  met: boolean | null
  note?: string
}

const RSS_CEILING = 100 * MB

function rm(...files: string[]): void {
  for (const f of files) fs.rmSync(f, {force: true})
}

function syncDisk(): void {
  spawnSync('sync')
}

/** Is the native addon there (built at install)? */
function nativeMissing(): string | undefined {
  const r = spawnSync(process.execPath, ['-e', `import(${JSON.stringify(path.join(ROOT, 'dist', 'io', 'native.js'))}).then((m) => process.exit(m.loadNative() ? 0 : 3))`], {encoding: 'utf8'})
  return r.status === 0 ? undefined : 'native addon not built (npm install builds it where a compiler is found)'
}

const JS = {XST_NO_NATIVE: '1'}

/**
 * The conversion rows for one image: each way a toolstack runs the
 * converter (helper interface: --in/--out, a bare libxc stream, as libxl
 * and xenopsd run it), done by Xen's converter, by xst in plain JavaScript
 * and with the native addon, and by cat/dd moving the same bytes.
 */
function convertRows(img: BenchImage, dir: string, xst: string, xen: string | undefined, xenSkip: string | undefined, time: string, native: string | undefined): Row[] {
  const IN = sh(img.path)
  const out = path.join(dir, `${img.name}.out`)
  const OUT = sh(out)
  const guest = `-w 64 -g ${img.guest}`
  const base = {image: img.name, bytes: img.bytes}
  const prepOut = () => {
    rm(out)
    syncDisk()
  }
  const X = (id: string, label: string, line: string, extra: Partial<Row> = {}): Row => ({
    ...base,
    id,
    label,
    line: xen ? line.replace('XEN', time + xen) : '',
    xst: false,
    skip: xen ? undefined : xenSkip,
    ...extra,
  })
  // The issue's targets are for the 1 GiB image; on the others (start-up weighs more) the rows are shown, held to RSS only.
  const held = img.name === 'pv-1g'
  const rows: Row[] = [
    // file -> /dev/null: the converter's own cost.
    {...base, id: 'null-cat', label: 'cat IMAGE > /dev/null', line: `${time}cat ${IN} > /dev/null`, xst: false},
    X('null-xen', 'xen -i IMAGE -o /dev/null', `XEN -i ${IN} -o /dev/null ${guest}`, {cat: 'null-cat'}),
    {
      ...base,
      id: 'null-js',
      label: 'xst --in IMAGE --out /dev/null (JS)',
      line: `${xst} convert --in ${IN} --out /dev/null`,
      env: JS,
      xst: true,
      xen: 'null-xen',
      cat: 'null-cat',
      target: {kind: 'ratio', to: 'null-xen', max: 0.9},
    },
    {
      ...base,
      id: 'null-native',
      label: 'xst --in IMAGE --out /dev/null (native)',
      line: `${xst} convert --in ${IN} --out /dev/null`,
      xst: true,
      xen: 'null-xen',
      cat: 'null-cat',
      target: {kind: 'ratio', to: 'null-xen', max: 0.9},
      skip: native,
    },
    // pipe -> pipe: what libxl and xenopsd do.
    {...base, id: 'pipe-cat', label: 'cat IMAGE | cat | cat > /dev/null', line: `cat ${IN} | ${time}cat | cat > /dev/null`, xst: false},
    X('pipe-xen', 'cat IMAGE | xen -i 0 -o 1 | cat', `cat ${IN} | XEN -i 0 -o 1 ${guest} | cat > /dev/null`, {cat: 'pipe-cat'}),
    {
      ...base,
      id: 'pipe-js',
      label: 'cat IMAGE | xst --in 0 --out 1 | cat (JS)',
      line: `cat ${IN} | ${xst} convert --in 0 --out 1 | cat > /dev/null`,
      env: JS,
      xst: true,
      xen: 'pipe-xen',
      cat: 'pipe-cat',
      target: {kind: 'ratio', to: 'pipe-xen', max: 1.0},
    },
    {
      ...base,
      id: 'pipe-native',
      label: 'cat IMAGE | xst --in 0 --out 1 | cat (native)',
      line: `cat ${IN} | ${xst} convert --in 0 --out 1 | cat > /dev/null`,
      xst: true,
      xen: 'pipe-xen',
      cat: 'pipe-cat',
      target: {kind: 'ratio', to: 'pipe-xen', max: 0.6},
      skip: native,
    },
    // file -> pipe.
    {...base, id: 'fpipe-cat', label: 'cat IMAGE | cat > /dev/null', line: `cat ${IN} | ${time}cat > /dev/null`, xst: false},
    X('fpipe-xen', 'xen -i IMAGE -o 1 | cat', `XEN -i ${IN} -o 1 ${guest} | cat > /dev/null`, {cat: 'fpipe-cat'}),
    {...base, id: 'fpipe-js', label: 'xst --in IMAGE --out 1 | cat (JS)', line: `${xst} convert --in ${IN} --out 1 | cat > /dev/null`, env: JS, xst: true, xen: 'fpipe-xen', cat: 'fpipe-cat'},
    {
      ...base,
      id: 'fpipe-native',
      label: 'xst --in IMAGE --out 1 | cat (native)',
      line: `${xst} convert --in ${IN} --out 1 | cat > /dev/null`,
      xst: true,
      xen: 'fpipe-xen',
      cat: 'fpipe-cat',
      target: {kind: 'ratio', to: 'fpipe-xen', max: 0.6},
      skip: native,
    },
    // file -> file, on disk when done (xst: fsync before the rename; the others: sync).
    {...base, id: 'file-cat', label: 'cat IMAGE > OUT; sync OUT', line: `${time}cat ${IN} > ${OUT} && sync ${OUT}`, xst: false, prep: prepOut},
    {...base, id: 'file-dd', label: 'dd if=IMAGE of=OUT bs=4M conv=fsync', line: `${time}dd if=${IN} of=${OUT} bs=4M conv=fsync status=none`, xst: false, prep: prepOut},
    X('file-xen', 'xen -i IMAGE -o OUT; sync OUT', `XEN -i ${IN} -o ${OUT} ${guest} && sync ${OUT}`, {cat: 'file-cat', prep: prepOut}),
    {
      ...base,
      id: 'file-js',
      label: 'xst --in IMAGE --out OUT (JS)',
      line: `${xst} convert --in ${IN} --out ${OUT}`,
      env: JS,
      xst: true,
      xen: 'file-xen',
      cat: 'file-cat',
      target: {kind: 'ratio', to: 'file-xen', max: 1.0},
      prep: prepOut,
    },
    {
      ...base,
      id: 'file-native',
      label: 'xst --in IMAGE --out OUT (native)',
      line: `${xst} convert --in ${IN} --out ${OUT}`,
      xst: true,
      xen: 'file-xen',
      cat: 'file-cat',
      target: {kind: 'ratio', to: 'file-xen', max: 1.0},
      prep: prepOut,
      skip: native,
    },
    // dump-core (no Xen counterpart): held to RSS; from a pipe the pages go through a spool file.
    {...base, id: 'dump-elf', label: 'xst dump-core IMAGE OUT', line: `${xst} dump-core ${IN} ${OUT}`, xst: true, cat: 'file-cat', prep: prepOut},
    {...base, id: 'dump-raw', label: 'xst dump-core --format raw IMAGE OUT', line: `${xst} dump-core --format raw ${IN} ${OUT}`, xst: true, cat: 'file-cat', prep: prepOut},
    {...base, id: 'dump-vmcore', label: 'xst dump-core --format vmcore IMAGE OUT', line: `${xst} dump-core --format vmcore ${IN} ${OUT}`, xst: true, cat: 'file-cat', prep: prepOut},
    {...base, id: 'dump-pipe', label: 'cat IMAGE | xst dump-core - OUT', line: `cat ${IN} | ${xst} dump-core - ${OUT}`, xst: true, cat: 'file-cat', prep: prepOut},
  ]
  if (!held) for (const r of rows) delete r.target
  return rows
}

/** Start-up, on a tiny image. */
function startupRows(tinyLegacy: string, tinyV2: string, dir: string, xst: string, xen: string | undefined, xenSkip: string | undefined, time: string): Row[] {
  const base = {image: 'tiny', bytes: fs.statSync(tinyLegacy).size}
  const out = path.join(dir, 'tiny.out')
  return [
    {...base, id: 'node', label: 'node -e 0', line: `${sh(process.execPath)} -e 0`, xst: false},
    {...base, id: 'version', label: 'xst --version', line: `${xst} --version`, xst: true, cat: 'node', target: {kind: 'ratio', to: 'node', max: 1.6}},
    {...base, id: 'verify-tiny', label: 'xst verify TINY', line: `${xst} verify ${sh(tinyV2)}`, xst: true, cat: 'node', target: {kind: 'ratio', to: 'node', max: 2}},
    {...base, id: 'inspect-tiny', label: 'xst inspect-legacy TINY', line: `${xst} inspect-legacy ${sh(tinyLegacy)}`, xst: true, cat: 'node'},
    {...base, id: 'identify-tiny', label: 'xst identify TINY', line: `${xst} identify ${sh(tinyLegacy)}`, xst: true, cat: 'node'},
    {
      ...base,
      id: 'convert-tiny-xen',
      label: 'xen -i TINY -o OUT',
      line: xen ? `${time}${xen} -i ${sh(tinyLegacy)} -o ${sh(out)} -w 64 -g pv` : '',
      xst: false,
      skip: xen ? undefined : xenSkip,
      cat: 'node',
      prep: () => rm(out),
    },
    {
      ...base,
      id: 'convert-tiny',
      label: 'xst --in TINY --out OUT',
      line: `${xst} convert --in ${sh(tinyLegacy)} --out ${sh(out)}`,
      xst: true,
      xen: 'convert-tiny-xen',
      cat: 'node',
      prep: () => rm(out),
    },
  ]
}

/**
 * inspect-legacy and verify of the sparse 64 GiB images: only pfn lists are
 * read. And an ELF dump of its 16 Mi pages (header passes, a window at a
 * time), the largest guest memory xst holds tables for: held to RSS, in
 * the last round only (it reads 64 GiB of holes).
 */
function sparseRows(legacy: BenchImage, v2: BenchImage, xst: string): Row[] {
  return [
    {
      image: SPARSE_NAME,
      id: 'inspect-sparse',
      label: 'xst inspect-legacy IMAGE',
      line: `${xst} inspect-legacy ${sh(legacy.path)}`,
      bytes: legacy.bytes,
      xst: true,
      target: {kind: 'seconds', max: 0.5},
    },
    {image: SPARSE_NAME, id: 'verify-sparse', label: 'xst verify V2', line: `${xst} verify ${sh(v2.path)}`, bytes: v2.bytes, xst: true, target: {kind: 'seconds', max: 0.5}},
    // In the last round, after the rows above: reading 64 GiB of holes fills the page cache with zeros, evicting the pfn lists they read.
    {image: SPARSE_NAME, id: 'dump-sparse', label: 'xst dump-core IMAGE /dev/null', line: `${xst} dump-core --force ${sh(legacy.path)} /dev/null`, bytes: legacy.bytes, xst: true, once: true},
  ]
}

function describeTarget(row: Row): string | null {
  const rss = `RSS <= ${RSS_CEILING / MB} MB`
  const t = row.target
  if (!t) return row.xst ? rss : null
  const main = t.kind === 'seconds' ? `< ${t.max} s` : `<= ${t.max} x ${t.to}`
  return `${main}, ${rss}`
}

function emptyResult(row: Row): RowResult {
  return {
    image: row.image,
    id: row.id,
    command: row.label,
    bytes: row.bytes,
    runs: [],
    seconds: null,
    best: null,
    mbPerSecond: null,
    xen: row.xen ?? null,
    xXen: null,
    cat: row.cat ?? null,
    xCat: null,
    rssBytes: null,
    cpuSeconds: null,
    target: describeTarget(row),
    met: null,
  }
}

/** Median over the rounds where both rows ran, of a's time / b's time. */
function ratioOf(a: RowResult, b: RowResult | undefined): number | null {
  if (!b) return null
  const r: number[] = []
  a.runs.forEach((s, i) => {
    const t = b.runs[i]
    if (s !== null && t !== null && t !== undefined && t > 0) r.push(s / t)
  })
  return r.length ? median(r) : null
}

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
      if (row.skip || (res.note && res.runs.every((s) => s === null)) || (row.once && round < runs - 1)) {
        res.runs.push(null)
        continue
      }
      row.prep?.()
      const r = await runner.run(row.line, row.env)
      if (r.code !== 0) {
        res.note = `exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`
        log(`  ${row.image} ${row.label}: failed (${res.note})`)
        res.runs.push(null)
        continue
      }
      res.runs.push(r.seconds)
      if (r.rss !== undefined) samples[i].rss = Math.max(samples[i].rss, r.rss)
      if (r.cpu !== undefined) samples[i].cpu.push(r.cpu)
    }
    log(`  round ${round + 1}/${runs}: ${rows.map((r, i) => `${r.id} ${results[i].runs.at(-1)?.toFixed(2) ?? '-'}`).join(', ')}`)
  }
  for (const [i] of rows.entries()) {
    const res = results[i]
    const ok = res.runs.filter((s): s is number => s !== null)
    if (!ok.length || res.note?.startsWith('exit')) continue
    res.seconds = median(ok)
    res.best = Math.min(...ok)
    res.mbPerSecond = res.bytes / MB / res.seconds
    res.rssBytes = samples[i].rss || null
    if (samples[i].cpu.length) res.cpuSeconds = median(samples[i].cpu)
  }
  for (const [i, row] of rows.entries()) {
    const res = results[i]
    if (res.seconds === null) continue
    const find = (id: string | undefined) => (id ? results.find((b) => b.id === id && b.seconds !== null) : undefined)
    res.xXen = ratioOf(res, find(row.xen))
    res.xCat = ratioOf(res, find(row.cat))
    if (row.xst || row.target) {
      let met = !row.xst || (res.rssBytes !== null && res.rssBytes <= RSS_CEILING)
      const t = row.target
      if (t?.kind === 'seconds') met &&= res.seconds < t.max
      if (t?.kind === 'ratio') {
        const r = ratioOf(res, find(t.to))
        met = r === null ? false : met && r <= t.max
      }
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
  const dirty = cmd('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no', '--', 'src', 'native'])
  return {
    nproc: os.availableParallelism?.() ?? cpus.length,
    cpu: cpus[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    load: os.loadavg(),
    node: process.version,
    python: cmd(process.env.XEN_PYTHON || 'python3', ['--version']),
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
  const head = ['image', 'command', 'median s', 'best s', 'MB/s', 'x xen', 'x cat', 'cpu s', 'RSS MB', 'target', '']
  const body = results.map((r) => [
    r.image,
    r.command,
    r.seconds === null ? (r.note?.startsWith('exit') ? 'failed' : 'n/a') : fmt(r.seconds, 3),
    fmt(r.best, 3),
    r.seconds === null || r.image === 'tiny' ? '-' : fmt(r.mbPerSecond, 0),
    fmt(r.xXen, 2),
    fmt(r.xCat, 2),
    fmt(r.cpuSeconds, 2),
    fmt(r.rssBytes === null ? null : r.rssBytes / MB, 0),
    r.target ?? '',
    r.met === null ? (r.seconds === null && r.note ? r.note : '') : r.met ? 'met' : 'MISSED',
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const numeric = new Set([2, 3, 4, 5, 6, 7, 8])
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

/** The rows asked for with --rows, with the rows they are compared with. */
function pick(rows: Row[], ids: string[] | undefined): Row[] {
  if (!ids) return rows
  const want = new Set(ids)
  for (const r of rows) {
    if (!want.has(r.id)) continue
    for (const d of [r.xen, r.cat, r.target?.kind === 'ratio' ? r.target.to : undefined]) if (d) want.add(d)
  }
  return rows.filter((r) => want.has(r.id))
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

  const images = await ensureImages(
    args.dir,
    args.only?.filter((n) => n !== SPARSE_NAME),
    log,
  )
  const sparse = !args.only || args.only.includes(SPARSE_NAME) ? await ensureSparseImages(args.dir, BIN, log) : undefined
  const tiny = await ensureTinyImage(args.dir, log)
  const xst = `${sh(process.execPath)} ${sh(BIN)}`
  const found = findXen()
  const xen = 'command' in found ? found.command : undefined
  const xenSkip = 'skip' in found ? found.skip : undefined
  if (xenSkip) log(`note: Xen's converter: ${xenSkip}; its rows are skipped`)
  const native = nativeMissing()
  if (native) log(`note: ${native}; the native rows are skipped`)
  const runner = new Runner()
  const time = runner.timePrefix
  if (!time) log('note: GNU time not found; peak RSS is reported for the node processes only')

  const results: RowResult[] = []
  try {
    const tinyV2 = path.join(args.dir, 'tiny.v2')
    rm(tinyV2)
    const made = await runner.run(`${xst} convert ${sh(tiny)} ${sh(tinyV2)}`)
    if (made.code !== 0) throw new Error(`could not convert the tiny image: ${made.stderr}`)
    if (args.startup) {
      log('start-up')
      results.push(...(await measureGroup(runner, pick(startupRows(tiny, tinyV2, args.dir, xst, xen, xenSkip, time), args.rows), Math.max(args.runs, 11), log)))
    }
    if (sparse) {
      log(`${SPARSE_NAME} (sparse)`)
      // Read the pfn lists once, so the first timed row does not pay for the disk.
      await runner.run(`${xst} verify ${sh(sparse.v2.path)} && ${xst} inspect-legacy ${sh(sparse.legacy.path)}`)
      results.push(...(await measureGroup(runner, pick(sparseRows(sparse.legacy, sparse.v2, xst), args.rows), Math.max(args.runs, 5), log)))
    }
    for (const img of images) {
      log(`${img.name} (${(img.bytes / 2 ** 30).toFixed(2)} GiB)`)
      // Warm the page cache so the first timed row does not pay for the disk.
      await runner.run(`cat ${sh(img.path)} > /dev/null`)
      results.push(...(await measureGroup(runner, pick(convertRows(img, args.dir, xst, xen, xenSkip, time, native), args.rows), args.runs, log)))
      rm(path.join(args.dir, `${img.name}.out`))
    }
  } finally {
    runner.close()
    rm(path.join(args.dir, 'tiny.out'))
  }

  const report = {
    tool: 'xst bench',
    date: new Date().toISOString(),
    machine: machine(args.dir),
    xenScripts: 'scripts' in found ? found.scripts : null,
    runsPerRow: args.runs,
    images: images.map((i) => ({name: i.name, guest: i.guest, bytes: i.bytes})),
    rssCeilingBytes: RSS_CEILING,
    results,
  }
  const m = report.machine
  say('')
  say(
    `xst bench: ${m.nproc} cpus (${m.cpu}), ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, load ${m.load.map((l) => l.toFixed(1)).join(' ')}, ` +
      `node ${m.node}, ${m.python ?? 'no python3'}, ${m.disk.fsType ?? '?'} on ${m.disk.device ?? '?'}, commit ${m.commit ?? '?'}; ` +
      `median of ${args.runs} rounds (start-up: ${Math.max(args.runs, 11)}); x xen / x cat: median of per-round ratios`,
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
