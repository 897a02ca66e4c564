// Interrupts during a command: the CLI, not the library, decides that a
// signal ends the process. While a task runs, SIGINT, SIGTERM and SIGHUP
// call the command's handler (which removes partial output and says so) and
// then exit with the shell's status for that signal (128 + its number).

export const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = {SIGINT: 130, SIGTERM: 143, SIGHUP: 129}

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
