// A PV guest's own p2m pages in a dump: rewritten to the identity (entry
// N = N for every page the dump holds, all ones for the other pfns up to
// the p2m's last, the rest of the last leaf page as saved), as libxc's
// update_guest_p2m() rewrites them for a new host; --keep-p2m keeps them
// as saved. The native conformance index gives both forms: `memory` as
// saved, `alternatives` rewritten; every PV case is held to them, by every
// way pages reach a dump (positional raw writes, window passes over a
// file, the spool of a pipe), and every other page is left as it was.
import {createHash} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {identityLeaf, P2mRewrite} from '../src/dump/p2m.js'
import {PfnBitmap} from '../src/dump/pfns.js'
import {tempDir} from './helpers/cli.js'
import {PAGE, parseCore} from './helpers/dump.js'
import {type NativeCase, nativeBytes, nativeCases, nativeIndex, type NativeMemory, nativeMemory} from './helpers/fixtures.js'
import {runXstInProcess as runXst} from './helpers/in-process.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const {zeroSha256} = nativeIndex()

/** An identity page built by hand: u32 or u64 entries. */
function entries(page: Buffer, width: 4 | 8): number[] {
  const out: number[] = []
  for (let at = 0; at < PAGE; at += width) out.push(width === 4 ? page.readUInt32LE(at) : Number(page.readBigUInt64LE(at) & 0xffffffffffffn))
  return out
}

describe('identityLeaf: one leaf page, as update_guest_p2m() writes it for mfn = pfn', () => {
  const held = new Set([0, 1, 2, 5, 1023, 1024, 1030, 1500, 2047])
  const has = (p: number) => held.has(p)

  it('a 64-bit guest: 512 u64 entries, pfn where the dump holds the page, all ones elsewhere', () => {
    const page = Buffer.alloc(PAGE, 0xab)
    identityLeaf(page, 0, 8, 10_000, has)
    for (let e = 0; e < 512; e++) {
      const want = held.has(e) ? BigInt(e) : 0xffffffffffffffffn
      expect(page.readBigUInt64LE(e * 8), `entry ${e}`).toBe(want)
    }
    // The third leaf: pfns 1024-1535.
    const third = Buffer.alloc(PAGE, 0xab)
    identityLeaf(third, 2, 8, 10_000, has)
    expect(third.readBigUInt64LE(0)).toBe(1024n)
    expect(third.readBigUInt64LE(6 * 8)).toBe(1030n)
    expect(third.readBigUInt64LE(1 * 8)).toBe(0xffffffffffffffffn)
    expect(third.readBigUInt64LE((1500 - 1024) * 8)).toBe(1500n)
  })

  it('a 32-bit guest: 1024 u32 entries, all ones (INVALID_MFN truncated) where the page is absent', () => {
    const page = Buffer.alloc(PAGE, 0xab)
    identityLeaf(page, 1, 4, 10_000, has)
    const got = entries(page, 4)
    expect(got).toHaveLength(1024)
    for (let e = 0; e < 1024; e++) expect(got[e], `entry ${e}`).toBe(held.has(1024 + e) ? 1024 + e : 0xffffffff)
  })

  it("past the p2m's last pfn the page keeps what was saved (the restorer copies max_pfn + 1 entries)", () => {
    const page = Buffer.alloc(PAGE, 0xab)
    identityLeaf(page, 0, 8, 3, has)
    expect(page.readBigUInt64LE(0)).toBe(0n)
    expect(page.readBigUInt64LE(16)).toBe(2n)
    expect(page.readBigUInt64LE(24)).toBe(0xffffffffffffffffn)
    expect(page.subarray(32).equals(Buffer.alloc(PAGE - 32, 0xab))).toBe(true)
    const small = Buffer.alloc(PAGE, 0xcd)
    identityLeaf(small, 2, 4, 2048 + 1, has)
    expect(small.readUInt32LE(0)).toBe(0xffffffff)
    expect(small.readUInt32LE(4)).toBe(0xffffffff)
    expect(small.subarray(8).equals(Buffer.alloc(PAGE - 8, 0xcd))).toBe(true)
  })
})

describe('P2mRewrite: the leaf pages a dump holds, from X86_PV_P2M_FRAMES', () => {
  const frames = (...pfns: number[]) => {
    const b = Buffer.alloc(pfns.length * 8)
    pfns.forEach((p, i) => b.writeBigUInt64LE(BigInt(p), i * 8))
    return b
  }
  const bitmap = (pfns: number[]) => {
    const b = new PfnBitmap()
    for (const p of pfns) b.add(p)
    return b
  }

  it('finds the leaf pages among a run of pages and rewrites only them', () => {
    const pages = bitmap([...Array.from({length: 40}, (_, i) => i), 600])
    // pfns 0-1099 of a 64-bit guest: 3 leaves, at pfns 7, 30 and 9999 (not in the dump).
    const p2m = P2mRewrite.of([{start: 0, end: 1099, frames: frames(7, 30, 9999)}], 8, pages)
    expect(p2m.count).toBe(2)
    expect([...p2m.leafPfns()]).toEqual([7, 30])
    const buf = Buffer.alloc(40 * PAGE, 0x11)
    p2m.rewrite(0, buf)
    for (let p = 0; p < 40; p++) {
      const page = buf.subarray(p * PAGE, (p + 1) * PAGE)
      if (p === 7) {
        expect(page.readBigUInt64LE(39 * 8)).toBe(39n)
        expect(page.readBigUInt64LE(40 * 8)).toBe(0xffffffffffffffffn)
      } else if (p === 30) {
        // Leaf 1: pfns 512-1023; 600 is in the dump.
        expect(page.readBigUInt64LE((600 - 512) * 8)).toBe(600n)
        expect(page.readBigUInt64LE(0)).toBe(0xffffffffffffffffn)
      } else expect(page.equals(Buffer.alloc(PAGE, 0x11)), `pfn ${p} untouched`).toBe(true)
    }
    // A run that starts after the first leaf.
    const tail = Buffer.alloc(10 * PAGE, 0x22)
    p2m.rewrite(25, tail)
    expect(tail.readBigUInt64LE(5 * PAGE + (600 - 512) * 8)).toBe(600n)
    expect(tail.subarray(0, 5 * PAGE).equals(Buffer.alloc(5 * PAGE, 0x22))).toBe(true)
  })

  it('merges records as the restorer does: frame start / per-page onwards, max_pfn the highest end; a pfn named twice is the later leaf', () => {
    const pages = bitmap([0, 1, 2, 3, 1030])
    const p2m = P2mRewrite.of(
      [
        {start: 0, end: 1023, frames: frames(1, 2)},
        {start: 1024, end: 1100, frames: frames(2)},
      ],
      4,
      pages,
    )
    // 32-bit guest: 1024 per leaf; leaf 0 at pfn 1, leaf 1 at pfn 2 (named by both records: the later wins, the same index).
    expect([...p2m.leafPfns()]).toEqual([1, 2])
    const buf = Buffer.alloc(2 * PAGE)
    p2m.rewrite(1, buf)
    expect(buf.readUInt32LE(0)).toBe(0)
    expect(buf.readUInt32LE(4 * 4)).toBe(0xffffffff)
    expect(buf.readUInt32LE(PAGE + 6 * 4)).toBe(1030)
    // Past pfn 1100 (entry 76 of leaf 1): as it was.
    expect(buf.readUInt32LE(PAGE + 77 * 4)).toBe(0)
    expect(buf.readUInt32LE(PAGE + 76 * 4)).toBe(0xffffffff)
    // One page named as two leaves: written as the later one.
    const twice = P2mRewrite.of([{start: 0, end: 2047, frames: frames(3, 3)}], 4, pages)
    expect(twice.count).toBe(1)
    const page = Buffer.alloc(PAGE)
    twice.rewrite(3, page)
    expect(page.readUInt32LE(0)).toBe(0xffffffff)
    expect(page.readUInt32LE((1030 - 1024) * 4)).toBe(1030)
  })

  it('leaves alone a frame past the p2m (the restorer refuses it) and an image that names none', () => {
    const pages = bitmap([0, 1, 2, 600])
    expect(P2mRewrite.of([{start: 0, end: 100, frames: frames(600)}], 8, pages).count).toBe(0)
    expect(P2mRewrite.of([], 8, pages).count).toBe(0)
  })
})

// Every PV case of the native index, and its checkpoints where it has a first one apart from the last.
const PV = nativeCases().filter((c) => c.guest === 'pv')

interface Variant {
  label: string
  args: string[]
  memory: string
}
const variants = (c: NativeCase): Variant[] => [
  {label: c.checkpoints === null ? 'the image' : `checkpoint ${c.checkpoints} (the last complete)`, args: [], memory: c.memory},
  ...(c.memory_first_checkpoint ? [{label: 'checkpoint 1', args: ['--checkpoint', '1'], memory: c.memory_first_checkpoint}] : []),
]

/** The pfns of a raw dump whose page is not the expected one: the rewritten form at the p2m pages unless `kept`, the memory file's elsewhere, zeros where it lists none. */
function rawWrong(raw: Buffer, mem: NativeMemory, kept: boolean): number[] {
  const last = Math.max(raw.length / PAGE, ...[...mem.pfns.keys()].map((p) => p + 1))
  const wrong: number[] = []
  for (let p = 0; p < last; p++) {
    const want = (!kept && mem.alternatives.get(p)) || mem.pfns.get(p) || zeroSha256
    if (sha(Buffer.concat([raw.subarray(p * PAGE, (p + 1) * PAGE)], PAGE)) !== want) wrong.push(p)
  }
  return wrong
}

function elfWrong(elf: Buffer, mem: NativeMemory, kept: boolean): number[] {
  const core = parseCore(elf)
  expect([...core.pages.keys()].sort((a, b) => a - b)).toEqual([...mem.pfns.keys()].sort((a, b) => a - b))
  expect(core.gmfns).toEqual(core.index)
  return [...core.pages].filter(([p, page]) => sha(page) !== ((!kept && mem.alternatives.get(p)) || mem.pfns.get(p))).map(([p]) => p)
}

describe('dump-core: the native PV cases hold their p2m pages rewritten (alternatives), or as saved with --keep-p2m (memory)', () => {
  it('there are PV cases, legacy and v2, checkpointed ones among them, each with alternatives for its p2m pages', () => {
    expect(PV.length).toBeGreaterThanOrEqual(10)
    expect(PV.some((c) => c.stream_version === 'legacy' && c.checkpoints !== null)).toBe(true)
    expect(PV.some((c) => c.stream_version !== 'legacy' && c.checkpoints !== null)).toBe(true)
    for (const c of PV) for (const v of variants(c)) expect(nativeMemory(v.memory).alternatives.size, `${c.name} ${v.label}`).toBeGreaterThan(0)
  })

  it.for(PV.map((c) => [c.name, c] as const))('%s: ELF and raw, from the file', async ([name, c], {expect}) => {
    const dir = tempDir('xst-p2m-')
    const file = join(dir, name)
    writeFileSync(file, nativeBytes(c.input))
    for (const v of variants(c)) {
      const mem = nativeMemory(v.memory)
      for (const kept of [false, true]) {
        const flags = [...v.args, ...(kept ? ['--keep-p2m'] : [])]
        const what = `${name}, ${v.label}${kept ? ', --keep-p2m' : ''}`
        const raw = join(dir, `raw-${v.args.length}-${kept}`)
        const elf = join(dir, `elf-${v.args.length}-${kept}`)
        const [r, e] = await Promise.all([runXst(['dump-core', '--json', '-f', 'raw', ...flags, file, raw]), runXst(['dump-core', '--json', ...flags, file, elf])])
        expect(r.code, r.stderr).toBe(0)
        expect(e.code, e.stderr).toBe(0)
        expect(rawWrong(readFileSync(raw), mem, kept), `${what}: raw`).toEqual([])
        expect(elfWrong(readFileSync(elf), mem, kept), `${what}: ELF`).toEqual([])
        for (const doc of [JSON.parse(r.stdout), JSON.parse(e.stdout)]) expect(doc.p2m, what).toEqual({pages: mem.alternatives.size, rewritten: !kept})
        expect(r.stdout + e.stdout).not.toBe('')
      }
    }
  })

  // A pipe is spooled (ELF, and raw to a pipe), a file read by windows; a raw file is written in place and fixed up after.
  const PIPED = ['libxc-pv3-save', 'legacy-pv-save', 'remus-v2-pv3', 'legacy-remus-pv-compressed']
  it.for(PIPED.map((n) => [n, PV.find((c) => c.name === n)!] as const))('%s: from stdin, and raw to stdout, the same', async ([name, c], {expect}) => {
    const dir = tempDir('xst-p2m-pipe-')
    const input = nativeBytes(c.input)
    const mem = nativeMemory(c.memory)
    for (const kept of [false, true]) {
      const flags = kept ? ['--keep-p2m'] : []
      const [elf, raw, rawOut] = await Promise.all([
        runXst(['dump-core', '--json', ...flags, '-', join(dir, `elf-${kept}`)], {input}),
        runXst(['dump-core', '--json', '-f', 'raw', ...flags, '-', join(dir, `raw-${kept}`)], {input}),
        runXst(['dump-core', '-q', '-f', 'raw', ...flags, '-', '-'], {input}),
      ])
      for (const x of [elf, raw, rawOut]) expect(x.code, x.stderr).toBe(0)
      expect(JSON.parse(elf.stdout).method).toBe('spool')
      expect(JSON.parse(elf.stdout).p2m).toEqual({pages: mem.alternatives.size, rewritten: !kept})
      expect(elfWrong(readFileSync(join(dir, `elf-${kept}`)), mem, kept), `${name} ELF from stdin`).toEqual([])
      expect(rawWrong(readFileSync(join(dir, `raw-${kept}`)), mem, kept), `${name} raw from stdin`).toEqual([])
      expect(rawWrong(rawOut.stdoutBytes, mem, kept), `${name} raw from stdin to stdout`).toEqual([])
    }
  })

  it('a file read in small windows (several header passes) rewrites the p2m pages the same', async () => {
    const c = PV.find((x) => x.name === 'pv-p2m-frames')!
    const dir = tempDir('xst-p2m-win-')
    const file = join(dir, 'in')
    writeFileSync(file, nativeBytes(c.input))
    const r = await runXst(['dump-core', '--json', file, join(dir, 'core')], {env: {XST_DUMP_WINDOW_PFNS: '7'}})
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({method: 'windows', passes: expect.any(Number), p2m: {pages: 3, rewritten: true}})
    expect(JSON.parse(r.stdout).passes).toBeGreaterThan(2)
    expect(elfWrong(readFileSync(join(dir, 'core')), nativeMemory(c.memory), false)).toEqual([])
  })

  it('the summary says so; an HVM guest has no p2m line and p2m null', async () => {
    const c = PV.find((x) => x.name === 'xl-pv3-save')!
    const dir = tempDir('xst-p2m-text-')
    const file = join(dir, 'in')
    writeFileSync(file, nativeBytes(c.input))
    const [a, b] = await Promise.all([runXst(['dump-core', file, join(dir, 'a')]), runXst(['dump-core', '-f', 'raw', '--keep-p2m', file, join(dir, 'b')])])
    expect(a.stdout).toMatch(/^ {2}p2m {7}gmfn = pfn .*; the guest's p2m pages \(1 page\) rewritten to the identity, as the restorer does \(--keep-p2m keeps them\)$/m)
    expect(b.stdout).toMatch(/^ {2}p2m {7}the guest's p2m pages \(1 page\) kept as saved \(--keep-p2m\), holding the source host's machine frames$/m)
    const hvm = nativeCases().find((x) => x.name === 'xl-hvm3-save')!
    writeFileSync(join(dir, 'hvm'), nativeBytes(hvm.input))
    const h = await runXst(['dump-core', '--json', '--keep-p2m', join(dir, 'hvm'), join(dir, 'h')])
    expect(h.code, h.stderr).toBe(0)
    expect(JSON.parse(h.stdout).p2m).toBeNull()
    const ht = await runXst(['dump-core', join(dir, 'hvm'), join(dir, 'h2')])
    expect(ht.stdout).not.toMatch(/^ {2}p2m/m)
  })
})
