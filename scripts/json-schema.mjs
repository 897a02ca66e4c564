#!/usr/bin/env node
// Writes docs/json-schema/<command>.json, the JSON Schema (draft 2020-12) of
// each command's --json output, from the vocabulary declared in
// src/cli/vocabulary.ts (built into dist/ by `npm run build`).
// test/json-schema.test.ts fails when a file and the code differ.
//
//   npm run build && node scripts/json-schema.mjs
import * as fs from 'node:fs'
import {commandSchema, SCHEMA_COMMANDS} from '../dist/cli/vocabulary.js'

const dir = new URL('../docs/json-schema/', import.meta.url)
fs.mkdirSync(dir, {recursive: true})
for (const command of SCHEMA_COMMANDS) {
  fs.writeFileSync(new URL(`${command}.json`, dir), JSON.stringify(commandSchema(command), null, 2) + '\n')
}
