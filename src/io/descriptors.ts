// Which descriptors xst was given by whoever started it.
//
// A toolstack hands its helper descriptors by number (--in 3 --out 4). A
// number nobody passed may still be open in this process: Node opens its own
// descriptors (epoll, eventfd, wake-up pipes) at the lowest free numbers
// before any of our code runs, and more as it goes. Reading or writing one of
// those aborts Node (an epoll descriptor) or hangs (a wake-up pipe). So
// bin/run.js, as its very first act, records what /proc/self/fd holds
// (recordStartDescriptors, in start-descriptors.ts), and a descriptor counts as given only if it was
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
import {UsageError} from '../errors.js'
import {recordStartDescriptors, startDescriptors} from './start-descriptors.js'

export {recordStartDescriptors}

/** The descriptors a caller gave this process, or null when that cannot be known (no /proc). */
export function givenDescriptors(): Set<number> | null {
  // Not started through bin/run.js (a test calling a command in process):
  // the best record there is is the present one.
  recordStartDescriptors()
  const start = startDescriptors()
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
      if (ends?.has(0) && ends.has(1)) continue
    }
    given.add(fd)
  }
  return given
}

/**
 * A standard descriptor (0-2) that was closed when xst started: Node puts
 * /dev/null there, opened read-write, where a shell's `>/dev/null` opens it
 * for writing only. Written to, it would take the stream and say nothing.
 */
export function closedAtStart(fd: 0 | 1 | 2): boolean {
  const entry = startDescriptors()?.get(fd)
  return entry !== undefined && entry.target === '/dev/null' && entry.access === 2
}

/** Refuse a descriptor number the caller did not pass to xst (exit 2). */
export function checkGivenDescriptor(fd: number): void {
  const given = givenDescriptors()
  if (given && !given.has(fd)) throw new UsageError(`descriptor ${fd} is not open`, 'fd-not-open')
}
