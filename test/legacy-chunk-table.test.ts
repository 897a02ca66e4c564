// The legacy chunk table (src/legacy/chunks.ts): one row per metadata chunk
// id, and the maps and sets derived from it equal to the hand-written tables
// they replaced.
import {describe, expect, test} from 'vitest'
import {HVM_PARAM_NAMES, HvmParam} from '../src/format/x86.js'
import {chunkKind, HVM_PARAM_CHUNKS, LEGACY_CHUNKS, NOT_CONVERTIBLE_CHUNKS} from '../src/legacy/chunks.js'
import {Chunk, CHUNK_NAMES, MIN_CHUNK_ID} from '../src/legacy/layout.js'
import {HVM_PARAM_CHUNK_NAMES} from './builders/legacy.js'

/** The tables as they were written out before the chunk table. */
const OLD_CHUNK_NAMES: Record<number, string> = {
  0: 'end',
  [-1]: 'enable_verify_mode',
  [-2]: 'vcpu_info',
  [-3]: 'hvm_ident_pt',
  [-4]: 'hvm_vm86_tss',
  [-5]: 'tmem',
  [-6]: 'tmem_extra',
  [-7]: 'tsc_info',
  [-8]: 'hvm_console_pfn',
  [-9]: 'last_checkpoint',
  [-10]: 'hvm_acpi_ioports_location',
  [-11]: 'hvm_viridian',
  [-12]: 'compressed_data',
  [-13]: 'enable_compression',
  [-14]: 'hvm_generation_id_addr',
  [-15]: 'hvm_paging_ring_pfn',
  [-16]: 'hvm_monitor_ring_pfn',
  [-17]: 'hvm_sharing_ring_pfn',
  [-18]: 'toolstack',
  [-19]: 'hvm_ioreq_server_pfn',
  [-20]: 'hvm_nr_ioreq_server_pages',
}
const OLD_HVM_PARAM_CHUNKS: Record<number, number> = {
  [-3]: 12,
  [-4]: 15,
  [-8]: 17,
  [-10]: 19,
  [-11]: 9,
  [-14]: 34,
  [-15]: 27,
  [-16]: 28,
  [-17]: 29,
  [-19]: 32,
  [-20]: 33,
}
// compressed_data and enable_compression left this list when the walker learnt Remus checkpoints: their pages are converted.
const OLD_NOT_CONVERTIBLE = ['tmem', 'tmem_extra']
/** inspect-legacy's own table of parameter names. */
const OLD_HVM_PARAM_NAMES: Record<number, string> = {
  1: 'store_pfn',
  5: 'ioreq_pfn',
  6: 'bufioreq_pfn',
  9: 'viridian',
  12: 'ident_pt',
  15: 'vm86_tss',
  17: 'console_pfn',
  19: 'acpi_ioports_location',
  27: 'paging_ring_pfn',
  28: 'monitor_ring_pfn',
  29: 'sharing_ring_pfn',
  32: 'ioreq_server_pfn',
  33: 'nr_ioreq_server_pages',
  34: 'vm_generation_id_addr',
}

describe('the legacy chunk table', () => {
  test('every chunk id from MIN_CHUNK_ID to -1 has a row with a name and a reader, and no other id has one', () => {
    expect(MIN_CHUNK_ID).toBe(-20)
    for (let id = -1; id >= MIN_CHUNK_ID; id--) {
      const kind = chunkKind(id)
      expect(kind, `chunk ${id}`).toBeDefined()
      expect(kind!.type).toBe(id)
      expect(kind!.name).toMatch(/^[a-z0-9_]+$/)
      expect(kind!.name).toBe(CHUNK_NAMES[id])
      expect(typeof kind!.read).toBe('function')
    }
    expect(LEGACY_CHUNKS.size).toBe(-MIN_CHUNK_ID)
    for (const id of [0, 1, MIN_CHUNK_ID - 1, -1000]) expect(chunkKind(id)).toBeUndefined()
  })

  test('the chunk names derived from the Chunk enum are the old list', () => {
    expect(CHUNK_NAMES).toEqual(OLD_CHUNK_NAMES)
    expect(Object.keys(Chunk).length).toBe(Object.keys(OLD_CHUNK_NAMES).length)
  })

  test('the derived HVM parameter map and not-convertible set equal the old tables', () => {
    expect(HVM_PARAM_CHUNKS).toEqual(OLD_HVM_PARAM_CHUNKS)
    // In the same (chunk id) order, which the tests' chunk list follows.
    expect(Object.keys(HVM_PARAM_CHUNKS).map(Number)).toEqual(Object.keys(OLD_HVM_PARAM_CHUNKS).map(Number))
    expect([...NOT_CONVERTIBLE_CHUNKS].map((id) => CHUNK_NAMES[id]).sort()).toEqual([...OLD_NOT_CONVERTIBLE].sort())
    for (const kind of LEGACY_CHUNKS.values()) {
      expect(kind.convertible, kind.name).toBe(!OLD_NOT_CONVERTIBLE.includes(kind.name))
      expect(kind.hvmParam, kind.name).toBe(OLD_HVM_PARAM_CHUNKS[kind.type])
    }
  })

  test('one HVM parameter table: the names inspect printed, for every parameter a chunk or the HVM tail carries', () => {
    expect(HVM_PARAM_NAMES).toEqual(OLD_HVM_PARAM_NAMES)
    for (const param of Object.values(HVM_PARAM_CHUNKS)) expect(HVM_PARAM_NAMES[param]).toBeDefined()
    expect([HvmParam.IOREQ_PFN, HvmParam.BUFIOREQ_PFN, HvmParam.STORE_PFN]).toEqual([5, 6, 1])
  })

  test("the tests' list of HVM parameter chunks is the table's", () => {
    expect([...HVM_PARAM_CHUNK_NAMES]).toEqual(Object.keys(HVM_PARAM_CHUNKS).map((id) => CHUNK_NAMES[Number(id)]))
  })
})
