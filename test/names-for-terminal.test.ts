// File names and image strings reach a terminal: a newline in a name must
// not split the one-line error or report line, and an escape sequence must
// not reach the terminal as one. Text output shows such characters escaped
// (\n, \e, \xNN), as coreutils quotes them; --json carries them exactly.
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {forTerminal} from '../src/text.js'
import {tempDir} from './helpers/cli.js'
import {runXstInProcess as runXst} from './helpers/in-process.js'
import {vectorBytes} from './helpers/fixtures.js'
import {verifyReport} from './helpers/verify-json.js'

const HOSTILE = 'a\nb\u001b[31mred\u0007.img'

describe('forTerminal', () => {
  it('escapes control characters, leaves the rest', () => {
    expect(forTerminal(HOSTILE)).toBe('a\\nb\\e[31mred\\a.img')
    expect(forTerminal('tab\there \u007f\u0085 é ü 😀')).toBe('tab\there \\x7f\\u0085 é ü 😀')
    expect(forTerminal('plain/name.img')).toBe('plain/name.img')
  })
})

describe('names with control characters', () => {
  it('an error naming such a file is one line, escaped; --json has the name exactly', async () => {
    const dir = tempDir()
    const file = join(dir, HOSTILE)
    const [text, json] = await Promise.all([runXst(['verify', file]), runXst(['verify', '--json', file])])
    expect(text.code).toBe(2)
    expect(text.stderr).toBe(`xst verify: ${join(dir, 'a\\nb\\e[31mred\\a.img')}: no such file\n`)
    // The file is the one image, unread: its error, and its path exactly.
    const image = verifyReport(json)
    expect(image.input.path).toBe(file)
    expect(image.error.message).toBe(`${file}: no such file`)
  })

  it('a report and a warning naming such a file are one line each, with no escape sequence', async () => {
    const dir = tempDir()
    const file = join(dir, HOSTILE)
    writeFileSync(file, vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    for (const cmd of [['identify'], ['inspect-legacy'], ['verify', '--verbose']]) {
      const r = await runXst([...cmd, file])
      expect(r.stdout + r.stderr, cmd.join(' ')).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
      expect(r.stdout, cmd.join(' ')).toContain('a\\nb\\e[31mred\\a.img')
    }
    const conv = await runXst(['convert', file, `${file}.v2`])
    expect(conv.code, conv.stderr).toBe(0)
    expect(conv.stdout + conv.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
    expect(conv.stdout).toContain('a\\nb\\e[31mred\\a.img.v2')
    const json = await runXst(['identify', '--json', file])
    expect(JSON.parse(json.stdout).images[0].input.path).toBe(file)
  })
})
