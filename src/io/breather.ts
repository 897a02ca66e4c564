// A loop whose reads and writes complete synchronously (a file read with
// positional reads into a raw dump's positional writes) only ever awaits
// promises that are already settled, so the event loop never turns and a
// signal handler never runs until the loop ends. Such a loop asks a
// Breather every step; at most every `everyMs` it waits one turn of the
// event loop (setImmediate), long enough for a pending signal to be acted
// on, and not otherwise.
export class Breather {
  private last = performance.now()

  constructor(private readonly everyMs = 50) {}

  /** Undefined most of the time; a promise of one event-loop turn when the last was over everyMs ago. */
  step(): Promise<void> | undefined {
    const now = performance.now()
    if (now - this.last < this.everyMs) return undefined
    this.last = now
    return new Promise((resolve) => setImmediate(resolve))
  }
}
