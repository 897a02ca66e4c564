// Waiting for something to happen, not for some time to pass: a condition
// looked at again every few milliseconds until it holds (or a generous
// limit, which fails the test), and the condition of a process that waits.
import {readdirSync, readFileSync} from 'node:fs'

/** Wait until `cond()` holds; throw if it still does not after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !cond(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > end) throw new Error(`after ${timeoutMs} ms, still not: ${what}`)
  }
}

/**
 * Every thread of process `pid` asleep (state S in /proc): it waits for
 * something outside it, such as input that has not come.
 */
export function asleep(pid: number): boolean {
  return readdirSync(`/proc/${pid}/task`).every((t) => / S /.test(readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').replace(/^\d+ \(.*\)/s, '')))
}
