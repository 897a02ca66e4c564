// The error-code catalogue: the README lists exactly its codes (they are
// promised stable in --json), and every code in it is one xst reports.
import * as fs from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'
import {ERROR_CODES} from '../src/error-codes.js'
import {RESTORER_RULES} from '../src/v2/verify/restorer.js'
import {JSON_DOCUMENTS} from '../src/cli/json-fields.js'
import {RULES as RESTORE_RULES} from '../src/restore/assess.js'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Where each generated table lives (scripts/error-codes-readme.mjs writes them). */
const TABLE_FILES: Record<string, string> = {'error-codes': 'docs/error-codes.md', 'restorer-rules': 'docs/verify-rules.md', 'restore-rules': 'README.md', 'json-fields': 'docs/json.md'}

function readmeTable(name = 'error-codes'): Array<[string, string]> {
  const text = fs.readFileSync(path.join(root, TABLE_FILES[name]), 'utf8')
  const section = text.slice(text.indexOf(`<!-- ${name}: begin`), text.indexOf(`<!-- ${name}: end -->`))
  return [...section.matchAll(/^\| `([^`]+)` \| (.*) \|$/gm)].map((m) => [m[1], m[2]])
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, {withFileTypes: true}).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : []
  })
}

describe('error codes', () => {
  it('the README lists every code of the catalogue with its meaning, in its order (node scripts/error-codes-readme.mjs rewrites the table)', () => {
    expect(readmeTable()).toEqual(Object.entries(ERROR_CODES))
  })

  it('the README lists every verifier rule with its severity and the restorer function it mirrors', () => {
    expect(readmeTable('restorer-rules')).toEqual(Object.entries(RESTORER_RULES).map(([code, r]) => [code, `${r.severity} | ${r.mirrors.replace(/\|/g, '\\|')}`]))
  })

  it('the README\'s "Will it restore?" lists every restore condition of src/restore/assess.ts with what reveals it, the hosts and the source', () => {
    expect(readmeTable('restore-rules')).toEqual(RESTORE_RULES.map((r) => [r.id, [r.condition, r.hosts, r.source].map((x) => x.replace(/\|/g, '\\|')).join(' | ')]))
  })

  it('the README lists the fields of every --json document as src/cli/json-fields.ts declares them', () => {
    const declared = Object.values(JSON_DOCUMENTS).flatMap((d) => d.fields.map((x) => [x.name, `${x.meaning.replace(/\|/g, '\\|')}${'optional' in x && x.optional ? ' (only when asked for)' : ''}`]))
    expect(readmeTable('json-fields')).toEqual(declared)
  })

  it('codes are short kebab-case words and meanings one line', () => {
    for (const [code, meaning] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/)
      expect(meaning).not.toMatch(/\n|\|/)
      expect(meaning.length).toBeGreaterThan(10)
    }
  })

  it('every code in the catalogue is reported somewhere in src/ (no entry outlives its last use)', () => {
    const src = path.join(root, 'src')
    const text = sourceFiles(src)
      .filter((f) => !f.endsWith('error-codes.ts'))
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n')
    // A retired code stays in the catalogue (scripts may still match on it) but is reported nowhere.
    const live = Object.entries(ERROR_CODES).filter(([, meaning]) => !meaning.startsWith('retired'))
    const unused = live.map(([code]) => code).filter((code) => !text.includes(`'${code}'`))
    expect(unused).toEqual([])
  })
})

describe('system errors while writing', () => {
  // A quota (EDQUOT) is a name libuv lacks: Node's error has errno -122 and
  // code "Unknown system error -122", which users saw as the message.
  it('EDQUOT as Node reports it: "disk quota exceeded", code no-space, exit 1', async () => {
    const {outputSystemError} = await import('../src/errors.js')
    const e = Object.assign(new Error('Unknown system error -122: Unknown system error -122, write'), {errno: -122, code: 'Unknown system error -122', syscall: 'write'})
    const x = outputSystemError(e, 'out.v2')
    expect([x.message, x.code, x.exitCode]).toEqual(['out.v2: disk quota exceeded', 'no-space', 1])
    // And a full disk stays what it was.
    const full = outputSystemError(Object.assign(new Error('ENOSPC: no space left on device, write'), {errno: -28, code: 'ENOSPC'}), 'out.v2')
    expect([full.message, full.code]).toEqual(['out.v2: no space left on device', 'no-space'])
  })
})
