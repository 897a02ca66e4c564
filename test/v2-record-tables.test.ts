// The record table of each v2 layer: every record type has its row and its
// name, and what the verifier and the reader take from the tables is what
// they did when these facts were separate sets, maps and switches.
import {describe, expect, it} from 'vitest'
import {EMULATOR_NAMES, EmulatorHeader, LibxlRec, MAX_XENSTORE_DATA} from '../src/v2/libxl/layout.js'
import {LIBXL_REC_NAMES, LIBXL_RECORDS} from '../src/v2/libxl/records.js'
import {DOMAIN_TYPE_NAMES, Rec} from '../src/v2/libxc/layout.js'
import {LIBXC_RECORDS, REC_NAMES} from '../src/v2/libxc/records.js'
import {bodyPrefix, recordName} from '../src/v2/tables.js'
import {checkFor} from '../src/v2/verify/checks.js'

describe('every record type has one row', () => {
  for (const [layer, table, types] of [
    ['libxc', LIBXC_RECORDS, Rec],
    ['libxl', LIBXL_RECORDS, LibxlRec],
  ] as const) {
    it(`${layer}: one row per type, named as the type, with the verifier's check`, () => {
      expect(table.rows.map((r) => [r.name, r.type])).toEqual(Object.entries(types))
      for (const [name, type] of Object.entries(types)) {
        expect(table.kind(type)?.name).toBe(name)
        expect(table.name(type)).toBe(name)
        expect(recordName(layer, type)).toBe(name)
        expect(typeof checkFor(layer, type)).toBe('function')
      }
      expect(checkFor(layer, 0x7fff0000)).toBeUndefined()
    })
  }

  it('the name maps are the ones the spec gives', () => {
    expect(REC_NAMES).toEqual({
      0x00: 'END',
      0x01: 'PAGE_DATA',
      0x02: 'X86_PV_INFO',
      0x03: 'X86_PV_P2M_FRAMES',
      0x04: 'X86_PV_VCPU_BASIC',
      0x05: 'X86_PV_VCPU_EXTENDED',
      0x06: 'X86_PV_VCPU_XSAVE',
      0x07: 'SHARED_INFO',
      0x08: 'X86_TSC_INFO',
      0x09: 'HVM_CONTEXT',
      0x0a: 'HVM_PARAMS',
      0x0b: 'TOOLSTACK',
      0x0c: 'X86_PV_VCPU_MSRS',
      0x0d: 'VERIFY',
      0x0e: 'CHECKPOINT',
      0x0f: 'CHECKPOINT_DIRTY_PFN_LIST',
      0x10: 'STATIC_DATA_END',
      0x11: 'X86_CPUID_POLICY',
      0x12: 'X86_MSR_POLICY',
    })
    expect(LIBXL_REC_NAMES).toEqual({0: 'END', 1: 'LIBXC_CONTEXT', 2: 'EMULATOR_XENSTORE_DATA', 3: 'EMULATOR_CONTEXT', 4: 'CHECKPOINT_END', 5: 'CHECKPOINT_STATE'})
    // The other name maps of the v2 layouts, derived from their enums.
    expect(DOMAIN_TYPE_NAMES).toEqual({1: 'x86 PV', 2: 'x86 HVM', 3: 'x86 PVH', 4: 'ARM'})
    expect(EMULATOR_NAMES).toEqual({0: 'unknown', 1: 'qemu-traditional', 2: 'qemu-upstream'})
  })

  it('optional and unknown types are named by number', () => {
    for (const layer of ['libxc', 'libxl'] as const) {
      expect(recordName(layer, 0x80000123)).toBe('optional record 0x80000123')
      // An optional type is optional even when its low bits name a known record.
      expect(recordName(layer, 0x80000001)).toBe('optional record 0x80000001')
      expect(recordName(layer, 0x13)).toBe('unknown record 0x00000013')
      expect(recordName(layer, 0x7fffffff)).toBe('unknown record 0x7fffffff')
    }
    expect(recordName('libxl', 6)).toBe('unknown record 0x00000006')
  })
})

describe('the sets the verifier used are the table columns', () => {
  it('PV-only and HVM-only libxc records', () => {
    expect(LIBXC_RECORDS.types((k) => k.guest === 'pv')).toEqual(
      new Set([Rec.X86_PV_INFO, Rec.X86_PV_P2M_FRAMES, Rec.X86_PV_VCPU_BASIC, Rec.X86_PV_VCPU_EXTENDED, Rec.X86_PV_VCPU_XSAVE, Rec.X86_PV_VCPU_MSRS, Rec.SHARED_INFO]),
    )
    expect(LIBXC_RECORDS.types((k) => k.guest === 'hvm')).toEqual(new Set([Rec.HVM_CONTEXT, Rec.HVM_PARAMS]))
    // libxl's process_record() refuses emulator records for a domain that is not HVM.
    expect(LIBXL_RECORDS.types((k) => k.guest === 'hvm')).toEqual(new Set([LibxlRec.EMULATOR_XENSTORE_DATA, LibxlRec.EMULATOR_CONTEXT]))
    expect(LIBXL_RECORDS.types((k) => k.guest === 'pv')).toEqual(new Set())
  })
  it('version 3 only', () => {
    expect(LIBXC_RECORDS.types((k) => k.v3Only)).toEqual(new Set([Rec.STATIC_DATA_END, Rec.X86_CPUID_POLICY, Rec.X86_MSR_POLICY]))
    expect(LIBXL_RECORDS.types((k) => k.v3Only)).toEqual(new Set())
  })
  it('must be empty', () => {
    expect(LIBXC_RECORDS.types((k) => k.empty)).toEqual(new Set([Rec.END, Rec.VERIFY, Rec.CHECKPOINT, Rec.STATIC_DATA_END]))
    expect(LIBXL_RECORDS.types((k) => k.empty)).toEqual(new Set([LibxlRec.END, LibxlRec.LIBXC_CONTEXT, LibxlRec.CHECKPOINT_END]))
  })
  it('the fixed header a body starts with ("shorter than its header")', () => {
    const min = (t: typeof LIBXC_RECORDS) => Object.fromEntries(t.rows.filter((k) => k.minSize).map((k) => [k.name, k.minSize]))
    const header = {bytes: 8, what: 'header', code: 'record-size'}
    expect(min(LIBXC_RECORDS)).toEqual({
      PAGE_DATA: {bytes: 8, what: 'header', code: 'page-data-short'},
      X86_PV_P2M_FRAMES: header,
      X86_PV_VCPU_BASIC: header,
      X86_PV_VCPU_EXTENDED: header,
      X86_PV_VCPU_XSAVE: header,
      X86_PV_VCPU_MSRS: header,
      HVM_PARAMS: header,
    })
    const emulator = {bytes: 8, what: 'emulator header', code: 'record-size'}
    // CHECKPOINT_STATE: libxl_sr_checkpoint_state, its 4-byte control id.
    expect(min(LIBXL_RECORDS)).toEqual({EMULATOR_XENSTORE_DATA: emulator, EMULATOR_CONTEXT: emulator, CHECKPOINT_STATE: {bytes: 4, what: 'control id', code: 'record-size'}})
  })
})

describe('bodyPrefix: how much of a body the reader hands the checks', () => {
  /** What the reader read before the tables, as a reference. */
  function before(layer: 'libxc' | 'libxl', type: number, length: number): number | 'page-data' {
    let n = 0
    if (layer === 'libxc') {
      if (type === Rec.PAGE_DATA) return 'page-data'
      if ([Rec.X86_PV_INFO, Rec.X86_PV_P2M_FRAMES, Rec.HVM_PARAMS, Rec.X86_PV_VCPU_BASIC, Rec.X86_PV_VCPU_EXTENDED, Rec.X86_PV_VCPU_XSAVE, Rec.X86_PV_VCPU_MSRS].includes(type as never)) n = 8
      if (type === Rec.X86_TSC_INFO) n = 24
    } else {
      if (type === LibxlRec.EMULATOR_XENSTORE_DATA) n = length <= MAX_XENSTORE_DATA ? length : EmulatorHeader.size
      if (type === LibxlRec.EMULATOR_CONTEXT) n = EmulatorHeader.size
      // libxl_sr_checkpoint_state is its control id alone.
      if (type === LibxlRec.CHECKPOINT_STATE) n = 4
    }
    return Math.min(n, length)
  }
  it('is what it was for every type, including optional and unknown ones', () => {
    const lengths = [0, 3, 7, 8, 9, 24, 25, 4096, MAX_XENSTORE_DATA, MAX_XENSTORE_DATA + 1, 2 ** 32 - 1]
    for (const layer of ['libxc', 'libxl'] as const) {
      for (const type of [...Array.from({length: 0x14}, (_, i) => i), 0x80000001, 0x80000123, 0xffffffff]) {
        for (const length of lengths) expect(bodyPrefix(layer, type, length), `${layer} ${type} ${length}`).toBe(before(layer, type, length))
      }
    }
  })
})
