// A file name with bytes that are not UTF-8 (a Latin-1 name, a damaged
// one): Node hands xst the name with U+FFFD in their place, which is
// another file's name. xst refuses such an argument (name-not-utf8, exit 2)
// rather than read or write a file the user did not name; only a real
// process has a command line of raw bytes (from bash's printf here).
import {spawnSync} from 'node:child_process'
import {existsSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {vectorBytes} from '../helpers/fixtures.js'
import {BIN, tempDir} from '../helpers/cli.js'

function bash(script: string, dir: string) {
  return spawnSync('bash', ['-c', script], {cwd: dir, env: {...process.env, XST: `${process.execPath} ${BIN}`}, encoding: 'utf8', timeout: 60_000})
}

describe('arguments that are not UTF-8', () => {
  it('an input named with a byte 0xff is refused, and the file whose name Node would have made of it is not read', () => {
    const dir = tempDir()
    // The name Node decodes "a\xffb.img" to: it exists, and must not be taken for it.
    writeFileSync(join(dir, 'a\uFFFDb.img'), vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    for (const cmd of ['identify', 'verify', 'inspect-legacy', 'dump-core --format raw']) {
      const r = bash(`$XST ${cmd} "$(printf 'a\\xffb.img')" ${cmd.startsWith('dump') ? 'core.raw' : ''}`, dir)
      expect(r.status, `${cmd}: ${r.stdout}${r.stderr}`).toBe(2)
      expect(r.stderr).toMatch(/^xst [a-z-]+: a\uFFFDb\.img: the name holds bytes that are not UTF-8/)
      expect(r.stdout).toBe('')
    }
    expect(existsSync(join(dir, 'core.raw'))).toBe(false)
  })

  it('an output named so is refused before anything is written; --json says name-not-utf8', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'in.img'), vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    const r = bash(`$XST convert --json in.img "$(printf 'out\\xfe.v2')"`, dir)
    expect(r.status).toBe(2)
    expect(JSON.parse(r.stdout).error.code).toBe('name-not-utf8')
    expect(readdirSync(dir)).toEqual(['in.img'])
  })

  it('names in UTF-8 (é, 日本) work as before', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'é日本.img'), vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    const r = bash(`$XST convert é日本.img 出力.v2`, dir)
    expect(r.status, r.stderr).toBe(0)
    expect(existsSync(join(dir, '出力.v2'))).toBe(true)
  })
})
