// An internal error (a bug in xst) says where to report it: the issue
// tracker package.json names in "bugs", the one the npm registry shows.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {reportUrl} from '../src/cli/base.js'
import {ROOT} from './helpers/fixtures.js'

describe('where a bug is reported', () => {
  it("is package.json's bugs.url", () => {
    const pjson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    expect(pjson.bugs.url).toMatch(/^https:\/\//)
    expect(reportUrl(pjson)).toBe(pjson.bugs.url)
  })

  it('takes "bugs" as a plain URL too, and has a fallback without it', () => {
    expect(reportUrl({bugs: 'https://example.org/issues'})).toBe('https://example.org/issues')
    expect(reportUrl({})).toMatch(/^https:\/\/.+\/issues$/)
  })
})
