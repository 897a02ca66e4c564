// Progress that never erases what it did not write (progress-mode.ts): at a
// real pseudo-terminal (util-linux `script`) shared with other programs,
// xst's progress leaves their lines on screen. The task list, which moves
// the cursor up to redraw, is drawn only when stdout and stderr are both
// the terminal; otherwise a single line rewritten with \r, or nothing.
import {spawn} from 'node:child_process'
import {execFileSync} from 'node:child_process'
import {createWriteStream, readFileSync, writeFileSync} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import {once} from 'node:events'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {BIN, tempDir} from '../helpers/cli.js'
import {vectorBytes} from '../helpers/fixtures.js'
import {CURSOR_UP, hasScript, runTty, screen, startTty, xstLine} from '../helpers/tty.js'
import {until} from '../helpers/wait.js'
import {largeImageSpec, legacyPieces} from '../builders/legacy.js'

/** The task list's marks. */
const TASK_MARK = /[✔✖◼]/
/** A colour or other SGR styling. */
const SGR = /\x1b\[[0-9;]*m/
/** What the single progress line says, for convert and for dump-core. */
const PROGRESS = /converting: |reading image: |writing dump: /

const BIG = 32 << 20

/** A 32 MiB legacy PV image, in pieces. */
const bigPieces = () => Array.from(legacyPieces(largeImageSpec({guest: 'pv', bytes: BIG})))

/** A temp dir holding good.legacy (pv64-xl, small), and with `big` big.legacy (32 MiB). */
function setup(big = false): string {
  const dir = tempDir('xst-progress-')
  writeFileSync(join(dir, 'good.legacy'), vectorBytes('legacy', 'pv64-xl.legacy.gz'))
  if (big) writeFileSync(join(dir, 'big.legacy'), Buffer.concat(bigPieces()))
  return dir
}

const nonBlank = (rows: string[]) => rows.filter((l) => l.trim() !== '')

const COMMANDS = [
  {name: 'dump-core', args: (input: string, output: string) => ['dump-core', '-f', 'raw', input, output]},
  {name: 'convert', args: (input: string, output: string) => ['convert', input, output]},
] as const

describe.skipIf(!hasScript)('progress at a terminal shared with other programs', () => {
  for (const c of COMMANDS) {
    it(`${c.name} IMG - | (xxd | head -3): xxd's three lines stay on screen; no task list, no cursor-up`, async () => {
      const dir = setup(true)
      const r = await runTty(`${xstLine(c.args('big.legacy', '-'))} | (xxd | head -3)`, {cwd: dir})
      expect(r.raw).not.toMatch(CURSOR_UP)
      expect(r.raw).not.toMatch(TASK_MARK)
      const shown = screen(r.raw)
      for (const offset of ['00000000: ', '00000010: ', '00000020: '])
        expect(
          shown.filter((l) => l.includes(offset)),
          r.raw,
        ).toHaveLength(1)
      // What xxd printed, line for line, as on the screen.
      const xxd = execFileSync('sh', ['-c', `${xstLine(c.args('big.legacy', '-'))} 2>/dev/null | xxd | head -3`], {cwd: dir, encoding: 'utf8'})
        .trimEnd()
        .split('\n')
      for (const l of xxd)
        expect(
          shown.some((s) => s.endsWith(l.trimEnd())),
          `${l}\n${shown.join('\n')}`,
        ).toBe(true)
    })

    it(`${c.name}: lines another program prints while the progress line shows stay on screen, and the line is blanked at the end`, async () => {
      // One write of both lines, so that no progress is drawn between them.
      // The input is a FIFO the test feeds: the run is certainly under way
      // (its progress line drawn) when the other program writes, and after.
      const dir = tempDir('xst-progress-')
      const input = join(dir, 'in.legacy')
      const go = join(dir, 'go')
      execFileSync('mkfifo', [input, go])
      const line = `{ read x < go; printf 'OTHER-1\\nOTHER-2\\n'; } & ${xstLine(c.args('in.legacy', 'out'))} > log; s=$?; wait; exit $s`
      const run = startTty(line, {cwd: dir})
      const feed = createWriteStream(input)
      feed.on('error', () => {})
      const pieces = bigPieces()
      let i = 0
      const feedUpTo = async (bytes: number) => {
        for (let fed = 0; i < pieces.length && fed < bytes; i++) {
          fed += pieces[i].length
          if (!feed.write(pieces[i])) await once(feed, 'drain')
        }
      }
      await feedUpTo(BIG / 4)
      await until(() => PROGRESS.test(run.shown()), 'the progress line is drawn')
      await writeFile(go, 'x\n')
      await until(() => run.shown().includes('OTHER-2'), 'the other program has written')
      // The progress line is drawn again, below the other program's lines.
      const after = run.shown().length
      await feedUpTo(BIG / 4)
      await until(() => PROGRESS.test(run.shown().slice(after)), 'the progress line is drawn again')
      await feedUpTo(BIG)
      feed.end()
      const r = await run.done
      expect(r.code, r.text).toBe(0)
      expect(r.raw).not.toMatch(CURSOR_UP)
      expect(r.raw).not.toMatch(TASK_MARK)
      expect(r.raw).not.toMatch(/\x1b/)
      const shown = nonBlank(screen(r.raw))
      // The other program's lines, whole, and in order; the progress line was
      // on the row the first was written after (the cursor at its end), so
      // that row begins with it; the row the progress line was last drawn on is blank.
      expect(shown).toHaveLength(2)
      expect(shown[0]).toMatch(/OTHER-1$/)
      expect(shown[1]).toBe('OTHER-2')
      expect(readFileSync(join(dir, 'log'), 'utf8')).toMatch(c.name === 'convert' ? /^converted in.legacy -> out/ : /^dumped in.legacy -> out/)
    })
  }
})

describe.skipIf(!hasScript)('the progress modes at a terminal', () => {
  it('TERM=dumb: no task list and no cursor movement, the report still shown', async () => {
    const dir = setup()
    const r = await runTty(xstLine(['convert', 'good.legacy', 'new.v2']), {cwd: dir, env: {TERM: 'dumb'}})
    expect(r.code, r.text).toBe(0)
    expect(r.raw).not.toMatch(CURSOR_UP)
    expect(r.raw).not.toMatch(TASK_MARK)
    expect(r.text).toContain('converted good.legacy -> new.v2')
  })

  it('NO_COLOR: the task list without colour', async () => {
    const dir = setup()
    const coloured = await runTty(xstLine(['convert', 'good.legacy', 'a.v2']), {cwd: dir})
    expect(coloured.raw).toMatch(SGR)
    const r = await runTty(xstLine(['convert', 'good.legacy', 'b.v2']), {cwd: dir, env: {NO_COLOR: '1'}})
    expect(r.code, r.text).toBe(0)
    expect(r.text).toMatch(/✔ Convert: /)
    expect(r.raw).not.toMatch(SGR)
  })

  it('CI set: no progress unless --progress; CI=false as unset', async () => {
    const dir = setup()
    const ci = await runTty(xstLine(['dump-core', 'good.legacy', 'a.core']), {cwd: dir, env: {CI: 'true'}})
    expect(ci.code, ci.text).toBe(0)
    expect(ci.raw).not.toMatch(TASK_MARK)
    expect(ci.raw).not.toMatch(PROGRESS)
    expect(ci.text).toMatch(/^dumped good.legacy -> a.core/)
    const forced = await runTty(xstLine(['dump-core', '--progress', 'good.legacy', 'b.core']), {cwd: dir, env: {CI: 'true'}})
    expect(forced.text).toMatch(/✔ Write dump: /)
    const notCI = await runTty(xstLine(['dump-core', 'good.legacy', 'c.core']), {cwd: dir, env: {CI: 'false'}})
    expect(notCI.text).toMatch(/✔ Write dump: /)
  })

  it('--no-progress: no task list, the report shown', async () => {
    const dir = setup()
    const r = await runTty(xstLine(['convert', '--no-progress', 'good.legacy', 'new.v2']), {cwd: dir})
    expect(r.code, r.text).toBe(0)
    expect(r.raw).not.toMatch(TASK_MARK)
    expect(r.raw).not.toMatch(CURSOR_UP)
    expect(r.text).toMatch(/^converted good.legacy -> new.v2/)
  })

  it('-q: nothing at all on success; a failure is still its one line', async () => {
    const dir = setup()
    for (const args of [
      ['convert', '-q', 'good.legacy', 'new.v2'],
      ['dump-core', '--quiet', 'good.legacy', 'guest.core'],
    ]) {
      const r = await runTty(xstLine(args), {cwd: dir})
      expect(r.code, r.text).toBe(0)
      expect(r.raw, args.join(' ')).toBe('')
    }
    const again = await runTty(xstLine(['convert', '-q', 'good.legacy', 'new.v2']), {cwd: dir})
    expect(again.code).toBe(2)
    expect(nonBlank(screen(again.raw))).toEqual(['xst convert: new.v2: already exists; use --force to replace it'])
    writeFileSync(join(dir, 'bad.legacy'), vectorBytes('legacy', 'bad-duplicate-pfn-in-batch.legacy.gz'))
    const bad = await runTty(xstLine(['dump-core', '-q', 'bad.legacy', 'bad.core']), {cwd: dir})
    expect(bad.code).toBe(1)
    expect(nonBlank(screen(bad.raw))).toEqual([expect.stringMatching(/^xst dump-core: byte \d+, chunk \d+, page batch: pfn .* appears twice/)])
  })
})

describe('progress when stderr is not a terminal', () => {
  it('none by default; --progress: the single line, rewritten with \\r and blanked, no escape sequence', async () => {
    const dir = setup()
    // Without --progress: stderr holds nothing.
    const quiet = spawn(process.execPath, [BIN, 'dump-core', 'good.legacy', 'a.core'], {cwd: dir, stdio: ['ignore', 'ignore', 'pipe']})
    let quietErr = ''
    quiet.stderr.on('data', (d) => (quietErr += d))
    expect(await once(quiet, 'close')).toEqual([0, null])
    expect(quietErr).toBe('')
    // With it, fed through a FIFO so that the line is certainly drawn.
    const input = join(dir, 'in.legacy')
    execFileSync('mkfifo', [input])
    const child = spawn(process.execPath, [BIN, 'dump-core', '--progress', 'in.legacy', 'b.core'], {cwd: dir, stdio: ['ignore', 'ignore', 'pipe']})
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    const closed = once(child, 'close')
    const feed = createWriteStream(input)
    feed.on('error', () => {})
    const pieces = bigPieces()
    let i = 0
    for (let fed = 0; fed < BIG / 2; i++) {
      fed += pieces[i].length
      if (!feed.write(pieces[i])) await once(feed, 'drain')
    }
    await until(() => /reading image: /.test(err), 'the progress line is written')
    for (; i < pieces.length; i++) if (!feed.write(pieces[i])) await once(feed, 'drain')
    feed.end()
    expect(await closed).toEqual([0, null])
    expect(err).toMatch(/^\rreading image: /)
    expect(err).not.toMatch(/\x1b|\n/)
    expect(err).toMatch(/\r {10,}\r$/)
    expect(screen(err).every((l) => l.trim() === '')).toBe(true)
  })
})
