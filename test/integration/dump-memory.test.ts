// dump-core on a builder image of a few hundred MiB, every way the pages can
// travel (ELF from a file by header passes and windows, ELF from a pipe
// through the spool, raw from a pipe to a file by positional writes, raw
// from a file to a pipe with zeros between pages), each in a fresh process
// whose peak memory must stay under 150 MB: nothing is held per page. All
// ways give the same bytes. And an interrupt part way leaves nothing.
//
// A child's peak memory, as the kernel counts it, includes what its parent
// held when it forked (and keeps it across exec): so node is started from a
// shell that forks it, and this process never holds a dump or the image.
import {spawn, spawnSync} from 'node:child_process'
import {closeSync, openSync, readdirSync, readSync, statSync, writeSync} from 'node:fs'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'
import {largeImageSpec, pageBytes, writeLegacy} from '../builders/legacy.js'
import {BIN} from '../helpers/cli.js'
import {PAGE} from '../helpers/dump.js'
import {runCliMeasured} from '../fuzz/procs.js'
import {asleep, until} from '../helpers/wait.js'
import {tempDir} from '../helpers/cli.js'

const MAX_RSS_MIB = 150
const IMAGE_BYTES = 320 << 20

let dir: string
let image: string
let pages: number

beforeAll(async () => {
  dir = tempDir('xst-dump-mem-')
  image = join(dir, 'big.legacy')
  const fd = openSync(image, 'w')
  try {
    await writeLegacy(largeImageSpec({guest: 'pv', bytes: IMAGE_BYTES}), (buf) => {
      let off = 0
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
    })
  } finally {
    closeSync(fd)
  }
  pages = largeImageSpec({guest: 'pv', bytes: IMAGE_BYTES}).p2mSize as number
}, 120_000)

/** The dump CLI in the measuring wrapper, forked by a shell (never exec'd: see above), pipes where asked. */
async function measured(script: string, args: string[], env: Record<string, string> = {}) {
  const r = await runCliMeasured(args, {argv0: ['sh', '-c', script, process.execPath], env: {IMG: image, ...env}, stdin: 'ignore', timeoutMs: 120_000})
  expect(r.timedOut).toBe(false)
  expect(r.code, r.stderr).toBe(0)
  return r
}

const same = (a: string, b: string) => spawnSync('cmp', ['-s', a, b]).status === 0

describe(`dump-core of a ${IMAGE_BYTES >> 20} MiB image stays under ${MAX_RSS_MIB} MB`, () => {
  const out = (name: string) => join(dir, name)

  it('ELF from a file: header passes, pages copied out in pfn order', async () => {
    const r = await measured('"$0" "$@"; exit $?', ['dump-core', '--json', image, out('file.core')])
    const doc = JSON.parse(r.stdout)
    expect(doc.method).toBe('windows')
    expect(doc.pages.count).toBe(pages)
    expect(r.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
    // Spot-check pages against the builder's contents.
    // Read by positional reads only: this process is measured too, through
    // the fork that starts the next child, so it must not hold the dump.
    const sections = coreSections(out('file.core'))
    const p2m = sections.get('.xen_p2m')!
    expect(p2m.size).toBe(pages * 16)
    const index = readAt(out('file.core'), p2m.offset, p2m.size)
    for (let i = 0; i < pages; i += 997) expect(Number(index.readBigUInt64LE(16 * i))).toBe(i)
    const at = sections.get('.xen_pages')!.offset
    for (const pfn of [0, 1, 4095, Math.floor(pages / 2), pages - 1]) expect(readAt(out('file.core'), at + pfn * PAGE, PAGE).equals(pageBytes(pfn)), `pfn ${pfn}`).toBe(true)
    expect(statSync(out('file.core')).size).toBe(doc.output.bytes)
  })

  it('ELF from a file with small windows: many passes, the same bytes', async () => {
    const r = await measured('"$0" "$@"; exit $?', ['dump-core', '--json', image, out('windows.core')], {XST_DUMP_WINDOW_PFNS: '16384'})
    expect(JSON.parse(r.stdout).passes).toBe(1 + Math.ceil(pages / 16384))
    expect(r.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
    expect(same(out('file.core'), out('windows.core'))).toBe(true)
  })

  it('ELF from a pipe: through the spool, the same bytes', async () => {
    const r = await measured('cat "$IMG" | "$0" "$@"', ['dump-core', '--json', '-', out('pipe.core')])
    expect(JSON.parse(r.stdout).method).toBe('spool')
    expect(r.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
    expect(same(out('file.core'), out('pipe.core'))).toBe(true)
  })

  it('raw from a pipe to a file: positional writes', async () => {
    const r = await measured('cat "$IMG" | "$0" "$@"', ['dump-core', '--json', '-f', 'raw', '-', out('pipe.raw')])
    expect(JSON.parse(r.stdout).method).toBe('positional')
    expect(r.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
    expect(statSync(out('pipe.raw')).size).toBe(pages * PAGE)
    for (const pfn of [0, 77, pages - 1]) expect(readAt(out('pipe.raw'), pfn * PAGE, PAGE).equals(pageBytes(pfn))).toBe(true)
  })

  it('raw from a file to a pipe: the same bytes', async () => {
    const r = await measured('"$0" "$@" | cat > "$OUT"', ['dump-core', '-f', 'raw', image, '-'], {OUT: out('stdout.raw')})
    expect(r.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
    expect(same(out('pipe.raw'), out('stdout.raw'))).toBe(true)
  })
})

describe('interrupted part way', () => {
  it.each([
    ['SIGINT', 130, 'elf'],
    ['SIGTERM', 143, 'raw'],
  ] as const)('%s while a pipe is read (%s exit, %s): no output, no partial file, no spool', async (sig, code, format) => {
    const outDir = tempDir('xst-dump-int-')
    const child = spawn(process.execPath, [BIN, 'dump-core', '-f', format, '-', join(outDir, 'guest.out')], {stdio: ['pipe', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    child.stdin!.on('error', () => {})
    const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
    // Feed 48 MiB and keep the pipe open: the dump waits for the rest.
    const first = Buffer.alloc(48 << 20)
    readAtInto(image, 0, first)
    await new Promise<void>((resolve) => child.stdin!.write(first, () => resolve()))
    // Its output open (the partial file), every thread asleep: it has read
    // what there is and waits for the rest.
    await until(() => readdirSync(outDir).some((f) => f.endsWith('.xst-partial')), 'the partial file is there')
    await until(() => asleep(child.pid!), 'the dump waits for input')
    child.kill(sig)
    expect(await exited).toBe(code)
    expect(stderr).toMatch(new RegExp(`interrupted by ${sig}; .*guest.out was not written`))
    expect(readdirSync(outDir)).toEqual([])
  })
})

describe('interrupted while a raw dump from a file is being committed', () => {
  // The positional path writes every page in well under a second; then the
  // output is flushed to disk and renamed. A signal then was not acted on
  // until the flush ended (it ran on the main thread), and one that came
  // after the rename said "was not written" of a complete core in place.
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s once every page is written: exit %s, and what it says of the core is true', async (sig, code) => {
    const outDir = tempDir('xst-dump-commit-')
    const target = join(outDir, 'guest.raw')
    const child = spawn(process.execPath, [BIN, 'dump-core', '-f', 'raw', image, target], {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
    // Every page written: the temporary file has reached its final size (the last pfn's page is there).
    const partialSize = () => {
      const f = readdirSync(outDir).find((n) => n.endsWith('.xst-partial'))
      try {
        return f ? statSync(join(outDir, f)).size : 0
      } catch {
        return 0
      }
    }
    await until(() => partialSize() >= pages * PAGE || readdirSync(outDir).includes('guest.raw'), 'every page is written')
    child.kill(sig)
    const status = await exited
    const left = readdirSync(outDir)
    // Never a temporary file; the core is there exactly when xst says it was written.
    expect(left.filter((f) => f.endsWith('.xst-partial'))).toEqual([])
    if (status === 0) {
      expect(left).toEqual(['guest.raw'])
    } else {
      expect(status).toBe(code)
      const written = /guest\.raw was written/.test(stderr)
      expect(stderr).toMatch(new RegExp(`^xst dump-core: interrupted by ${sig}; .*guest\\.raw was (not )?written`))
      expect(left).toEqual(written ? ['guest.raw'] : [])
    }
  })
})

function readAtInto(file: string, position: number, buf: Buffer): void {
  const fd = openSync(file, 'r')
  try {
    let got = 0
    while (got < buf.length) {
      const k = readSync(fd, buf, got, buf.length - got, position + got)
      if (k === 0) break
      got += k
    }
  } finally {
    closeSync(fd)
  }
}

function readAt(file: string, position: number, length: number): Buffer {
  const b = Buffer.alloc(length)
  readAtInto(file, position, b)
  return b
}

/** An ELF file's sections by name: offset and size, from its headers alone. */
function coreSections(file: string): Map<string, {offset: number; size: number}> {
  const eh = readAt(file, 0, 64)
  const shoff = Number(eh.readBigUInt64LE(0x28))
  const shnum = eh.readUInt16LE(0x3c)
  const sh = readAt(file, shoff, 64 * shnum)
  const ent = (i: number) => ({name: sh.readUInt32LE(64 * i), offset: Number(sh.readBigUInt64LE(64 * i + 24)), size: Number(sh.readBigUInt64LE(64 * i + 32))})
  const strtab = ent(eh.readUInt16LE(0x3e))
  const names = readAt(file, strtab.offset, strtab.size)
  const out = new Map<string, {offset: number; size: number}>()
  for (let i = 1; i < shnum; i++) {
    const e = ent(i)
    out.set(names.toString('latin1', e.name, names.indexOf(0, e.name)), {offset: e.offset, size: e.size})
  }
  return out
}
