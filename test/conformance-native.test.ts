// Every stream of fixtures/conformance/native/ that is not checkpointed —
// laid out as Xen's savers, libxl, xl, libvirt and xenopsd really write
// them — through the built CLI, held to what fixtures/conformance/README.md
// ("native/") says each must give: identify names its container, stream,
// guest and domain; verify finds it valid (a legacy image: inspect-legacy
// reads it and convert makes a stream verify accepts); dump-core's raw and
// ELF dumps hold exactly the pages of the case's `memory` file (a PV
// guest's own p2m pages rewritten to the identity, its `alternatives`; as
// saved, `memory`'s, with --keep-p2m), and the ELF's header note counts
// the case's vcpus.
import {createHash} from 'node:crypto'
import {closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {beforeAll, describe, expect, type ExpectStatic, it} from 'vitest'
import {NATIVE, type NativeCase, nativeBytes, nativeCases, nativeIndex, type NativeMemory, nativeMemory} from './helpers/fixtures.js'
import {tempDir} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {dataExtents, filesystemHasHoles, hasPython, headerNote, PAGE, parseCore} from './helpers/dump.js'
import {verifyReport} from './helpers/verify-json.js'

const CASES = nativeCases()
const {pageSize: PAGE_SIZE, zeroSha256: ZERO_SHA256} = nativeIndex()
// Checkpointed cases (Remus, COLO) are checked by conformance-checkpointed.test.ts
// (v2) and conformance-checkpointed-legacy.test.ts (legacy), each taking
// every such case of index.json; the plain ones here.
const PLAIN = CASES.filter((c) => c.checkpoints === null)

/** How identify names each kind's container, in its text and in --json. */
const CONTAINER: Record<NativeCase['kind'], {text: RegExp; json: {kind: string | RegExp; xlHeader?: boolean}}> = {
  // No container: the stream is named first.
  libxc: {text: /^[^\n]*: (gzip-compressed, )?libxc v\d stream/, json: {kind: 'none', xlHeader: false}},
  libxl: {text: /^[^\n]*: (gzip-compressed, )?libxl v\d stream/, json: {kind: 'none', xlHeader: false}},
  xl: {text: /\bxl save file\b/, json: {kind: 'none', xlHeader: true}},
  libvirt: {text: /\blibvirt\b/, json: {kind: 'libvirt'}},
  xenserver: {text: /\bXenServer\b/, json: {kind: /^xenserver/}},
  legacy: {text: /\blegacy\b/, json: {kind: 'none'}},
}

/** The program index.json's restorable_by names (first match), and the words identify's restore.by must hold for it. */
const RESTORER: Array<[string, string]> = [
  ['NVIDIA vGPU', 'NVIDIA vGPU'],
  ['xenopsd', 'xenopsd'],
  ['virsh restore', 'virsh restore'],
  ['xl migrate-receive', 'xl restore'],
  ['xl restore', 'xl restore'],
  ['libxl_domain_create_restore()', 'libxl_domain_create_restore()'],
  ['xc_domain_restore()', 'xc_domain_restore()'],
]

/** How identify names the guest: a PVH guest's libxc stream is an HVM one. */
const GUEST: Record<NativeCase['guest'], {text: RegExp; json: string[]}> = {
  pv: {text: /\bPV (\d+-bit )?guest\b/, json: ['pv']},
  hvm: {text: /\bHVM guest\b/, json: ['hvm']},
  pvh: {text: /\b(HVM|PVH) guest\b/, json: ['hvm', 'pvh']},
}

/** The format identify and verify name: what index.json says the file holds. */
function formatOf(c: NativeCase): 'legacy' | 'libxl' | 'libxc' {
  if (c.stream_version === 'legacy') return 'legacy'
  return c.stream.libxl_version === undefined ? 'libxc' : 'libxl'
}

/** xl's migration handshake follows the libxl END ("domain is yours, you are cleared to unpause"). */
const migrationCapture = (c: NativeCase) => (c.stream.trailing_bytes ?? 0) > 0
/** A XenServer image with a vGPU emulator's Demu section, which xst cannot see the end of. */
const hasDemu = (c: NativeCase) => Array.isArray(c.stream.sections) && c.stream.sections.includes('Demu')

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const ZERO_PAGE = Buffer.alloc(PAGE)

/** The listed pfns whose page (as `page` gives it) is not the memory file's: a PV p2m page rewritten (its alternative) unless `kept`. */
function wrongPages(mem: NativeMemory, page: (pfn: number) => Buffer | undefined, kept: boolean): string[] {
  const wrong: string[] = []
  for (const [pfn, saved] of mem.pfns) {
    const p = page(pfn)
    const got = p ? sha256(p) : 'no page'
    const want = (!kept && mem.alternatives.get(pfn)) || saved
    if (got !== want) wrong.push(`pfn ${pfn}: ${got}`)
  }
  return wrong
}

/**
 * A raw dump holds the memory file's pages at pfn × 4096 and zeros
 * everywhere else up to its end. Only where the file holds data is read for
 * the zeros (all of it where the filesystem cannot tell holes): the fullspan
 * case's dump is a 4 GiB sparse file.
 */
function expectRaw(expect: ExpectStatic, dir: string, file: string, mem: NativeMemory, kept = false): void {
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    const top = Math.max(-1, ...mem.pfns.keys()) + 1
    expect(size % PAGE, 'raw dump: a whole number of pages').toBe(0)
    expect(size / PAGE, 'raw dump: pages up to the highest pfn of memory').toBeGreaterThanOrEqual(top)
    const at = (pfn: number) => {
      const b = Buffer.alloc(PAGE)
      expect(readSync(fd, b, 0, PAGE, pfn * PAGE)).toBe(PAGE)
      return b
    }
    expect(wrongPages(mem, at, kept), 'raw dump: pfns whose page differs from memory').toEqual([])
    const extents = hasPython && filesystemHasHoles(dir) ? dataExtents(file) : [[0, size]]
    const stray: number[] = []
    const chunk = Buffer.alloc(256 * PAGE)
    for (const [start, end] of extents) {
      const stop = Math.min(size, Math.ceil(end / PAGE) * PAGE)
      for (let pos = start - (start % PAGE); pos < stop; pos += chunk.length) {
        const n = readSync(fd, chunk, 0, Math.min(chunk.length, stop - pos), pos)
        for (let off = 0; off + PAGE <= n; off += PAGE) {
          const pfn = (pos + off) / PAGE
          if (!mem.pfns.has(pfn) && !chunk.subarray(off, off + PAGE).equals(ZERO_PAGE)) stray.push(pfn)
        }
      }
    }
    expect(stray, 'raw dump: pfns absent from memory whose page is not zero').toEqual([])
  } finally {
    closeSync(fd)
  }
}

/** An ELF dump holds exactly the memory file's pages, under .xen_pfn (HVM, PVH) or .xen_p2m (PV). */
function expectElf(expect: ExpectStatic, file: string, c: NativeCase, mem: NativeMemory, kept = false): void {
  const core = parseCore(readFileSync(file))
  const pv = c.guest === 'pv'
  expect(core.sections.has(pv ? '.xen_p2m' : '.xen_pfn'), 'ELF dump: its page index section').toBe(true)
  expect(
    [...core.index].sort((a, b) => a - b),
    'ELF dump: the pfns it holds',
  ).toEqual([...mem.pfns.keys()].sort((a, b) => a - b))
  // A PV dump declares gmfn = pfn, and the guest's p2m pages say the same (unless kept as saved).
  if (pv) expect(core.gmfns).toEqual(core.index)
  expect(
    wrongPages(mem, (pfn) => core.pages.get(pfn), kept),
    'ELF dump: pfns whose page differs from memory',
  ).toEqual([])
  const h = headerNote(core)
  expect(h.magic).toBe(pv ? 0xf00febedn : 0xf00febeen)
  expect(h.nrVcpus, 'ELF dump: vcpus in the header note').toBe(c.vcpus)
  expect(h.nrPages).toBe(mem.pfns.size)
  expect(h.pageSize).toBe(PAGE)
}

describe('native/index.json', () => {
  it('every case is checked: the plain ones here, the checkpointed ones by the checkpointed suites', () => {
    expect(PAGE_SIZE).toBe(PAGE)
    expect(sha256(ZERO_PAGE)).toBe(ZERO_SHA256)
    for (const c of CASES) {
      expect(Object.keys(CONTAINER), `${c.name}: kind`).toContain(c.kind)
      expect(Object.keys(GUEST), `${c.name}: guest`).toContain(c.guest)
      for (const f of [c.input, c.memory, ...(c.memory_first_checkpoint ? [c.memory_first_checkpoint] : [])]) expect(existsSync(join(NATIVE, f)), `${c.name}: ${f}`).toBe(true)
    }
    expect(PLAIN.length).toBeGreaterThan(0)
    // Every checkpointed case is one of the two families the checkpointed suites take (legacy, or a bare v2 stream behind an xl header or none).
    for (const c of CASES.filter((c) => c.checkpoints !== null)) expect(['legacy', 'libxc', 'libxl', 'xl'], c.name).toContain(c.kind)
    // Every file in native/ is a case's: a vector missing from index.json would be missed.
    const named = new Set(['index.json', ...CASES.flatMap((c) => [c.input, c.memory, c.memory_first_checkpoint ?? []].flat())])
    expect(
      readdirSync(NATIVE).filter((f) => !named.has(f)),
      'files of native/ no case names',
    ).toEqual([])
  })
})

for (const c of PLAIN) {
  describe.concurrent(`${c.name} (${c.kind}, ${c.guest}, stream ${c.stream_version})`, () => {
    const dir = tempDir('xst-native-')
    const file = join(dir, c.input.replace(/\.gz$/, ''))
    const format = formatOf(c)
    let mem: NativeMemory

    beforeAll(() => {
      writeFileSync(file, nativeBytes(c.input))
      mem = nativeMemory(c.memory)
    })

    it('identify names the container, the stream, the guest and the domain; --json the same', async ({expect}) => {
      const [text, json] = await Promise.all([runXstInProcess(['identify', file]), runXstInProcess(['identify', '--json', file])])
      expect(text.code, text.stderr).toBe(0)
      expect(text.stdout).toMatch(CONTAINER[c.kind].text)
      if (c.gzip) expect(text.stdout).toMatch(/\bgzip/)
      const v = c.stream_version
      expect(text.stdout).toMatch(
        format === 'legacy' ? /\blegacy\b.*\bstream\b/ : format === 'libxl' ? new RegExp(`\\blibxl v${c.stream.libxl_version} stream\\b.*\\blibxc v${v}\\b`) : new RegExp(`\\blibxc v${v} stream\\b`),
      )
      expect(text.stdout).toMatch(GUEST[c.guest].text)
      // A v2 stream is verified only when read whole: through gzip, its headers only.
      const v2Verdict = c.gzip ? /\bv2 stream, not verified\b/ : /\bv2, restorable\b/
      expect(text.stdout).toMatch(format === 'legacy' ? /needs conversion/ : v2Verdict)

      expect(json.code, json.stderr).toBe(0)
      const img = JSON.parse(json.stdout).images[0]
      expect(img.error).toBeNull()
      const kind = CONTAINER[c.kind].json.kind
      expect(img.container).toMatchObject({kind: typeof kind === 'string' ? kind : expect.stringMatching(kind), compressed: c.gzip === true})
      if (CONTAINER[c.kind].json.xlHeader !== undefined) expect(img.xlHeader).toBe(CONTAINER[c.kind].json.xlHeader)
      expect(img.stream).toEqual({format, libxcVersion: v === 'legacy' ? null : v, libxlVersion: c.stream.libxl_version ?? null, checkpointed: null})
      expect(GUEST[c.guest].json).toContain(img.guest)
      expect(img.verdict).toMatch(format === 'legacy' ? /needs conversion/ : v2Verdict)
      // What restores it: the program index.json names (a captured migration also restores with xl restore).
      const restorer = RESTORER.find(([said]) => c.restorable_by.some((r) => r.includes(said)))
      expect(restorer, c.restorable_by.join('; ')).toBeDefined()
      expect(img.restore.by.join('; ')).toContain(restorer![1])
      expect(text.stdout).toContain(`; restored by ${img.restore.by.join(', or ')}`)
      // The domain name last, so that missing it hides nothing above (a XenServer image has it in its Xenops section's vm_str).
      expect(img.domainName).toBe(c.domain_name)
      if (c.domain_name !== null) expect(text.stdout).toContain(`"${c.domain_name}"`)
    })

    if (c.kind === 'legacy') {
      it('inspect-legacy reads it', async ({expect}) => {
        const [text, json] = await Promise.all([runXstInProcess(['inspect-legacy', file]), runXstInProcess(['inspect-legacy', '--json', file])])
        expect(text.code, text.stderr).toBe(0)
        expect(text.stderr).not.toMatch(/^error:/m)
        expect(json.code, json.stderr).toBe(0)
        expect(JSON.parse(json.stdout).image.guest).toBe(c.guest)
      })

      it('convert makes a stream that verify accepts', async ({expect}) => {
        const out = join(dir, 'converted.v2')
        const r = await runXstInProcess(['convert', file, out])
        expect(r.code, r.stderr).toBe(0)
        const v = await runXstInProcess(['verify', out])
        expect(v.code, v.stdout + v.stderr).toBe(0)
        expect(v.stderr).not.toMatch(/^error:/m)
      })
    } else {
      const what = hasDemu(c)
        ? 'valid, exit 0, warning that the Demu section was not checked'
        : migrationCapture(c)
          ? "valid, exit 0, naming xl's migration message after END"
          : 'valid, exit 0, no warning'
      it(`verify: ${what}`, async ({expect}) => {
        const [text, json] = await Promise.all([runXstInProcess(['verify', file]), runXstInProcess(['verify', '--json', file])])
        expect(text.code, text.stdout + text.stderr).toBe(0)
        expect(text.stderr).not.toMatch(/^error:/m)
        const doc = verifyReport(json)
        expect(json.code).toBe(0)
        expect(doc).toMatchObject({valid: true, errors: []})
        expect(doc.summary).toMatchObject({format, version: {libxc: c.stream_version}})
        if (hasDemu(c)) {
          expect(doc.warnings.length).toBeGreaterThan(0)
          expect(
            doc.warnings.some((w: {message: string}) => /Demu/.test(w.message)),
            JSON.stringify(doc.warnings),
          ).toBe(true)
        } else if (migrationCapture(c)) {
          expect(text.stdout + text.stderr + JSON.stringify(doc)).toMatch(/migrat/i)
        } else {
          expect(doc.warnings).toEqual([])
        }
      })
    }

    it('dump-core --format raw holds exactly the pages of memory', async ({expect}) => {
      const out = join(dir, 'dump.raw')
      const r = await runXstInProcess(['dump-core', '--format', 'raw', file, out])
      expect(r.code, r.stderr).toBe(0)
      expectRaw(expect, dir, out, mem)
    })

    it(`dump-core (ELF) holds the same pages, and its header note counts ${c.vcpus} vcpu${c.vcpus === 1 ? '' : 's'}`, async ({expect}) => {
      const out = join(dir, 'dump.elf')
      const r = await runXstInProcess(['dump-core', file, out])
      expect(r.code, r.stderr).toBe(0)
      expectElf(expect, out, c, mem)
    })

    if (c.guest === 'pv') {
      it("dump-core --keep-p2m, raw and ELF: the guest's p2m pages as saved", async ({expect}) => {
        const raw = join(dir, 'kept.raw')
        const elf = join(dir, 'kept.elf')
        const [r, e] = await Promise.all([runXstInProcess(['dump-core', '--keep-p2m', '-f', 'raw', file, raw]), runXstInProcess(['dump-core', '--keep-p2m', file, elf])])
        expect(r.code, r.stderr).toBe(0)
        expect(e.code, e.stderr).toBe(0)
        expectRaw(expect, dir, raw, mem, true)
        expectElf(expect, elf, c, mem, true)
      })
    }
  })
}
