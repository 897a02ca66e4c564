#!/usr/bin/env node
// Writes the documentation's tables that have a declaration in src/ (README.md
// and docs/*.md, each table into its file): the error codes from the catalogue
// (src/error-codes.ts, built into dist/ by `npm run build`), so the codes
// promised stable in --json are listed in one place and cannot drift, and
// the table of verify's rules from src/v2/verify/restorer.ts: each rule's
// the restore conditions of src/restore/assess.ts ("Will it restore?"),
// severity and the restorer function it mirrors, and the fields of every
// --json document from src/cli/json-fields.ts.
// test/error-codes.test.ts fails when a table and its source differ.
//
//   npm run build && node scripts/error-codes-readme.mjs
import * as fs from 'node:fs'
import {ERROR_CODES} from '../dist/error-codes.js'
import {RESTORER_RULES} from '../dist/v2/verify/restorer.js'
import {JSON_DOCUMENTS} from '../dist/cli/json-fields.js'
import {RULES as RESTORE_RULES} from '../dist/restore/assess.js'

const cell = (text) => text.replace(/\|/g, '\\|')

const SECTIONS = [
  {
    file: 'docs/error-codes.md',
    begin: '<!-- error-codes: begin (scripts/error-codes-readme.mjs writes this table) -->',
    end: '<!-- error-codes: end -->',
    table: () => ['| code | meaning |', '| --- | --- |', ...Object.entries(ERROR_CODES).map(([code, meaning]) => `| \`${code}\` | ${meaning} |`)],
  },
  {
    file: 'docs/verify-rules.md',
    begin: '<!-- restorer-rules: begin (scripts/error-codes-readme.mjs writes this table) -->',
    end: '<!-- restorer-rules: end -->',
    table: () => ['| code | verify says | because the restorer |', '| --- | --- | --- |', ...Object.entries(RESTORER_RULES).map(([code, r]) => `| \`${code}\` | ${r.severity} | ${cell(r.mirrors)} |`)],
  },
  {
    file: 'README.md',
    begin: '<!-- restore-rules: begin (scripts/error-codes-readme.mjs writes this table) -->',
    end: '<!-- restore-rules: end -->',
    table: () => [
      '| rule | what in the image | hosts it concerns | source |',
      '| --- | --- | --- | --- |',
      ...RESTORE_RULES.map((r) => `| \`${r.id}\` | ${cell(r.condition)} | ${cell(r.hosts)} | ${cell(r.source)} |`),
    ],
  },
  {
    file: 'docs/json.md',
    begin: '<!-- json-fields: begin (scripts/error-codes-readme.mjs writes these tables) -->',
    end: '<!-- json-fields: end -->',
    table: () =>
      Object.values(JSON_DOCUMENTS)
        .flatMap((d) => [
          '',
          `**${d.title}**`,
          '',
          '| field | meaning |',
          '| --- | --- |',
          ...d.fields.map((x) => `| \`${x.name}\` | ${cell(x.meaning)}${x.optional ? ' (only when asked for)' : ''} |`),
        ])
        .slice(1),
  },
]

for (const {file, begin, end, table} of SECTIONS) {
  const url = new URL(`../${file}`, import.meta.url)
  let text = fs.readFileSync(url, 'utf8')
  const start = text.indexOf(begin)
  const stop = text.indexOf(end)
  if (start < 0 || stop < start) throw new Error(`${file} has no ${begin} ... ${end} section`)
  text = text.slice(0, start + begin.length) + '\n' + table().join('\n') + '\n' + text.slice(stop)
  fs.writeFileSync(url, text)
}
