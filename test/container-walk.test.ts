// The legacy walker inside containers: the qemu record after the HVM tail
// read in the framing the container writes (qemuRecords), and a walk that
// stops at the end of the image so a container's next section stays unread
// (stopAtImageEnd), on a file and a pipe alike.
import {describe, expect, test} from 'vitest'
import {XENSERVER_LEGACY_QEMU_RECORDS, XENSERVER_LIBXC_LEGACY_QEMU_RECORDS} from '../src/legacy/qemu-record.js'
import {readSectionHeader, readXenServerSignature} from '../src/container/xenserver.js'
import type {LegacyEvent} from '../src/legacy/events.js'
import {walkLegacy, type WalkOptions} from '../src/legacy/walker.js'
import type {ByteReader} from '../src/io/reader.js'
import {containerBytes, readerOver, SOURCE_KINDS} from './helpers/containers.js'

async function events(r: ByteReader, opts: WalkOptions): Promise<LegacyEvent[]> {
  const out: LegacyEvent[] = []
  for await (const ev of walkLegacy(r, opts)) {
    if (ev.kind === 'qemu-record') await ev.data.read()
    out.push(ev)
  }
  return out
}

describe.each(SOURCE_KINDS)('from a %s', (kind) => {
  test.each([
    ['xenserver-legacy-hvm32', 'QemuDeviceModelRecord\n', 1500],
    ['xenserver-legacy-hvm32-dmr0002', 'DeviceModelRecord0002', 700],
  ])("%s: the qemu record in XenServer's framing, nothing after it", async (name, signature, length) => {
    const r = readerOver(containerBytes(`${name}.img.gz`), kind)
    await readXenServerSignature(r)
    const evs = await events(r, {qemuRecords: XENSERVER_LEGACY_QEMU_RECORDS})
    expect(evs.find((e) => e.kind === 'qemu-record')).toMatchObject({signature, length})
    expect(evs.find((e) => e.kind === 'trailing')).toBeUndefined()
  })

  test("read with the bare framings, XenServer's record is misread as one running to the end (why containers say theirs)", async () => {
    const data = containerBytes('xenserver-legacy-hvm32.img.gz')
    const r = readerOver(data, kind)
    await readXenServerSignature(r)
    const q = (await events(r, {})).find((e) => e.kind === 'qemu-record')
    expect(q).toMatchObject({signature: 'QemuDeviceModelRecord'})
    if (kind === 'file') expect(q).toMatchObject({length: 1500 + 5})
  })

  test("Libxc_legacy: the walk stops after the qemu record; the next section header is the reader's next bytes", async () => {
    const r = readerOver(containerBytes('xenserver-v2-libxc-legacy-hvm64.img.gz'), kind)
    await readXenServerSignature(r)
    await readSectionHeader(r) // Xenops
    await r.skip(43, 'Xenops')
    expect((await readSectionHeader(r)).section.name).toBe('Libxc_legacy')
    const evs = await events(r, {qemuRecords: XENSERVER_LIBXC_LEGACY_QEMU_RECORDS, stopAtImageEnd: true})
    expect(evs.find((e) => e.kind === 'qemu-record')).toMatchObject({signature: 'DeviceModelRecord0002', length: 900})
    expect(evs.at(-1)).toMatchObject({kind: 'done', offset: 297615})
    expect(r.offset).toBe(297615)
    expect((await readSectionHeader(r)).section.name).toBe('End_of_image')
  })
})

test('without stopAtImageEnd, a file is read on: the End_of_image header is trailing bytes', async () => {
  const r = readerOver(containerBytes('xenserver-v2-libxc-legacy-hvm64.img.gz'), 'file')
  await r.skip(15 + 16 + 43 + 16, 'to the stream')
  const evs = await events(r, {qemuRecords: XENSERVER_LIBXC_LEGACY_QEMU_RECORDS})
  expect(evs.find((e) => e.kind === 'trailing')).toMatchObject({offset: 297615, length: 16})
})
