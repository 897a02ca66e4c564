// The mode of a file convert or dump-core writes: the input's, less the
// umask of the process (a shell's `umask`), which only a process of its own
// can be given (from output-special.test.ts).
import {chmodSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {vectorBytes} from '../helpers/fixtures.js'
import {BIN, inputsDir, runNode} from '../helpers/cli.js'

const PV = () => vectorBytes('legacy', 'pv64-xl.legacy.gz')
const PV_LIBXL = () => vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')

describe('the mode of a file written', () => {
  /** xst under `umask MASK`, as a shell with that umask runs it. */
  const underUmask = (mask: string, args: string[], input?: Buffer) => runNode([BIN, ...args], {argv0: ['sh', '-c', `umask ${mask}; exec "$@"`, 'sh', process.execPath], input})
  const mode = (p: string) => statSync(p).mode & 0o7777

  it("a new NEW or CORE takes the input file's read/write bits, less the umask (as cp does)", async () => {
    const dir = inputsDir()
    const input = join(dir, 'in.legacy')
    chmodSync(input, 0o640)
    const c = await underUmask('022', ['convert', input, join(dir, 'new.v2')])
    expect(c.code, c.stderr).toBe(0)
    expect(mode(join(dir, 'new.v2'))).toBe(0o640)
    chmodSync(input, 0o755)
    const d = await underUmask('022', ['dump-core', input, join(dir, 'guest.core')])
    expect(d.code, d.stderr).toBe(0)
    expect(mode(join(dir, 'guest.core'))).toBe(0o644)
    const m = await underUmask('077', ['convert', input, join(dir, 'masked.v2')])
    expect(m.code, m.stderr).toBe(0)
    expect(mode(join(dir, 'masked.v2'))).toBe(0o600)
  })

  it('from a pipe: owner-only (0600), whatever the umask allows', async () => {
    const dir = inputsDir()
    const r = await underUmask('022', ['convert', '-', join(dir, 'new.v2')], PV())
    expect(r.code, r.stderr).toBe(0)
    expect(mode(join(dir, 'new.v2'))).toBe(0o600)
  })

  it('--force keeps the mode of the file it replaces, whatever the umask', async () => {
    const dir = inputsDir()
    const out = join(dir, 'new.v2')
    writeFileSync(out, 'old')
    chmodSync(out, 0o664)
    const r = await underUmask('077', ['convert', '--force', join(dir, 'in.legacy'), out])
    expect(r.code, r.stderr).toBe(0)
    expect(mode(out)).toBe(0o664)
    expect(readFileSync(out).equals(PV_LIBXL())).toBe(true)
  })
})
