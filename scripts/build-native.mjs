#!/usr/bin/env node
// npm's install step (package.json "install"): build the optional native
// addon (native/) with node-gyp. It never fails the install: without a
// compiler, python3 or Node's headers, or on another system than Linux, it
// says why and xst uses its JavaScript I/O (the same output, slower through
// pipes). XST_NO_NATIVE_BUILD=1 skips it.
//
// Node's headers must be on this machine: node-gyp is never left to
// download them (`--nodedir` is always given). They are looked for where
// npm's `nodedir` setting points, beside the node binary (/usr/include/node
// for /usr/bin/node), and in node-gyp's cache.
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import {createRequire} from 'node:module'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)))
const NATIVE = path.join(ROOT, 'native')
const ADDON = path.join(NATIVE, 'build', 'Release', 'xst_native.node')

function skip(why) {
  process.stdout.write(`xst: native addon not built (${why}); xst uses its JavaScript I/O\n`)
  process.exit(0)
}

if (process.env.XST_NO_NATIVE_BUILD) skip('XST_NO_NATIVE_BUILD is set')
if (process.platform !== 'linux') skip(`it is for Linux, this is ${process.platform}`)
if (!fs.existsSync(path.join(NATIVE, 'binding.gyp'))) skip('native/ is not in this package')

const version = process.versions.node
const nodedir = [
  process.env.npm_config_nodedir,
  path.resolve(path.dirname(process.execPath), '..'),
  path.join(os.homedir(), '.cache', 'node-gyp', version),
  path.join(os.homedir(), '.node-gyp', version),
].find((d) => d && fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')))
// (An N-API addon does not depend on the Node version whose headers built it.)
if (!nodedir) skip(`no Node headers found (npm config nodedir, ${path.resolve(path.dirname(process.execPath), '..', 'include', 'node')}, ~/.cache/node-gyp)`)

// node-gyp: the one npm runs scripts with (npm_config_node_gyp), else npm's own copy.
let gyp = process.env.npm_config_node_gyp
if (!gyp || !fs.existsSync(gyp)) {
  try {
    const npmDir = path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm')
    gyp = createRequire(path.join(npmDir, 'package.json')).resolve('node-gyp/bin/node-gyp.js')
  } catch {
    skip('node-gyp not found')
  }
}

fs.rmSync(path.join(NATIVE, 'build'), {recursive: true, force: true})
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=warn'], {
  cwd: NATIVE,
  encoding: 'utf8',
  timeout: 300_000,
  env: {...process.env, npm_config_nodedir: nodedir},
})
if (r.status !== 0 || !fs.existsSync(ADDON)) {
  const tail = `${r.stderr ?? ''}${r.error ?? ''}`.trim().split('\n').slice(-4).join(' | ')
  fs.rmSync(path.join(NATIVE, 'build'), {recursive: true, force: true})
  skip(`node-gyp failed: ${tail || `exit ${r.status}`}`)
}
// It must load, and in a fresh node: otherwise it is as if it were not there.
const check = spawnSync(process.execPath, ['-e', `const n = require(${JSON.stringify(ADDON)}); if (typeof n.transfer !== 'function') process.exit(3)`], {encoding: 'utf8'})
if (check.status !== 0) {
  fs.rmSync(path.join(NATIVE, 'build'), {recursive: true, force: true})
  skip(`the built addon does not load: ${check.stderr.trim().split('\n').slice(-2).join(' | ')}`)
}
process.stdout.write(`xst: native addon built (${path.relative(ROOT, ADDON)})\n`)
