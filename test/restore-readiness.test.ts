// Will it restore? (README; src/restore/assess.ts.) What an image reveals
// decides what a restorer needs and who refuses it: the device state's
// model (from the container, a libxl emulator id, or the state's bytes), a
// 32-bit PV guest, the libxc stream version, the xl header and its config,
// the toolstack's word size of a legacy image. Checked through identify,
// verify and convert (text and --json) over the native, container and
// legacy conformance vectors, and the device state's markers from bytes
// built here.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {encodeXendHeader} from '../src/container/xend.js'
import {QEMU_SIG_REST} from '../src/format/x86.js'
import {XL_BYTEORDER, XL_MAGIC, XlHeader} from '../src/xl/layout.js'
import {modelOfState} from '../src/restore/device-model.js'
import {buildLegacy, smallSpec} from './builders/legacy.js'
import {tempDir} from './helpers/cli.js'
import {CONFORMANCE, nativeBytes} from './helpers/fixtures.js'
import {runXstInProcess as runXst} from './helpers/in-process.js'
import {verifyReport} from './helpers/verify-json.js'

interface Refused {
  host: string
  why: string
  current?: true
}
interface Restore {
  by: string[]
  releases: string
  needs: string[]
  refusedBy: Refused[]
  unknown: Array<{what: string; why: string}>
}

/** A conformance file written out decompressed (identify reads the device state of a file only). */
function file(bytes: Buffer, name: string): string {
  const path = join(tempDir('xst-restore-'), name)
  writeFileSync(path, bytes)
  return path
}
const native = (name: string) => file(nativeBytes(`${name}.gz`), name)
const conformance = (dir: string, name: string) => file(gunzipSync(readFileSync(join(CONFORMANCE, dir, name))), name)

async function identify(path: string): Promise<{restore: Restore; text: string}> {
  const [json, text] = await Promise.all([runXst(['identify', '--json', path]), runXst(['identify', path])])
  expect(json.code, json.stderr).toBe(0)
  return {restore: JSON.parse(json.stdout).images[0].restore, text: text.stdout}
}

const hosts = (r: Restore) => r.refusedBy.map((x) => x.host)

describe('the device state: whose it is, from its bytes', () => {
  const qevm = (...parts: Buffer[]) => Buffer.concat([Buffer.from('QEVM\0\0\0\x03', 'latin1'), ...parts])
  /** A section header: type, be32 id, the name with its length byte, be32 instance, be32 version. */
  const section = (type: number, id: number, name: string, version = 1) => {
    const b = Buffer.alloc(14 + name.length)
    b[0] = type
    b.writeUInt32BE(id, 1)
    b[5] = name.length
    b.write(name, 6, 'latin1')
    b.writeUInt32BE(0, 6 + name.length)
    b.writeUInt32BE(version, 10 + name.length)
    return b
  }
  const body = (n: number) => Buffer.alloc(n, 0x11)

  it.for([
    ['upstream: a configuration section first', qevm(Buffer.from([0x07, 0, 0, 0, 5]), Buffer.from('xenfv'), section(4, 0, 'timer')), 'qemu-xen', /configuration section \(machine "xenfv"\)/],
    [
      'upstream: a device named by its PCI address',
      qevm(section(4, 0, 'timer'), body(24), section(4, 3, '0000:00:01.3/piix4_pm', 3), body(40)),
      'qemu-xen',
      /PCI address \("0000:00:01.3\/piix4_pm"\)/,
    ],
    ['qemu-traditional: a live "ram" section first', qevm(section(1, 0, 'ram', 3), Buffer.from([2, 0, 0, 0, 0])), 'qemu-xen-traditional', /live "ram" section/],
    [
      'qemu-traditional: a section only it registers',
      qevm(section(4, 0, 'timer'), body(8), section(4, 7, 'platform_fixed_ioport'), body(4)),
      'qemu-xen-traditional',
      /"platform_fixed_ioport" section/,
    ],
    ['neither: only sections both register', qevm(section(4, 0, 'timer'), body(8), section(4, 1, 'rtc'), body(16)), 'unknown', /none of the marks/],
    ['not a savevm stream', Buffer.from('not qemu state at all'), 'unknown', /no "QEVM"/],
  ] as const)('%s', ([, bytes, model, why], {expect}) => {
    const got = modelOfState(bytes)
    expect(got.model).toBe(model)
    expect('from' in got ? got.from : got.why).toMatch(why)
  })
})

describe.concurrent('identify: what restores it, what it needs, who refuses it', () => {
  it("an xl HVM image whose device state is qemu-traditional's (emulator id 1): refused by Xen 4.21+, needs the config to ask for it on 4.6-4.20", async ({expect}) => {
    const {restore, text} = await identify(native('xl-hvm2-qemutrad-save'))
    expect(restore.releases).toBe('Xen 4.6 and later')
    expect(restore.refusedBy).toEqual([
      {host: 'Xen 4.21 and later', why: expect.stringMatching(/qemu-traditional's \(its EMULATOR_CONTEXT record names qemu-xen-traditional \(emulator id 1\)\)/), current: true},
    ])
    expect(restore.needs).toEqual([expect.stringMatching(/^on Xen 4\.6-4\.20: device_model_version="qemu-xen-traditional" in the domain config/)])
    expect(text).toMatch(/^ {2}restore:\n {4}needs {4}on Xen 4\.6-4\.20: device_model_version=/m)
    expect(text).toMatch(/^ {4}refused {2}Xen 4\.21 and later: /m)
  })

  it('an xl HVM image of Xen 4.14+ with upstream QEMU state: only the 4.6-4.13 hosts refuse it (libxc version 3)', async ({expect}) => {
    const {restore, text} = await identify(native('xl-hvm3-save'))
    expect(restore).toEqual({by: ['xl restore'], releases: 'Xen 4.14 and later', needs: [], refusedBy: [{host: 'Xen 4.6-4.13', why: expect.stringContaining('version 2 only')}], unknown: []})
    expect(text).toContain('restored by xl restore (Xen 4.14 and later)')
  })

  it('an xend HVM image: qemu-traditional by its container', async ({expect}) => {
    const {restore} = await identify(conformance('containers', 'xend-hvm64.img.gz'))
    expect(restore.refusedBy).toContainEqual({host: 'Xen 4.21 and later', why: expect.stringContaining('xend ran only qemu-traditional'), current: true})
  })

  it('a XenServer legacy HVM image: xenopsd of xen-api v24.3.0+ refuses its qemu-traditional state', async ({expect}) => {
    const {restore} = await identify(conformance('containers', 'xenserver-legacy-hvm32.img.gz'))
    expect(restore.refusedBy).toEqual([{host: 'xenopsd of xen-api v24.3.0 and later (December 2023)', why: expect.stringContaining('refuses the qemu-trad profile'), current: true}])
    expect(restore.needs).toEqual([expect.stringContaining('xen-api before v24.3.0')])
  })

  it('a XenServer structured image: its Qemu_trad section holds upstream state here (xenopsd names both so): nothing refuses its device model', async ({expect}) => {
    const {restore} = await identify(native('xs-bios-hvm3'))
    expect(restore.unknown).toEqual([])
    expect(hosts(restore)).toEqual(['Xen 4.6-4.13'])
  })

  it('a legacy HVM image whose state shows no mark of either device model: unknown, and why', async ({expect}) => {
    const {restore} = await identify(native('legacy-hvm-save'))
    expect(restore.releases).toBe('Xen <= 4.5; Xen 4.6 and later through their legacy converter (x86)')
    expect(restore.unknown).toEqual([{what: 'device model', why: expect.stringContaining('shows none of the marks')}])
    expect(restore.refusedBy).toEqual([])
  })

  it('a 32-bit PV guest from a 32-bit toolstack: hosts without 32-bit PV refuse it; behind an xl header, libxl would misread its width', async ({expect}) => {
    const bytes = gunzipSync(readFileSync(join(CONFORMANCE, 'legacy', 'pv32-tw32.legacy.gz')))
    const bare = (await identify(file(bytes, 'pv32.save'))).restore
    // xl cannot read a bare legacy stream at all: only the guest's width is a condition.
    expect(hosts(bare)).toEqual([expect.stringMatching(/^Xen 4\.16 and later built without CONFIG_PV32/)])
    expect(bare.refusedBy[0].why).toContain('Failed to update d… address size to 32')
    expect(bare.needs).toEqual([expect.stringContaining('xen-3.0-x86_32p')])
    const header = XlHeader.encode({magic: XL_MAGIC, byteorder: XL_BYTEORDER, mandatoryFlags: 0, optionalFlags: 0, optionalDataLen: 0})
    const xl = (await identify(file(Buffer.concat([header, bytes]), 'pv32-xl.save'))).restore
    expect(hosts(xl)).toEqual(['xl restore on Xen 4.6+ with a 64-bit dom0', expect.stringMatching(/^Xen 4\.16 and later built without CONFIG_PV32/)])
    // (The header holds no config: xl restore needs one on its command line.)
    expect(xl.needs).toEqual([
      '`xst convert` first (it finds the width in the image)',
      'a domain config on the command line: `xl restore CONFIG FILE` (xl text)',
      expect.stringContaining('xen-3.0-x86_32p'),
    ])
  })

  it('a bare libxc stream: xl restore cannot read it, and its device state is kept apart', async ({expect}) => {
    const {restore} = await identify(native('libxc-hvm3-save'))
    expect(hosts(restore)).toEqual(['Xen 4.6-4.13', 'xl restore'])
    expect(restore.unknown).toEqual([{what: 'device model', why: 'a bare libxc stream carries no device state: the toolstack keeps it apart'}])
  })

  it('a libvirt version 2 image: libvirt built against Xen < 4.6 refuses it', async ({expect}) => {
    const {restore} = await identify(native('libvirt-v2-hvm3'))
    expect(hosts(restore)).toContain('libvirt built against Xen < 4.6 (LIBXL_SAVE_VERSION 1)')
  })

  it('a libvirt image whose XML names qemu-dm over upstream QEMU state: virsh restore with that XML is refused', async ({expect}) => {
    const bytes = nativeBytes('libvirt-v2-hvm3.gz')
    // The header (64 bytes: magic, version, xml_len, unused), the XML with its NUL, the stream.
    const xmlLen = bytes.readUInt32LE(20)
    const xml = bytes
      .subarray(64, 64 + xmlLen - 1)
      .toString('utf8')
      .replace('</domain>', '  <devices><emulator>/usr/lib/xen/bin/qemu-dm</emulator></devices>\n</domain>')
    const newXml = Buffer.from(`${xml}\0`, 'utf8')
    const head = Buffer.from(bytes.subarray(0, 64))
    head.writeUInt32LE(newXml.length, 20)
    const {restore} = await identify(file(Buffer.concat([head, newXml, bytes.subarray(64 + xmlLen)]), 'crm.save'))
    expect(restore.refusedBy).toContainEqual({
      host: 'virsh restore with the domain XML in the image',
      why: expect.stringMatching(/<emulator> \(\/usr\/lib\/xen\/bin\/qemu-dm\) is qemu-traditional's qemu-dm by its name, but the device state is upstream QEMU's/),
    })
  })

  it('through gzip the device state is not read: said, not guessed', async ({expect}) => {
    const r = await runXst(['identify', '--json', join(CONFORMANCE, 'native', 'legacy-hvm-save.gz')])
    expect(JSON.parse(r.stdout).images[0].restore.unknown).toEqual([{what: 'device model', why: expect.stringContaining('does not read a stream through gzip or a pipe')}])
  })
})

describe.concurrent('verify: the restore block of a stream that verifies', () => {
  it('reads the device state as it goes (gzip too)', async ({expect}) => {
    const path = join(CONFORMANCE, 'native', 'xl-hvm2-qemutrad-save.gz')
    const [json, text] = await Promise.all([runXst(['verify', '--json', path]), runXst(['verify', path])])
    expect(json.code).toBe(0)
    const restore: Restore = verifyReport(json).restore
    expect(restore.by).toEqual(['xl restore'])
    expect(restore.refusedBy).toEqual([expect.objectContaining({host: 'Xen 4.21 and later', current: true})])
    expect(text.stdout).toMatch(/^ {2}restore:\n {4}by {8}xl restore\n {4}releases {2}Xen 4\.6 and later\n {4}needs {5}on Xen 4\.6-4\.20/m)
  })

  it('a stream that does not verify has no restore block', async ({expect}) => {
    const bytes = nativeBytes('xl-pv3-save.gz')
    const path = file(bytes.subarray(0, bytes.length - 100), 'cut')
    const r = await runXst(['verify', '--json', path])
    expect(r.code).toBe(1)
    expect(verifyReport(r).restore).toBeNull()
  })
})

describe('convert: before and after, and one warning when no current release restores the output', () => {
  /** An xend HVM image whose config says so (image (hvm ...)), its qemu record as xend wrote it. */
  function xendHvm(): string {
    const spec = smallSpec('hvm', 64, {hvm: {context: 256, qemu: {signature: QEMU_SIG_REST, data: 300}}})
    const config = "(domain (name guest7) (memory 512) (vcpus 1) (image (hvm (kernel '') (device_model /usr/lib/xen/bin/qemu-dm))))"
    return file(Buffer.concat([encodeXendHeader(config), buildLegacy(spec)]), 'guest7.xm-save')
  }

  it('an xend HVM image with --config: the embedded config asks for qemu-traditional, and the one warning says no current release restores it', async () => {
    const dir = tempDir()
    const cfg = join(dir, 'guest7.cfg')
    writeFileSync(cfg, 'name = "guest7"\nmemory = 512\n')
    const out = join(dir, 'guest7.save')
    const r = await runXst(['convert', '--json', '--config', cfg, xendHvm(), out])
    expect(r.code, r.stderr).toBe(0)
    const doc = JSON.parse(r.stdout)
    expect(doc.notes).toContainEqual(expect.stringMatching(/^device_model_version "qemu-xen-traditional" was added to the embedded config/))
    expect(doc.warnings).toEqual([expect.stringMatching(/^no current Xen release restores the output \(Xen 4\.21 and later: the device state is qemu-traditional's/)])
    // The config now asks for it: nothing more is needed on 4.6-4.20.
    expect(doc.restore.after.needs).toEqual([])
    expect(doc.restore.before.by[0]).toMatch(/^xm restore/)
    // What xl restore reads back from the header.
    const id = await runXst(['identify', '--json', out])
    expect(JSON.parse(id.stdout).images[0].restore.needs).toEqual([])
    expect(readFileSync(out).toString('latin1')).toContain('device_model_version = "qemu-xen-traditional"\n')
  })

  it('a JSON --config gets b_info.device_model_version; one asking for qemu-xen is refused (bad-config), nothing written', async () => {
    const dir = tempDir()
    const json = join(dir, 'c.json')
    writeFileSync(json, JSON.stringify({c_info: {type: 'hvm', name: 'guest7'}, b_info: {max_memkb: 524288}}))
    const out = join(dir, 'a.save')
    expect((await runXst(['convert', '--config', json, xendHvm(), out])).code).toBe(0)
    expect(readFileSync(out).toString('latin1')).toContain('"device_model_version": "qemu_xen_traditional"')
    const bad = join(dir, 'bad.cfg')
    writeFileSync(bad, 'device_model_version = "qemu-xen"\n')
    const r = await runXst(['convert', '--json', '--config', bad, xendHvm(), join(dir, 'b.save')])
    expect(r.code).toBe(2)
    expect(JSON.parse(r.stdout).error).toMatchObject({code: 'bad-config', message: expect.stringContaining('upstream QEMU cannot load')})
  })

  it('a plain PV conversion: no warning; NEW refused only by the hosts that read version 2 only', async () => {
    const out = join(tempDir(), 'pv.save')
    const r = await runXst(['convert', '--json', join(CONFORMANCE, 'legacy', 'pv64-xl.legacy.gz'), out])
    expect(r.code, r.stderr).toBe(0)
    const doc = JSON.parse(r.stdout)
    expect(doc.warnings).toEqual([])
    expect(doc.restore.after).toEqual({by: ['xl restore'], releases: 'Xen 4.14 and later', needs: [], refusedBy: [expect.objectContaining({host: 'Xen 4.6-4.13'})], unknown: []})
    // --target-xen 4.13 writes version 2: nothing refuses it.
    const v2 = await runXst(['convert', '--json', '--force', '--target-xen', '4.13', join(CONFORMANCE, 'legacy', 'pv64-xl.legacy.gz'), out])
    expect(JSON.parse(v2.stdout).restore.after).toMatchObject({releases: 'Xen 4.6 and later', refusedBy: []})
  })
})
