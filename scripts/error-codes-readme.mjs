#!/usr/bin/env node
// Writes the README's table of error codes from the catalogue
// (src/error-codes.ts, built into dist/ by `npm run build`), so the codes
// promised stable in --json are listed in one place and cannot drift, and
// the table of verify's rules from src/v2/verify/restorer.ts: each rule's
// severity and the restorer function it mirrors.
// test/error-codes.test.ts fails when a table and its source differ.
//
//   npm run build && node scripts/error-codes-readme.mjs
import * as fs from 'node:fs'
import {ERROR_CODES} from '../dist/error-codes.js'
import {RESTORER_RULES} from '../dist/v2/verify/restorer.js'

const SECTIONS = [
  {
    begin: '<!-- error-codes: begin (scripts/error-codes-readme.mjs writes this table) -->',
    end: '<!-- error-codes: end -->',
    table: () => ['| code | meaning |', '| --- | --- |', ...Object.entries(ERROR_CODES).map(([code, meaning]) => `| \`${code}\` | ${meaning} |`)],
  },
  {
    begin: '<!-- restorer-rules: begin (scripts/error-codes-readme.mjs writes this table) -->',
    end: '<!-- restorer-rules: end -->',
    table: () => ['| code | verify says | because the restorer |', '| --- | --- | --- |', ...Object.entries(RESTORER_RULES).map(([code, r]) => `| \`${code}\` | ${r.severity} | ${r.mirrors.replace(/\|/g, '\\|')} |`)],
  },
]

const readme = new URL('../README.md', import.meta.url)
let text = fs.readFileSync(readme, 'utf8')
for (const {begin, end, table} of SECTIONS) {
  const start = text.indexOf(begin)
  const stop = text.indexOf(end)
  if (start < 0 || stop < start) throw new Error(`README.md has no ${begin} ... ${end} section`)
  text = text.slice(0, start + begin.length) + '\n' + table().join('\n') + '\n' + text.slice(stop)
}
fs.writeFileSync(readme, text)
