// Which progress convert and dump-core show (progressMode, src/cli/progress-mode.ts),
// and the single line they fall back to (LineProgress).
import {describe, expect, it} from 'vitest'
import {isCI, type ProgressContext, progressMode} from '../src/cli/progress-mode.js'
import {LineProgress} from '../src/cli/line-progress.js'

const tty = {stdoutTTY: true, stderrTTY: true}
const mode = (c: Partial<ProgressContext>) => progressMode({stdoutTTY: false, stderrTTY: false, env: {TERM: 'xterm'}, flags: {}, ...c})

describe('progressMode', () => {
  it('redraws only when stdout and stderr are both terminals', () => {
    expect(mode({...tty})).toBe('redraw')
    expect(mode({stdoutTTY: false, stderrTTY: true})).toBe('line')
    expect(mode({stdoutTTY: true, stderrTTY: false})).toBe('none')
    expect(mode({stdoutTTY: false, stderrTTY: false})).toBe('none')
  })

  it('TERM=dumb: a single line at most, never a redraw', () => {
    expect(mode({...tty, env: {TERM: 'dumb'}})).toBe('line')
    expect(mode({stdoutTTY: false, stderrTTY: true, env: {TERM: 'dumb'}})).toBe('line')
    expect(mode({stdoutTTY: false, stderrTTY: false, env: {TERM: 'dumb'}})).toBe('none')
    expect(mode({...tty, env: {TERM: 'dumb'}, flags: {progress: true}})).toBe('line')
  })

  it('-q, --json and the helper interface: none, unless --progress', () => {
    expect(mode({...tty, flags: {quiet: true}})).toBe('none')
    expect(mode({...tty, machine: true})).toBe('none')
    expect(mode({...tty, flags: {quiet: true, progress: true}})).toBe('redraw')
    expect(mode({...tty, machine: true, flags: {progress: true}})).toBe('redraw')
    expect(mode({stderrTTY: true, machine: true, flags: {progress: true}})).toBe('line')
  })

  it('CI set (non-empty, not "false"): none unless --progress', () => {
    for (const CI of ['true', '1', 'yes', 'woodpecker']) {
      expect(mode({...tty, env: {TERM: 'xterm', CI}})).toBe('none')
      expect(mode({...tty, env: {TERM: 'xterm', CI}, flags: {progress: true}})).toBe('redraw')
      expect(mode({stderrTTY: true, env: {TERM: 'xterm', CI}, flags: {progress: true}})).toBe('line')
    }
    for (const CI of ['', 'false', 'FALSE', undefined]) expect(mode({...tty, env: {TERM: 'xterm', CI}})).toBe('redraw')
  })

  it('--progress forces a single line when stderr is not a terminal; --no-progress none, whatever else', () => {
    expect(mode({flags: {progress: true}})).toBe('line')
    expect(mode({stdoutTTY: true, flags: {progress: true}})).toBe('line')
    for (const c of [{...tty}, {stderrTTY: true}, {...tty, env: {TERM: 'dumb'}}, {...tty, flags: {quiet: false}}]) expect(mode({...c, flags: {progress: false}})).toBe('none')
  })

  it('NO_COLOR changes no mode (the list is drawn without colour)', () => {
    expect(mode({...tty, env: {TERM: 'xterm', NO_COLOR: '1'}})).toBe('redraw')
    expect(mode({stderrTTY: true, env: {TERM: 'xterm', NO_COLOR: '1'}})).toBe('line')
  })

  it('isCI reads CI as documented', () => {
    expect([isCI({}), isCI({CI: ''}), isCI({CI: 'false'}), isCI({CI: 'true'}), isCI({CI: '0'})]).toEqual([false, false, false, true, true])
  })
})

/** A stand-in for stderr: what was written to it, as one string. */
function fakeStream(columns = 40) {
  const out: string[] = []
  const stream = {
    isTTY: true,
    columns,
    write(s: string) {
      out.push(String(s))
      return true
    },
  }
  return {stream: stream as unknown as NodeJS.WriteStream, text: () => out.join('')}
}

describe('LineProgress', () => {
  it('rewrites one line with \\r, pads over what it showed, blanks it at the end; no escape sequence at all', () => {
    const {stream, text} = fakeStream()
    const line = new LineProgress(stream)
    line.show('reading image: 10 MiB')
    line.show('reading image: 10 MiB')
    line.show('writing: 5')
    line.end()
    expect(text()).toBe(`\rreading image: 10 MiB\rwriting: 5${' '.repeat(11)}\r${' '.repeat(21)}\r`)
    expect(text()).not.toMatch(/\x1b|\n/)
  })

  it('never wider than the terminal (a wrapped line would leave its first row behind)', () => {
    const {stream, text} = fakeStream(20)
    const line = new LineProgress(stream)
    line.show('x'.repeat(100))
    expect(text()).toBe(`\r${'x'.repeat(19)}`)
    line.end()
  })

  it('another write to the stream meanwhile (a warning) starts on a blank line; the stream is its own again after end()', () => {
    const {stream, text} = fakeStream()
    const own = stream.write
    const line = new LineProgress(stream)
    line.show('converting: 50%')
    stream.write('warning: something\n')
    line.show('converting: 60%')
    line.end()
    line.end()
    expect(text()).toBe(`\rconverting: 50%\r${' '.repeat(15)}\rwarning: something\n\rconverting: 60%\r${' '.repeat(15)}\r`)
    expect(stream.write).toBe(own)
  })
})
