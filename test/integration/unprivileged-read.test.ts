// A file its reader may not read: the CLI run as an unprivileged user
// (setpriv when the tests run as root), which only a process of its own can
// be (from hostile-inputs.test.ts, whose other tests run in process).
import {chmodSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {vectorBytes} from '../helpers/fixtures.js'
import {runXst, tempDir} from '../helpers/cli.js'
import {expectOneLine, unprivileged} from '../fuzz/procs.js'

const LIMIT = 20_000
const PV = vectorBytes('legacy', 'pv64-xl.legacy.gz')
const COMMANDS = ['inspect-legacy', 'verify', 'convert'] as const

describe('paths that name no readable image', () => {
  it('a file without read permission, as an unprivileged user: permission denied (exit 2)', async ({skip}) => {
    // Tests run as root here, where file modes do not stop a read: drop to
    // nobody with setpriv when running as root, else the mode does it.
    const dir = tempDir()
    chmodSync(dir, 0o755)
    const file = join(dir, 'secret.legacy')
    writeFileSync(file, PV, {mode: 0o600})
    chmodSync(file, 0o000)
    const home = tempDir()
    chmodSync(home, 0o777)
    const prefix = unprivileged(home)
    if (prefix === null) return skip('no way to drop privileges here; the /proc/sys case stands in')
    for (const cmd of COMMANDS) {
      const args = cmd === 'convert' ? [cmd, file, join(home, 'out.v2')] : [cmd, file]
      const r = await runXst(args, {timeoutMs: LIMIT, env: {HOME: home}, argv0: prefix.length ? prefix : undefined})
      expectOneLine(r, cmd, 2, /secret\.legacy: permission denied$/)
    }
    expect(readdirSync(home)).toEqual([])
  })
})
