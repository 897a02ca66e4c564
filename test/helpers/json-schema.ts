// The published JSON Schemas (src/cli/vocabulary.ts), compiled once, to
// validate --json documents with: ajv, a validator of the draft the
// schemas are written in (2020-12).
import {Ajv2020} from 'ajv/dist/2020.js'
import {commandSchema, SCHEMA_COMMANDS} from '../../src/cli/vocabulary.js'

const ajv = new Ajv2020({allErrors: true, allowUnionTypes: true, strict: true})
const validators = new Map(SCHEMA_COMMANDS.map((c) => [c, ajv.compile(commandSchema(c))]))

/** Why `doc` is not what `command --json` may print (ajv's errors, one a line), or '' when it is. */
export function schemaErrors(command: string, doc: unknown): string {
  const validate = validators.get(command)
  if (!validate) throw new Error(`no JSON schema for ${command}`)
  if (validate(doc)) return ''
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)} (${e.schemaPath})`).join('\n')
}
