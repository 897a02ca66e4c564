// Help that says what the commands do: convert's usage lines (OLD and NEW
// are required unless --in/--out), where its summary goes with - as NEW,
// dump-core's --force, both commands' EXIT STATUS, and an input that is not
// there named once.
import {describe, expect, it} from 'vitest'
import {vectorBytes} from './helpers/fixtures.js'
import {tempDir, tempFile} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'

const flat = (s: string) => s.replace(/\s+/g, ' ')

describe('help and messages', () => {
  it("convert's usage gives OLD NEW and --in/--out, not [OLD] [NEW]", async () => {
    const r = await runXstInProcess(['convert', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/USAGE\n {2}\$ xst convert OLD NEW \[FLAGS\]\n {2}\$ xst convert --in IN --out OUT \[FLAGS\]\n/)
    expect(r.stdout).not.toMatch(/\$ xst convert \[OLD\] \[NEW\]/)
    expect(flat(r.stdout)).toContain('The summary goes to stdout (to stderr when the stream does)')
  })

  it('with - as NEW the summary is on stderr, the stream alone on stdout', async () => {
    const old = tempFile('old.save', vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    const r = await runXstInProcess(['convert', old, '-'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdoutBytes.equals(vectorBytes('legacy', 'pv64-xl.libxl.v2.gz'))).toBe(true)
    expect(r.stderr).toMatch(/\S/)
  })

  it("dump-core's --force names the terminal case; convert and dump-core give their EXIT STATUS", async () => {
    const dump = flat((await runXstInProcess(['dump-core', '--help'])).stdout)
    expect(dump).toContain('--force replace CORE if it exists (or write a block device); write the dump to a terminal')
    expect(dump).toContain('not to a terminal unless --force is given')
    for (const cmd of ['convert', 'dump-core']) {
      const help = flat((await runXstInProcess([cmd, '--help'])).stdout)
      expect(help, cmd).toMatch(
        /EXIT STATUS: 0 \w+ written \(warnings allowed\); 1 .*; 2 a usage error .*; 128\+N when ended by signal N \(130 Ctrl-C, 143 SIGTERM.*; 141, with nothing said, when the reader of a pipe closes it early/,
      )
    }
  })

  it('the exit statuses the help gives are the ones returned', async () => {
    const dir = tempDir()
    const old = tempFile('old.save', vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    const bad = tempFile('bad.save', Buffer.alloc(64, 0x41))
    for (const cmd of ['convert', 'dump-core']) {
      expect((await runXstInProcess([cmd, old, join(dir, `${cmd}.out`)])).code, cmd).toBe(0)
      expect((await runXstInProcess([cmd, old, join(dir, `${cmd}.out`)])).code, `${cmd}: existing output`).toBe(2)
      expect((await runXstInProcess([cmd, join(dir, 'nosuch'), join(dir, 'x')])).code, `${cmd}: no input`).toBe(2)
      expect((await runXstInProcess([cmd, bad, join(dir, 'y')])).code, `${cmd}: bad input`).toBe(1)
    }
  })

  it('verify names an input that is not there once, alone or among several', async () => {
    const dir = tempDir()
    const missing = join(dir, 'nosuch')
    const one = await runXstInProcess(['verify', missing])
    expect(one.code).toBe(2)
    expect(one.stderr).toBe(`xst verify: ${missing}: no such file\n`)
    const two = await runXstInProcess(['verify', missing, `${missing}2`])
    expect(two.code).toBe(2)
    expect(two.stderr).toBe(`xst verify: ${missing}: no such file\nxst verify: ${missing}2: no such file\n`)
  })
})

describe('an output named *.gz without --gzip', () => {
  it('is written uncompressed, and one warning line says so (convert: --gzip compresses; dump-core never does)', async () => {
    const dir = tempDir()
    const old = tempFile('old.save', vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    const plain = join(dir, 'new.save.gz')
    const c = await runXstInProcess(['convert', old, plain])
    expect(c.code, c.stderr).toBe(0)
    expect(readFileSync(plain).equals(vectorBytes('legacy', 'pv64-xl.libxl.v2.gz'))).toBe(true)
    expect(c.stderr).toBe(`warning: ${plain} is named .gz but was written uncompressed; give --gzip to compress it\n`)
    // With --gzip: compressed, nothing said.
    const gz = join(dir, 'z.save.gz')
    const z = await runXstInProcess(['convert', '--gzip', old, gz])
    expect(z.stderr).toBe('')
    expect(gunzipSync(readFileSync(gz)).equals(vectorBytes('legacy', 'pv64-xl.libxl.v2.gz'))).toBe(true)
    // --json carries it as a warning.
    const j = await runXstInProcess(['convert', '--json', old, join(dir, 'j.gz')])
    expect(JSON.parse(j.stdout).warnings).toEqual([`${join(dir, 'j.gz')} is named .gz but was written uncompressed; give --gzip to compress it`])
    const core = join(dir, 'guest.core.gz')
    const d = await runXstInProcess(['dump-core', old, core])
    expect(d.code, d.stderr).toBe(0)
    expect(readFileSync(core).subarray(0, 4).toString('latin1')).toBe('\x7fELF')
    expect(d.stderr).toBe(`warning: ${core} is named .gz but was written uncompressed (dump-core does not compress: pipe - through gzip)\n`)
    // A name that is not .gz: nothing said.
    expect((await runXstInProcess(['convert', old, join(dir, 'new.save')])).stderr).toBe('')
    for (const cmd of ['convert', 'dump-core']) expect(flat((await runXstInProcess([cmd, '--help'])).stdout), cmd).toMatch(/even when named \*\.gz \(a warning then says so/)
  })
})

describe('advice names only flags the command takes', () => {
  it('an image no legacy layout fits: convert and inspect-legacy advise --width and --guest; dump-core and identify --json do not', async () => {
    const dir = tempDir()
    const bad = tempFile('nolayout.save', Buffer.alloc(64, 0x41))
    for (const cmd of ['convert', 'inspect-legacy']) {
      const r = await runXstInProcess(cmd === 'convert' ? [cmd, bad, join(dir, 'out')] : [cmd, bad])
      expect(r.code, cmd).toBe(1)
      expect(r.stderr, cmd).toContain('give --width and --guest')
    }
    const d = await runXstInProcess(['dump-core', '--json', bad, join(dir, 'core')])
    expect(d.code).toBe(1)
    expect(JSON.parse(d.stdout).error.code).toBe('undetectable')
    expect(d.stdout + d.stderr).not.toMatch(/--width|--guest/)
    const i = await runXstInProcess(['identify', '--json', bad])
    expect(JSON.parse(i.stdout).images[0].error.code).toBe('undetectable')
    expect(i.stdout + i.stderr).not.toMatch(/--width|--guest/)
  })
})
