// Many small things instead of one big length: a legacy image whose every
// one of 300,000 page batches warns (6 MB of input) and a v2 stream of
// 400,000 records that are each an error (3 MB). Every warning and error is
// told as it is found; a report keeps a bounded number of them and counts
// the rest; peak memory stays under 150 MB (it was 300-500 MB for the
// image, 0.75-2.3 GB for a stream five times as long).
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {ImageHeader, Rec} from '../../src/v2/libxc/layout.js'
import {RecordHeader} from '../../src/v2/record.js'
import {buildLegacy, smallSpec, type ChunkSpec} from '../builders/legacy.js'
import {tempDir, tempFile} from '../helpers/cli.js'
import {vectorBytes} from '../helpers/fixtures.js'
import {runCliMeasured} from '../fuzz/procs.js'
import {verifyReport} from '../helpers/verify-json.js'

const MAX_RSS_MIB = 150
const BATCHES = 300_000
const RECORDS = 400_000

/** Each batch sends pfn 7 twice with two page types that carry no data: a warning per batch, and a new pass per batch. */
function retypedImage(): string {
  const chunks: ChunkSpec[] = []
  for (let i = 0; i < BATCHES; i++)
    chunks.push({
      kind: 'pages',
      entries: [
        {pfn: 7, type: 0xe},
        {pfn: 7, type: 0xd},
      ],
    })
  chunks.push({kind: 'vcpu_info', online: [0]})
  return tempFile('retyped.legacy', buildLegacy(smallSpec('pv', 64, {chunks})))
}

/** A libxc stream's headers, then records of X86_PV_VCPU_BASIC too short for a vcpu id. */
function erroringStream(): string {
  const head = vectorBytes('legacy', 'pv64-basic.libxc.v2.gz').subarray(0, ImageHeader.size + 16)
  const record = RecordHeader.encode({type: Rec.X86_PV_VCPU_BASIC, length: 0})
  return tempFile('errors.v2', Buffer.concat([head, Buffer.alloc(RECORDS * record.length, record)]))
}

/**
 * The CLI, measured, forked by a shell: a child's peak memory as the kernel
 * counts it includes what its parent held when it forked, and this vitest
 * worker holds far more than xst.
 */
const measured = (args: string[]) => runCliMeasured(args, {argv0: ['sh', '-c', '"$0" "$@"; exit $?', process.execPath], stdin: 'ignore', timeoutMs: 60_000})

const warningLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('warning: ')).length

describe('hostile counts: a warning or an error per record, memory measured', () => {
  it(`inspect-legacy of ${BATCHES} warning batches: all told, 1,000 kept and a count`, async () => {
    const image = retypedImage()
    const text = await measured(['inspect-legacy', image])
    expect(text.code, text.stderr.slice(0, 500)).toBe(0)
    expect(warningLines(text.stderr)).toBe(BATCHES)
    expect(text.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
    const json = await measured(['inspect-legacy', '--json', image])
    const doc = JSON.parse(json.stdout)
    expect(doc.body.passes).toBe(BATCHES)
    expect(doc.warnings).toHaveLength(1001)
    expect(doc.warnings[0]).toMatch(/sends pfn 0x7 again with another page type/)
    expect(doc.warnings[1000]).toBe(`${BATCHES - 1000} more warnings not kept here (each was reported as it was found)`)
    expect(json.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
  }, 120_000)

  it(`convert --json of the same image: the summary keeps 1,000 and a count`, async () => {
    const image = retypedImage()
    const r = await measured(['convert', '--json', image, join(tempDir(), 'out.v2')])
    expect(r.code, r.stderr.slice(0, 500)).toBe(0)
    const doc = JSON.parse(r.stdout)
    expect(doc.warnings).toHaveLength(1001)
    expect(doc.warnings[1000]).toMatch(/^\d+ more warnings not kept here/)
    expect(r.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
  }, 120_000)

  it(`verify of ${RECORDS} erroring records: all told and counted, memory flat`, async () => {
    const stream = erroringStream()
    const text = await measured(['verify', stream])
    expect(text.code).toBe(1)
    const errors = text.stderr.split('\n').filter((l) => l.startsWith('error: '))
    expect(errors.length).toBeGreaterThanOrEqual(RECORDS)
    expect(text.stdout).toMatch(new RegExp(`INVALID — ${errors.length} errors`))
    expect(text.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
    const json = await measured(['verify', '--json', stream])
    const doc = verifyReport(json)
    expect(doc.errorCount).toBe(errors.length)
    expect(doc.errors.length).toBeLessThan(1010)
    expect(json.maxRssMiB).toBeLessThan(MAX_RSS_MIB)
  }, 120_000)
})

describe('hostile counts in containers: memory follows the count, so the count is bounded', () => {
  it('an xend config of 3 million (k v) lists (15 MB, under the 16 MiB cap): refused in one line by identify, verify and convert, memory under the ceiling', async () => {
    const {encodeXendHeader} = await import('../../src/container/xend.js')
    const config = `(domain ${'(k v)'.repeat(3_000_000)})`
    const file = tempFile('lists.xm-save', Buffer.concat([encodeXendHeader(config), buildLegacy(smallSpec('pv', 64))]))
    for (const args of [
      ['identify', '--json'],
      ['verify', '--json'],
      ['convert', '--json'],
    ]) {
      const out = args[0] === 'convert' ? [join(tempDir(), 'out.save')] : []
      const r = await measured([...args, file, ...out])
      const doc = JSON.parse(r.stdout)
      // identify and verify: the one image's error (verify's: its first problem); convert: the document's.
      const error = args[0] === 'convert' ? doc.error : (doc.images[0].error ?? doc.images[0].errors?.[0])
      expect(error?.code, `${args[0]}: ${r.stdout.slice(0, 300)}`).toBe('too-many-elements')
      expect(r.maxRssMiB, args[0]).toBeLessThan(MAX_RSS_MIB)
    }
  })

  it('a XenServer image of a million empty sections: refused at the limit, memory under the ceiling', async () => {
    const {encodeSectionHeader, encodeStructuredSignature} = await import('../../src/container/xenserver.js')
    const empty = encodeSectionHeader('Varstored', 0)
    const file = tempFile('sections.img', Buffer.concat([encodeStructuredSignature(), Buffer.alloc(1_000_000 * empty.length, empty)]))
    for (const cmd of ['identify', 'verify', 'convert']) {
      const out = cmd === 'convert' ? [join(tempDir(), 'out.img')] : []
      const r = await measured([cmd, file, ...out])
      expect(r.stdout + r.stderr, cmd).toMatch(/more than 10000 sections/)
      expect(r.maxRssMiB, cmd).toBeLessThan(MAX_RSS_MIB)
    }
  })
})
