// The record of which descriptors this process started with (see
// descriptors.ts for how it is used). Apart, with no imports of ours, so that
// bin/run.js (CommonJS) can take it first of all from its own small bundle,
// dist/start-descriptors.cjs (scripts/bundle.mjs), before loading the CLI.
import * as fs from 'node:fs'

export interface StartEntry {
  /** readlink of /proc/self/fd/N: a path, "pipe:[ino]", "socket:[ino]", "anon_inode:[...]". */
  target: string
  /** O_ACCMODE of the descriptor (0 read, 1 write, 2 both), for pipes and /dev/null. */
  access?: number
}

/** Where the start-up record lives: a global, so a second copy of this module sees it too. */
const KEY = Symbol.for('xst.startDescriptors')

type Store = {[KEY]?: Map<number, StartEntry> | null}

function listOpenDescriptors(): Map<number, StartEntry> | null {
  let names: string[]
  try {
    names = fs.readdirSync('/proc/self/fd')
  } catch {
    return null
  }
  const open = new Map<number, StartEntry>()
  for (const name of names) {
    const fd = Number(name)
    let target: string
    try {
      target = fs.readlinkSync(`/proc/self/fd/${name}`)
    } catch {
      continue // the directory handle readdirSync used, closed by now
    }
    const entry: StartEntry = {target}
    // /dev/null read-write on 0-2 is what Node opens on a standard descriptor that was closed.
    if (target.startsWith('pipe:') || target === '/dev/null') {
      try {
        const m = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${name}`, 'utf8'))
        if (m) entry.access = parseInt(m[1], 8) & 3
      } catch {}
    }
    open.set(fd, entry)
  }
  return open
}

/**
 * Record the descriptors open right now as the ones this process started
 * with. bin/run.js calls this before anything else runs; later calls do
 * nothing.
 */
export function recordStartDescriptors(): void {
  const store = globalThis as Store
  if (!(KEY in store)) store[KEY] = listOpenDescriptors()
}

/** What recordStartDescriptors found (null: no /proc; undefined: not recorded yet). */
export function startDescriptors(): Map<number, StartEntry> | null | undefined {
  return (globalThis as Store)[KEY]
}
