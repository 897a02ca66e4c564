// dump-core over made-up streams, each built to show one behaviour: HVM
// registers from the HVM context's CPU save records, PV contexts as saved,
// the Xen version note, last copy wins and pages without data left out,
// pages beyond the p2m dumped with a warning, pfns too large refused, a
// sparse guest; and the pfn bitmap and page window against plain arrays.
import {readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {runDumpJob, type DumpFormat} from '../src/dump/job.js'
import {PageWindow, PfnBitmap} from '../src/dump/pfns.js'
import {XstError} from '../src/errors.js'
import {DomainType, PageDataHeader, Rec} from '../src/v2/libxc/layout.js'
import {HvmSaveType} from '../src/dump/layouts.js'
import {hvmContext} from './builders/hvm-context.js'
import {buildLegacy, QEMU_SIG_DM_0002, smallSpec} from './builders/legacy.js'
import {hvmStream, p2mFrames, pfnWord, pvStream, rawLibxcHeaders, rec, type Stream} from './builders/v2.js'
import {tempDir} from './helpers/cli.js'
import {dataExtents, filesystemHasHoles, hasPython, headerNote, PAGE, parseCore, v2Pages} from './helpers/dump.js'

const dir = tempDir('xst-dump-streams-')
afterAll(() => rmSync(dir, {recursive: true, force: true}))
/** The sparseness check needs python3 (for SEEK_DATA), and a filesystem that has holes: skipped, and so reported, where not. */
const canSeeHoles = hasPython && filesystemHasHoles(dir)

let serial = 0
function file(bytes: Buffer): string {
  const f = join(dir, `in-${serial++}`)
  writeFileSync(f, bytes)
  return f
}

async function dump(input: string, format: DumpFormat = 'elf', o: {read?: boolean} = {}) {
  const out = join(dir, `out-${serial++}.${format}`)
  const warnings: string[] = []
  const summary = await runDumpJob({input, output: out, format, onWarning: (m) => warnings.push(m)})
  return {summary, out, warnings, bytes: o.read === false ? Buffer.alloc(0) : readFileSync(out)}
}

// ---- an HVM context with CPU save records, laid out from Xen's save.h ------

interface Cpu {
  id: number
  rip: bigint
  rsp: bigint
  rax: bigint
  cr0: bigint
  cr3: bigint
  cr4: bigint
  cs: number
  fsBase: bigint
  gsBase: bigint
  shadowGs: bigint
  /** Record length (1024 in Xen 4.5; 1032 since 4.7). */
  length?: number
}

function cpuRecord(c: Cpu): Buffer {
  const r = Buffer.alloc(c.length ?? 1024)
  r.fill(0x77, 0, 512) // the FXSAVE area
  const q = (at: number, v: bigint) => at + 8 <= r.length && r.writeBigUInt64LE(v, at)
  q(512, c.rax)
  q(568, c.rsp)
  q(640, c.rip)
  q(648, 0x246n)
  q(656, c.cr0)
  q(664, 0xdead0000n) // cr2
  q(672, c.cr3)
  q(680, c.cr4)
  if (r.length >= 740) r.writeUInt32LE(c.cs, 736)
  q(832, c.fsBase)
  q(840, c.gsBase)
  q(944, c.shadowGs)
  return r
}

function hvmContextBlob(cpus: Cpu[]): Buffer {
  return hvmContext(
    [
      ...cpus.map((c) => ({typecode: HvmSaveType.CPU, instance: c.id, body: cpuRecord(c)})),
      {typecode: 5, instance: 0, body: Buffer.alloc(16, 0x55)}, // a LAPIC record, stepped over
    ],
    {version: 1},
  )
}

const cpus: Cpu[] = [
  // Out of order in the context; vcpu 1 was in user mode (cs & 3 == 3).
  {id: 1, rip: 0x401000n, rsp: 0x7ffc0000n, rax: 11n, cr0: 0x80050033n, cr3: 0x2345000n, cr4: 0x6f0n, cs: 0x33, fsBase: 0x7f0000001000n, gsBase: 0x7f0000002000n, shadowGs: 0xffff888000003000n},
  {id: 0, rip: 0xffffffff81000000n, rsp: 0xffffc90000004000n, rax: 7n, cr0: 0x80050033n, cr3: 0x1234000n, cr4: 0x6f0n, cs: 0x10, fsBase: 0n, gsBase: 0xffff888000001000n, shadowGs: 0x7f0000005000n},
]

/** An entry of .xen_prstatus, read at x86_64 vcpu_guest_context offsets. */
function ctx(e: Buffer) {
  const q = (at: number) => e.readBigUInt64LE(at)
  return {
    flags: q(512),
    rax: q(520 + 80),
    rip: q(520 + 128),
    cs: e.readUInt16LE(520 + 136),
    rflags: q(520 + 144),
    rsp: q(520 + 152),
    cr0: q(4984),
    cr2: q(4984 + 16),
    cr3: q(4984 + 24),
    cr4: q(4984 + 32),
    fsBase: q(5144),
    gsBaseKernel: q(5152),
    gsBaseUser: q(5160),
    fpu: e.subarray(0, 512),
  }
}

function expectRegisters(prstatus: Buffer[]): void {
  expect(prstatus.length).toBe(2)
  const [v0, v1] = prstatus.map(ctx)
  expect(v0.rip).toBe(0xffffffff81000000n)
  expect(v0.rsp).toBe(0xffffc90000004000n)
  expect(v0.rax).toBe(7n)
  expect(v0.cr3).toBe(0x1234000n)
  expect(v0.cr0).toBe(0x80050033n)
  expect(v0.cr2).toBe(0xdead0000n)
  expect(v0.cr4).toBe(0x6f0n)
  expect(v0.rflags).toBe(0x246n)
  expect(v0.cs).toBe(0x10)
  expect(v0.flags).toBe(0x21n) // VGCF_i387_valid | VGCF_online
  expect(v0.fpu.every((b) => b === 0x77)).toBe(true)
  // Ring 0: the gs base is the kernel's, the shadow one the user's.
  expect(v0.gsBaseKernel).toBe(0xffff888000001000n)
  expect(v0.gsBaseUser).toBe(0x7f0000005000n)
  // Ring 3: the other way round.
  expect(v1.rip).toBe(0x401000n)
  expect(v1.cr3).toBe(0x2345000n)
  expect(v1.fsBase).toBe(0x7f0000001000n)
  expect(v1.gsBaseUser).toBe(0x7f0000002000n)
  expect(v1.gsBaseKernel).toBe(0xffff888000003000n)
}

describe('HVM registers from the HVM context', () => {
  it('v2 stream: one 64-bit vcpu context per CPU record, in vcpu order', async () => {
    const s = hvmStream().replace(Rec.HVM_CONTEXT, rec(Rec.HVM_CONTEXT, hvmContextBlob(cpus)))
    const d = await dump(file((await s.build()).bytes))
    const core = parseCore(d.bytes)
    expect(headerNote(core).nrVcpus).toBe(2)
    expect(core.sections.get('.xen_prstatus')!.size).toBe(2 * 5168)
    expectRegisters(core.prstatus)
    expect(d.summary.vcpus).toEqual({count: 2, ids: [0, 1]})
    expect(d.warnings).toEqual([])
  })

  it('legacy image: the same, through the converter', async () => {
    const bytes = buildLegacy(smallSpec('hvm', 64, {hvm: {context: hvmContextBlob(cpus), qemu: {signature: QEMU_SIG_DM_0002, data: 100}}}))
    const d = await dump(file(bytes))
    expectRegisters(parseCore(d.bytes).prstatus)
  })

  it('a CPU record too short, or an HVM context that is not save records: left out, with a warning', async () => {
    const short = hvmContextBlob([cpus[1], {...cpus[0], length: 900}])
    const s = hvmStream().replace(Rec.HVM_CONTEXT, rec(Rec.HVM_CONTEXT, short))
    const d = await dump(file((await s.build()).bytes))
    expect(parseCore(d.bytes).prstatus.length).toBe(1)
    expect(d.warnings.join('\n')).toMatch(/vcpu 1: CPU record of 900 bytes, shorter than 1000/)
    const junk = await dump(file((await hvmStream().build()).bytes))
    expect(headerNote(parseCore(junk.bytes)).nrVcpus).toBe(0)
    expect(junk.warnings.join('\n')).toMatch(/does not start with an HVM save header.*no vcpu registers/)
  })
})

describe('PV contexts and the version note', () => {
  it('a 32-bit PV guest: each 2800-byte context in a 5168-byte slot; the page size 4 bytes down in the version note', async () => {
    const d = await dump(file((await pvStream({guestWidth: 4}).build()).bytes))
    const core = parseCore(d.bytes)
    expect(core.prstatus.length).toBe(2)
    for (const e of core.prstatus) {
      expect(e.length).toBe(5168)
      expect(e.subarray(0, 0xaf0).every((b) => b === 0x11)).toBe(true)
      expect(e.subarray(0xaf0).every((b) => b === 0)).toBe(true)
    }
    const v = core.notes[2].desc
    expect(v.readBigUInt64LE(1268)).toBe(4096n)
    const v64 = parseCore((await dump(file((await pvStream().build()).bytes))).bytes).notes[2].desc
    expect(v64.readBigUInt64LE(1272)).toBe(4096n)
    expect(parseCore((await dump(file((await pvStream().build()).bytes))).bytes).prstatus[0].every((b) => b === 0x11)).toBe(true)
  })

  it('the Xen version note: what a native stream says; zeros for a converted one', async () => {
    const native = pvStream().replace((p) => p.kind === 'libxc-headers', {kind: 'libxc-headers', domainType: DomainType.X86_PV, raw: rawLibxcHeaders({type: DomainType.X86_PV})})
    const d = await dump(file((await native.build()).bytes))
    const v = parseCore(d.bytes).notes[2].desc
    expect([v.readBigUInt64LE(0), v.readBigUInt64LE(8)]).toEqual([4n, 19n])
    expect(d.summary.xenVersion).toEqual({major: 4, minor: 19})
    const converted = parseCore((await dump(file((await pvStream().build()).bytes))).bytes).notes[2].desc
    expect([converted.readBigUInt64LE(0), converted.readBigUInt64LE(8)]).toEqual([0n, 0n])
  })
})

/** PAGE_DATA with these (pfn, type) entries, each data page filled with `fill(pfn)`. */
function pageRecord(entries: Array<[number, number]>, fill: (pfn: number) => number) {
  const words = entries.map(([pfn, type]) => pfnWord(pfn, type))
  const head = Buffer.alloc(PageDataHeader.size + 8 * words.length)
  PageDataHeader.put(head, 0, {count: words.length, reserved: 0})
  words.forEach((w, i) => head.writeBigUInt64LE(w, 8 + 8 * i))
  const data = entries.filter(([, t]) => t <= 4 || (t >= 9 && t <= 12)).map(([pfn]) => Buffer.alloc(PAGE, fill(pfn)))
  return rec(Rec.PAGE_DATA, head, data.length ? Buffer.concat(data) : undefined)
}

/** A PV stream whose page records are `records`. */
function pvWith(records: ReturnType<typeof pageRecord>[], endPfn = 299): Stream {
  const s = pvStream()
  s.replace(Rec.X86_PV_P2M_FRAMES, p2mFrames(0, endPfn))
  s.remove(Rec.PAGE_DATA)
  s.remove(Rec.PAGE_DATA)
  s.insertBefore(Rec.X86_TSC_INFO, ...records)
  return s
}

describe('which pages, which copy', () => {
  it('the last copy wins; XTAB, BROKEN and XALLOC entries carry no page', async () => {
    const s = pvWith([
      pageRecord(
        Array.from({length: 10}, (_, i) => [i, 0] as [number, number]),
        (p) => 0x10 + p,
      ),
      pageRecord(
        [
          [3, 0],
          [4, 0xf],
          [20, 0xd],
          [21, 0xe],
          [5, 1],
        ],
        (p) => 0xb0 + p,
      ),
    ])
    const bytes = (await s.build()).bytes
    const f = file(bytes)
    const elf = await dump(f)
    const raw = await dump(f, 'raw')
    const core = parseCore(elf.bytes)
    expect(core.index).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(core.pages.get(3)!.every((b) => b === 0xb3)).toBe(true)
    expect(core.pages.get(5)!.every((b) => b === 0xb5)).toBe(true)
    // pfn 4's later XTAB entry carries nothing: its last copy is the first.
    expect(core.pages.get(4)!.every((b) => b === 0x14)).toBe(true)
    expect(elf.summary.pages).toEqual({count: 10, copies: 12, pfnRange: {first: 0, last: 9}})
    expect(raw.bytes.length).toBe(10 * PAGE)
    for (const [pfn, page] of v2Pages(bytes)) expect(raw.bytes.subarray(pfn * PAGE, (pfn + 1) * PAGE).equals(page)).toBe(true)
  })

  it('pages beyond the p2m of a v2 stream are dumped, with a warning', async () => {
    const s = pvWith(
      [
        pageRecord(
          [
            [0, 0],
            [1, 0],
            [400, 0],
          ],
          (p) => p & 0xff,
        ),
      ],
      299,
    )
    const d = await dump(file((await s.build()).bytes))
    expect(parseCore(d.bytes).index).toEqual([0, 1, 400])
    expect(d.warnings.join('\n')).toMatch(/pfn\[2\] is 0x190, beyond the last pfn of the p2m.*dumped anyway, the pages are real/)
  })

  it('a pfn beyond 16 TiB is refused, and nothing is left', async () => {
    const s = hvmStream()
    s.replace(
      Rec.PAGE_DATA,
      pageRecord(
        [
          [0, 0],
          [2 ** 32, 0],
        ],
        () => 1,
      ),
    )
    const before = readdirSync(dir).length
    const out = join(dir, 'refused.elf')
    const err = await runDumpJob({input: file((await s.build()).bytes), output: out, format: 'elf'}).catch((e) => e)
    expect(err).toBeInstanceOf(XstError)
    expect(err.code).toBe('pfn-too-large')
    expect(err.exitCode).toBe(1)
    expect(err.message).toMatch(/pfn 0x100000000, beyond the 16 TiB/)
    expect(readdirSync(dir).length).toBe(before + 1) // the input only
  })

  /** Pages far apart: 192 GiB up. */
  const far = 0x3000000
  const sparseGuest = () =>
    hvmStream().replace(
      Rec.PAGE_DATA,
      pageRecord(
        [
          [0, 0],
          [1, 0],
          [far, 0],
          [far + 1, 0],
        ],
        (p) => (p & 0xff) + 1,
      ),
    )

  it('a sparse guest: pages far apart, a raw dump mostly holes, one ELF window for all its pages', async () => {
    const s = sparseGuest()
    const f = file((await s.build()).bytes)
    const raw = await dump(f, 'raw', {read: false})
    expect(statSync(raw.out).size).toBe((far + 2) * PAGE)
    const elf = await dump(f)
    const core = parseCore(elf.bytes)
    expect(core.index).toEqual([...v2Pages((await s.build()).bytes).keys()].sort((a, b) => a - b))
    // The window holds the pages, however far apart: the first pass and one more.
    expect(elf.summary.passes).toBe(2)
  })

  it.skipIf(!canSeeHoles)('a sparse guest: its raw dump is mostly holes (SEEK_DATA through python3, where the filesystem has holes)', async () => {
    const raw = await dump(file((await sparseGuest().build()).bytes), 'raw', {read: false})
    const blocks = dataExtents(raw.out).reduce((n, [a, b]) => n + (b - a), 0)
    expect(blocks).toBeLessThanOrEqual(200 * PAGE) // 130 pages of data, a little slack for extent rounding
  })
})

describe('PfnBitmap', () => {
  it('runs and nextAt agree with a plain set', () => {
    let seed = 7
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    for (let round = 0; round < 20; round++) {
      const b = new PfnBitmap()
      const set = new Set<number>()
      const base = Math.floor(rnd() * 2 ** 32 - 200_000)
      for (let i = 0; i < 2000; i++) {
        const p = Math.max(0, base + Math.floor(rnd() * (round % 2 ? 100_000 : 3000)))
        set.add(p)
        b.add(p)
        if (rnd() < 0.3) {
          for (let k = 1; k < 20; k++) {
            set.add(p + k)
            b.add(p + k)
          }
        }
      }
      const sorted = [...set].sort((x, y) => x - y)
      expect(b.count).toBe(sorted.length)
      expect([b.first, b.last]).toEqual([sorted[0], sorted[sorted.length - 1]])
      const fromRuns: number[] = []
      for (const [s, e] of b.runs(0, Infinity)) {
        expect(e).toBeGreaterThan(s)
        for (let p = s; p < e; p++) fromRuns.push(p)
      }
      expect(fromRuns).toEqual(sorted)
      const lo = sorted[Math.floor(sorted.length / 3)] + 1
      const hi = sorted[Math.floor((2 * sorted.length) / 3)]
      const inside: number[] = []
      for (const [s, e] of b.runs(lo, hi)) for (let p = s; p < e; p++) inside.push(p)
      expect(inside).toEqual(sorted.filter((p) => p >= lo && p < hi))
      expect(b.nextAt(lo)).toBe(sorted.find((p) => p >= lo))
      expect(b.nextAt(sorted[sorted.length - 1] + 1)).toBeUndefined()
    }
  })

  it('holds no memory for chunks whose every pfn is set, and still answers for them', () => {
    const CHUNK = 32768
    const b = new PfnBitmap()
    // Chunks 2-5 whole (added in a scattered order, one pfn twice), chunk 6 all but one pfn, chunk 9 one pfn.
    const order: number[] = []
    for (let p = 2 * CHUNK; p < 6 * CHUNK; p++) order.push(p)
    for (let i = order.length - 1; i > 0; i--) {
      const j = (i * 7919) % (i + 1)
      ;[order[i], order[j]] = [order[j], order[i]]
    }
    for (const p of order) expect(b.add(p)).toBe(true)
    expect(b.add(3 * CHUNK + 5)).toBe(false)
    for (let p = 6 * CHUNK; p < 7 * CHUNK; p++) if (p !== 6 * CHUNK + 100) b.add(p)
    b.add(9 * CHUNK + 1)
    expect(b.count).toBe(5 * CHUNK)
    expect(b.memoryBytes).toBe(2 * (CHUNK / 8))
    expect(b.has(4 * CHUNK + 1234) && b.has(6 * CHUNK + 99) && !b.has(6 * CHUNK + 100) && !b.has(CHUNK)).toBe(true)
    expect([...b.runs(0, Infinity)]).toEqual([
      [2 * CHUNK, 6 * CHUNK + 100],
      [6 * CHUNK + 101, 7 * CHUNK],
      [9 * CHUNK + 1, 9 * CHUNK + 2],
    ])
    expect([...b.runs(3 * CHUNK + 10, 3 * CHUNK + 20)]).toEqual([[3 * CHUNK + 10, 3 * CHUNK + 20]])
    expect(b.nextAt(7 * CHUNK)).toBe(9 * CHUNK + 1)
  })
})

describe('PageWindow', () => {
  it("holds the next so many pages, dense or strewn, and finds each one's slot", () => {
    const b = new PfnBitmap()
    const pfns = [3, 4, 5, 6, 100, 101, 2 ** 31, 2 ** 32 - 1]
    for (const p of pfns) b.add(p)
    const w = new PageWindow(3)
    const seen: number[][] = []
    for (let from = 0; w.load(b, from); from = w.end) {
      seen.push([w.first, w.last])
      for (const p of pfns) w.set(p, p * 10)
      for (const p of pfns) expect(w.get(p)).toBe(p >= w.first && p <= w.last ? p * 10 : -1)
      expect(w.get(7)).toBe(-1)
    }
    expect(seen).toEqual([
      [3, 5],
      [6, 101],
      [2 ** 31, 2 ** 32 - 1],
    ])
  })

  it('keeps offsets exactly across the 32-bit line, the last copy winning, and forgets them on the next load', () => {
    const b = new PfnBitmap()
    for (const p of [0, 1, 2]) b.add(p)
    const w = new PageWindow(3)
    expect(w.load(b, 0)).toBe(true)
    expect([w.get(0), w.get(1), w.get(2)]).toEqual([-1, -1, -1])
    const far = 2 ** 47 + 2 ** 32 * 5 + 12345 // above 2^32, odd low bits
    w.set(0, 0) // offset 0 is a copy, not "none"
    w.set(1, 2 ** 32 - 1)
    w.set(2, 2 ** 32)
    expect([w.get(0), w.get(1), w.get(2)]).toEqual([0, 2 ** 32 - 1, 2 ** 32])
    w.set(1, far)
    w.set(2, 7)
    expect([w.get(1), w.get(2)]).toEqual([far, 7])
    expect(() => w.set(0, 2 ** 48)).toThrow(/internal: input offset/)
    expect(w.load(b, 0)).toBe(true)
    expect([w.get(0), w.get(1), w.get(2)]).toEqual([-1, -1, -1])
  })
})
