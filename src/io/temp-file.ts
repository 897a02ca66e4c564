// A temporary file that is unlinked as soon as it is made, so that it goes
// with its descriptor however xst ends (a signal, SIGKILL included): the
// spools of dump-core and convert and the Remus page store.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import tmp from 'tmp'
import {outputSystemError} from '../errors.js'

/** A new file `prefix*postfix` in `dir` (the temporary directory without it), unlinked: its descriptor, and the directory it was made in. */
export function unlinkedTempFile(prefix: string, postfix: string, dir?: string): {fd: number; dir: string} {
  const where = dir ?? os.tmpdir()
  let f: {name: string; fd: number}
  try {
    f = tmp.fileSync({tmpdir: where, prefix, postfix, mode: 0o600})
  } catch (err) {
    throw outputSystemError(err, path.join(where, `${prefix}*${postfix}`))
  }
  try {
    fs.unlinkSync(f.name)
  } catch {}
  return {fd: f.fd, dir: where}
}
