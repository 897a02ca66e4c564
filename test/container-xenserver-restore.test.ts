// XenServer structured images as xenopsd writes and restores them, through
// the built CLI: the native xs-* vectors (BIOS, UEFI, vTPM, PV, and the
// Citrix vGPU image whose Demu section follows the memory image), and
// hand-made variants of them for what xenopsd's restore refuses (a Qemu_trad
// over 1 MiB, Qemu_xen and Libxl sections) or an older one would (a Xenops
// field it lacks). The VM's name and uuid come from the Xenops vm_str.
import {createHash} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {encodeSectionHeader, encodeStructuredSignature, encodeXenopsSection, SectionHeader} from '../src/container/xenserver.js'
import {tempDir, tempFile} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {PAGE, parseCore} from './helpers/dump.js'
import {nativeBytes, type NativeCase, nativeCases, nativeMemory} from './helpers/fixtures.js'
import {locateV2} from './helpers/v2-walk.js'
import {verifyReport} from './helpers/verify-json.js'

const XS = nativeCases().filter((c) => c.kind === 'xenserver')
const VGPU = 'xs-vgpu-uefi-hvm3'
const ONE_MIB = 1_048_576

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at |\.js:\d+/)

interface HandSection {
  type: number
  offset: number
  /** Offset after the section: its sized body, or (Libxc) its stream up to END. */
  end: number
}

/**
 * The sections of a structured image, read by hand (16-byte headers, sized
 * bodies stepped over, a Libxc stream followed to its END record by its
 * framing alone), up to End_of_image or a Demu section (whose end is unknown).
 */
function handSections(image: Buffer): HandSection[] {
  if (image.toString('latin1', 0, 15) !== 'XenSavedDomv2-\n') throw new Error('test: not a structured XenServer image')
  const out: HandSection[] = []
  for (let at = 15; ; ) {
    const type = Number(image.readBigUInt64LE(at))
    let end = at + 16
    if (type === 0xf0) {
      const end0 = locateV2(image.subarray(end)).find((r) => r.layer === 'libxc' && r.type === 0)
      if (!end0) throw new Error('test: the Libxc stream has no END')
      end += end0.offset + 8
    } else if (type !== 0xf10) end += Number(image.readBigUInt64LE(at + 8))
    out.push({type, offset: at, end})
    if (type === 0xffff || type === 0xf10) return out
    at = end
  }
}

const section = (image: Buffer, type: number) => handSections(image).find((s) => s.type === type)!

/** A raw dump holds the case's memory: each listed page at pfn x 4096, zeros everywhere else. */
function expectMemory(raw: Buffer, memory: Map<number, string>, label: string): void {
  expect(raw.length % PAGE, label).toBe(0)
  const wrong: number[] = []
  for (let pfn = 0; pfn * PAGE < raw.length; pfn++) {
    const page = raw.subarray(pfn * PAGE, (pfn + 1) * PAGE)
    const want = memory.get(pfn)
    if (want === undefined ? page.some((b) => b !== 0) : sha(page) !== want) wrong.push(pfn)
  }
  expect(wrong, label).toEqual([])
  expect(Math.max(...memory.keys()) * PAGE < raw.length, label).toBe(true)
}

function caseFile(c: NativeCase): string {
  return tempFile(`${c.name}.img`, nativeBytes(c.input))
}

describe.concurrent('the native XenServer vectors', () => {
  it.for(XS.map((c) => [c.name, c] as const))('%s: verify, identify and the VM name and uuid', async ([name, c], {expect}) => {
    const file = caseFile(c)
    const vgpu = name === VGPU
    const demuAt = vgpu ? section(nativeBytes(c.input), 0xf10).offset : undefined
    const [text, json, id, idJson] = await Promise.all([
      runXstInProcess(['verify', file]),
      runXstInProcess(['verify', '--json', file]),
      runXstInProcess(['identify', file]),
      runXstInProcess(['identify', '--json', file]),
    ])
    for (const r of [text, json, id, idJson]) noStack(r.stderr)
    expect(text.code, text.stderr).toBe(0)
    expect(json.code).toBe(0)
    const doc = verifyReport(json)
    expect(doc).toMatchObject({valid: true, errorCount: 0, stopped: null})
    expect(doc.container.xenops).toMatchObject({vmName: c.domain_name, vmUuid: c.uuid, unknownFields: []})
    expect(c.vm_str_name).toBe(c.domain_name)
    const names = doc.container.sections.map((s: {name: string}) => s.name)
    if (!vgpu) {
      expect(text.stderr).toBe('')
      expect(doc.warnings).toEqual([])
      expect(doc.container.stoppedAt).toBeUndefined()
      expect(names).toEqual(c.stream!.sections)
      expect(text.stdout).toMatch(/\(XenServer structured suspend image\): valid — .*; 0 errors, 0 warnings$/m)
    } else {
      // The check stops at Demu: a warning names it and what follows; the verdict says so.
      expect(names).toEqual(c.stream!.sections!.slice(0, c.stream!.sections!.indexOf('Demu') + 1))
      expect(doc.container.stoppedAt).toEqual({section: 'Demu', offset: demuAt})
      expect(doc.warnings).toHaveLength(1)
      expect(doc.warnings[0]).toMatchObject({severity: 'warning', code: 'xenserver-unchecked-after-demu', offset: demuAt, record: 'Demu section'})
      expect(doc.warnings[0].message).toMatch(/it and every section after it were not checked.*NVIDIA vGPU/)
      expect(text.stderr.trim()).toMatch(new RegExp(`^warning: byte ${demuAt}, Demu section: a Demu section \\(vGPU state.*were not checked`))
      expect(text.stdout).toMatch(new RegExp(`\\(XenServer structured suspend image; checked up to the Demu section at byte ${demuAt}, not after it\\): valid — .*; 0 errors, 1 warning$`, 'm'))
    }

    // identify: the VM's name as the domain name, its uuid in the container summary.
    expect(id.code, id.stderr).toBe(0)
    expect(id.stdout).toContain(`, domain "${c.domain_name}", `)
    const x = JSON.parse(idJson.stdout).images[0]
    expect(x).toMatchObject({verdict: 'v2, restorable', domainName: c.domain_name, guest: c.guest, error: null})
    expect(x.container.xenops).toMatchObject({vmName: c.domain_name, vmUuid: c.uuid})
    if (vgpu) {
      expect(x.note).toMatch(/^a XenServer vGPU image: .*Demu section \(byte \d+\).*only a XenServer host with NVIDIA vGPU restores it/)
      expect(id.stdout.trim()).toMatch(/: v2, restorable \(a XenServer vGPU image: .*\); restored by xenopsd on a XenServer host with NVIDIA vGPU \(Xen 4\.14 and later\)$/m)
      expect(x.container.stoppedAt).toEqual({section: 'Demu', offset: demuAt})
    } else {
      expect(x.note).toBeNull()
      expect(x.container.afterEnd).toBe(0)
    }
  })

  it.for(XS.map((c) => [c.name, c] as const))('%s: dump-core, ELF and raw, holds exactly its memory', async ([name, c], {expect}) => {
    const dir = tempDir('xst-xs-native-')
    const file = join(dir, 'in.img')
    const input = nativeBytes(c.input)
    writeFileSync(file, input)
    // A PV guest's p2m pages rewritten to the identity (the alternatives), as dump-core writes them.
    const {pfns, alternatives} = nativeMemory(c.memory)
    const memory = new Map([...pfns].map(([pfn, h]) => [pfn, alternatives.get(pfn) ?? h]))
    const [elf, raw, piped] = await Promise.all([
      runXstInProcess(['dump-core', '--json', file, join(dir, 'core.elf')]),
      runXstInProcess(['dump-core', '--format', 'raw', file, join(dir, 'core.raw')]),
      runXstInProcess(['dump-core', '--format', 'raw', '--json', '-', join(dir, 'piped.raw')], {input}),
    ])
    for (const r of [elf, raw, piped]) {
      expect(r.code, r.stderr).toBe(0)
      noStack(r.stderr)
    }
    expectMemory(readFileSync(join(dir, 'core.raw')), memory, `${name} raw`)
    expect(readFileSync(join(dir, 'piped.raw')).equals(readFileSync(join(dir, 'core.raw')))).toBe(true)
    const core = parseCore(readFileSync(join(dir, 'core.elf')))
    expect(
      [...core.pages.keys()].sort((a, b) => a - b),
      name,
    ).toEqual([...memory.keys()].sort((a, b) => a - b))
    for (const [pfn, page] of core.pages) expect(sha(page), `${name} ELF pfn ${pfn}`).toBe(memory.get(pfn))
    const doc = JSON.parse(elf.stdout)
    expect(doc.container.xenops).toMatchObject({vmName: c.domain_name, vmUuid: c.uuid})
    if (name === VGPU) {
      // The memory is all before Demu: dumped, with the warning verify gives.
      const warning = /Demu section: a Demu section \(vGPU state.*were not checked/
      expect(raw.stderr).toMatch(new RegExp(`^warning: byte \\d+, ${warning.source}`, 'm'))
      expect(doc.warnings).toHaveLength(1)
      expect(doc.warnings[0]).toMatch(warning)
      expect(JSON.parse(piped.stdout).warnings[0]).toBe(doc.warnings[0])
      expect(doc.container.stoppedAt).toMatchObject({section: 'Demu'})
    } else {
      expect(doc.warnings.filter((w: string) => /section/.test(w))).toEqual([])
      expect(doc.container.stoppedAt).toBeUndefined()
    }
    expect(raw.stdout).toContain(`domain "${c.domain_name}"`)
  })
})

describe('the vGPU image, compressed or piped', () => {
  const c = XS.find((x) => x.name === VGPU)!

  it('verify through gzip: the same warning and verdict', async () => {
    const r = await runXstInProcess(['verify', '--json', tempFile('in.img.gz', gzipSync(nativeBytes(c.input)))])
    expect(r.code, r.stderr).toBe(0)
    const doc = verifyReport(r)
    expect(doc.warnings.map((w: {code: string}) => w.code)).toEqual(['xenserver-unchecked-after-demu'])
    expect(doc.container).toMatchObject({compressed: true, stoppedAt: {section: 'Demu'}})
  })

  it('identify through gzip or a pipe cannot seek past the memory image, and says so', async () => {
    for (const [args, input] of [
      [['identify', '--json', tempFile('in.img.gz', gzipSync(nativeBytes(c.input)))], undefined],
      [['identify', '--json', '-'], nativeBytes(c.input)],
    ] as const) {
      const r = await runXstInProcess([...args], {input})
      expect(r.code, r.stderr).toBe(0)
      const x = JSON.parse(r.stdout).images[0]
      expect(x).toMatchObject({verdict: 'v2 stream, not verified', domainName: c.domain_name})
      expect(x.note).toMatch(/^the sections after the memory image were not read \(the input cannot be seeked over; `xst verify` reads them\)$/)
    }
  })
})

// ---------------------------------------------------------------------------
// Hand-made variants of a native image

describe('what xenopsd refuses, or an older one would', () => {
  const base = nativeBytes(XS.find((x) => x.name === 'xs-bios-hvm3')!.input)
  const parts = handSections(base)
  if (parts.map((s) => s.type).join() !== [0x0f, 0xf0, 0xf00, 0xffff].join()) throw new Error('test: xs-bios-hvm3 is not Xenops, Libxc, Qemu_trad, End_of_image')
  const [xenops, libxc, qemu] = parts
  const end = encodeSectionHeader('End_of_image')
  const upToQemu = base.subarray(0, qemu.offset)
  const qemuBody = base.subarray(qemu.offset + 16, qemu.end)
  const withQemu = (length: number) => Buffer.concat([upToQemu, encodeSectionHeader('Qemu_trad', length), Buffer.alloc(length, 0x51), end])

  /** verify (text and JSON), identify and dump-core on one image. */
  async function runAll(image: Buffer) {
    const dir = tempDir('xst-xs-hand-')
    const file = join(dir, 'in.img')
    writeFileSync(file, image)
    const [verify, verifyJson, identify, dump, dumpJson] = await Promise.all([
      runXstInProcess(['verify', file]),
      runXstInProcess(['verify', '--json', file]),
      runXstInProcess(['identify', '--json', file]),
      runXstInProcess(['dump-core', '--format', 'raw', file, join(dir, 'core.raw')]),
      runXstInProcess(['dump-core', '--json', file, join(dir, 'core.elf')]),
    ])
    for (const r of [verify, verifyJson, identify, dump, dumpJson]) noStack(r.stderr)
    const d = JSON.parse(dumpJson.stdout)
    expect(d.ok).toBe(dump.code === 0)
    return {verify, v: verifyReport(verifyJson), identify, x: JSON.parse(identify.stdout).images[0], dump, d, raw: () => readFileSync(join(dir, 'core.raw'))}
  }

  it('a Qemu_trad of exactly 1 MiB is restored; one byte more, xenopsd refuses it (consume_qemu_record)', async () => {
    const ok = await runAll(withQemu(ONE_MIB))
    expect(ok.verify.code, ok.verify.stderr).toBe(0)
    expect(ok.v.warnings).toEqual([])
    expect(ok.x.verdict).toBe('v2, restorable')

    const big = await runAll(withQemu(ONE_MIB + 1))
    const at = qemu.offset + SectionHeader.offsets.length
    expect(big.verify.code).toBe(1)
    expect(big.verify.stderr.trim()).toBe(
      `error: byte ${at}, Qemu_trad section: Qemu_trad section length ${ONE_MIB + 1} exceeds ${ONE_MIB} bytes (1 MiB): xenopsd refuses to restore it (xc/domain.ml consume_qemu_record: "QEMU record length in header too large")`,
    )
    expect(big.verify.stdout).toMatch(/: INVALID — 1 error, 0 warnings \(libxc v3 stream, x86 HVM\)$/m)
    expect(big.v.errors).toEqual([expect.objectContaining({code: 'xenserver-qemu-too-large', offset: at})])
    expect(big.v.stopped).toBeNull()
    // identify: not restorable, and why.
    expect(big.identify.code).toBe(1)
    expect(big.x).toMatchObject({verdict: 'damaged', error: {code: 'xenserver-qemu-too-large', offset: at}})
    // dump-core: the memory before it is whole; dumped, with a warning.
    expect(big.dump.code, big.dump.stderr).toBe(0)
    expect(big.dump.stderr).toMatch(/^warning: byte \d+, Qemu_trad section: Qemu_trad section length 1048577 exceeds .*; the memory image is dumped all the same$/m)
    expect(big.d.warnings).toEqual([expect.stringMatching(/xenopsd refuses to restore it.*; the memory image is dumped all the same$/)])
    expectMemory(big.raw(), nativeMemory(XS.find((x) => x.name === 'xs-bios-hvm3')!.memory).pfns, 'Qemu_trad over 1 MiB')
  })

  it('a Qemu_xen section: xenopsd refuses the image (process_header)', async () => {
    const image = Buffer.concat([upToQemu, encodeSectionHeader('Qemu_xen', qemuBody.length), qemuBody, end])
    const r = await runAll(image)
    expect(r.verify.code).toBe(1)
    expect(r.verify.stderr.trim()).toBe(
      `error: byte ${qemu.offset}, Qemu_xen section: a Qemu_xen section (qemu-xen device state): xenopsd refuses to restore an image holding one (xc/domain.ml process_header: Suspend_image_failure)`,
    )
    expect(r.v.errors).toEqual([expect.objectContaining({code: 'xenserver-refused-section', offset: qemu.offset})])
    expect(r.identify.code).toBe(1)
    expect(r.x).toMatchObject({verdict: 'damaged', error: {code: 'xenserver-refused-section', offset: qemu.offset}})
    expect(r.x.error.message).toMatch(/xenopsd refuses to restore an image holding one/)
    expect(r.dump.code, r.dump.stderr).toBe(0)
    expect(r.dump.stderr).toMatch(/^warning: byte \d+, Qemu_xen section: .*xenopsd refuses.*; the memory image is dumped all the same$/m)
    expect(r.d.warnings).toEqual([expect.stringMatching(/^byte \d+, Qemu_xen section: .*xenopsd refuses/)])
  })

  it('a Libxl section after the memory image: refused (process_header), and nothing after it can be read', async () => {
    const image = Buffer.concat([upToQemu, encodeSectionHeader('Libxl'), base.subarray(qemu.offset)])
    const r = await runAll(image)
    expect(r.verify.code).toBe(1)
    expect(r.v.errors).toEqual([expect.objectContaining({code: 'xenserver-refused-section', offset: qemu.offset})])
    expect(r.v.errors[0].message).toMatch(/^a Libxl section: xenopsd refuses to restore an image holding one \(xc\/domain\.ml process_header/)
    expect(r.identify.code).toBe(1)
    expect(r.x).toMatchObject({verdict: 'damaged', error: {code: 'xenserver-refused-section', offset: qemu.offset}})
    expect(r.x.error.message).toMatch(/a Libxl section \(libxl save record\) after the memory image: xenopsd refuses to restore an image holding one/)
    // dump-core: the end of a Libxl section cannot be found, so the image cannot be read to its end: refused.
    expect(r.dump.code).toBe(1)
    expect(r.dump.stderr.trim()).toMatch(/^xst dump-core: byte \d+, Libxl section: a Libxl section .*xenopsd refuses/)
    expect(r.d.error).toMatchObject({code: 'xenserver-refused-section', offset: qemu.offset})
  })

  it('a Xenops field xst does not know: a warning (an older xenopsd refuses it), not an error', async () => {
    const body = base.subarray(xenops.offset + 16, xenops.end)
    expect(body.toString('latin1').endsWith('))')).toBe(true)
    const newBody = Buffer.concat([body.subarray(0, body.length - 1), Buffer.from('(future_field 1))')])
    const image = Buffer.concat([encodeStructuredSignature(), encodeXenopsSection(newBody), base.subarray(libxc.offset)])
    const r = await runAll(image)
    const at = 15 + 16 + body.length - 1
    expect(r.verify.code, r.verify.stderr).toBe(0)
    expect(r.verify.stderr.trim()).toBe(
      `warning: byte ${at}, Xenops record: the Xenops record holds a field xst does not know (future_field): a xenopsd without it refuses the record (lib/suspend_image.ml Xenops_record.of_string)`,
    )
    expect(r.verify.stdout).toMatch(/: valid — .*; 0 errors, 1 warning$/m)
    expect(r.v.warnings).toEqual([expect.objectContaining({severity: 'warning', code: 'xenops-unknown-field', offset: at})])
    expect(r.v.container.xenops).toMatchObject({unknownFields: ['future_field'], vmName: 'backup01'})
    expect(r.x.verdict).toBe('v2, restorable')
    expect(r.dump.code).toBe(0)
  })

  it('a Demu section before the memory image: nothing after it, the memory included, can be checked (an error)', async () => {
    const image = Buffer.concat([base.subarray(0, libxc.offset), encodeSectionHeader('Demu'), base.subarray(libxc.offset)])
    const r = await runAll(image)
    expect(r.verify.code).toBe(1)
    expect(r.v.errors).toEqual([expect.objectContaining({code: 'xenserver-opaque-section', offset: libxc.offset})])
    expect(r.v.warnings).toEqual([])
    expect(r.x.verdict).toBe('damaged')
    expect(r.dump.code).toBe(1)
  })
})
