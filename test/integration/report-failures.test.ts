// When the report itself cannot be written (stdout on a full disk: here
// /dev/full), every command says so in one line on stderr, saying whether
// its output was written, and exits 1: no uncaught exception, no stack
// trace, no page of the bundle. A reader that closes the pipe early ends
// xst quietly, and a stream sent to a stdout that was closed at start is
// refused. (Real processes: descriptors are the point.)
import {closeSync, existsSync, openSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {BIN, runNode, runXst, tempDir, tempFile} from '../helpers/cli.js'
import {vectorBytes} from '../helpers/fixtures.js'

const hasDevFull = existsSync('/dev/full')

describe('the report cannot be written', () => {
  it.skipIf(!hasDevFull).each([
    ['identify', [], ''],
    ['verify', [], ''],
    ['verify', ['--json'], ''],
    ['inspect-legacy', [], ''],
    ['inspect-legacy', ['--json', '--verbose'], ''],
    ['convert', [], 'OUT'],
    ['convert', ['--json'], 'OUT'],
    ['dump-core', [], 'OUT'],
  ] as const)('%s %s: one line, exit 1, and whether the output was written', async (command, flags, out) => {
    const dir = tempDir()
    const input = command === 'verify' ? tempFile('in.v2', vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')) : tempFile('in.save', vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    const output = join(dir, 'out')
    const full = openSync('/dev/full', 'w')
    try {
      const r = await runXst([command, ...flags, input, ...(out ? [output] : [])], {stdio: ['pipe', full, 'pipe']})
      expect(r.code).toBe(1)
      expect(r.stderr.trim().split('\n')).toEqual([`xst ${command}: cannot write the report: stdout: no space left on device${out ? `; ${output} was written` : ''}`])
      if (out) expect(existsSync(output)).toBe(true)
    } finally {
      closeSync(full)
    }
  })

  it.each(['convert', 'dump-core'])('%s to a stdout that was closed when xst started: exit 1, one line (the stream would go nowhere)', async (command) => {
    const input = tempFile('in.save', vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    const r = await runNode(['-c', `node "$0" ${command} "$1" - >&-; echo "status $?" >&2`, BIN, input], {argv0: ['bash']})
    expect(r.stderr.trim().split('\n')).toEqual([`xst ${command}: stdout: not open (it was closed when xst started), so the stream would go nowhere`, 'status 1'])
    // Sent to /dev/null on purpose, it is written there.
    const ok = await runNode(['-c', `node "$0" ${command} "$1" - >/dev/null 2>&1; echo "status $?" >&2`, BIN, input], {argv0: ['bash']})
    expect(ok.stderr.trim()).toBe('status 0')
  })

  it('a reader that closes the pipe early ends xst quietly', async () => {
    const input = tempFile('in.save', vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    // `xst inspect-legacy --verbose IMG | head -c 1`: the reader goes away at once.
    const r = await runNode(['-c', `node "$0" inspect-legacy --verbose --json "$1" | head -c 1 >/dev/null; echo "status \${PIPESTATUS[0]}" >&2`, BIN, input], {argv0: ['bash']})
    expect(r.stderr).not.toMatch(/Error|at .*\(/)
    expect(r.stderr).toMatch(/^status (0|141)$/m)
  })
})
