// Hostile lengths in container headers: 2^31-1, 2^32-1, 2^63 and 2^64-1 in
// every length field the container modules read. Each image is rejected
// with a typed exit-1 error before anything is allocated for the length it
// lies about: the whole batch runs from the built dist/ in a fresh node
// process (file and pipe sources, and through gzip), whose peak memory must
// stay under 150 MB.
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {beforeAll, describe, expect, it} from 'vitest'
import {encodeLibvirtHeader, LibvirtHeader} from '../src/container/libvirt.js'
import {encodeQemuRecordHeader, QEMU_XENSERVER} from '../src/legacy/qemu-record.js'
import {encodeSectionHeader, encodeStructuredSignature, encodeXenopsSection, SectionHeader} from '../src/container/xenserver.js'
import {encodeXendHeader, XendHeader} from '../src/container/xend.js'
import {tempDir} from './helpers/cli.js'
import {runMeasuringChild} from './fuzz/procs.js'

const MAX_RSS_MIB = 150
const U32_MAX = 0xffffffff
const XML = '<domain><name>h</name></domain>'

function libvirt(xmlLength: number): Buffer {
  const b = Buffer.concat([encodeLibvirtHeader({version: 1, xml: XML}), Buffer.alloc(4096)])
  LibvirtHeader.fields.xmlLength.put(b, LibvirtHeader.offsets.xmlLength, xmlLength)
  return b
}

function xend(length: number): Buffer {
  const b = Buffer.concat([encodeXendHeader('(domain (name h))'), Buffer.alloc(4096)])
  XendHeader.fields.configLength.put(b, XendHeader.offsets.configLength, length)
  return b
}

function structured(name: string, length: bigint, before: Buffer[] = []): Buffer {
  const h = encodeSectionHeader(name, 0)
  SectionHeader.fields.length.put(h, SectionHeader.offsets.length, length)
  return Buffer.concat([encodeStructuredSignature(), ...before, h, Buffer.alloc(4096)])
}

const xenops = encodeXenopsSection(Buffer.from('((time "t")(word_size 64))'))

/** name, how the child reads it, bytes. */
const CASES: Array<[string, string, Buffer]> = [
  ['libvirt xml_len 2^32-1', 'libvirt', libvirt(U32_MAX)],
  ['libvirt xml_len 2^31', 'libvirt', libvirt(0x80000000)],
  ['xend config length 2^31-1', 'xend', xend(0x7fffffff)],
  ['xend config length -2^31', 'xend', xend(-0x80000000)],
  ['Xenops length 2^32-1', 'xenserver', structured('Xenops', BigInt(U32_MAX))],
  ['Xenops length 2^63', 'xenserver', structured('Xenops', 1n << 63n)],
  ['Qemu_trad length 2^32-1', 'xenserver', structured('Qemu_trad', BigInt(U32_MAX), [xenops])],
  ['Qemu_trad length 2^63', 'xenserver', structured('Qemu_trad', 1n << 63n, [xenops])],
  ['Varstored length 2^64-1', 'xenserver', structured('Varstored', (1n << 64n) - 1n, [xenops])],
  ['XenServer qemu record length 2^32-1', 'xenserver-qemu', Buffer.concat([Buffer.from('XenSavedDomain\n'), encodeQemuRecordHeader(QEMU_XENSERVER, U32_MAX), Buffer.alloc(4096)])],
  ['gzip: libvirt xml_len 2^32-1', 'gzip-libvirt', gzipSync(libvirt(U32_MAX))],
  ['gzip: Qemu_trad length 2^32-1', 'gzip-xenserver', gzipSync(structured('Qemu_trad', BigInt(U32_MAX), [xenops]))],
]

const CHILD = `
import {readFileSync} from 'node:fs'
const dist = (p) => import(new URL(p, process.argv[2]).href)
const {ByteReader} = await dist('io/reader.js')
const {ChunkedSource, openPathSource} = await dist('io/source.js')
const {GzipSource} = await dist('io/gzip-source.js')
const c = await dist('container/index.js')
const {XstError} = await dist('errors.js')
const cases = JSON.parse(readFileSync(process.argv[3], 'utf8'))
async function xenserver(r) {
  await c.readXenServerSignature(r)
  for await (const s of c.walkSections(r)) if (s.body) await s.body.pipe(() => {})
}
const READ = {
  libvirt: (r) => c.readLibvirtHeader(r),
  xend: (r) => c.readXendHeader(r),
  xenserver,
  'xenserver-qemu': async (r) => {
    await c.readXenServerSignature(r)
    const q = await c.readQemuRecordHeader(r, c.XENSERVER_LEGACY_QEMU_RECORDS)
    await r.skip(q.length, 'qemu state')
  },
  'gzip-libvirt': (r) => c.readLibvirtHeader(new ByteReader(new GzipSource(r.source))),
  'gzip-xenserver': (r) => xenserver(new ByteReader(new GzipSource(r.source))),
}
const results = []
for (const k of cases) {
  for (const how of ['file', 'pipe']) {
    const reader = new ByteReader(how === 'file' ? openPathSource(k.file) : new ChunkedSource(readFileSync(k.file), 65536))
    const r = {name: k.name, how}
    try {
      await READ[k.read](reader)
      r.ok = true
    } catch (e) {
      r.ok = false
      r.error = {xst: e instanceof XstError, cls: e?.name, code: e?.code, exitCode: e?.exitCode, message: String(e?.message)}
    } finally {
      await reader.close()
    }
    results.push(r)
  }
}
process.stdout.write(JSON.stringify({results, maxRssMiB: process.resourceUsage().maxRSS / 1024}))
`

interface Result {
  name: string
  how: string
  ok: boolean
  error?: {xst: boolean; cls: string; code: string; exitCode: number; message: string}
}

let results: Result[] = []
let peakMiB = 0

beforeAll(async () => {
  const dir = tempDir('xst-container-hostile-')
  const manifest = CASES.map(([name, read, bytes], i) => {
    const file = join(dir, `case-${i}.img`)
    writeFileSync(file, bytes)
    return {name, read, file}
  })
  const doc = await runMeasuringChild<Result>(dir, CHILD, manifest)
  results = doc.results
  peakMiB = doc.maxRssMiB
  if (process.env.XST_HOSTILE_DEBUG) for (const x of results) console.log(x.name, x.how, x.error?.code, x.error?.message)
}, 60_000)

describe('hostile container lengths, in a fresh node (built dist/)', () => {
  it('every case ran from a file and a pipe', () => {
    expect(results.length).toBe(CASES.length * 2)
  })

  it.each(CASES.map(([n]) => n))('%s: a typed exit-1 error, not an allocation', (name) => {
    const rs = results.filter((r) => r.name === name)
    expect(rs.length).toBe(2)
    for (const r of rs) {
      expect(r.ok, `${r.how}: accepted`).toBe(false)
      expect(r.error!.xst, `${r.how}: ${r.error!.cls}: ${r.error!.message}`).toBe(true)
      expect(r.error!.exitCode).toBe(1)
      expect(['length-too-large', 'truncated', 'xend-config-length']).toContain(r.error!.code)
      expect(r.error!.message).not.toMatch(/allocat|Array buffer|Invalid (typed )?array length|out of memory/i)
    }
  })

  it('lengths over a named maximum are refused by it, from a file and a pipe alike', () => {
    for (const name of [
      'libvirt xml_len 2^32-1',
      'xend config length 2^31-1',
      'Xenops length 2^32-1',
      'Xenops length 2^63',
      'Qemu_trad length 2^63',
      'Varstored length 2^64-1',
      'gzip: libvirt xml_len 2^32-1',
    ]) {
      for (const r of results.filter((x) => x.name === name)) expect(r.error!.code, `${name} (${r.how})`).toBe('length-too-large')
    }
  })

  it(`peak memory of the whole batch stays under ${MAX_RSS_MIB} MB`, () => {
    expect(peakMiB).toBeGreaterThan(0)
    expect(peakMiB).toBeLessThan(MAX_RSS_MIB)
  })
})
