// dump-core --format vmcore (a kdump-style ELF core) and the kernel facts
// every format reports: the core read back by an independent parser (and
// readelf) over every native stream and conformance image; the vmcoreinfo
// search, the page-table fallback and the registers over images built to
// show each one.
import {createHash} from 'node:crypto'
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it, test} from 'vitest'
import {type DumpFormat, type DumpSummary, runDumpJob} from '../src/dump/job.js'
import {HvmSaveType} from '../src/dump/layouts.js'
import {emitPages} from '../src/dump/pages.js'
import {PfnBitmap} from '../src/dump/pfns.js'
import {planVmcore, segmentOf} from '../src/dump/vmcore.js'
import type {ByteSink} from '../src/io/sink.js'
import {hvmContext} from './builders/hvm-context.js'
import {buildLegacy, QEMU_SIG_DM_0002} from './builders/legacy.js'
import {runXstInProcess} from './helpers/in-process.js'
import {schemaErrors} from './helpers/json-schema.js'
import {tempDir} from './helpers/cli.js'
import {hasReadelf, PAGE, rawPagesNotIn} from './helpers/dump.js'
import {legacyVectors, NATIVE, nativeBytes, nativeCases, vectorBytes} from './helpers/fixtures.js'
import {parseVmcore, prstatusRegs, qemuCpuState, readelfVmcore} from './helpers/vmcore.js'

const dir = tempDir('xst-vmcore-')
afterAll(() => rmSync(dir, {recursive: true, force: true}))
let serial = 0
const file = (bytes: Buffer) => {
  const f = join(dir, `in-${serial++}`)
  writeFileSync(f, bytes)
  return f
}

async function dump(input: string, format: DumpFormat = 'vmcore') {
  const out = join(dir, `out-${serial++}.${format}`)
  const warnings: string[] = []
  const summary = await runDumpJob({input, output: out, format, onWarning: (m) => warnings.push(m)})
  return {summary, out, warnings, bytes: readFileSync(out)}
}

/** What every kdump-style core must be, whatever its guest. */
function expectWellFormed(b: Buffer, summary: DumpSummary): ReturnType<typeof parseVmcore> {
  const v = parseVmcore(b)
  expect([v.class, v.data, v.type, v.machine]).toEqual([2, 1, 4, 62]) // ELF64, little-endian, ET_CORE, EM_X86_64
  expect(v.shnum).toBe(0)
  // The notes first, then the loads: ascending, apart, page-aligned data, p_align 0 (crash's test for a kdump core).
  expect(v.noteSegment.align).toBe(0)
  expect(v.loads.length).toBe(summary.output.segments)
  // Ascending, apart (no two overlap: Volatility 3 needs it), their data one after the other in the file;
  // p_vaddr = p_paddr but for at most one: the kernel image's, at its virtual address.
  const kernel = v.loads.filter((l) => l.vaddr >= 0xffffffff80000000n)
  expect(kernel.length).toBeLessThanOrEqual(1)
  for (const [i, l] of v.loads.entries()) {
    expect(l.filesz).toBe(l.memsz)
    expect(l.filesz % PAGE).toBe(0)
    expect(l.paddr % PAGE).toBe(0)
    if (!kernel.includes(l)) expect(l.vaddr).toBe(BigInt(l.paddr))
    expect(l.align).toBe(0)
    expect(l.offset % PAGE).toBe(0)
    if (i > 0) {
      const prev = v.loads[i - 1]
      expect(l.paddr, 'segments ascend and do not overlap').toBeGreaterThanOrEqual(prev.paddr + prev.memsz)
      expect(l.offset).toBe(prev.offset + prev.filesz)
    }
  }
  const ram = v.loads
  expect(ram.length ? ram.at(-1)!.offset + v.loads.at(-1)!.filesz : b.length).toBe(b.length)
  expect(summary.output.bytes).toBe(b.length)
  expect(v.notes.map((n) => ({name: n.name, type: n.type, bytes: n.desc.length}))).toEqual(summary.output.notes)
  return v
}

describe('dump-core --format vmcore over the native streams', () => {
  const cases = nativeCases()

  test.each(cases.map((c) => c.name))('%s: the loads hold exactly its memory, one NT_PRSTATUS and one QEMU note per vcpu; a pipe gives the same core', async (name) => {
    const c = cases.find((x) => x.name === name)!
    // From the stored gzip file (read once, through a spool), and from the stream as a file (header passes).
    const viaGzip = await dump(join(NATIVE, c.input))
    const plain = nativeBytes(c.input)
    const fromFile = await dump(file(plain))
    expect(fromFile.bytes.equals(viaGzip.bytes), 'the same core from a file and through gzip').toBe(true)
    const v = expectWellFormed(viaGzip.bytes, viaGzip.summary)
    expect(rawPagesNotIn(v.raw(), c.memory), 'pfns whose page differs from the case memory').toEqual([])
    // Every page of the memory is in a load; nothing else is (the loads cover runs of the guest's pages only).
    const loaded = v.loads.reduce((n, l) => n + l.filesz / PAGE, 0)
    expect(loaded).toBe(viaGzip.summary.pages.count)
    const cores = v.notes.filter((n) => n.name === 'CORE')
    expect(cores.length).toBe(c.vcpus)
    expect(cores.every((n) => n.type === 1)).toBe(true)
    expect(v.notes.filter((n) => n.name === 'QEMU').length).toBe(c.vcpus)
    // pr_pid: the vcpu id + 1, as QEMU numbers its cpus' notes.
    expect(cores.map((n) => prstatusRegs(n.desc).pid)).toEqual(viaGzip.summary.vcpus.ids.map((id) => id + 1))
    // These guests are not Linux: the summary says why no kernel was found.
    expect(viaGzip.summary.kernel.release).toBeNull()
    expect(viaGzip.summary.kernel.problem).toMatch(/no vmcoreinfo text/)
    expect(v.notes.some((n) => n.name === 'VMCOREINFO')).toBe(false)
  })

  it('identify names the core as a kdump-style guest memory dump, not a Xen image', async () => {
    const {out} = await dump(join(NATIVE, 'xl-hvm3-save.gz'))
    const r = await runXstInProcess(['identify', out])
    expect(r.stdout).toMatch(/: guest memory dump \(kdump-style ELF core\), 64-bit ELF core, \d+ bytes: not a Xen image \(.*`xst dump-core --format vmcore`/)
  })

  test.skipIf(!hasReadelf)('binutils readelf reads a core without a warning', async () => {
    const c = cases.find((x) => x.name === 'xl-hvm3-save')!
    const {out} = await dump(join(NATIVE, c.input))
    const r = readelfVmcore(out)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/Type:\s+CORE \(Core file\)/)
    expect(r.stdout).toMatch(/Machine:\s+Advanced Micro Devices X86-64/)
    expect(r.stdout.match(/NT_PRSTATUS/g)?.length).toBe(c.vcpus)
    expect(r.stdout).toMatch(/\bLOAD\b/)
  })
})

describe('dump-core --format vmcore over the conformance legacy images', () => {
  const vectors = legacyVectors().filter((x) => x.valid)
  test.each(vectors.map((v) => v.name))("%s: the core holds the raw dump's memory", async (name) => {
    const v = vectors.find((x) => x.name === name)!
    const input = file(vectorBytes('legacy', v.input))
    const core = await dump(input)
    const raw = await dump(input, 'raw')
    const memory = expectWellFormed(core.bytes, core.summary).raw()
    expect(Buffer.concat([memory], raw.bytes.length).equals(raw.bytes)).toBe(true)
    expect(memory.length).toBeLessThanOrEqual(raw.bytes.length)
  })
})

// ---- a Linux guest made up page by page -------------------------------------

const START_KERNEL_MAP = 0xffffffff80000000n
const START_KERNEL = 0xffffffff81000000n
const PRESENT_RW = 0x3n
const LARGE = 0x80n

interface Guest {
  kaslr: bigint
  physBase: bigint
  /** Where the vmcoreinfo texts are: [pfn, offset, text]. */
  texts?: Array<[number, number, string]>
  /** The vcpu runs on the user half of a page-table-isolated pgd (cr3 bit 12 set). */
  pti?: boolean
  la57?: boolean
  /** The kernel text mapped with 4 KiB pages (a page table under the PD entry). */
  small?: boolean
  /** No page tables at all (cr3 0). */
  noTables?: boolean
  /** 2 MiB slots the kernel image maps (default 1), and how many of its pages the guest has (default none). */
  textSlots?: number
  textPages?: number
  /** The kernel image mapped page by page, as a PV kernel's is, over this many 2 MiB slots. */
  ptSlots?: number
}

const vmcoreinfo = (o: {release?: string; kaslr?: bigint; physBase?: bigint | null} = {}) =>
  [
    `OSRELEASE=${o.release ?? '6.1.0-28-amd64'}`,
    'BUILD-ID=0123456789abcdef0123456789abcdef01234567',
    'PAGESIZE=4096',
    'SYMBOL(init_uts_ns)=ffffffffac812340',
    'SYMBOL(swapper_pg_dir)=ffffffffac80a000',
    'SYMBOL(_stext)=ffffffffab000000',
    'OFFSET(list_head.next)=0',
    ...(o.physBase === null ? [] : [`NUMBER(phys_base)=${o.physBase ?? 0x10000000n}`]),
    'SYMBOL(init_top_pgt)=ffffffffac80a000',
    'NUMBER(pgtable_l5_enabled)=0',
    ...(o.kaslr === undefined ? ['KERNELOFFSET=2a000000'] : o.kaslr === -1n ? [] : [`KERNELOFFSET=${o.kaslr.toString(16)}`]),
    '',
  ].join('\n')

/** The vmcoreinfo note the kernel keeps beside the text: header, "VMCOREINFO\0" padded to 12, the text. */
function note(text: string): Buffer {
  const h = Buffer.alloc(24)
  h.writeUInt32LE(11, 0)
  h.writeUInt32LE(text.length, 4)
  h.write('VMCOREINFO', 12, 'latin1')
  return Buffer.concat([h, Buffer.from(text, 'latin1')])
}

/** Guest memory: pfn -> page. */
function guestPages(g: Guest): {pages: Map<number, Buffer>; cr3: bigint; cr4: bigint} {
  const pages = new Map<number, Buffer>()
  const page = (pfn: number) => {
    let p = pages.get(pfn)
    if (!p) pages.set(pfn, (p = Buffer.alloc(PAGE)))
    return p
  }
  // Some ordinary memory, and the kernel's first page.
  for (let pfn = 0; pfn < 8; pfn++) page(pfn).fill(pfn + 1)
  const entry = (pfn: number, index: number, value: bigint) => page(pfn).writeBigUInt64LE(value, index * 8)
  const text = g.kaslr + START_KERNEL
  const phys = text - START_KERNEL_MAP + g.physBase
  let top = 0x10
  if (!g.noTables) {
    // pml5 (0x0f) -> pml4 (0x10) -> pdpt (0x21) -> pd (0x12) [-> pt (0x13)]; 0x11 is a pti pgd's user half.
    if (g.la57) entry(0x0f, 511, (0x10n << 12n) | PRESENT_RW)
    entry(0x10, 511, (0x21n << 12n) | PRESENT_RW)
    entry(0x21, 510, (0x12n << 12n) | PRESENT_RW)
    const pdIndex = Number((text - START_KERNEL_MAP) / 0x200000n)
    // A stale entry below __START_KERNEL, as a PV kernel keeps: not the text.
    entry(0x12, 2, 0x400000n | PRESENT_RW | LARGE)
    if (g.ptSlots) {
      for (let k = 0; k < g.ptSlots; k++) {
        entry(0x12, pdIndex + k, (BigInt(0x70 + k) << 12n) | PRESENT_RW)
        for (let j = 0; j < 512; j++) entry(0x70 + k, j, (phys + BigInt(k) * 0x200000n + BigInt(j) * 4096n) | PRESENT_RW)
      }
    } else if (g.small) {
      entry(0x12, pdIndex, (0x13n << 12n) | PRESENT_RW)
      entry(0x13, 3, (phys + 3n * 4096n) | PRESENT_RW)
      entry(0x13, 4, (phys + 4n * 4096n) | PRESENT_RW)
    } else for (let k = 0; k < (g.textSlots ?? 1); k++) entry(0x12, pdIndex + k, (phys + BigInt(k) * 0x200000n) | PRESENT_RW | LARGE)
    for (let k = 0; k < (g.textPages ?? 0); k++) page(Number(phys / 4096n) + k).fill(0x4b)
    top = g.la57 ? 0x0f : 0x10
    if (g.pti) page(top + 1) // the user half: nothing of the kernel mapped
  }
  for (const [pfn, offset, t] of g.texts ?? []) {
    const b = Buffer.from(t, 'latin1')
    // Across pages where it runs over: one allocation, contiguous in guest-physical memory.
    for (let i = 0; i < b.length; i++) page(pfn + Math.floor((offset + i) / PAGE))[(offset + i) % PAGE] = b[i]
  }
  const cr3 = g.noTables ? 0n : (BigInt(top) << 12n) | (g.pti ? 0x1000n : 0n)
  const cr4 = 0x3606e0n | (g.la57 ? 1n << 12n : 0n)
  return {pages, cr3, cr4}
}

interface Cpu {
  id: number
  rip: bigint
  rsp: bigint
  cr3: bigint
  cr4: bigint
}

/** An HVM CPU save record (struct hvm_hw_cpu), laid out from Xen's save.h offsets. */
function cpuRecord(c: Cpu): Buffer {
  const r = Buffer.alloc(1032)
  const q = (at: number, v: bigint) => r.writeBigUInt64LE(v, at)
  q(512, 0x1111n) // rax
  q(520, 0x2222n) // rbx
  q(544, 0x5555n) // rbp
  q(568, c.rsp)
  q(632, 0xf15n) // r15
  q(640, c.rip)
  q(648, 0x246n) // rflags
  q(656, 0x80050033n) // cr0: PG, PE
  q(672, c.cr3)
  q(680, c.cr4)
  r.writeUInt32LE(0x10, 736) // cs
  r.writeUInt32LE(0x18, 756) // ss
  q(840, 0xffff888000001000n + BigInt(c.id)) // gs base
  q(872, 0xfffffe0000000000n) // idtr base
  r.writeUInt32LE(0xa9b, 888) // cs arbytes: a 64-bit code segment
  q(992, 0xd01n) // EFER: SCE, LME, LMA, NXE
  return r
}

/** Page batches of at most 1024 pages, as the saver writes them. */
function pageBatches(pfns: number[], pages: Map<number, Buffer>): Array<{kind: 'pages'; entries: number[]; data: Buffer}> {
  return Array.from({length: Math.ceil(pfns.length / 1024)}, (_, b) => {
    const some = pfns.slice(b * 1024, (b + 1) * 1024)
    return {kind: 'pages', entries: some, data: Buffer.concat(some.map((p) => pages.get(p)!))}
  })
}

function image(g: Guest, o: {cpus?: number} = {}): {bytes: Buffer; cpus: Cpu[]; pages: Map<number, Buffer>} {
  const {pages, cr3, cr4} = guestPages(g)
  const cpus: Cpu[] = Array.from({length: o.cpus ?? 2}, (_, id) => ({id, rip: 0xffffffffab123450n + BigInt(id), rsp: 0xffffc90000004000n + BigInt(id) * 0x4000n, cr3, cr4}))
  const pfns = [...pages.keys()].sort((a, b) => a - b)
  const context = hvmContext(
    cpus.map((c) => ({typecode: HvmSaveType.CPU, instance: c.id, body: cpuRecord(c)})),
    {version: 1},
  )
  const bytes = buildLegacy({
    width: 64,
    guest: 'hvm',
    chunks: [{kind: 'tsc_info'}, ...pageBatches(pfns, pages), {kind: 'vcpu_info', online: cpus.map((c) => c.id)}, {kind: 'last_checkpoint'}],
    hvm: {context, qemu: {signature: QEMU_SIG_DM_0002, data: 100}},
  })
  return {bytes, cpus, pages}
}

const TEXT = vmcoreinfo()
const usual: Guest = {
  kaslr: 0x2a000000n,
  physBase: 0x10000000n,
  texts: [
    [0x30, 0, TEXT],
    [0x31, 64, `${note(TEXT).toString('latin1')}`],
  ],
}

describe("the kernel's facts", () => {
  it('vmcoreinfo: release, KASLR offset and phys_base, carried as the VMCOREINFO note; crash needs no options for the core, and is told them for the other formats', async () => {
    const input = file(image(usual).bytes)
    const core = await dump(input)
    const k = core.summary.kernel
    expect(k).toMatchObject({
      release: '6.1.0-28-amd64',
      kaslrOffset: '0x2a000000',
      physBase: '0x10000000',
      from: {kaslrOffset: 'vmcoreinfo', physBase: 'vmcoreinfo'},
      vmcoreinfo: {pfn: 0x30, offset: 0, bytes: TEXT.length},
      problem: null,
    })
    expect(k.pageTables).toEqual({vcpu: 0, kaslrOffset: '0x2a000000', physBase: '0x10000000'})
    expect(k.crashOptions).toEqual([])
    const v = expectWellFormed(core.bytes, core.summary)
    const info = v.notes.filter((n) => n.name === 'VMCOREINFO')
    expect(info.length).toBe(1)
    expect(info[0].type).toBe(0)
    expect(info[0].desc.toString('latin1')).toBe(TEXT)
    // QEMU's order: the cpus' NT_PRSTATUS, their QEMU notes, then VMCOREINFO.
    expect(v.notes.map((n) => n.name)).toEqual(['CORE', 'CORE', 'QEMU', 'QEMU', 'VMCOREINFO'])
    expect(core.warnings).toEqual([])

    for (const format of ['elf', 'raw'] as const) {
      const other = await dump(input, format)
      expect(other.summary.kernel).toEqual({...k, crashOptions: ['--kaslr=0x2a000000', '--machdep', 'phys_base=0x10000000'], crashFile: format === 'raw' ? '{core}@0x0' : '{core}'})
    }
  })

  it('the same facts from a pipe, and in the text and --json summaries', async () => {
    const {bytes} = image(usual)
    const out = join(dir, `pipe-${serial++}.vmcore`)
    const r = await runXstInProcess(['dump-core', '--format', 'vmcore', '--json', '-', out], {input: bytes})
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    // The found kernel's shape is the one docs/json-schema/ publishes.
    expect(schemaErrors('dump-core', j)).toBe('')
    expect(j.kernel).toMatchObject({release: '6.1.0-28-amd64', kaslrOffset: '0x2a000000', physBase: '0x10000000'})
    expect(j.method).toBe('spool')
    expect(readFileSync(out).equals((await dump(file(bytes))).bytes)).toBe(true)
    const text = await runXstInProcess(['dump-core', '-f', 'elf', '-', join(dir, `pipe-${serial++}.core`)], {input: bytes})
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/kernel +Linux 6\.1\.0-28-amd64; KASLR offset 0x2a000000, phys_base 0x10000000; vmcoreinfo at pfn 0x30/)
    expect(text.stdout).toMatch(/crash +crash --kaslr=0x2a000000 --machdep phys_base=0x10000000 vmlinux \S+\.core\n/)
  })

  it('without vmcoreinfo, from the kernel-text mapping of the saved page tables (2 MiB and 4 KiB pages)', async () => {
    for (const small of [false, true]) {
      const {summary, bytes} = await dump(file(image({kaslr: 0x1c600000n, physBase: 0x2c00000n, small}).bytes))
      const k = summary.kernel
      // With 4 KiB pages the first mapped page is 3 pages in: the offset and phys_base still come out whole.
      const virtOff = small ? 0x3000n : 0n
      expect(k.kaslrOffset).toBe(`0x${(0x1c600000n + virtOff).toString(16)}`)
      expect(k.physBase).toBe('0x2c00000')
      expect(k.from).toEqual({kaslrOffset: 'page-tables', physBase: 'page-tables'})
      expect(k.release).toBeNull()
      expect(k.problem).toMatch(/no vmcoreinfo text in the guest memory/)
      // Nothing to carry: no VMCOREINFO note; crash is told the offsets.
      expect(parseVmcore(bytes).notes.some((n) => n.name === 'VMCOREINFO')).toBe(false)
      expect(k.crashOptions).toContain('--kaslr=' + k.kaslrOffset)
    }
  })

  it('a kernel KASLR put lower in physical memory than in its virtual window: phys_base "negative", as the 64-bit word crash takes', async () => {
    // As a Debian 6.1 guest booted under QEMU had it: offset 0x34e00000, phys_base -0x1d800000.
    const g: Guest = {kaslr: 0x34e00000n, physBase: -0x1d800000n}
    const fromTables = (await dump(file(image(g).bytes), 'elf')).summary.kernel
    expect(fromTables).toMatchObject({kaslrOffset: '0x34e00000', physBase: '0xffffffffe2800000', from: {physBase: 'page-tables'}})
    expect(fromTables.crashOptions).toEqual(['--kaslr=0x34e00000', '--machdep', 'phys_base=0xffffffffe2800000'])
    // The kernel prints it signed (%ld); without it the note gets the page tables' value the same way.
    const text = vmcoreinfo({kaslr: 0x34e00000n, physBase: -0x1d800000n})
    expect(text).toContain('NUMBER(phys_base)=-494927872\n')
    const fromInfo = (await dump(file(image({...g, texts: [[0x30, 0, text]]}).bytes))).summary.kernel
    expect(fromInfo).toMatchObject({physBase: '0xffffffffe2800000', from: {physBase: 'vmcoreinfo'}})
    const old = vmcoreinfo({kaslr: 0x34e00000n, physBase: null})
    const {bytes} = await dump(file(image({...g, texts: [[0x30, 0, old]]}).bytes))
    expect(
      parseVmcore(bytes)
        .notes.find((n) => n.name === 'VMCOREINFO')!
        .desc.toString('latin1'),
    ).toBe(`${old}NUMBER(phys_base)=-494927872\n`)
  })

  it("the kernel image gets a PT_LOAD at its virtual address too, over the memory segment's data, as far as the guest's memory goes", async () => {
    // Text at 0xffffffff82000000, physically at 0x400000 (phys_base below zero); two 2 MiB slots mapped, 3 MiB of them in the guest.
    const g: Guest = {kaslr: 0x1000000n, physBase: 0x400000n - 0x2000000n, textSlots: 2, textPages: 768}
    const {summary, bytes} = await dump(file(image(g).bytes))
    const v = parseVmcore(bytes)
    expect(summary.output.segments).toBe(v.loads.length)
    const text = v.loads.find((l) => l.vaddr >= 0xffffffff80000000n)!
    expect(text).toMatchObject({vaddr: 0xffffffff82000000n, paddr: 0x400000, filesz: 3 * 1024 * 1024, memsz: 3 * 1024 * 1024})
    expect(bytes.subarray(text.offset, text.offset + text.filesz).equals(v.raw().subarray(0x400000, 0x700000))).toBe(true)
    expect(bytes.readUInt8(text.offset)).toBe(0x4b)
    expectWellFormed(bytes, summary)
  })

  it('an image mapped page by page (a PV kernel has no large pages) is followed across its page tables', async () => {
    const g: Guest = {kaslr: 0n, physBase: 0x400000n - 0x1000000n, ptSlots: 2, textPages: 1024}
    const {summary, bytes} = await dump(file(image(g).bytes))
    expect(summary.kernel).toMatchObject({kaslrOffset: '0x0', physBase: '0xffffffffff400000', from: {kaslrOffset: 'page-tables'}})
    const text = parseVmcore(bytes).loads.find((l) => l.vaddr >= 0xffffffff80000000n)!
    expect(text).toMatchObject({vaddr: 0xffffffff81000000n, paddr: 0x400000, filesz: 4 * 1024 * 1024})
  })

  it('a vcpu on the user half of an isolated page table: the kernel half is read', async () => {
    const {summary} = await dump(file(image({kaslr: 0x4000000n, physBase: 0n, pti: true}).bytes))
    expect(summary.kernel).toMatchObject({kaslrOffset: '0x4000000', physBase: '0x0', from: {kaslrOffset: 'page-tables'}})
  })

  it('5-level paging (CR4.LA57)', async () => {
    const {summary} = await dump(file(image({kaslr: 0x8000000n, physBase: 0x1000000n, la57: true}).bytes))
    expect(summary.kernel).toMatchObject({kaslrOffset: '0x8000000', physBase: '0x1000000'})
  })

  it('no page tables and no vmcoreinfo: why not, in the summary', async () => {
    const {summary} = await dump(file(image({kaslr: 0n, physBase: 0n, noTables: true}).bytes), 'raw')
    expect(summary.kernel).toMatchObject({release: null, kaslrOffset: null, physBase: null, crashOptions: []})
    expect(summary.kernel.problem).toMatch(/no vmcoreinfo text.*; vcpus 0-1: page tables: /)
  })

  it("a vmcoreinfo without NUMBER(phys_base) (kernels before 4.10): the page tables' value is added to the note", async () => {
    const old = vmcoreinfo({physBase: null})
    const {summary, bytes} = await dump(file(image({kaslr: 0x2a000000n, physBase: 0x10000000n, texts: [[0x30, 0, old]]}).bytes))
    expect(summary.kernel).toMatchObject({physBase: '0x10000000', from: {kaslrOffset: 'vmcoreinfo', physBase: 'page-tables'}})
    const info = parseVmcore(bytes).notes.find((n) => n.name === 'VMCOREINFO')!
    expect(info.desc.toString('latin1')).toBe(`${old}NUMBER(phys_base)=268435456\n`)
  })

  it('a text that runs over a page boundary is read whole', async () => {
    const {summary, bytes} = await dump(file(image({...usual, texts: [[0x40, 4000, TEXT]]}).bytes))
    expect(summary.kernel.vmcoreinfo).toEqual({pfn: 0x40, offset: 4000, bytes: TEXT.length})
    expect(
      parseVmcore(bytes)
        .notes.find((n) => n.name === 'VMCOREINFO')!
        .desc.toString('latin1'),
    ).toBe(TEXT)
  })

  it("two kernels' texts (a stale one from before a kexec): the one the page tables agree with, and a warning", async () => {
    const stale = vmcoreinfo({release: '5.10.0-9-amd64', kaslr: 0x6000000n})
    const {summary, warnings} = await dump(
      file(
        image({
          ...usual,
          texts: [
            [0x30, 0, stale],
            [0x50, 0, TEXT],
          ],
        }).bytes,
      ),
    )
    expect(summary.kernel).toMatchObject({release: '6.1.0-28-amd64', kaslrOffset: '0x2a000000', vmcoreinfo: {pfn: 0x50}})
    expect(warnings.join('\n')).toMatch(/vmcoreinfo texts of more than one kernel \(5\.10\.0-9-amd64, 6\.1\.0-28-amd64\)/)
  })

  it('text that only looks like vmcoreinfo is not taken', async () => {
    const fakes: Array<[number, number, string]> = [
      [0x30, 0, 'OSRELEASE=6.1\nPAGESIZE=8192\n'], // not this page size
      [0x31, 0, 'OSRELEASE=6.1\nPAGESIZE=4096\nnot a line\n'],
      [0x32, 8, 'xOSRELEASE=6.1\nPAGESIZE=4096\n'], // inside other text
      [0x33, 0, 'OSRELEASE=6.1\nPAGESIZE=4096'], // no final newline
    ]
    const {summary} = await dump(file(image({kaslr: 0x2a000000n, physBase: 0x10000000n, texts: fakes}).bytes))
    expect(summary.kernel).toMatchObject({release: null, kaslrOffset: '0x2a000000', from: {kaslrOffset: 'page-tables'}})
    expect(summary.kernel.problem).toMatch(/no well-formed vmcoreinfo text/)
  })
})

describe('a 64-bit PV guest', () => {
  it("its kernel found through its vcpus' saved page tables (cr3 and entries hold pfns), its registers in the core's notes", async () => {
    const {pages, cr3} = guestPages({...usual, texts: []})
    const pfns = [...pages.keys()].sort((a, b) => a - b)
    // vcpu_guest_context (x86_64): user_regs.rip at 648, rsp at 672, ctrlreg[3] at 5008.
    const context = (id: number) => {
      const c = Buffer.alloc(5168)
      c.writeBigUInt64LE(0xffffffffab123450n + BigInt(id), 648)
      c.writeBigUInt64LE(0xffffc90000004000n, 672)
      c.writeBigUInt64LE(cr3, 5008)
      return c
    }
    const bytes = buildLegacy({
      width: 64,
      guest: 'pv',
      ext: {guestWidth: 64, extv: true},
      chunks: [{kind: 'tsc_info'}, ...pageBatches(pfns, pages), {kind: 'vcpu_info', online: [0, 1]}, {kind: 'last_checkpoint'}],
      pv: {contexts: [0, 1].map((vcpu) => ({vcpu, basic: context(vcpu)}))},
    })
    const {summary, bytes: core} = await dump(file(bytes))
    expect(summary.input.guest).toBe('pv')
    expect(summary.kernel).toMatchObject({kaslrOffset: '0x2a000000', physBase: '0x10000000', from: {kaslrOffset: 'page-tables'}, pageTables: {vcpu: 0}})
    const regs = parseVmcore(core)
      .notes.filter((n) => n.name === 'CORE')
      .map((n) => prstatusRegs(n.desc))
    expect(regs.map((r) => [r.pid, r.rip, r.rsp])).toEqual([
      [1, 0xffffffffab123450n, 0xffffc90000004000n],
      [2, 0xffffffffab123451n, 0xffffc90000004000n],
    ])
  })
})

describe("the cores' registers", () => {
  it('NT_PRSTATUS: each vcpu as saved, pr_pid the vcpu id + 1; the QEMU note: cr3, segments and descriptor tables', async () => {
    const {bytes, cpus} = image(usual, {cpus: 3})
    const core = await dump(file(bytes))
    const v = parseVmcore(core.bytes)
    const regs = v.notes.filter((n) => n.name === 'CORE').map((n) => prstatusRegs(n.desc))
    expect(regs.map((r) => r.pid)).toEqual([1, 2, 3])
    for (const [i, r] of regs.entries()) {
      expect(r).toMatchObject({
        rip: cpus[i].rip,
        rsp: cpus[i].rsp,
        rax: 0x1111n,
        rbx: 0x2222n,
        rbp: 0x5555n,
        r15: 0xf15n,
        eflags: 0x246n,
        cs: 0x10n,
        ss: 0x18n,
        gs_base: 0xffff888000001000n + BigInt(i),
      })
      expect(r.orig_rax).toBe(0xffffffffffffffffn)
    }
    const q = v.notes.filter((n) => n.name === 'QEMU').map((n) => qemuCpuState(n.desc))
    expect(q[0]).toEqual({version: 1, size: 432, rip: cpus[0].rip, cr3: cpus[0].cr3, cs: {selector: 0x10, flags: 0xa09b00}, idtBase: 0xfffffe0000000000n})
  })
})

describe('segments', () => {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

  it("the run holding the kernel image is cut around it: three loads, none overlapping, the image's at its virtual address", () => {
    const pages = new PfnBitmap()
    for (let p = 0; p < 0x800; p++) pages.add(p)
    for (let p = 0x900; p < 0x910; p++) pages.add(p)
    const plan = planVmcore(pages, [], null, {virt: 0xffffffff81000000n, phys: 0x400000n, bytes: 0x100000n})
    const loads = parseVmcore(plan.head).loads.map((l) => [l.paddr, l.vaddr, l.filesz, l.offset - plan.head.length])
    expect(loads).toEqual([
      [0, 0n, 0x400000, 0],
      [0x400000, 0xffffffff81000000n, 0x100000, 0x400000],
      [0x500000, 0x500000n, 0x300000, 0x500000],
      [0x900000, 0x900000n, 0x10000, 0x800000],
    ])
    expect(plan.loads).toBe(4)
    expect(plan.segments.length).toBe(2)
    // An image that starts a run and runs past its end: cut at the run's end, nothing before it.
    const edge = planVmcore(pages, [], null, {virt: 0xffffffff81000000n, phys: 0x900000n, bytes: 0x200000n})
    expect(parseVmcore(edge.head).loads.map((l) => [l.paddr, l.vaddr, l.filesz])).toEqual([
      [0, 0n, 0x800000],
      [0x900000, 0xffffffff81000000n, 0x10000],
    ])
  })

  it('a guest cut into more runs than the limit gets its smallest gaps filled with zeros', async () => {
    const pages = new PfnBitmap()
    // Every other pfn from 0 to 200, then a run far off: 102 runs.
    for (let p = 0; p < 200; p += 2) pages.add(p)
    for (let p = 1000; p < 1010; p++) pages.add(p)
    for (let p = 5000; p < 5001; p++) pages.add(p)
    const plan = planVmcore(pages, [], null, null, 8)
    expect(plan.segments.length).toBeLessThanOrEqual(8)
    expect(plan.segments.map((s) => [s.first, s.end])).toEqual([
      [0, 199],
      [1000, 1010],
      [5000, 5001],
    ])
    expect(plan.zeroPages).toBe(199 + 10 + 1 - pages.count)
    // Written: the merged gaps as zeros, each page where its segment says.
    const chunks: Buffer[] = []
    const sink = new (class {
      bytesWritten = 0
      async write(b: Uint8Array, release?: () => void) {
        chunks.push(Buffer.from(b))
        this.bytesWritten += b.length
        release?.()
      }
      async flush() {}
    })() as unknown as ByteSink
    const read = (buf: Buffer, off: number, len: number, position: number) => {
      for (let at = 0; at < len; at += PAGE) buf.fill((position + at) / PAGE, off + at, off + at + PAGE)
      return len
    }
    await emitPages({sink, pages, windows: [[0, Infinity]], locate: (pfn) => pfn * PAGE, read, zeroGaps: false, segmentStart: (pfn) => segmentOf(plan.segments, pfn)!.first})
    const body = Buffer.concat(chunks)
    expect(body.length).toBe(plan.size - plan.head.length)
    const pageAt = (pfn: number) => {
      const s = segmentOf(plan.segments, pfn)!
      const at = s.offset - plan.head.length + (pfn - s.first) * PAGE
      return body.subarray(at, at + PAGE)
    }
    expect(sha(pageAt(4))).toBe(sha(Buffer.alloc(PAGE, 4)))
    expect(sha(pageAt(5))).toBe(sha(Buffer.alloc(PAGE)))
    expect(sha(pageAt(1009))).toBe(sha(Buffer.alloc(PAGE, 1009 & 0xff)))
    expect(sha(pageAt(5000))).toBe(sha(Buffer.alloc(PAGE, 5000 & 0xff)))
  })
})
