#!/usr/bin/env node
// npm's install step (package.json "install"): build the optional native
// addon (native/) with node-gyp. It never fails the install: without a
// compiler, make, python3 or Node's headers, or on another system than
// Linux, it says why in one line and xst uses its JavaScript I/O (the same
// output, slower through pipes). XST_NO_NATIVE_BUILD=1 skips it.
//
// npm shows an install script's output only with --foreground-scripts (or
// when the script fails, which this one never does), so the line is also
// kept in native/build/result.txt, where `xst --version` reads why the
// addon is not in use (src/io/native.ts).
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

const BUILD = path.join(NATIVE, 'build')
const RESULT = path.join(BUILD, 'result.txt')

/** The one line, on stdout and in native/build/result.txt (when native/ is there). */
function say(line) {
  process.stdout.write(`xst: ${line}\n`)
  try {
    fs.mkdirSync(BUILD, {recursive: true})
    fs.writeFileSync(RESULT, `${line}\n`)
  } catch {}
}

function skip(why) {
  fs.rmSync(BUILD, {recursive: true, force: true})
  say(`native addon not built (${why.length > 240 ? `${why.slice(0, 237)}...` : why}); xst works without it, using its JavaScript I/O`)
  process.exit(0)
}

/** The path of an executable on PATH (or an absolute or relative path as it is), else undefined. */
function which(cmd) {
  if (!cmd) return undefined
  const isFile = (p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return fs.statSync(p).isFile()
    } catch {
      return false
    }
  }
  if (cmd.includes('/')) return isFile(cmd) ? cmd : undefined
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isFile(path.join(dir, cmd))) return path.join(dir, cmd)
  }
  return undefined
}

/** The first word of a command such as CC="ccache gcc" (the program that must exist). */
const program = (v) => v?.trim().split(/\s+/)[0] || undefined

/**
 * Why node-gyp failed, in one line: the compiler's or make's own error, a
 * Python exception, or node-gyp's error, never its closing "gyp ERR! not ok"
 * nor the lines about versions and the command it ran.
 */
function why(output, status) {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  const plain = lines.filter((l) => !l.startsWith('gyp '))
  const found =
    plain.find((l) => /\b(fatal )?error:/i.test(l)) ??
    plain.find((l) => /^make(\[\d+\])?: /.test(l) && !/Leaving|Entering/.test(l)) ??
    plain.findLast((l) => /^\w*(Error|Exception)\b/.test(l)) ??
    lines.find((l) => /^gyp ERR! stack \w*Error: /.test(l))?.replace(/^gyp ERR! stack /, '') ??
    lines.find((l) => l.startsWith('gyp ERR! ') && !/ERR! (not ok|System|command|cwd|node -v|node-gyp -v|\$npm_package|stack)/.test(l))?.replace(/^gyp ERR! /, '')
  return `node-gyp failed: ${found ?? `exit ${status}`}`
}

if (process.env.XST_NO_NATIVE_BUILD) skip('XST_NO_NATIVE_BUILD is set')
if (process.platform !== 'linux') skip(`it is for Linux, this is ${process.platform}`)
if (!fs.existsSync(path.join(NATIVE, 'binding.gyp'))) {
  process.stdout.write('xst: native addon not built (native/ is not in this package); xst works without it, using its JavaScript I/O\n')
  process.exit(0)
}
// What node-gyp's Makefile runs: make, the C compiler ($CC, else make's cc) and
// the linker ($LINK, else $CXX, else make's g++). Missing, they are named here
// rather than by node-gyp's failure.
const missing = [
  ['make', ''],
  [program(process.env.CC) ?? 'cc', 'C compiler '],
  [program(process.env.LINK) ?? program(process.env.CXX) ?? 'g++', 'C++ linker '],
].filter(([cmd]) => !which(cmd))
if (missing.length) skip(`no C toolchain: ${missing.map(([cmd, what]) => what + cmd).join(', ')} not found`)
const python = [process.env.npm_config_python, process.env.PYTHON, 'python3', 'python'].find((p) => which(p))
if (!python) skip('python3 not found (node-gyp runs it)')

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

fs.rmSync(BUILD, {recursive: true, force: true})
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, `--python=${python}`, '--loglevel=warn'], {
  cwd: NATIVE,
  encoding: 'utf8',
  timeout: 300_000,
  env: {...process.env, npm_config_nodedir: nodedir},
})
if (r.status !== 0 || !fs.existsSync(ADDON)) skip(why(`${r.stdout ?? ''}\n${r.stderr ?? ''}\n${r.error ?? ''}`, r.status))
// It must load, and in a fresh node: otherwise it is as if it were not there.
const check = spawnSync(process.execPath, ['-e', `const n = require(${JSON.stringify(ADDON)}); if (typeof n.transfer !== 'function') process.exit(3)`], {encoding: 'utf8'})
if (check.status !== 0)
  skip(
    `the built addon does not load: ${
      check.stderr
        .trim()
        .split('\n')
        .find((l) => /Error/.test(l)) ?? `exit ${check.status}`
    }`,
  )
say(`native addon built (${path.relative(ROOT, ADDON)})`)
