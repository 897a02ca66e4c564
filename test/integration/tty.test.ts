// The CLI at an interactive terminal (a real pseudo-terminal from util-linux
// `script`): the task list is drawn on stderr and only there (and only when
// stdout is the terminal too: progress-tty.test.ts), every failure
// is one line with the documented exit code and never a stack trace, Ctrl-C
// leaves nothing behind, and a binary stream is not written to the screen.
import {execFileSync} from 'node:child_process'
import {createWriteStream, existsSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {once} from 'node:events'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {legacyVectors, vectorBytes} from '../helpers/fixtures.js'
import {tempDir} from '../helpers/cli.js'
import {CURSOR_UP, hasScript, hasStackTrace, plain, runTty, screen, startTty, xstLine} from '../helpers/tty.js'
import {largeImageSpec, legacyPieces} from '../builders/legacy.js'

const PV = () => vectorBytes('legacy', 'pv64-xl.legacy.gz')
const PV_LIBXL = () => vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')

/** A temp dir holding good.legacy (pv64-xl). */
function setup(): string {
  const dir = tempDir('xst-tty-')
  writeFileSync(join(dir, 'good.legacy'), PV())
  return dir
}

/** Lines the terminal showed, escape sequences removed, blank lines dropped. */
const lines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')

/** The task list's marks: a check mark for a finished task, a cross for a failed one. */
const TASK_MARK = /[✔✖◼]/
/** A line of the task list (any frame of it), whatever its mark. */
const TASK_LINE = /^\S (Detect image|Convert|Verify)\b/

describe.skipIf(!hasScript)('at a terminal: convert', () => {
  it('a good conversion draws the task list and prints the report', async () => {
    const dir = setup()
    const r = await runTty(xstLine(['convert', 'good.legacy', 'new.v2']), {cwd: dir})
    expect(r.code, r.text).toBe(0)
    expect(hasStackTrace(r.text)).toBe(false)
    expect(r.text).toMatch(/✔ Detect image: legacy PV image, 64-bit toolstack/)
    expect(r.text).toMatch(/✔ Convert: .* \(libxl\) in [\d.]+ s/)
    expect(r.text).toMatch(/✔ Verify: valid v2 stream/)
    expect(r.text).toContain('converted good.legacy -> new.v2 (libxl v2 / libxc v3 stream, legacy-converted)')
    // A terminal without a size (script gives 0 columns) still gets whole lines, not a letter a line.
    expect(lines(r.text).every((l) => l.length > 1 || l === '^C')).toBe(true)
    expect(readFileSync(join(dir, 'new.v2')).equals(PV_LIBXL())).toBe(true)
    // The cursor is shown again at the end.
    expect(r.raw.lastIndexOf('\x1b[?25h')).toBeGreaterThan(r.raw.lastIndexOf('\x1b[?25l'))
  })

  it('stdout redirected: no task list (it would redraw over other output), at most one progress line, blanked; the log gets only the report', async () => {
    const dir = setup()
    const r = await runTty(`${xstLine(['convert', 'good.legacy', 'new.v2'])} > log`, {cwd: dir})
    expect(r.code, r.text).toBe(0)
    expect(r.raw).not.toMatch(CURSOR_UP)
    expect(r.raw).not.toMatch(TASK_MARK)
    expect(screen(r.raw).filter((l) => l.trim() !== '')).toEqual([])
    expect(r.text).not.toContain('converted good.legacy')
    const log = readFileSync(join(dir, 'log'), 'utf8')
    expect(log).toMatch(/^converted good.legacy -> new.v2 \(libxl v2 \/ libxc v3 stream, legacy-converted\)\n/)
    expect(log).not.toMatch(TASK_MARK)
    expect(log).not.toMatch(/Detect image|Convert:|\x1b/)
    // The report: six lines, then the restore block (what restores NEW).
    expect(lines(log).filter((l) => !l.startsWith('    '))).toHaveLength(7)
    expect(lines(log)).toContain('  restore:')
  })

  for (const v of legacyVectors().filter((x) => !x.valid)) {
    it(`a bad image (${v.name}): exit 1, one line, no stack trace, nothing written`, async () => {
      const dir = tempDir('xst-tty-')
      writeFileSync(join(dir, 'bad.legacy'), vectorBytes('legacy', v.input))
      const r = await runTty(xstLine(['convert', 'bad.legacy', 'new.v2']), {cwd: dir})
      expect(r.code, r.text).toBe(1)
      expect(hasStackTrace(r.text), r.text).toBe(false)
      const messages = lines(r.text).filter((l) => !TASK_LINE.test(l))
      expect(messages, r.text).toHaveLength(1)
      expect(messages[0]).toMatch(/^xst convert: /)
      expect(readdirSync(dir)).toEqual(['bad.legacy'])
    })
  }

  it('an existing NEW without --force: exit 2, one line, the file untouched', async () => {
    const dir = setup()
    writeFileSync(join(dir, 'new.v2'), 'precious')
    const r = await runTty(xstLine(['convert', 'good.legacy', 'new.v2']), {cwd: dir})
    expect(r.code, r.text).toBe(2)
    expect(hasStackTrace(r.text)).toBe(false)
    expect(lines(r.text)).toEqual(['xst convert: new.v2: already exists; use --force to replace it'])
    expect(readFileSync(join(dir, 'new.v2'), 'utf8')).toBe('precious')
  })

  it('a v2 stream given to convert: exit 1, sent to verify', async () => {
    const dir = tempDir('xst-tty-')
    writeFileSync(join(dir, 'new.v2'), PV_LIBXL())
    const r = await runTty(xstLine(['convert', 'new.v2', 'again.v2']), {cwd: dir})
    expect(r.code, r.text).toBe(1)
    expect(hasStackTrace(r.text)).toBe(false)
    const messages = lines(r.text).filter((l) => !TASK_LINE.test(l))
    expect(messages).toEqual([expect.stringMatching(/^xst convert: byte 0, xl header: .*v2 stream.*; use `xst verify`$/)])
    expect(readdirSync(dir)).toEqual(['new.v2'])
  })

  it('Ctrl-C half way through a large image: exit 130, nothing left behind, the cursor back', async () => {
    // The input is a FIFO fed 40 of a 64 MiB image, so the conversion is
    // certainly under way (and waiting) when Ctrl-C comes.
    const dir = tempDir('xst-tty-')
    const fifo = join(dir, 'big.legacy')
    execFileSync('mkfifo', [fifo])
    const run = startTty(xstLine(['convert', 'big.legacy', 'new.v2']), {cwd: dir})
    const feed = createWriteStream(fifo)
    feed.on('error', () => {})
    let fed = 0
    for (const p of legacyPieces(largeImageSpec({guest: 'pv', bytes: 64 << 20}))) {
      if (fed >= 40 << 20) break
      fed += p.length
      if (!feed.write(p)) await once(feed, 'drain')
    }
    const partial = () => readdirSync(dir).filter((f) => f.endsWith('.xst-partial'))
    const size = () => (partial().length ? statSync(join(dir, partial()[0])).size : 0)
    const deadline = Date.now() + 30_000
    while (size() < 24 << 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(size()).toBeGreaterThan(24 << 20)
    expect(plain(run.shown())).toMatch(/Convert/)
    run.type('\x03')
    const r = await run.done
    feed.destroy()
    expect(r.code, r.text).toBe(130)
    expect(hasStackTrace(r.text)).toBe(false)
    expect(r.text).toContain('xst convert: interrupted by SIGINT; new.v2 was not written')
    expect(readdirSync(dir)).toEqual(['big.legacy'])
    expect(existsSync(join(dir, 'new.v2'))).toBe(false)
    expect(r.raw.lastIndexOf('\x1b[?25h')).toBeGreaterThan(r.raw.lastIndexOf('\x1b[?25l'))
  })

  it('refuses to write the stream to a terminal (exit 2) unless --force', async () => {
    const dir = setup()
    const r = await runTty(xstLine(['convert', 'good.legacy', '-']), {cwd: dir})
    expect(r.code, r.text.slice(0, 500)).toBe(2)
    expect(lines(r.text)).toEqual(['xst convert: refusing to write a binary stream to a terminal; use --force'])
    // Into a file, with the terminal on stderr: the stream is exact, the report on the terminal.
    const f = await runTty(`${xstLine(['convert', 'good.legacy', '-'])} > out.v2`, {cwd: dir})
    expect(f.code, f.text).toBe(0)
    expect(readFileSync(join(dir, 'out.v2')).equals(PV_LIBXL())).toBe(true)
    expect(f.text).toContain('converted good.legacy -> stdout')
    // --force: written to the terminal as asked (some of it shows).
    const forced = await runTty(`${xstLine(['convert', '--force', '--format', 'libxc', 'good.legacy', '-'])}`, {cwd: dir})
    expect(forced.code).toBe(0)
    expect(forced.raw.length).toBeGreaterThan(100_000)
  })
})

describe.skipIf(!hasScript)('at a terminal: verify and inspect-legacy', () => {
  it('verify: a good stream exit 0, a bad one exit 1, no stack trace', async () => {
    const dir = tempDir('xst-tty-')
    writeFileSync(join(dir, 'good.v2'), PV_LIBXL())
    writeFileSync(join(dir, 'bad.v2'), vectorBytes('v2', 'bad-truncated-mid-record.v2.gz'))
    const good = await runTty(xstLine(['verify', 'good.v2']), {cwd: dir})
    expect(good.code, good.text).toBe(0)
    expect(lines(good.text)).toEqual([
      expect.stringMatching(/^good.v2: valid — libxl v2/),
      '  restore:',
      '    by        xl restore',
      '    releases  Xen 4.14 and later',
      expect.stringMatching(/^ {4}refused {3}Xen 4\.6-4\.13: /),
    ])
    const bad = await runTty(xstLine(['verify', 'bad.v2']), {cwd: dir})
    expect(bad.code, bad.text).toBe(1)
    expect(hasStackTrace(bad.text)).toBe(false)
    expect(bad.text).toMatch(/^error: stream ends at byte 468388 inside libxc record 6 \(PAGE_DATA\)/m)
    expect(bad.text).toMatch(/^bad.v2: INVALID — 1 error/m)
  })

  it('inspect-legacy: a good image exit 0, a bad one exit 1 with one line', async () => {
    const dir = setup()
    writeFileSync(join(dir, 'bad.legacy'), vectorBytes('legacy', 'bad-duplicate-pfn-in-batch.legacy.gz'))
    const good = await runTty(xstLine(['inspect-legacy', 'good.legacy']), {cwd: dir})
    expect(good.code, good.text).toBe(0)
    expect(good.text).toMatch(/^good.legacy: legacy \(Xen <= 4.5\) PV image, 545374 bytes/m)
    const bad = await runTty(xstLine(['inspect-legacy', 'bad.legacy']), {cwd: dir})
    expect(bad.code, bad.text).toBe(1)
    expect(hasStackTrace(bad.text)).toBe(false)
    expect(lines(bad.text)).toEqual([expect.stringMatching(/^xst inspect-legacy: byte \d+, chunk \d+, page batch: pfn .* appears twice/)])
  })

  it('a usage error at a terminal: exit 2, the message and where to look', async () => {
    const r = await runTty(`${xstLine(['verify', '--max-errors', '0', 'x'])}`)
    expect(r.code).toBe(2)
    expect(hasStackTrace(r.text)).toBe(false)
    expect(lines(r.text)).toEqual(['xst verify: --max-errors: expected an integer greater than or equal to 1 but received: 0', 'See: xst verify --help'])
  })
})

// dump-core draws its task list the way convert does (src/cli/task-list.ts).
const DUMP_TASK_LINE = /^\S (Read image|Write dump)\b/

describe.skipIf(!hasScript)('at a terminal: dump-core', () => {
  it('a good dump draws the task list on the terminal', async () => {
    const dir = setup()
    const r = await runTty(xstLine(['dump-core', 'good.legacy', 'guest.core']), {cwd: dir})
    expect(r.code, r.text).toBe(0)
    expect(r.text).toMatch(/✔ Read image: legacy PV /)
    expect(r.text).toMatch(/✔ Write dump: .* \(elf\) in [\d.]+ s/)
    expect(r.text).toMatch(/^dumped good.legacy -> guest.core \(ELF xen dump-core\)$/m)
    // A terminal without a size (script gives 0 columns) still gets whole lines, not a letter a line.
    expect(lines(r.text).every((l) => l.length > 1)).toBe(true)
    expect(r.raw.lastIndexOf('\x1b[?25h')).toBeGreaterThan(r.raw.lastIndexOf('\x1b[?25l'))
    expect(statSync(join(dir, 'guest.core')).size).toBeGreaterThan(4096)
  })

  it('a log behind > gets only the report; the terminal no task list, at most one progress line, blanked', async () => {
    const dir = setup()
    const r = await runTty(`${xstLine(['dump-core', 'good.legacy', 'guest.core'])} > log`, {cwd: dir})
    expect(r.code, r.text).toBe(0)
    expect(r.raw).not.toMatch(CURSOR_UP)
    expect(r.raw).not.toMatch(TASK_MARK)
    expect(screen(r.raw).filter((l) => l.trim() !== '')).toEqual([])
    const log = readFileSync(join(dir, 'log'), 'utf8')
    expect(log).toMatch(/^dumped good.legacy -> guest.core \(ELF xen dump-core\)\n/)
    expect(log).not.toMatch(TASK_MARK)
    expect(log).not.toMatch(/Read image|Write dump|\x1b/)
    expect(statSync(join(dir, 'guest.core')).size).toBeGreaterThan(4096)
  })

  it('an existing CORE: exit 2, the one line alone (no task list); a bad image: exit 1, one line, nothing left', async () => {
    const dir = setup()
    writeFileSync(join(dir, 'guest.core'), 'precious')
    const r = await runTty(xstLine(['dump-core', 'good.legacy', 'guest.core']), {cwd: dir})
    expect(r.code, r.text).toBe(2)
    expect(lines(r.text)).toEqual(['xst dump-core: guest.core: already exists; use --force to replace it'])
    expect(readFileSync(join(dir, 'guest.core'), 'utf8')).toBe('precious')
    writeFileSync(join(dir, 'bad.legacy'), vectorBytes('legacy', 'bad-duplicate-pfn-in-batch.legacy.gz'))
    const bad = await runTty(xstLine(['dump-core', 'bad.legacy', 'bad.core']), {cwd: dir})
    expect(bad.code, bad.text).toBe(1)
    expect(hasStackTrace(bad.text)).toBe(false)
    const messages = lines(bad.text).filter((l) => !DUMP_TASK_LINE.test(l))
    expect(messages, bad.text).toEqual([expect.stringMatching(/^xst dump-core: byte \d+, chunk \d+, page batch: pfn .* appears twice/)])
    expect(readdirSync(dir).sort()).toEqual(['bad.legacy', 'good.legacy', 'guest.core'])
  })
})
