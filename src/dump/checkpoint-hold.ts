// A v2 replication stream (Remus, COLO) read once, as a pipe or gzip is:
// the receiver restores the last complete checkpoint (FORMAT.md §7), so
// what a checkpoint after the first sends (its pages, its vcpu and shared
// info records) is held until the checkpoint is complete, and is dropped
// if the stream ends inside it. The first checkpoint goes straight to the
// dump: a stream cut inside it is not valid, and is not dumped. A
// checkpoint is complete at libxl's CHECKPOINT_END, or in a bare libxc
// stream at libxc's CHECKPOINT (libxl_stream_read.c and xg_sr_restore.c
// end a checkpoint there). Past --checkpoint K nothing more is taken.
import {PAGE_SIZE} from '../format/x86.js'
import type {ByteReader} from '../io/reader.js'
import {PageStore} from '../plan/page-store.js'
import {Rec} from '../v2/libxc/layout.js'
import {LibxlRec} from '../v2/libxl/layout.js'
import type {GuestFacts} from './facts.js'
import {PAGES_PER_IO, type PagePlacer} from './pages.js'

export class CheckpointHold {
  /** Checkpoints complete so far. */
  complete = 0
  /** The stream has a libxl layer: its checkpoints end at CHECKPOINT_END. */
  private libxl = false
  private store: PageStore | undefined
  /** What the checkpoint being read sent: each PAGE_DATA's data pfns (and its offset), each body record. */
  private records: Array<{pfns: Float64Array; offset: number}> = []
  private bodies: Array<[number, Buffer]> = []
  private readonly page = Buffer.alloc(PAGE_SIZE)

  constructor(
    private readonly facts: GuestFacts,
    /** Takes a PAGE_DATA record's data pfns into the facts (the caller's, which may refuse a pfn a dump cannot hold). */
    private readonly addPages: (pfns: Float64Array, offset: number) => void,
    private readonly placer: PagePlacer,
    /** --checkpoint K: nothing after checkpoint K is taken. */
    private readonly wanted?: number,
  ) {}

  /** Past the first checkpoint: what comes is held. */
  private get holding(): boolean {
    return this.complete >= 1
  }

  /** Past the wanted checkpoint: what comes is not taken at all. */
  get past(): boolean {
    return this.wanted !== undefined && this.complete >= this.wanted
  }

  /** A PAGE_DATA record's data pages (pfns, in order), read from `r`: placed now, held, or passed over. */
  async pages(pfns: Float64Array, offset: number, r: ByteReader, length: number, what: string): Promise<void> {
    if (this.past) return
    if (!this.holding) {
      this.addPages(pfns, offset)
      let k = 0
      await r.pipe(
        length,
        what,
        (piece) => {
          const n = piece.length / PAGE_SIZE
          this.placer.place(pfns, k, n, piece, 0)
          k += n
          r.recycle(piece)
        },
        PAGES_PER_IO * PAGE_SIZE,
      )
      return
    }
    const store = (this.store ??= PageStore.create())
    let k = 0
    await r.pipe(
      length,
      what,
      (piece) => {
        for (let at = 0; at < piece.length; at += PAGE_SIZE) store.put(pfns[k++], piece.subarray(at, at + PAGE_SIZE))
        r.recycle(piece)
      },
      PAGES_PER_IO * PAGE_SIZE,
    )
    this.records.push({pfns: Float64Array.from(pfns), offset})
  }

  /** A record body the dump takes (vcpu state, shared info, HVM context). */
  body(type: number, body: Buffer): void {
    if (this.past) return
    if (this.holding) this.bodies.push([type, body])
    else this.facts.body(type, body)
  }

  /** Every record, for the checkpoint boundaries. */
  record(layer: 'libxc' | 'libxl', type: number): void {
    if (layer === 'libxl') this.libxl = true
    const ends = (layer === 'libxc' && type === Rec.CHECKPOINT && !this.libxl) || (layer === 'libxl' && type === LibxlRec.CHECKPOINT_END)
    if (!ends) return
    if (!this.past && this.holding) {
      // Complete: what it sent becomes the dump's, the pages from the store (a page sent twice in it, at its last copy).
      for (const {pfns, offset} of this.records) {
        this.addPages(pfns, offset)
        for (let i = 0; i < pfns.length; i++) {
          this.store!.get(pfns[i], this.page)
          this.placer.place(pfns, i, 1, this.page, 0)
        }
      }
      for (const [type, body] of this.bodies) this.facts.body(type, body)
    }
    this.records = []
    this.bodies = []
    this.complete++
  }

  close(): void {
    this.store?.close()
  }
}
