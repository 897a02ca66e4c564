// The packed tarball installs where operators are: a dom0 or an air-gapped
// box with Node and npm but no registry. `npm pack`, then `npm install -g
// --offline` into a fresh prefix with an empty cache (so nothing can come
// from a registry; the registry is also pointed at a closed port), then the
// installed `xst` runs from another directory. Once as the machine is (the
// addon builds where there is a compiler), once with no C toolchain on PATH
// (the install says why in one line and still succeeds).
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, realpathSync, symlinkSync} from 'node:fs'
import {delimiter, dirname, join} from 'node:path'
import {beforeAll, describe, expect, test} from 'vitest'
import {tempDir} from '../helpers/cli.js'
import {ROOT} from '../helpers/fixtures.js'

const FIXTURE = join(ROOT, 'fixtures', 'conformance', 'legacy', 'pv64-xl.legacy.gz')
/** What the tarball holds: what runs, and nothing else. */
const SHIPPED = [
  'LICENSE',
  'README.md',
  'bin/load.js',
  'bin/package.json',
  'bin/run.js',
  'dist/start-descriptors.cjs',
  'dist/xst.cjs',
  'dist/xst.cjs.cache',
  'native/binding.gyp',
  'native/xst_native.c',
  'oclif.manifest.json',
  'package.json',
  'scripts/build-native.mjs',
]

/** npm's own script (npm-cli.js), run with this node; undefined without npm. */
function findNpm(): string | undefined {
  const candidates = [process.env.npm_execpath, ...(process.env.PATH ?? '').split(delimiter).map((d) => d && join(d, 'npm'))]
  for (const c of candidates) {
    if (!c || !existsSync(c)) continue
    const real = realpathSync(c)
    if (real.endsWith('.js') && spawnSync(process.execPath, [real, '--version'], {encoding: 'utf8'}).status === 0) return real
  }
  return undefined
}
const NPM = findNpm()

/** The environment without the npm_* variables `npm test` sets (a prefix, a cache, scripts' settings). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v
  return {...env, ...extra}
}

function npm(args: string[], cwd: string, extra: Record<string, string> = {}) {
  return spawnSync(process.execPath, [NPM!, ...args], {cwd, encoding: 'utf8', env: cleanEnv(extra), timeout: 300_000})
}

let tarball = ''
let files: string[] = []

/** Install the tarball offline into a fresh prefix; its prefix and npm's output (scripts in the foreground). */
function install(extra: Record<string, string> = {}) {
  const prefix = tempDir('xst-prefix-')
  const r = npm(
    ['install', '-g', '--offline', '--prefix', prefix, '--cache', join(prefix, 'cache'), '--registry', 'http://127.0.0.1:9/', '--no-audit', '--no-fund', '--foreground-scripts', tarball],
    dirname(tarball),
    extra,
  )
  return {prefix, code: r.status, out: `${r.stdout}${r.stderr}`}
}

/** The installed xst, as a user runs it (its #! line finds node on PATH), from a directory of its own. */
function xst(prefix: string, args: string[]) {
  const cwd = tempDir('xst-elsewhere-')
  return spawnSync(join(prefix, 'bin', 'xst'), args, {
    cwd,
    encoding: 'utf8',
    env: cleanEnv({PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`}),
  })
}

describe.skipIf(!NPM)('the packed tarball', () => {
  beforeAll(() => {
    const dir = tempDir('xst-pack-')
    const r = npm(['pack', '--json', '--pack-destination', dir], ROOT)
    expect(r.status, r.stderr).toBe(0)
    const [packed] = JSON.parse(r.stdout) as Array<{filename: string; files: Array<{path: string}>}>
    tarball = join(dir, packed.filename)
    files = packed.files.map((f) => f.path).sort()
  }, 120_000)

  test('holds only what runs, the addon sources, the README and the LICENSE', () => {
    expect(files).toEqual(SHIPPED)
  })

  test('installs offline, with an empty cache, and every command is there from another directory', () => {
    const {prefix, code, out} = install()
    expect(code, out).toBe(0)
    // The install script's one line, whichever way the build went.
    expect(out.split('\n').filter((l) => l.startsWith('xst: native addon'))).toHaveLength(1)
    expect(out).not.toMatch(/gyp ERR!|ENOTCACHED|E404/)

    const built = existsSync(join(prefix, 'lib', 'node_modules', 'xst', 'native', 'build', 'Release', 'xst_native.node'))
    const version = xst(prefix, ['--version'])
    expect(version.status, version.stderr).toBe(0)
    expect(version.stdout).toMatch(/^xst\/0\.1\.0 \S+ node-v\S+ \(native I\/O addon (in use|not in use: .+)\)\n$/)
    expect(version.stdout.includes('addon in use')).toBe(built)

    const identify = xst(prefix, ['identify', FIXTURE])
    expect(identify.status, identify.stderr).toBe(0)
    expect(identify.stdout).toContain('xl save file, legacy (Xen <= 4.5) stream, PV 64-bit guest')

    const json = xst(prefix, ['identify', '--json', FIXTURE])
    expect(json.status, json.stderr).toBe(0)
    expect(JSON.parse(json.stdout).ok).toBe(true)

    const help = xst(prefix, ['help'])
    expect(help.status, help.stderr).toBe(0)
    for (const command of ['convert', 'dump-core', 'identify', 'inspect-legacy', 'verify']) expect(help.stdout).toContain(command)
  })

  test('without a C toolchain: installs, one line says why there is no addon, and xst --version says so', () => {
    // A PATH with node and sh only: no make, no cc, no g++.
    const bin = join(tempDir('xst-path-'), 'bin')
    mkdirSync(bin)
    symlinkSync(process.execPath, join(bin, 'node'))
    symlinkSync('/bin/sh', join(bin, 'sh'))
    const {prefix, code, out} = install({PATH: bin})
    expect(code, out).toBe(0)
    const lines = out.split('\n').filter((l) => l.startsWith('xst: '))
    expect(lines).toEqual([expect.stringMatching(/^xst: native addon not built \(no C toolchain: .*not found\); xst works without it, using its JavaScript I\/O$/)])
    expect(out).not.toContain('gyp ERR!')

    const version = xst(prefix, ['--version'])
    expect(version.status, version.stderr).toBe(0)
    expect(version.stdout).toMatch(/\(native I\/O addon not in use: not built \(no C toolchain: .*\); xst uses its JavaScript I\/O\)\n$/)
    const identify = xst(prefix, ['identify', FIXTURE])
    expect(identify.status, identify.stderr).toBe(0)
    expect(identify.stdout).toContain('needs conversion')
  })
})
