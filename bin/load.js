// Loads dist/xst.cjs, the bundle of xst and its dependencies that
// scripts/bundle.mjs builds: one file instead of ~170 modules, compiled with
// the V8 code cache the build wrote beside it (dist/xst.cjs.cache), so
// start-up neither resolves nor compiles much.
//
// A cache that does not belong to this bundle, or that V8 rejects (another
// Node version), is ignored: the bundle is then compiled as usual. The
// bundle's first line names its build (`// xst build <random id>`) and the
// cache starts with that line, so a rebuilt bundle never runs with the code
// of another build (V8 itself only compares the source's length).
//
// The module is registered in require's cache under its own path, so when
// oclif requires the command table (package.json oclif.commands.target) it
// gets this very instance: one copy of oclif and of every command.
//
// CommonJS, as is everything in bin/ (bin/package.json): an ES module as the
// entry point costs Node ~10-14 ms of CPU to set up its ESM loader, a tenth
// of xst's start-up.
'use strict'
const fs = require('node:fs')
const Module = require('node:module')
const path = require('node:path')
const vm = require('node:vm')

const BUNDLE = path.join(__dirname, '..', 'dist', 'xst.cjs')
const CODE_CACHE = BUNDLE + '.cache'
/** The package root, for oclif (its search upwards would stop at bin/package.json). */
const ROOT = path.join(__dirname, '..')
/**
 * How oclif loads xst: from ROOT, and without looking for user or linked
 * plugins under $XDG_DATA_HOME or $HOME (xst has none; where that directory
 * cannot be read, as for another user under sudo, oclif warned at every start).
 */
const LOAD_OPTIONS = {root: ROOT, userPlugins: false, devPlugins: false}

/**
 * The bundle's exports ({execute, COMMANDS}). With `writeCache`, the code
 * cache is written when the process exits, holding every function compiled
 * by then (scripts/bundle.mjs warms the bundle up first).
 */
function loadBundle({writeCache = false} = {}) {
  const require = Module.createRequire(BUNDLE)
  if (require.cache[BUNDLE]) return require.cache[BUNDLE].exports
  let source
  try {
    source = fs.readFileSync(BUNDLE)
  } catch (err) {
    throw new Error(`xst: ${BUNDLE} is missing (${err.code ?? err.message}); run \`npm run build\``)
  }
  const id = source.subarray(0, source.indexOf(10) + 1)
  let cachedData
  try {
    const c = fs.readFileSync(CODE_CACHE)
    if (id.length > 1 && c.length > id.length && id.equals(c.subarray(0, id.length))) cachedData = c.subarray(id.length)
  } catch {}
  const script = new vm.Script(Module.wrap(source.toString('utf8')), {
    filename: BUNDLE,
    cachedData,
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  })
  const mod = new Module(BUNDLE)
  mod.filename = BUNDLE
  require.cache[BUNDLE] = mod
  try {
    script.runInThisContext().call(mod.exports, mod.exports, require, mod, BUNDLE, path.dirname(BUNDLE))
  } catch (err) {
    delete require.cache[BUNDLE]
    throw err
  }
  mod.loaded = true
  if (writeCache) process.once('exit', () => fs.writeFileSync(CODE_CACHE, Buffer.concat([id, script.createCachedData()])))
  return mod.exports
}

module.exports = {BUNDLE, CODE_CACHE, LOAD_OPTIONS, ROOT, loadBundle}
