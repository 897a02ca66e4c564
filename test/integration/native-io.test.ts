// The native addon (native/, built at install where a compiler is found) and
// the JavaScript I/O it stands in for must give the same bytes, the same
// errors and the same exits: every way of running convert on multi-batch
// images (the addon moves page data from the second batch on), once with
// the addon (when it is built) and once with XST_NO_NATIVE=1. The rest of
// the suite runs with whichever is there; this file is the CI-visible run of
// conversions with the addon disabled.
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {largeImageSpec, buildLegacy, type LegacySpec} from '../builders/legacy.js'
import {referenceConversion} from '../builders/reference.js'
import {BIN, runNode, tempDir} from '../helpers/cli.js'
import {ROOT} from '../helpers/fixtures.js'
import {asleep, until} from '../helpers/wait.js'

const JS = {XST_NO_NATIVE: '1'}
const ADDON = join(ROOT, 'native', 'build', 'Release', 'xst_native.node')
const built = existsSync(ADDON)
const modes: Array<[string, Record<string, string>]> = built
  ? [
      ['native', {}],
      ['js', JS],
    ]
  : [['js', JS]]

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  out: Buffer
  stderr: string
}

/** Run a shell line (the image in $IN, output to $OUT or stdout), collecting stdout. */
function sh(line: string, env: Record<string, string>, vars: Record<string, string>, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', line], {env: {...process.env, ...env, ...vars, NODE: process.execPath, BIN}, stdio: ['ignore', 'pipe', 'pipe']})
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => err.push(d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({code, signal, out: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8')})
    })
  })
}

/** A large image's spec with its page run spelled out as batches (the reference conversion takes those). */
function batches(spec: LegacySpec): LegacySpec {
  return {
    ...spec,
    chunks: spec.chunks!.flatMap((c) => {
      if (c.kind !== 'page-run') return [c]
      const out: LegacySpec['chunks'] = []
      for (let s = c.start; s < c.start + c.count; s += 1024) out!.push({kind: 'pages', range: {start: s, count: Math.min(1024, c.start + c.count - s)}})
      return out!
    }),
  }
}

const images: Array<[string, LegacySpec]> = [
  // ~10 MiB: 3 page batches, so the second and third go through the transfer.
  ['pv', batches(largeImageSpec({guest: 'pv', bytes: 10 << 20}))],
  ['hvm', batches(largeImageSpec({guest: 'hvm', bytes: 10 << 20, qemuBytes: 64 << 10}))],
]

// Each way a toolstack or a person runs convert; "$NODE" "$BIN" is the CLI, $IN the image, $OUT a path.
const WAYS: Array<[string, string]> = [
  ['file -> file', '"$NODE" "$BIN" convert --format libxc "$IN" "$OUT" >/dev/null && cat "$OUT"'],
  ['pipe -> pipe', 'cat "$IN" | "$NODE" "$BIN" convert --in 0 --out 1 | cat'],
  ['file -> pipe', '"$NODE" "$BIN" convert --in "$IN" --out 1 | cat'],
  ['pipe -> file', 'cat "$IN" | "$NODE" "$BIN" convert --in 0 --out "$OUT" && cat "$OUT"'],
  ['fd at an offset -> fd pipe', '{ head -c 7 >/dev/null; "$NODE" "$BIN" convert --in 3 --out 4 3<&0 4>&1; } < "$PREFIXED" | cat'],
]

describe('native addon and JavaScript I/O: the same bytes', () => {
  it(`the addon is ${built ? 'built and used unless XST_NO_NATIVE is set' : 'not built here: only the JavaScript path runs'}`, () => {
    const probe = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['-e', `import(${JSON.stringify(join(ROOT, 'dist', 'io', 'native.js'))}).then((m) => process.stdout.write(String(Boolean(m.loadNative()))))`], {
        env: {...process.env, ...env},
        encoding: 'utf8',
      }).stdout
    expect(probe({XST_NO_NATIVE: ''})).toBe(String(built))
    expect(probe(JS)).toBe('false')
  })

  for (const [guest, spec] of images) {
    const bytes = buildLegacy(spec)
    const want = referenceConversion(spec, 'libxc')
    for (const [way, line] of WAYS) {
      for (const [mode, env] of modes) {
        it(`${guest}, ${way}, ${mode}: the reference conversion`, async () => {
          const dir = tempDir('xst-native-')
          const input = join(dir, 'in.legacy')
          const prefixed = join(dir, 'prefixed')
          writeFileSync(input, bytes)
          writeFileSync(prefixed, Buffer.concat([Buffer.from('PREFIX!'), bytes, Buffer.from('after the image')]))
          const r = await sh(line, env, {IN: input, OUT: join(dir, 'out.v2'), PREFIXED: prefixed})
          expect(r.code, r.stderr).toBe(0)
          expect(r.stderr).toBe('')
          expect(r.out.length).toBe(want.length)
          expect(r.out.equals(want)).toBe(true)
        })
      }
    }
  }

  it('an image cut inside the third batch: the same defect both ways, and the count of bytes that went out', async () => {
    const bytes = buildLegacy(images[0][1])
    const cut = bytes.subarray(0, Math.floor(bytes.length * 0.8))
    const dir = tempDir('xst-native-')
    const input = join(dir, 'cut.legacy')
    writeFileSync(input, cut)
    const defects = new Set<string>()
    for (const [mode, env] of modes) {
      for (const line of ['cat "$IN" | "$NODE" "$BIN" convert --in 0 --out 1 | cat', '"$NODE" "$BIN" convert --in "$IN" --out 1 | cat']) {
        const r = await sh(line, env, {IN: input})
        const m = /^xst convert: (stream ends at byte \d+ inside page data.*); (\d+) bytes were written to fd 1 before the defect was found; the stream is invalid: discard it$/.exec(r.stderr.trim())
        expect(m, r.stderr).not.toBeNull()
        defects.add(m![1])
        // What went out is what the message says: in JavaScript whole records (page data is read
        // before its record is written); with the addon also the part of the cut record that was there.
        expect(r.out.length).toBe(Number(m![2]))
        if (mode === 'js') expect(r.out.equals(referenceConversion(images[0][1], 'libxc').subarray(0, r.out.length))).toBe(true)
      }
    }
    expect(defects.size).toBe(1)
  })

  for (const [mode, env] of modes) {
    it(`${mode}: SIGINT while the input pipe stays open and silent: exit 130 at once, nothing left waiting`, async () => {
      const bytes = buildLegacy(images[0][1])
      // Two batches and a half, then nothing: the conversion waits inside page data.
      const half = bytes.subarray(0, Math.floor(bytes.length / 2))
      // How much it writes from those bytes before it needs more: what the
      // same run says when they are all there is (the same descriptors: socket pairs).
      const cut = await runNode([BIN, 'convert', '--in', '0', '--out', '1'], {env, input: half})
      const ready = Number(/; (\d+) bytes were written to fd 1 before the defect was found/.exec(cut.stderr)?.[1])
      if (!(ready > 0)) throw new Error(`the half image converted to nothing before its end: ${cut.stderr}`)
      const child = spawn(process.execPath, [BIN, 'convert', '--in', '0', '--out', '1'], {env: {...process.env, ...env}, stdio: ['pipe', 'pipe', 'pipe']})
      let err = ''
      child.stderr.on('data', (d) => (err += d))
      // The interrupted child may leave part of what was written unread: its pipe closing is not the test's error.
      child.stdin.on('error', () => {})
      // Once all of that is out and every thread of it sleeps, it has read
      // what there is and waits for the rest (its signal handlers long in place).
      let out = 0
      const written = new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => (out += d.length) >= ready && resolve()))
      child.stdin.write(half)
      await written
      await until(() => asleep(child.pid!), 'the conversion waits for input')
      child.kill('SIGINT')
      const [code] = (await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])))) as [number | null, NodeJS.Signals | null]
      child.stdin.destroy()
      // It ended while its input was still open (stdin is closed only after): a wait on a
      // pool thread holding up the exit would never end, and fail at the test's timeout.
      expect(code, err).toBe(130)
      expect(err).toMatch(/interrupted by SIGINT/)
    })
  }

  it('a reader that goes away: the same quiet end both ways (status 141, as cat)', async () => {
    const bytes = buildLegacy(images[0][1])
    const dir = tempDir('xst-native-')
    const input = join(dir, 'in.legacy')
    writeFileSync(input, bytes)
    for (const [, env] of modes) {
      const r = await sh('{ "$NODE" "$BIN" convert --in "$IN" --out 1; echo "status $?" >&2; } | head -c 100000 >/dev/null', env, {IN: input})
      expect(r.stderr).toBe('status 141\n')
    }
  })
})
