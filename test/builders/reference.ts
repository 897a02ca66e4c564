// What converting a builder-made legacy image must write, worked out from
// its spec (records in the order Xen's libxc-migration-stream.pandoc,
// "Layout", gives) and what Xen's convert-legacy-stream does, without
// src/convert: a second, plain account of the conversion that tests compare
// xst's bytes with. Every byte is laid out here by hand (headers big-endian
// where the spec says so), from the builder's deterministic contents; only
// the chunk-to-parameter table is the format's own.
//
// It knows the chunks well-formed images hold (page batches, tsc_info,
// vcpu_info, HVM parameters, toolstack, last_checkpoint, enable_verify_mode)
// and reads the extended-info blocks as the 4.5 restorer does: by id, in any
// order, ignoring the bytes of an extv block and any unknown block.
import {HVM_PARAM_CHUNKS} from '../../src/legacy/chunks.js'
import {CHUNK_NAMES} from '../../src/legacy/layout.js'
import {BLOB_SEED, defaultSharedInfo, type EntrySpec, fillBytes, type LegacySpec, pageBytes, vcpuContextBytes} from './legacy.js'

const PAGE = 4096
/** HVM parameter index by chunk name (the chunk table's own, src/legacy/chunks.ts). */
const HVM_PARAM_INDEX: Record<string, number> = Object.fromEntries(Object.entries(HVM_PARAM_CHUNKS).map(([type, param]) => [CHUNK_NAMES[Number(type)], param]))

const u32 = (v: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(v >>> 0)
  return b
}
const u64 = (v: bigint) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(v)
  return b
}

/** A v2 record: u32 type, u32 length, body, zero padding to 8. */
function record(type: number, ...body: Buffer[]): Buffer {
  const data = Buffer.concat(body)
  return Buffer.concat([u32(type), u32(data.length), data, Buffer.alloc((8 - (data.length % 8)) % 8)])
}

/** One page-batch entry as (pfn, type, has data), or null when it is the unmapped marker. */
function entry(e: EntrySpec): {pfn: number; type: number; data: boolean} | null {
  if (typeof e === 'number') return {pfn: e, type: 0, data: true}
  if ('dropped' in e) return null
  if ('raw' in e) {
    const w = Number(BigInt(e.raw) & 0xffffffffn) >>> 0
    if (w === 0xf0000000) return null
    const type = w >>> 28
    return {pfn: w & 0x0fffffff, type, data: e.data ?? (type <= 4 || (type >= 9 && type <= 12))}
  }
  const type = e.type ?? 0
  return {pfn: e.pfn, type, data: e.data ?? (type <= 4 || (type >= 9 && type <= 12))}
}

export function referenceConversion(spec: LegacySpec, format: 'libxc' | 'libxl'): Buffer {
  if (spec.xl) throw new Error('reference: xl headers are not covered')
  const libxl = format === 'libxl'
  const pv = spec.guest === 'pv'
  const out: Buffer[] = []
  const p2mSize = Number(spec.p2mSize)
  if (!p2mSize) throw new Error('reference: give p2mSize')

  if (libxl) {
    const h = Buffer.alloc(16)
    h.write('LibxlFmt', 0, 'latin1')
    h.writeUInt32BE(2, 8) // version
    h.writeUInt32BE(2, 12) // options: bit 1, converted from a legacy stream
    out.push(h, record(1)) // LIBXC_CONTEXT
  }
  const ihdr = Buffer.alloc(24)
  ihdr.fill(0xff, 0, 8)
  ihdr.write('XENF', 8, 'latin1')
  ihdr.writeUInt32BE(3, 12) // version 3; options, reserved: 0
  const dhdr = Buffer.concat([u32(pv ? 1 : 2), Buffer.from([12, 0, 0, 0]), u32(0), u32(1)]) // page shift 12; xen 0.1 (a converter)
  out.push(ihdr, dhdr)

  // Extended info, read block by block as the restorer does.
  let guestWidth = 8
  let vcpuSize = 0x1430
  let extv = false
  let xsaveLength = 0
  if (pv) {
    const e = spec.ext ?? {}
    const blocks = e.blocks ?? [
      {id: 'vcpu', size: e.guestWidth === 32 ? 0xaf0 : 0x1430},
      ...((e.extv ?? true) ? [{id: 'extv'}] : []),
      ...(e.xsaveLength !== undefined ? [{id: 'xcnt', data: u32(e.xsaveLength)}] : []),
    ]
    for (const b of blocks) {
      if (b.id === 'vcpu') {
        vcpuSize = b.size ?? b.data?.length ?? 0
        guestWidth = vcpuSize === 0xaf0 ? 4 : 8
      } else if (b.id === 'extv') extv = true
      else if (b.id === 'xcnt') xsaveLength = b.data!.readUInt32LE(0)
    }
    out.push(record(0x02, Buffer.from([guestWidth, guestWidth === 8 ? 4 : 3, 0, 0, 0, 0, 0, 0]))) // X86_PV_INFO
  }
  out.push(record(0x10)) // STATIC_DATA_END
  if (pv) {
    const frames = Math.ceil(p2mSize / (PAGE / guestWidth))
    const list = (spec.p2mFrames ?? Array.from({length: frames}, (_, i) => 0x10000 + i)).map((f) => u64(BigInt(f)))
    out.push(record(0x03, u32(0), u32(p2mSize - 1), ...list)) // X86_PV_P2M_FRAMES
  }

  // The body, in stream order.
  const params: Array<[number, bigint]> = []
  const xenstore: string[] = []
  let online = [0]
  for (const c of spec.chunks ?? []) {
    switch (c.kind) {
      case 'pages': {
        const entries = (c.entries ?? Array.from({length: c.range!.count}, (_, i): EntrySpec => ({pfn: c.range!.start + i, type: c.range!.type ?? 0}))).map(entry).filter((x) => x !== null)
        if (entries.length === 0) break
        const words = entries.map((x) => u64((BigInt(x.type) << 60n) | BigInt(x.pfn)))
        const data = entries.filter((x) => x.data).map((x) => pageBytes(x.pfn))
        out.push(record(0x01, u32(entries.length), u32(0), ...words, ...data)) // PAGE_DATA
        break
      }
      case 'tsc_info': // X86_TSC_INFO: mode, khz, nsec, incarnation, 0
        out.push(record(0x08, u32(c.mode ?? 0), u32(c.khz ?? 2400000), u64(c.nsec ?? 123456789012n), u32(c.incarnation ?? 3), u32(0)))
        break
      case 'vcpu_info':
        online = [...c.online].sort((a, b) => a - b)
        break
      case 'hvm_param':
        params.push([HVM_PARAM_INDEX[typeof c.chunk === 'number' ? CHUNK_NAMES[c.chunk] : c.chunk], c.value])
        break
      case 'toolstack':
        for (const p of c.physmap ?? []) {
          const base = `physmap/${p.physOffset.toString(16)}`
          xenstore.push(`${base}/start_addr`, p.startAddr.toString(16), `${base}/size`, p.size.toString(16), `${base}/name`, p.name)
        }
        break
      case 'last_checkpoint':
      case 'enable_verify_mode':
        break
      default:
        throw new Error(`reference: chunk ${c.kind} is not covered`)
    }
  }
  const hvmParams = (ps: Array<[number, bigint]>) => record(0x0a, u32(ps.length), u32(0), ...ps.flatMap(([i, v]) => [u64(BigInt(i)), u64(v)]))
  if (params.length) out.push(hvmParams(params))

  let qemu: {sig: Buffer; data: Buffer} | undefined
  if (pv) {
    const t = spec.pv ?? {}
    for (const id of t.vcpus ?? online) {
      const head = Buffer.concat([u32(id), u32(0)])
      out.push(record(0x04, head, vcpuContextBytes(id, 'basic', vcpuSize)))
      if (extv) out.push(record(0x05, head, vcpuContextBytes(id, 'extended', 128)))
      if (xsaveLength) out.push(record(0x06, head, vcpuContextBytes(id, 'xsave', xsaveLength - 16)))
    }
    out.push(record(0x07, t.sharedInfo ?? defaultSharedInfo()), record(0x00))
  } else {
    const t = spec.hvm ?? {}
    out.push(
      hvmParams([
        [5, t.ioreq ?? 0xfeffen],
        [6, t.bufioreq ?? 0xfeffdn],
        [1, t.store ?? 0xfeffcn],
      ]),
    )
    const ctx = t.context ?? 1024
    out.push(record(0x09, typeof ctx === 'number' ? fillBytes(BLOB_SEED.hvmContext, ctx) : ctx), record(0x00))
    if (t.qemu) {
      const data = typeof t.qemu.data === 'number' || t.qemu.data === undefined ? fillBytes(BLOB_SEED.qemu, t.qemu.data ?? 1000) : t.qemu.data
      const sig = Buffer.from(t.qemu.signature, 'latin1')
      qemu = {sig: t.qemu.signature === 'QemuDeviceModelRecord' ? sig : Buffer.concat([sig, u32(data.length)]), data}
    }
  }
  if (libxl) {
    const emu = Buffer.concat([u32(0), u32(0)]) // emulator unknown, index 0
    if (xenstore.length) out.push(record(2, emu, Buffer.from(xenstore.map((x) => x + '\0').join(''), 'latin1')))
    if (qemu) out.push(record(3, emu, qemu.data))
    out.push(record(0))
  } else if (qemu) out.push(qemu.sig, qemu.data)
  return Buffer.concat(out)
}
