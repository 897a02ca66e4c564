// dump-core on hostile images, through the CLI from a real pipe, each in a
// fresh process whose peak memory must stay under 150 MB: lengths of 2^32-1
// and counts of 2^32-1 are refused (exit 1, one line) without anything
// allocated for them; an HVM context with a CPU record for each of 4096
// vcpus, and pages strewn over 4 TiB of address space, are dumped within
// the limit. This process builds only small images (a child's peak memory
// includes what its parent held when it forked; so node is started from a
// shell that forks it, never by this process or an exec).
import {readdirSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'
import {PageDataHeader, Rec} from '../../src/v2/libxc/layout.js'
import {HvmSaveType} from '../../src/dump/layouts.js'
import {hvmContext} from '../builders/hvm-context.js'
import {buildLegacy, QEMU_SIG_DM_0002, smallSpec} from '../builders/legacy.js'
import {hvmStream, pfnWord, pvStream, rec} from '../builders/v2.js'
import {PAGE} from '../helpers/dump.js'
import {errorLines, hasStackTrace, runCliMeasured} from '../fuzz/procs.js'
import {tempDir} from '../helpers/cli.js'

const MAX_RSS_MIB = 150
const U32_MAX = 0xffffffff

let dir: string
const files: Record<string, string> = {}

/** An HVM context: the save header, a 1024-byte CPU record for each vcpu (twice over), END. */
function manyCpus(n: number): Buffer {
  const cpu = Buffer.alloc(1024, 0x3c)
  const records = []
  for (let round = 0; round < 2; round++) for (let id = 0; id < n; id++) records.push({typecode: HvmSaveType.CPU, instance: id, body: cpu})
  return hvmContext(records)
}

/** PAGE_DATA with one normal page for each pfn. */
function pagesAt(pfns: number[]) {
  const head = Buffer.alloc(PageDataHeader.size + 8 * pfns.length)
  PageDataHeader.put(head, 0, {count: pfns.length, reserved: 0})
  pfns.forEach((p, i) => head.writeBigUInt64LE(pfnWord(p), 8 + 8 * i))
  return rec(Rec.PAGE_DATA, head, Buffer.alloc(pfns.length * PAGE, 0x5a))
}

const SPREAD = Array.from({length: 1024}, (_, i) => i * 2 ** 20 + (i % 7))

beforeAll(async () => {
  dir = tempDir('xst-dump-hostile-')
  const hugeCount = pvStream().edit(Rec.PAGE_DATA, (r) => PageDataHeader.put(r.head, 0, {count: U32_MAX, reserved: 0}))
  const cases: Record<string, Buffer> = {
    'v2 PAGE_DATA length 2^32-1': (
      await pvStream()
        .edit(Rec.PAGE_DATA, (r) => (r.length = U32_MAX))
        .build()
    ).bytes,
    'v2 HVM_CONTEXT length 2^32-1': (
      await hvmStream()
        .edit(Rec.HVM_CONTEXT, (r) => (r.length = U32_MAX))
        .build()
    ).bytes,
    'v2 X86_PV_VCPU_BASIC length 2^32-1': (
      await pvStream()
        .edit(Rec.X86_PV_VCPU_BASIC, (r) => (r.length = U32_MAX))
        .build()
    ).bytes,
    'v2 PAGE_DATA count 2^32-1': (await hugeCount.build()).bytes,
    'legacy HVM context length 64 MiB - 1': buildLegacy(smallSpec('hvm', 64, {hvm: {context: 64, contextLength: (64 << 20) - 1, qemu: {signature: QEMU_SIG_DM_0002, data: 16}}})),
    'legacy qemu record length 2^32-1': buildLegacy(smallSpec('hvm', 64, {hvm: {context: 64, qemu: {signature: QEMU_SIG_DM_0002, data: 16, length: U32_MAX}}})),
    'HVM context with CPU records for 4096 vcpus, each twice': (
      await hvmStream()
        .replace(Rec.HVM_CONTEXT, rec(Rec.HVM_CONTEXT, manyCpus(4096)))
        .build()
    ).bytes,
    'pages strewn over 4 TiB': (await hvmStream().replace(Rec.PAGE_DATA, pagesAt(SPREAD)).build()).bytes,
  }
  for (const [name, bytes] of Object.entries(cases)) {
    files[name] = join(dir, `case-${Object.keys(files).length}`)
    writeFileSync(files[name], bytes)
  }
}, 60_000)

/** dump-core in the measuring wrapper, IMAGE fed through `cat |` when `pipe`. */
async function run(name: string, args: string[], pipe = true) {
  // Never `exec` node from the shell: the shell was forked from this process, and a peak
  // memory the kernel counts across exec would include this process's.
  const script = pipe ? 'cat "$IMG" | "$0" "$@"' : '"$0" "$@"; exit $?'
  const r = await runCliMeasured(['dump-core', ...args], {argv0: ['sh', '-c', script, process.execPath], env: {IMG: files[name]}, stdin: 'ignore', timeoutMs: 120_000})
  expect(r.timedOut).toBe(false)
  expect(hasStackTrace(r.stderr + r.stdout)).toBe(false)
  expect(r.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
  return r
}

describe('hostile lengths and counts: refused from a pipe, one line, within the memory limit, nothing left', () => {
  it.each([
    ['v2 PAGE_DATA length 2^32-1', /stream ends at byte \d+ inside libxc record \d+ \(PAGE_DATA\)/],
    ['v2 HVM_CONTEXT length 2^32-1', /stream ends at byte \d+ inside libxc record \d+ \(HVM_CONTEXT\)/],
    ['v2 X86_PV_VCPU_BASIC length 2^32-1', /stream ends at byte \d+ inside libxc record \d+ \(X86_PV_VCPU_BASIC\)/],
    ['v2 PAGE_DATA count 2^32-1', /PAGE_DATA count 4294967295/],
    ['legacy HVM context length 64 MiB - 1', /stream ends at byte \d+ inside HVM context/],
    ['legacy qemu record length 2^32-1', /stream ends at byte \d+ inside qemu record/],
  ])('%s', async (name, message) => {
    const out = tempDir('xst-dump-hostile-out-')
    for (const format of ['elf', 'raw']) {
      const r = await run(name, ['-f', format, '-', join(out, 'core')])
      expect(r.code, r.stderr).toBe(1)
      expect(errorLines(r.stderr)).toHaveLength(1)
      expect(r.stderr).toMatch(message)
    }
    expect(readdirSync(out)).toEqual([])
  })
})

describe('large but lawful: dumped within the memory limit', () => {
  it('an HVM context with a CPU record for each of 4096 vcpus', async () => {
    const out = join(tempDir('xst-dump-hostile-out-'), 'core')
    const r = await run('HVM context with CPU records for 4096 vcpus, each twice', ['--json', '-', out])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).vcpus.count).toBe(4096)
    expect(statSync(out).size).toBeGreaterThan(4096 * 5168)
  })

  it('pages strewn over 4 TiB of address space: raw sparse from a pipe, ELF from a pipe and from a file (one window for them all)', async () => {
    const d = tempDir('xst-dump-hostile-out-')
    const raw = await run('pages strewn over 4 TiB', ['--json', '-f', 'raw', '-', join(d, 'raw')])
    expect(raw.code, raw.stderr).toBe(0)
    expect(statSync(join(d, 'raw')).size).toBe((SPREAD[SPREAD.length - 1] + 1) * PAGE)
    expect(statSync(join(d, 'raw')).blocks * 512).toBeLessThan(64 << 20)
    const pipe = await run('pages strewn over 4 TiB', ['--json', '-', join(d, 'pipe.core')])
    expect(pipe.code, pipe.stderr).toBe(0)
    const file = await run('pages strewn over 4 TiB', ['--json', files['pages strewn over 4 TiB'], join(d, 'file.core')], false)
    expect(file.code, file.stderr).toBe(0)
    const doc = JSON.parse(file.stdout)
    expect(doc.pages.count).toBe(SPREAD.length + 64) // the stream's other PAGE_DATA record holds pfns 64-127
    expect(doc.method).toBe('windows')
    expect(doc.passes).toBe(2)
    expect(statSync(join(d, 'file.core')).size).toBe(statSync(join(d, 'pipe.core')).size)
  })
})
