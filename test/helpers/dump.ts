// Independent readers for checking dump-core's output: the pages a v2
// stream's PAGE_DATA records leave behind (last copy wins), an ELF64 core
// file taken apart by hand, the data extents of a sparse file (through
// python3's os.lseek with SEEK_DATA/SEEK_HOLE: node has no lseek), and
// readelf's verdict. None of it uses src/dump; the v2 walk follows the
// framing only (helpers/v2-walk.ts).
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {nativeIndex, nativeMemory} from './fixtures.js'
import {locateV2} from './v2-walk.js'

export const PAGE = 4096
/** Page types followed by 4096 bytes of contents: normal, L1-L4, pinned L1-L4. */
const DATA_TYPES = new Set([0, 1, 2, 3, 4, 9, 10, 11, 12])

/** pfn -> the contents of its last copy in the stream's PAGE_DATA records. */
export function v2Pages(bytes: Buffer): Map<number, Buffer> {
  const pages = new Map<number, Buffer>()
  for (const r of locateV2(bytes)) {
    if (r.layer !== 'libxc' || r.type !== 1) continue
    const body = bytes.subarray(r.offset + 8, r.offset + 8 + r.length)
    const count = body.readUInt32LE(0)
    let data = 8 + 8 * count
    for (let i = 0; i < count; i++) {
      const word = body.readBigUInt64LE(8 + 8 * i)
      const type = Number(word >> 60n)
      const pfn = Number(word & ((1n << 52n) - 1n))
      if (!DATA_TYPES.has(type)) continue
      pages.set(pfn, Buffer.from(body.subarray(data, data + PAGE)))
      data += PAGE
    }
    if (data !== body.length) throw new Error(`test helper: PAGE_DATA at ${r.offset} does not add up`)
  }
  return pages
}

/** How many page copies (re-sent ones included) the stream carries. */
export function v2Copies(bytes: Buffer): number {
  let n = 0
  for (const r of locateV2(bytes)) {
    if (r.layer !== 'libxc' || r.type !== 1) continue
    const count = bytes.readUInt32LE(r.offset + 8)
    for (let i = 0; i < count; i++) if (DATA_TYPES.has(Number(bytes.readBigUInt64LE(r.offset + 16 + 8 * i) >> 60n))) n++
  }
  return n
}

export interface ElfSection {
  name: string
  type: number
  flags: bigint
  offset: number
  size: number
  addralign: number
  entsize: number
}

export interface ElfNote {
  name: string
  type: number
  desc: Buffer
}

export interface ParsedCore {
  ident: Buffer
  type: number
  machine: number
  phnum: number
  shnum: number
  sections: Map<string, ElfSection>
  order: string[]
  notes: ElfNote[]
  /** .xen_p2m pfns (or .xen_pfn), in file order. */
  index: number[]
  /** For .xen_p2m: the gmfn beside each pfn. */
  gmfns: number[]
  pages: Map<number, Buffer>
  prstatus: Buffer[]
  sharedInfo: Buffer | undefined
}

const ru64 = (b: Buffer, at: number) => Number(b.readBigUInt64LE(at))

/** An ELF64 little-endian core file, read by its section headers. */
export function parseCore(b: Buffer): ParsedCore {
  if (b.toString('latin1', 0, 4) !== '\x7fELF') throw new Error('not ELF')
  const shoff = ru64(b, 0x28)
  const shentsize = b.readUInt16LE(0x3a)
  const shnum = b.readUInt16LE(0x3c)
  const shstrndx = b.readUInt16LE(0x3e)
  const raw = Array.from({length: shnum}, (_, i) => {
    const at = shoff + i * shentsize
    return {
      nameAt: b.readUInt32LE(at),
      type: b.readUInt32LE(at + 4),
      flags: b.readBigUInt64LE(at + 8),
      offset: ru64(b, at + 24),
      size: ru64(b, at + 32),
      addralign: ru64(b, at + 48),
      entsize: ru64(b, at + 56),
    }
  })
  const strtab = raw[shstrndx]
  const nameOf = (at: number) => {
    const s = strtab.offset + at
    return b.toString('latin1', s, b.indexOf(0, s))
  }
  const sections = new Map<string, ElfSection>()
  const order: string[] = []
  for (const s of raw.slice(1)) {
    const name = nameOf(s.nameAt)
    sections.set(name, {name, type: s.type, flags: s.flags, offset: s.offset, size: s.size, addralign: s.addralign, entsize: s.entsize})
    order.push(name)
  }
  const body = (name: string) => {
    const s = sections.get(name)
    return s ? b.subarray(s.offset, s.offset + s.size) : undefined
  }
  const notes: ElfNote[] = []
  const nb = body('.note.Xen') ?? Buffer.alloc(0)
  for (let at = 0; at < nb.length; ) {
    const namesz = nb.readUInt32LE(at)
    const descsz = nb.readUInt32LE(at + 4)
    const type = nb.readUInt32LE(at + 8)
    const nameEnd = at + 12 + namesz
    const name = nb.toString('latin1', at + 12, nameEnd).replace(/\0+$/, '')
    const descAt = at + 12 + Math.ceil(namesz / 4) * 4
    notes.push({name, type, desc: Buffer.from(nb.subarray(descAt, descAt + descsz))})
    at = descAt + Math.ceil(descsz / 4) * 4
  }
  const index: number[] = []
  const gmfns: number[] = []
  const p2m = body('.xen_p2m')
  const pfn = body('.xen_pfn')
  if (p2m) {
    for (let at = 0; at < p2m.length; at += 16) {
      index.push(ru64(p2m, at))
      gmfns.push(ru64(p2m, at + 8))
    }
  }
  if (pfn) for (let at = 0; at < pfn.length; at += 8) index.push(ru64(pfn, at))
  const pb = body('.xen_pages') ?? Buffer.alloc(0)
  const pages = new Map<number, Buffer>()
  index.forEach((p, i) => pages.set(p, Buffer.from(pb.subarray(i * PAGE, (i + 1) * PAGE))))
  const pr = body('.xen_prstatus') ?? Buffer.alloc(0)
  const entsize = sections.get('.xen_prstatus')?.entsize || 1
  const prstatus = Array.from({length: pr.length / entsize}, (_, i) => Buffer.from(pr.subarray(i * entsize, (i + 1) * entsize)))
  const si = body('.xen_shared_info')
  return {
    ident: Buffer.from(b.subarray(0, 16)),
    type: b.readUInt16LE(0x10),
    machine: b.readUInt16LE(0x12),
    phnum: b.readUInt16LE(0x38),
    shnum,
    sections,
    order,
    notes,
    index,
    gmfns,
    pages,
    prstatus,
    sharedInfo: si && Buffer.from(si),
  }
}

/** The header note's fields. */
export function headerNote(core: ParsedCore): {magic: bigint; nrVcpus: number; nrPages: number; pageSize: number} {
  const n = core.notes.find((x) => x.name === 'Xen' && x.type === 0x2000001)
  if (!n) throw new Error('no header note')
  return {magic: n.desc.readBigUInt64LE(0), nrVcpus: ru64(n.desc, 8), nrPages: ru64(n.desc, 16), pageSize: ru64(n.desc, 24)}
}

/** The data extents of a file, [start, end) pairs, by SEEK_DATA/SEEK_HOLE. */
export function dataExtents(file: string): Array<[number, number]> {
  return dataExtentsOf([file])[0]
}

/** dataExtents of each file, asked of one python3 (a start of it costs a third of a second here). */
export function dataExtentsOf(files: string[]): Array<Array<[number, number]>> {
  const py = `
import os, sys, json
def extents(path):
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    out = []
    pos = 0
    while pos < size:
        try:
            d = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            break
        h = os.lseek(fd, d, os.SEEK_HOLE)
        out.append([d, h])
        pos = h
    os.close(fd)
    return out
print(json.dumps([extents(p) for p in sys.argv[1:]]))
`
  const r = spawnSync('python3', ['-c', py, ...files], {encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

let holesWork: boolean | undefined
/** Whether the temporary directory's filesystem reports holes (so sparseness can be checked there). */
export function filesystemHasHoles(dir: string): boolean {
  if (holesWork !== undefined) return holesWork
  const py = `
import os, sys
p = os.path.join(sys.argv[1], '.xst-hole-probe')
with open(p, 'wb') as f:
    f.truncate(1 << 20)
    f.seek(512 << 10)
    f.write(b'x' * 4096)
fd = os.open(p, os.O_RDONLY)
ok = os.lseek(fd, 0, os.SEEK_DATA) >= 4096
os.close(fd)
os.unlink(p)
print('yes' if ok else 'no')
`
  const r = spawnSync('python3', ['-c', py, dir], {encoding: 'utf8'})
  holesWork = r.status === 0 && r.stdout.trim() === 'yes'
  return holesWork
}

/** readelf -S -n -W on a file: its exit status and what it printed. */
export function readelf(file: string): {status: number | null; stdout: string; stderr: string} {
  const r = spawnSync('readelf', ['-S', '-n', '-W', file], {encoding: 'utf8'})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

export const hasReadelf = spawnSync('readelf', ['--version']).status === 0
export const hasPython = spawnSync('python3', ['--version']).status === 0

/**
 * The pfns of a raw dump whose page is not the one a native case's memory
 * file (`memory` or `memory_first_checkpoint`) lists: a PV guest's p2m
 * pages rewritten to the identity (its `alternatives`), as dump-core writes
 * them, or as saved (`memory`) when `kept` (--keep-p2m); an unlisted pfn
 * must be zeros. Empty when the dump holds exactly those pages.
 */
export function rawPagesNotIn(raw: Buffer, file: string, kept = false): number[] {
  const {zeroSha256} = nativeIndex()
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
  const {pfns, alternatives} = nativeMemory(file)
  const last = Math.max(raw.length / PAGE, ...[...pfns.keys()].map((p) => p + 1))
  const wrong: number[] = []
  for (let p = 0; p < last; p++) {
    const h = sha(Buffer.concat([raw.subarray(p * PAGE, (p + 1) * PAGE)], PAGE))
    if (h !== ((!kept && alternatives.get(p)) || pfns.get(p) || zeroSha256)) wrong.push(p)
  }
  return wrong
}
