// Which descriptors xst was given by whoever started it.
//
// A toolstack hands its helper descriptors by number (--in 3 --out 4). A
// number nobody passed may still be open in this process: Node opens its own
// descriptors (epoll, eventfd, wake-up pipes) at the lowest free numbers
// before any of our code runs, and more as it goes. Reading or writing one of
// those aborts Node (an epoll descriptor) or hangs (a wake-up pipe). So
// bin/run.js, as its very first act, records what /proc/self/fd holds
// (recordStartDescriptors), and a descriptor counts as given only if it was
// there then and is not one of Node's own:
// - an anonymous inode ("anon_inode:[eventpoll]", "[eventfd]", io_uring...):
//   never a save image or a stream;
// - one end of a pipe whose other end this process also held at start: Node's
//   wake-up pipes come in such read/write pairs, while a pipe a caller hands
//   over has its other end in the caller. (Two read ends of one pipe, as
//   `3<&0` makes, are still a caller's pipe.)
// Descriptors 0-2 are always the caller's (Node puts /dev/null on any that
// are closed). Without /proc nothing can be checked, and every descriptor
// that fstat accepts is used.
import * as fs from 'node:fs'
import {UsageError} from '../errors.js'

interface StartEntry {
  /** readlink of /proc/self/fd/N: a path, "pipe:[ino]", "socket:[ino]", "anon_inode:[...]". */
  target: string
  /** O_ACCMODE of the descriptor (0 read, 1 write, 2 both), for pipes. */
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
    if (target.startsWith('pipe:')) {
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

/** The descriptors a caller gave this process, or null when that cannot be known (no /proc). */
export function givenDescriptors(): Set<number> | null {
  // Not started through bin/run.js (a test calling a command in process):
  // the best record there is is the present one.
  recordStartDescriptors()
  const start = (globalThis as Store)[KEY]
  if (!start) return null
  const pipeEnds = new Map<string, Set<number>>()
  for (const {target, access} of start.values()) {
    if (!target.startsWith('pipe:') || access === undefined) continue
    const ends = pipeEnds.get(target) ?? new Set<number>()
    ends.add(access)
    pipeEnds.set(target, ends)
  }
  const given = new Set<number>()
  for (const [fd, {target}] of start) {
    if (fd > 2) {
      if (target.startsWith('anon_inode:')) continue
      const ends = pipeEnds.get(target)
      if (ends && ends.has(0) && ends.has(1)) continue
    }
    given.add(fd)
  }
  return given
}

/** Refuse a descriptor number the caller did not pass to xst (exit 2). */
export function checkGivenDescriptor(fd: number): void {
  const given = givenDescriptors()
  if (given && !given.has(fd)) throw new UsageError(`descriptor ${fd} is not open`, 'fd-not-open')
}
