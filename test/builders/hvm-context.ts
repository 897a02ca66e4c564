// An HVM context blob as Xen's HVM save code writes it, for tests: the save
// header record, then each record behind its descriptor, then the END
// descriptor. Laid out with the declarations dump-core reads it with
// (src/dump/layouts.ts).
import {HVM_FILE_MAGIC, HvmSaveDescriptor, HvmSaveHeader, HvmSaveType} from '../../src/dump/layouts.js'

export interface HvmSaveRecord {
  typecode: number
  instance: number
  body: Buffer
}

export function hvmContext(records: HvmSaveRecord[], header: Partial<{version: number}> = {}): Buffer {
  const head = HvmSaveHeader.encode({magic: HVM_FILE_MAGIC, version: header.version ?? 0, changeset: 0n, cpuid: 0, gtscKhz: 0})
  const all = [{typecode: HvmSaveType.HEADER, instance: 0, body: head}, ...records, {typecode: HvmSaveType.END, instance: 0, body: Buffer.alloc(0)}]
  return Buffer.concat(all.flatMap((r) => [HvmSaveDescriptor.encode({typecode: r.typecode, instance: r.instance, length: r.body.length}), r.body]))
}
