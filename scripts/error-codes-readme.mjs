#!/usr/bin/env node
// Writes the README's table of error codes from the catalogue
// (src/error-codes.ts, built into dist/ by `npm run build`), so the codes
// promised stable in --json are listed in one place and cannot drift:
// test/error-codes.test.ts fails when the table and the catalogue differ.
//
//   npm run build && node scripts/error-codes-readme.mjs
import * as fs from 'node:fs'
import {ERROR_CODES} from '../dist/error-codes.js'

const BEGIN = '<!-- error-codes: begin (scripts/error-codes-readme.mjs writes this table) -->'
const END = '<!-- error-codes: end -->'

function errorCodeTable(codes) {
  const rows = Object.entries(codes).map(([code, meaning]) => `| \`${code}\` | ${meaning} |`)
  return ['| code | meaning |', '| --- | --- |', ...rows].join('\n')
}

const readme = new URL('../README.md', import.meta.url)
const text = fs.readFileSync(readme, 'utf8')
const start = text.indexOf(BEGIN)
const stop = text.indexOf(END)
if (start < 0 || stop < start) throw new Error(`README.md has no ${BEGIN} ... ${END} section`)
fs.writeFileSync(readme, text.slice(0, start + BEGIN.length) + '\n' + errorCodeTable(ERROR_CODES) + '\n' + text.slice(stop))
