// The line for a command xst does not have, with the nearest one it does.
import {forTerminal} from '../text.js'

/** `xst: unknown command "conver"; did you mean "convert"? (xst --help lists them)` */
export function unknownCommandLine(name: string, commands: string[]): string {
  const near = nearest(name, commands)
  const shown = `"${forTerminal(name)}"`
  return `xst: unknown command ${shown}${near ? `; did you mean "${near}"?` : ''} (xst --help lists them)`
}

/** The command closest to `name` by edit distance, if close enough to be a slip (or `name` starts it). */
function nearest(name: string, commands: string[]): string | undefined {
  let best: {cmd: string; d: number} | undefined
  for (const cmd of commands) {
    const d = cmd.startsWith(name) && name.length >= 2 ? 0 : distance(name.toLowerCase(), cmd)
    if (!best || d < best.d) best = {cmd, d}
  }
  return best && best.d <= Math.max(1, Math.min(3, Math.floor(best.cmd.length / 3))) ? best.cmd : undefined
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]
}
