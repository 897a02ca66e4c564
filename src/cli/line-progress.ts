// Progress as a single line on stderr, for when a task list that redraws
// would move the cursor up over what other programs write to the same
// terminal (progress-mode.ts): the line is rewritten in place with \r,
// padded with spaces over what it showed before, and blanked the same way
// at the end. It never moves the cursor up, and writes no escape sequence
// (so TERM=dumb and NO_COLOR are honoured as they are).

/** One line of progress on `stream` (stderr), rewritten as it changes. */
export class LineProgress {
  /** How many columns the line now covers (0: nothing shown). */
  private shown = 0
  private last = ''
  private readonly write: (s: string) => void
  private readonly restore: () => void
  private ended = false

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    const own = Object.getOwnPropertyDescriptor(stream, 'write')
    const original = stream.write
    this.write = (s) => {
      try {
        original.call(stream, s)
      } catch {}
    }
    // Anything else written to the stream meanwhile (a warning) starts on a
    // blank line; the progress comes back at the next update, below it.
    stream.write = ((...args: unknown[]) => {
      this.clear()
      return (original as (...a: unknown[]) => boolean).apply(stream, args)
    }) as typeof stream.write
    this.restore = () => {
      if (own) Object.defineProperty(stream, 'write', own)
      else delete (stream as {write?: unknown}).write
    }
  }

  /** Show `text` (cut to the terminal's width, so that it never wraps onto a second line). */
  show(text: string): void {
    if (this.ended) return
    const width = Math.max(10, ((this.stream.isTTY && this.stream.columns) || 80) - 1)
    const chars = Array.from(text)
    const fitted = chars.length > width ? chars.slice(0, width).join('') : text
    if (fitted === this.last && this.shown) return
    const length = Math.min(chars.length, width)
    const pad = Math.max(0, this.shown - length)
    this.write(`\r${fitted}${' '.repeat(pad)}`)
    this.shown = length + pad
    this.last = fitted
  }

  /** Blank the line and put the cursor back at its start. */
  clear(): void {
    if (!this.shown) return
    const n = this.shown
    this.shown = 0
    this.last = ''
    this.write(`\r${' '.repeat(n)}\r`)
  }

  /** Blank the line and stop: the stream is written to as before. Safe to call twice. */
  end(): void {
    if (this.ended) return
    this.clear()
    this.ended = true
    this.restore()
  }
}
