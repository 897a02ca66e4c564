// What node loads when it starts xst: a developer's shell sets NODE_ENV,
// and oclif then looked for TypeScript sources (from diagnostics.test.ts;
// only a process of its own shows what it loaded).
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {vectorBytes} from '../helpers/fixtures.js'
import {runXst, tempDir, tempFile} from '../helpers/cli.js'

const PV = () => vectorBytes('legacy', 'pv64-xl.legacy.gz')
const PV_LIBXL = () => vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')

describe('a developer shell (NODE_ENV=development or test)', () => {
  // oclif treats those as "run the TypeScript sources": it used to find our
  // tsconfig.json and load the TypeScript compiler at every start (twice the CPU).
  it.each(['development', 'test'])('NODE_ENV=%s: converts as usual, without loading a TypeScript toolchain', async (env) => {
    const dir = tempDir()
    const watch = join(dir, 'watch.cjs')
    writeFileSync(
      watch,
      `process.on('exit', () => { const ts = Object.keys(require.cache).filter((p) => /node_modules\\/(typescript|ts-node|tsx)\\//.test(p)); require('fs').writeSync(2, 'toolchain:' + JSON.stringify(ts) + '\\n') })\n`,
    )
    const out = join(dir, 'out.v2')
    const r = await runXst(['convert', tempFile('in.save', PV()), out], {env: {NODE_ENV: env, NODE_OPTIONS: `--require ${watch}`}})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toBe('toolchain:[]\n')
    expect(readFileSync(out).equals(PV_LIBXL())).toBe(true)
  })
})

describe('a HOME xst cannot read (another user under sudo)', () => {
  // oclif looks for user-installed plugins under $XDG_DATA_HOME (or
  // $HOME/.local/share) at every start, and warned in two lines when it could
  // not read there; xst has no plugins, so it does not look.
  it.each([
    ['HOME is a file', () => ({HOME: tempFile('home', Buffer.from('x')), XDG_DATA_HOME: ''})],
    ['XDG_DATA_HOME is a file', () => ({XDG_DATA_HOME: tempFile('data', Buffer.from('x'))})],
  ])('%s: identify and convert print only what they always print', async (_, env) => {
    const input = tempFile('in.save', PV())
    const out = join(tempDir(), 'out.v2')
    const [identify, convert] = await Promise.all([runXst(['identify', input], {env: env()}), runXst(['convert', input, out], {env: env()})])
    expect(identify.code, identify.stderr).toBe(0)
    expect(identify.stderr).toBe('')
    expect(identify.stdout).toMatch(/^\S+: xl save file, legacy/)
    expect(convert.code, convert.stderr).toBe(0)
    expect(convert.stderr).not.toMatch(/ENOTDIR|EACCES|trace-warnings|\(node:/)
    expect(readFileSync(out).equals(PV_LIBXL())).toBe(true)
  })
})
