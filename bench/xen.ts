// Xen's own converter (tools/python/scripts/convert-legacy-stream), run by
// python3, for the rows that compare with it. Not part of xst and not in
// this repository: point XEN_SCRIPTS at the tools/python directory of a Xen
// source tree, e.g.
//
//   git clone https://xenbits.xen.org/git-http/xen.git   (or github.com/xen-project/xen)
//   export XEN_SCRIPTS=$PWD/xen/tools/python
//
// or extract just what the script needs from a clone:
//
//   git -C xen archive HEAD tools/python/scripts/convert-legacy-stream \
//     tools/python/xen/__init__.py tools/python/xen/util.py tools/python/xen/migration | tar -x -C /tmp/xen-py
//   export XEN_SCRIPTS=/tmp/xen-py/tools/python
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {sh} from './measure.js'

export interface XenConverter {
  /** Shell words running the converter (PYTHONPATH set). */
  command: string
  /** Where it came from, for the report. */
  scripts: string
}

/** The converter, or why the Xen rows are skipped. */
export function findXen(): XenConverter | {skip: string} {
  const dir = process.env.XEN_SCRIPTS
  if (!dir) return {skip: 'XEN_SCRIPTS not set (see bench/xen.ts)'}
  const script = path.join(dir, 'scripts', 'convert-legacy-stream')
  if (!fs.existsSync(script) || !fs.existsSync(path.join(dir, 'xen', 'migration', 'legacy.py'))) {
    return {skip: `XEN_SCRIPTS=${dir} has no scripts/convert-legacy-stream and xen/migration/ (see bench/xen.ts)`}
  }
  const python = process.env.XEN_PYTHON || 'python3'
  const r = spawnSync(python, [script, '--help'], {env: {...process.env, PYTHONPATH: dir}, encoding: 'utf8'})
  if (r.status !== 0) return {skip: `${python} ${script} --help failed: ${(r.stderr || String(r.error)).trim().split('\n').at(-1)}`}
  return {command: `env PYTHONPATH=${sh(dir)} ${sh(python)} ${sh(script)}`, scripts: dir}
}
