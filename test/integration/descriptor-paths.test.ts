// Outputs named by a path that is an inherited descriptor: /dev/stdout,
// /dev/stderr, /dev/fd/N and bash's >(cmd) (a /dev/fd/N of its own). They
// were refused ("the directory does not exist": /proc/self/fd/1 of a pipe
// leads nowhere); gzip -c > /dev/stdout writes there, and so does xst now,
// as it writes "-" or --out N: to the descriptor as it is, the report on
// stderr when the stream goes to stdout.
import {spawnSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {vectorBytes} from '../helpers/fixtures.js'
import {BIN, tempDir} from '../helpers/cli.js'

const PV_LIBXL = () => vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')

/** Run a bash script with $XST (node bin/run.js) and $IN (the pv64-xl image) set. */
function bash(script: string, dir: string) {
  const input = join(dir, 'in.legacy')
  writeFileSync(input, vectorBytes('legacy', 'pv64-xl.legacy.gz'))
  return spawnSync('bash', ['-c', script], {cwd: dir, env: {...process.env, XST: `${process.execPath} ${BIN}`, IN: input}, encoding: 'buffer', timeout: 60_000})
}

describe('an output that is an inherited descriptor', () => {
  it.each(['/dev/stdout', '/dev/fd/1', '/proc/self/fd/1'])('convert IN %s | cat: the stream on the pipe, the report on stderr', (name) => {
    const dir = tempDir()
    const r = bash(`$XST convert "$IN" ${name} | cat > out.v2`, dir)
    expect(r.status, r.stderr.toString()).toBe(0)
    expect(readFileSync(join(dir, 'out.v2')).equals(PV_LIBXL())).toBe(true)
    expect(r.stderr.toString()).toMatch(/-> stdout/)
  })

  it('convert IN /dev/stdout > file: written to the file the shell opened', () => {
    const dir = tempDir()
    const r = bash(`$XST convert "$IN" /dev/stdout > out.v2`, dir)
    expect(r.status, r.stderr.toString()).toBe(0)
    expect(readFileSync(join(dir, 'out.v2')).equals(PV_LIBXL())).toBe(true)
  })

  it('convert IN /dev/stderr 2> file: the stream on descriptor 2', () => {
    const dir = tempDir()
    const r = bash(`$XST convert "$IN" /dev/stderr 2> out.v2 > report.txt`, dir)
    expect(r.status).toBe(0)
    expect(readFileSync(join(dir, 'out.v2')).equals(PV_LIBXL())).toBe(true)
  })

  it("bash's >(cmd): convert and dump-core write to the process substitution", () => {
    const dir = tempDir()
    // `wait $!` waits for the substitution's cat (bash 4.4+), so its file is whole.
    const r = bash(`set -e; $XST convert "$IN" >(cat > out.v2); wait $!; $XST dump-core --format raw "$IN" >(cat > core.raw); wait $!; $XST dump-core --format raw "$IN" core.file`, dir)
    expect(r.status, r.stderr.toString()).toBe(0)
    expect(readFileSync(join(dir, 'out.v2')).equals(PV_LIBXL())).toBe(true)
    expect(readFileSync(join(dir, 'core.raw')).equals(readFileSync(join(dir, 'core.file')))).toBe(true)
  })

  it('/dev/fd/N of a descriptor not open: refused, nothing written', () => {
    const dir = tempDir()
    const r = bash(`$XST convert "$IN" /dev/fd/9`, dir)
    expect(r.status).toBe(2)
    expect(r.stderr.toString()).toMatch(/descriptor 9 is not open|\/dev\/fd\/9/)
  })
})
