// Interrupts during a command: the CLI, not the library, decides that a
// signal ends the process. While a task runs, every signal whose default
// action ends the process and that Node lets a program handle calls the
// command's handler (which removes partial output and says so) and then
// exits with the shell's status for that signal (128 + its number): Ctrl-C
// (SIGINT), SIGTERM and SIGHUP as before, and Ctrl-\ (SIGQUIT), SIGUSR2,
// SIGALRM, a CPU-time limit (SIGXCPU) and the like, which otherwise ended
// xst by their default action and left the temporary file behind.
// (SIGUSR1 is Node's debugger signal; SIGPIPE and SIGXFSZ Node ignores, so
// a write fails with EPIPE / EFBIG instead; SIGKILL cannot be handled.)
import {constants} from 'node:os'

/** The signals a running job handles. */
const HANDLED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGALRM', 'SIGXCPU', 'SIGVTALRM', 'SIGPROF', 'SIGPWR', 'SIGIO']

/** The exit status for each: 128 + its number, as a shell reports a process it ended. */
export const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = Object.fromEntries(HANDLED.filter((s) => constants.signals[s] !== undefined).map((s) => [s, 128 + constants.signals[s]]))

/** Run `task`; a signal arriving meanwhile calls `onSignal`, then exits. */
export async function exitOnSignals<T>(onSignal: (signal: NodeJS.Signals) => void, task: () => Promise<T>): Promise<T> {
  const handler = (signal: NodeJS.Signals) => {
    try {
      onSignal(signal)
    } finally {
      process.exit(SIGNAL_EXIT[signal] ?? 1)
    }
  }
  const signals = Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]
  for (const s of signals) process.on(s, handler)
  try {
    return await task()
  } finally {
    for (const s of signals) process.off(s, handler)
  }
}

/** What an interrupt left: a stream cut short, an output not written, or (after the commit) one complete and in place. */
export function interrupted(toStream: boolean, committed: boolean, name: string): string {
  if (committed) return toStream ? 'the output was complete' : `${name} was written (the interrupt came after it was complete)`
  return toStream ? 'output incomplete' : `${name} was not written`
}
