// Node decodes the command line as UTF-8: a byte that is not UTF-8 becomes
// U+FFFD, so a file name holding one would name another file (or make
// one). The raw arguments are in /proc/self/cmdline; an argument that did
// not survive decoding is refused rather than used.
import {readFileSync} from 'node:fs'
import {UsageError} from '../errors.js'
import {forTerminal} from '../text.js'

/** The decoded form of each argument of this process that is not valid UTF-8 (none where /proc cannot be read). */
export function undecodableArguments(): Set<string> {
  let raw: Buffer
  try {
    raw = readFileSync('/proc/self/cmdline')
  } catch {
    return new Set()
  }
  const found = new Set<string>()
  let start = 0
  for (let i = 0; i <= raw.length; i++) {
    if (i < raw.length && raw[i] !== 0) continue
    const arg = raw.subarray(start, i)
    const text = arg.toString('utf8')
    if (!Buffer.from(text, 'utf8').equals(arg)) found.add(text)
    start = i + 1
  }
  return found
}

/** Refuse an argument that is not what the caller typed: a name with bytes that are not UTF-8. */
export function refuseUndecodable(argv: string[]): void {
  if (!argv.some((a) => a.includes('\uFFFD'))) return
  const bad = undecodableArguments()
  const arg = argv.find((a) => bad.has(a))
  if (arg !== undefined)
    throw new UsageError(
      `${forTerminal(arg)}: the name holds bytes that are not UTF-8 (shown as \uFFFD), and xst could only open another name; rename it, or pass the file on stdin (- < NAME)`,
      'name-not-utf8',
    )
}
