// The vocabulary of --json (src/cli/vocabulary.ts) as published: each
// command's JSON Schema in docs/json-schema/ is what the code declares
// (`npm run build && node scripts/json-schema.mjs` rewrites them), and every
// pinned document (test/golden/*.json) is valid against its command's
// schema. test/golden-json.test.ts validates the live runs the same way.
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {commandSchema, SCHEMA_COMMANDS} from '../src/cli/vocabulary.js'
import {ROOT} from './helpers/fixtures.js'
import {schemaErrors} from './helpers/json-schema.js'

const DOCS = join(ROOT, 'docs', 'json-schema')
const GOLDEN = join(ROOT, 'test', 'golden')

/** The command a golden file is of: its name starts with it. */
const commandOf = (file: string): string => SCHEMA_COMMANDS.filter((c) => file.startsWith(`${c}-`)).sort((a, b) => b.length - a.length)[0]

describe('JSON Schemas of --json (docs/json-schema/)', () => {
  it('one file per command, none other', () => {
    expect(readdirSync(DOCS).sort()).toEqual(SCHEMA_COMMANDS.map((c) => `${c}.json`).sort())
  })

  it.for(SCHEMA_COMMANDS)('docs/json-schema/%s.json is what src/cli/vocabulary.ts declares', (command) => {
    expect(JSON.parse(readFileSync(join(DOCS, `${command}.json`), 'utf8'))).toEqual(commandSchema(command))
  })

  it.for(readdirSync(GOLDEN).filter((f) => f.endsWith('.json')))("test/golden/%s is valid against its command's schema", (file) => {
    const command = commandOf(file)
    expect(command, `${file}: no command of that name`).toBeDefined()
    expect(schemaErrors(command, JSON.parse(readFileSync(join(GOLDEN, file), 'utf8')))).toBe('')
  })

  it('the schemas refuse what they should: an error without its keys, a guest type of another name', () => {
    const ok = JSON.parse(readFileSync(join(GOLDEN, 'convert-bad.json'), 'utf8'))
    expect(schemaErrors('convert', ok)).toBe('')
    expect(schemaErrors('convert', {...ok, error: {code: ok.error.code, message: ok.error.message}})).not.toBe('')
    const doc = JSON.parse(readFileSync(join(GOLDEN, 'dump-core-legacy-pv-elf.json'), 'utf8'))
    expect(schemaErrors('dump-core', {...doc, input: {...doc.input, guest: 'x86 PV'}})).not.toBe('')
    expect(schemaErrors('dump-core', {...doc, surprise: 1})).not.toBe('')
  })

  it("verify's document is {ok, images} whatever the number of images: a report at the top, or the old {ok, results}, is refused", () => {
    const doc = JSON.parse(readFileSync(join(GOLDEN, 'verify-bad.json'), 'utf8'))
    expect(schemaErrors('verify', doc)).toBe('')
    expect(schemaErrors('verify', doc.images[0])).not.toBe('')
    expect(schemaErrors('verify', {ok: doc.ok, results: doc.images})).not.toBe('')
  })
})
