// The conformance vectors in fixtures/ are copies of ../shared/conformance,
// the project's truth. A corrected or added vector there must reach the
// tests: every file must be here, byte for byte, and nothing else.
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {describe, expect, test} from 'vitest'
import {CONFORMANCE, ROOT} from './helpers/fixtures.js'

const SHARED = join(ROOT, '..', 'shared', 'conformance')

/** Every file below `root`, as paths relative to it. */
function files(root: string, dir = root): string[] {
  return readdirSync(dir, {withFileTypes: true})
    .flatMap((e) => (e.isDirectory() ? files(root, join(dir, e.name)) : [relative(root, join(dir, e.name))]))
    .sort()
}

const digest = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex')

describe('fixtures/conformance', () => {
  test.skipIf(!existsSync(SHARED))('holds exactly the files of ../shared/conformance, byte for byte', () => {
    const ours = files(CONFORMANCE).filter((f) => !f.startsWith('.'))
    const theirs = files(SHARED)
    expect(ours).toEqual(theirs)
    const differ = theirs.filter((f) => digest(join(CONFORMANCE, f)) !== digest(join(SHARED, f)))
    expect(differ).toEqual([])
  })
})
