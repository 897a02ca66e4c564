// `xst verify --json` prints one document whatever the number of images,
// `{ok, images: [...]}` as identify does; a test of one image wants that
// image's report.
import {expect} from 'vitest'

type Report = Record<string, any>

/**
 * The report of the one image a `verify --json` run was given (its stdout,
 * or the run itself): `images[0]`, after checking that the document holds
 * that one image and nothing else, and that its `ok` is the image's.
 */
export function verifyReport(out: string | {stdout: string}): Report {
  const doc = JSON.parse(typeof out === 'string' ? out : out.stdout)
  expect(Object.keys(doc), 'verify --json: {ok, images}').toEqual(['ok', 'images'])
  expect(doc.images, 'verify --json: one image').toHaveLength(1)
  expect(doc.ok, 'verify --json: ok is the ok of its one image').toBe(doc.images[0].ok)
  return doc.images[0]
}
