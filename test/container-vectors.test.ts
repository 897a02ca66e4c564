// Every containers conformance image against index.json, using the
// container modules the way identify/inspect will: sniff, read the
// container's header, sniff the stream inside, and tell the guest (and the
// toolstack width for legacy streams) from it. Also: every expected file
// index.json names is there, and for each defective image, whether the
// container modules find its defect on their own or only a walk of the
// stream inside reaches it (container-xenserver.test.ts does that walk).
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, test} from 'vitest'
import {sniff, SNIFF_LENGTH} from '../src/container/identify.js'
import {libvirtVersionDefect, readLibvirtHeader} from '../src/container/libvirt.js'
import {readSectionHeader, readXenServerSignature} from '../src/container/xenserver.js'
import {readXendHeader} from '../src/container/xend.js'
import type {FormatError} from '../src/errors.js'
import {DomainHeader, ImageHeader} from '../src/v2/libxc/layout.js'
import {LibxlHeader} from '../src/v2/libxl/layout.js'
import {GzipSource, ReaderSource} from '../src/io/gzip-source.js'
import {ByteReader} from '../src/io/reader.js'
import {detectLegacy} from '../src/legacy/detect.js'
import {readXlHeader} from '../src/xl/header.js'
import {CONTAINERS, containerBytes, containerVectors, readerOver, SOURCE_KINDS} from './helpers/containers.js'

interface Found {
  kind: string
  stream: 'legacy' | 'libxl' | 'libxc'
  streamOffset: number
  guest: 'pv' | 'hvm'
  width?: 32 | 64
  defect?: FormatError
}

/** What the container modules tell about an image, up to the start of the stream inside. */
async function look(reader: ByteReader): Promise<Found> {
  const kind = sniff(Buffer.from(await reader.peek(SNIFF_LENGTH))).kind
  let defect: FormatError | undefined
  let claims: ((stream: Found['stream']) => FormatError | undefined) | undefined
  switch (kind) {
    case 'gzip': {
      const inner = await look(new ByteReader(new GzipSource(new ReaderSource(reader))))
      return {...inner, kind: 'gzip'}
    }
    case 'libvirt': {
      const h = await readLibvirtHeader(reader)
      claims = (s) => libvirtVersionDefect(h, s)
      break
    }
    case 'xend':
      await readXendHeader(reader)
      break
    case 'xenserver-legacy':
      await readXenServerSignature(reader)
      break
    case 'xenserver-structured': {
      await readXenServerSignature(reader)
      // Up to the first stream section: that is as far as headers alone reach.
      for (;;) {
        const s = await readSectionHeader(reader)
        if (s.section.body !== 'sized') break
        await reader.skip(s.length, s.section.name)
      }
      break
    }
    case 'xl':
      await readXlHeader(reader)
      break
    default:
      throw new Error(`unexpected input kind ${kind}`)
  }
  const streamOffset = reader.offset
  const head = Buffer.from(await reader.peek(64))
  const s = sniff(head.subarray(0, SNIFF_LENGTH)).kind
  const stream = s === 'libxl' || s === 'libxc' ? s : 'legacy'
  defect = claims?.(stream)
  if (stream === 'legacy') {
    const det = await detectLegacy(reader)
    return {kind, stream, streamOffset, guest: det.guest, width: det.width, defect}
  }
  // v2: the libxc domain header says the guest type (no toolstack width in a v2 stream).
  const libxc = stream === 'libxl' ? LibxlHeader.size + 8 : 0
  const type = DomainHeader.get(head, libxc + ImageHeader.size).type
  return {kind, stream, streamOffset, guest: type === 1 ? 'pv' : 'hvm', defect}
}

const KIND: Record<string, string> = {'xenserver-v2': 'xenserver-structured'}

/**
 * Defective images: found by the container modules alone (with the offset
 * they give), or only by reading the stream inside to its end.
 */
const DEFECTS: Record<string, {byContainer?: {code: string; offset: number}; needsStreamWalk?: string}> = {
  'libvirt-v1-holding-v2': {byContainer: {code: 'libvirt-version-mismatch', offset: 16}},
  'bad-xenserver-v2-no-end': {needsStreamWalk: 'the missing End_of_image is after the Libxc stream'},
  'bad-xenserver-v2-qemu-past-eof': {needsStreamWalk: 'the Qemu_trad header is after the Libxc stream'},
  'bad-xenserver-v2-unknown-header': {needsStreamWalk: 'the unknown section is after the Libxc stream'},
}

describe.each(containerVectors().map((v) => [v.name, v] as const))('%s', (name, v) => {
  const data = containerBytes(v.input)

  test.each(SOURCE_KINDS)('kind, stream inside, guest and width as index.json gives them (%s)', async (kind) => {
    const found = await look(readerOver(data, kind))
    expect(found.kind).toBe(KIND[v.kind] ?? v.kind)
    expect(found.stream).toBe(v.stream)
    if (v.guest) expect(found.guest).toBe(v.guest)
    if (found.stream === 'legacy') expect(found.width).toBe(v.toolstack_width)
  })

  test('defects: found by the container modules, or noted as needing the stream walk', async () => {
    const found = await look(readerOver(data))
    const d = DEFECTS[name]
    expect(v.valid).toBe(d === undefined)
    if (d?.byContainer) {
      expect(found.defect?.code).toBe(d.byContainer.code)
      expect(found.defect?.offset).toBe(d.byContainer.offset)
    } else {
      expect(found.defect).toBeUndefined()
    }
  })

  test('every file index.json names is there', () => {
    const files = [v.input, v.expect.convert, ...(v.expect.sections ?? []).map((s) => s[1])].filter((f): f is string => !!f)
    for (const f of files) expect(existsSync(join(CONTAINERS, f))).toBe(true)
    if (!v.valid) expect(v.expect.verify).toBe(1)
  })
})
