// A loop of synchronous I/O awaits only settled promises, so the event loop
// never turns and a signal handler (a macrotask, as every event is) never
// runs until it ends: dump-core --format raw from a file kept writing for
// seconds after SIGTERM. A Breather gives the event loop a turn now and
// then; here an event queued at the start of such a loop runs during it.
import {describe, expect, it} from 'vitest'
import {Breather} from '../src/io/breather.js'

/** Busy work for `ms` with only settled awaits (the shape of the raw dump's loop), `breathe` or not; whether an event queued at its start ran before it ended. */
async function eventRanDuring(ms: number, breathe: boolean): Promise<boolean> {
  let ran = false
  setImmediate(() => {
    ran = true
  })
  const breather = new Breather(5)
  const end = performance.now() + ms
  let ranBeforeEnd = false
  while (performance.now() < end) {
    await Promise.resolve()
    const pause = breathe ? breather.step() : undefined
    if (pause) await pause
    if (ran) ranBeforeEnd = true
  }
  return ranBeforeEnd
}

describe('Breather', () => {
  it('a loop of settled awaits starves the event loop; with a Breather, a queued event runs during it', async () => {
    expect(await eventRanDuring(60, false)).toBe(false)
    expect(await eventRanDuring(60, true)).toBe(true)
  })

  it('does not pause on every step: only after everyMs', () => {
    const b = new Breather(10_000)
    expect(b.step()).toBeUndefined()
    expect(b.step()).toBeUndefined()
  })
})
