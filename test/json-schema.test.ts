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

/** Every object schema in `schema` (the nodes whose type is or includes "object"), with its JSON pointer. */
function objectSchemas(schema: unknown, at = ''): Array<[string, Record<string, unknown>]> {
  if (Array.isArray(schema)) return schema.flatMap((s, i) => objectSchemas(s, `${at}/${i}`))
  if (schema === null || typeof schema !== 'object') return []
  const node = schema as Record<string, unknown>
  const type = node.type
  const own: Array<[string, Record<string, unknown>]> = type === 'object' || (Array.isArray(type) && type.includes('object')) ? [[at || '/', node]] : []
  return [...own, ...Object.entries(node).flatMap(([k, v]) => objectSchemas(v, `${at}/${k}`))]
}

/** Shared shapes left open on purpose: a base each use closes with the command's own fields. */
const OPEN_BASES = new Set(['/$defs/pages'])

describe('JSON Schemas of --json (docs/json-schema/)', () => {
  it('one file per command, none other', () => {
    expect(readdirSync(DOCS).sort()).toEqual(SCHEMA_COMMANDS.map((c) => `${c}.json`).sort())
  })

  it.for(SCHEMA_COMMANDS)('docs/json-schema/%s.json is what src/cli/vocabulary.ts declares', (command) => {
    expect(JSON.parse(readFileSync(join(DOCS, `${command}.json`), 'utf8'))).toEqual(commandSchema(command))
  })

  it.for(SCHEMA_COMMANDS)('docs/json-schema/%s.json declares every object it has: no bare {type: "object"}, none open but a map of named values', (command) => {
    const schema = JSON.parse(readFileSync(join(DOCS, `${command}.json`), 'utf8'))
    const objects = objectSchemas(schema)
    expect(objects.length).toBeGreaterThan(0)
    const bare: string[] = []
    const open: string[] = []
    for (const [at, node] of objects) {
      const properties = node.properties as Record<string, unknown> | undefined
      const more = node.additionalProperties
      const isMap = typeof more === 'object' && more !== null
      // Its keys named (properties), or what its values are (a map: additionalProperties a schema).
      if (!(properties && Object.keys(properties).length > 0) && !isMap) bare.push(at)
      // Named keys and nothing else, unless it is a base that each use closes.
      if (properties && more !== false && !OPEN_BASES.has(at)) open.push(at)
    }
    expect(bare, 'objects declared as {type: "object"} alone: give them their properties').toEqual([])
    expect(open, 'objects with named keys that allow others: close them (additionalProperties: false)').toEqual([])
  })

  it('the schemas refuse a key a nested object does not have', () => {
    const verify = JSON.parse(readFileSync(join(GOLDEN, 'verify-xl-migrate-capture.json'), 'utf8'))
    expect(schemaErrors('verify', verify)).toBe('')
    const image = verify.images[0]
    const summary = image.summary
    for (const changed of [
      {...summary, emulator: {...summary.emulator, surprise: 1}},
      {...summary, xlHeader: {...summary.xlHeader, config: {deviceModel: 'bochs'}}},
      {...summary, tail: {...summary.tail, surprise: 1}},
      {...summary, checkpoints: {kind: 'remus'}},
      {...summary, pages: {...summary.pages, surprise: 1}},
    ])
      expect(schemaErrors('verify', {...verify, images: [{...image, summary: changed}]})).not.toBe('')
    const inspect = JSON.parse(readFileSync(join(GOLDEN, 'inspect-legacy-pv-xl.json'), 'utf8'))
    expect(schemaErrors('inspect-legacy', inspect)).toBe('')
    expect(schemaErrors('inspect-legacy', {...inspect, body: {...inspect.body, vcpuInfo: {...inspect.body.vcpuInfo, surprise: 1}}})).not.toBe('')
    expect(schemaErrors('inspect-legacy', {...inspect, tail: {...inspect.tail, kind: 'hvm'}})).not.toBe('')
    expect(schemaErrors('inspect-legacy', {...inspect, extendedInfo: {...inspect.extendedInfo, blocks: [{id: 'vcpu'}]}})).not.toBe('')
    expect(schemaErrors('inspect-legacy', {...inspect, container: {...inspect.container, surprise: 1}})).not.toBe('')
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
