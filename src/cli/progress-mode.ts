// Which progress a long command (convert, dump-core) shows, decided in one
// place. A task list that redraws moves the cursor up over the lines it
// drew, and so over any line another program wrote to the same terminal
// meanwhile (`xst dump-core -f raw IMG - | xxd | head`): it is drawn only
// when stdout and stderr are both terminals, and the terminal can take it.
// Otherwise a single line on stderr, rewritten with \r and never moving
// the cursor up (as pv, curl and dd status=progress do), or nothing.

/**
 * 'redraw': the listr2 task list on stderr; 'line': one line on stderr,
 * rewritten with \r and blanked at the end; 'none': no progress.
 */
export type ProgressMode = 'redraw' | 'line' | 'none'

export interface ProgressContext {
  stdoutTTY: boolean
  stderrTTY: boolean
  /** The environment (TERM and CI are read; NO_COLOR is listr2's to honour, and the single line has no colour). */
  env: Record<string, string | undefined>
  flags: {
    /** --progress (true), --no-progress (false), or neither (undefined). */
    progress?: boolean
    /** -q/--quiet. */
    quiet?: boolean
  }
  /**
   * The run is read by a program, not a person: --json, or convert run as
   * a toolstack's helper (--in/--out). No progress unless --progress.
   */
  machine?: boolean
}

/** CI set, non-empty and not "false": a CI job's log, where progress is noise. */
export function isCI(env: Record<string, string | undefined>): boolean {
  const ci = env.CI
  return ci !== undefined && ci !== '' && ci.toLowerCase() !== 'false'
}

/**
 * The progress to show. --no-progress: none. Without --progress: none under
 * -q, --json or the helper interface, in CI, or when stderr is not a
 * terminal. Then (and with --progress, which forces some): the task list
 * only when stdout and stderr are both terminals and TERM is not dumb,
 * else the single line.
 */
export function progressMode(c: ProgressContext): ProgressMode {
  if (c.flags.progress === false) return 'none'
  if (c.flags.progress !== true && (c.flags.quiet || c.machine || isCI(c.env) || !c.stderrTTY)) return 'none'
  if (c.stdoutTTY && c.stderrTTY && c.env.TERM !== 'dumb') return 'redraw'
  return 'line'
}
