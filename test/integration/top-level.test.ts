// What comes before a command, in xst's words: an unknown command is one
// line naming the nearest one (exit 2, no oclif banner, no stack), and -V
// and `version` print the version as --version does.
import {describe, expect, it} from 'vitest'
import {runXst} from '../helpers/cli.js'

describe('unknown commands and the version', () => {
  it('an unknown command: one line, the nearest command, exit 2', async () => {
    for (const [typed, line] of [
      ['conver', 'xst: unknown command "conver"; did you mean "convert"? (xst --help lists them)'],
      ['verfy', 'xst: unknown command "verfy"; did you mean "verify"? (xst --help lists them)'],
      ['dump', 'xst: unknown command "dump"; did you mean "dump-core"? (xst --help lists them)'],
      ['frobnicate', 'xst: unknown command "frobnicate" (xst --help lists them)'],
      ['a\x1bb', 'xst: unknown command "a\\eb" (xst --help lists them)'],
    ]) {
      const r = await runXst([typed, 'x.save'])
      expect(r.code, typed).toBe(2)
      expect(r.stdout).toBe('')
      expect(r.stderr).toBe(`${line}\n`)
    }
  })

  it("-V and version print what --version prints (exit 0); -v stays convert's", async () => {
    const want = await runXst(['--version'])
    expect(want.code).toBe(0)
    expect(want.stdout).toMatch(/^xst\/\d+\.\d+\.\d+ /)
    for (const args of [['-V'], ['version']]) {
      const r = await runXst(args)
      expect(r.code, args[0]).toBe(0)
      expect(r.stdout).toBe(want.stdout)
      expect(r.stderr).toBe('')
    }
    const help = await runXst(['convert', '--help'])
    expect(help.stdout).toMatch(/-v, --verbose/)
  })
})
