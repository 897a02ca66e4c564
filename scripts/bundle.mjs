#!/usr/bin/env node
// Build step (npm run build, after tsc): bundle xst with @oclif/core and
// the other runtime dependencies into one CommonJS file, dist/xst.cjs, then
// run it once through a few commands to write its V8 code cache,
// dist/xst.cjs.cache (see bin/load.js).
//
// Why: start-up was ~170 module files to resolve, read and compile before
// the first byte of an image was read (0.25 s CPU for `xst --version`
// against 0.08 s for `node -e 0`). One file and a warm code cache take most
// of that away; see the commit messages for the numbers.
//
// Modules imported with `await import()` stay lazy in the bundle: their top
// level runs only when they are imported (listr2 only on a terminal, tmp
// only when a temporary file is made, the verifier only when verifying).
import {spawnSync} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {gunzipSync} from 'node:zlib'

const ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)))

/**
 * oclif sorts each plugin's command list with String#localeCompare as it
 * loads, at every start. The first localeCompare in a process loads ICU's
 * collation data: 13-20 ms, the largest single cost of `xst --version`
 * after compiling the bundle. For ids of lowercase ASCII letters, digits
 * and '-' (all of ours) code-unit order is the root collation's order (not
 * with ':', which collates before digits), so the bundle compares those
 * directly and any other id as oclif does. The order is only that of help's
 * command list.
 */
const OCLIF_SORT = '.sort((a, b) => a.id.localeCompare(b.id));'
const ASCII_SORT = '.sort((a, b) => (/^[a-z0-9-]*$/.test(a.id) && /^[a-z0-9-]*$/.test(b.id) ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.id.localeCompare(b.id)));'
const noCollator = {
  name: 'xst-no-collator',
  setup(b) {
    b.onLoad({filter: /[\\/]@oclif[\\/]core[\\/]lib[\\/]config[\\/]plugin\.js$/}, (args) => {
      const text = fs.readFileSync(args.path, 'utf8')
      // Another oclif version: bundle it as it is (correct, only slower to start).
      if (!text.includes(OCLIF_SORT)) return {contents: text, loader: 'js', warnings: [{text: "oclif's command sort not found; the bundle will load ICU's collator at start"}]}
      return {contents: text.replace(OCLIF_SORT, ASCII_SORT), loader: 'js'}
    })
  },
}

async function bundle() {
  const {build} = await import('esbuild')
  const {BUNDLE, CODE_CACHE} = await import(pathToFileURL(path.join(ROOT, 'bin', 'load.js')).href)
  fs.rmSync(CODE_CACHE, {force: true})
  // What bin/run.js runs before loading the CLI (see src/io/start-descriptors.ts).
  await build({
    entryPoints: [path.join(ROOT, 'src', 'io', 'start-descriptors.ts')],
    outfile: path.join(ROOT, 'dist', 'start-descriptors.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'warning',
  })
  await build({
    entryPoints: [path.join(ROOT, 'src', 'cli', 'entry.ts')],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // oclif looks for these only to run TypeScript sources (development of a plugin written in TS).
    external: ['typescript', 'ts-node', 'tsx'],
    // Names stay: errors are told apart by their class names (src/cli/base.ts).
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
    legalComments: 'none',
    // Names this build for its code cache (see bin/load.js).
    banner: {js: `// xst build ${randomUUID()}`},
    // import.meta.url, for the modules that use it: the bundle's own URL.
    inject: [path.join(ROOT, 'scripts', 'import-meta-url.mjs')],
    define: {'import.meta.url': '__xstImportMetaUrl'},
    plugins: [noCollator],
  })
  // Warm-up in a child: it loads the bundle as bin/run.js does, runs the
  // commands below and writes the code cache as it exits.
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--warm'], {stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'})
  if (r.status !== 0 || !fs.existsSync(CODE_CACHE)) {
    // Not fatal: without a cache the bundle is compiled at each start.
    process.stderr.write(`bundle: no code cache written (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}\n`)
  }
}

/** Run the commands whose code should be in the cache, in this process, then exit (which writes the cache). */
async function warm() {
  const {loadBundle, LOAD_OPTIONS} = await import(pathToFileURL(path.join(ROOT, 'bin', 'load.js')).href)
  const {execute} = loadBundle({writeCache: true})
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xst-warm-'))
  try {
    const legacy = path.join(dir, 'image.legacy')
    const v2 = path.join(dir, 'image.v2')
    fs.writeFileSync(legacy, gunzipSync(fs.readFileSync(path.join(ROOT, 'fixtures', 'conformance', 'legacy', 'pv64-xl.legacy.gz'))))
    for (const args of [['--version'], ['inspect-legacy', legacy], ['convert', legacy, v2], ['verify', v2]]) {
      await execute({loadOptions: LOAD_OPTIONS, args})
      if (process.exitCode) throw new Error(`warm-up: xst ${args.join(' ')} exited ${process.exitCode}`)
    }
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

if (process.argv[2] === '--warm') await warm()
else await bundle()
