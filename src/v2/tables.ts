// The record table of each v2 layer (libxc/records.ts, libxl/records.ts),
// for code that handles records of both.
import {LIBXC_RECORDS} from './libxc/records.js'
import {LIBXL_RECORDS} from './libxl/records.js'
import type {Layer} from './record.js'

export const RECORD_TABLES = {libxc: LIBXC_RECORDS, libxl: LIBXL_RECORDS} as const

/** The record type's name in its layer ("optional record 0x…" / "unknown record 0x…" when it has none). */
export function recordName(layer: Layer, type: number): string {
  return RECORD_TABLES[layer].name(type)
}

/**
 * How much of a record's body the checks look at: a prefix of it, or
 * 'page-data' (the PAGE_DATA header and pfn array). A reader need not read
 * more; bulk contents (pages, contexts, blobs) are never looked at.
 */
export function bodyPrefix(layer: Layer, type: number, length: number): number | 'page-data' {
  return RECORD_TABLES[layer].prefix(type, length)
}
