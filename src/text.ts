// Small formatting helpers shared by the reports.

/** "1 chunk", "2 chunks". */
export const plural = (n: number, one: string, many = one + 's'): string => `${n} ${n === 1 ? one : many}`

/** 0x-prefixed hex, zero-padded to `width` digits. */
export const hex = (n: number | bigint, width = 0): string => '0x' + n.toString(16).padStart(width, '0')

/** Odd bytes of an id or signature shown as escapes (\xNN). */
export const printable = (s: string): string => s.replace(/[^\x20-\x7e]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'))

/** A byte count for people: "512 bytes", "1.5 MiB". */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]}`
}

/** Ascending ids as runs: [0, 1, 2, 5] is "0-2,5". */
export function ranges(ids: number[]): string {
  const out: string[] = []
  for (let i = 0; i < ids.length; ) {
    let j = i
    while (j + 1 < ids.length && ids[j + 1] === ids[j] + 1) j++
    out.push(i === j ? `${ids[i]}` : `${ids[i]}-${ids[j]}`)
    i = j + 1
  }
  return out.join(',')
}

/** Warnings a report keeps; past them, one last entry counts the rest. */
export const MAX_KEPT_WARNINGS = 1000
const notKept = new WeakMap<string[], number>()

/**
 * Add `message` to a report's warnings: the first MAX_KEPT_WARNINGS are
 * kept, and then one last entry says how many more there were. Each is
 * still told as it is found (on stderr); a hostile image of 300,000 page
 * batches, each with a warning, otherwise held them all (500 MB for
 * inspect-legacy --json).
 */
export function addWarning(list: string[], message: string): void {
  if (list.length < MAX_KEPT_WARNINGS) {
    list.push(message)
    return
  }
  const more = (notKept.get(list) ?? 0) + 1
  notKept.set(list, more)
  list[MAX_KEPT_WARNINGS] = `${plural(more, 'more warning')} not kept here (each was reported as it was found)`
}

const NAMED_ESCAPES: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t', '\u0007': '\\a', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\u001b': '\\e'}

/**
 * Text for a terminal: control characters (C0 but tab, DEL, C1) in a file
 * name or a string from an image shown escaped (\n, \e, \x7f, \u0085), so a
 * name cannot split a one-line message or send an escape sequence to the
 * terminal. JSON output carries such strings exactly.
 */
export function forTerminal(s: string): string {
  // Fast path: almost every line has none.
  if (!/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/.test(s)) return s
  return s.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (c) => {
    const code = c.charCodeAt(0)
    return NAMED_ESCAPES[c] ?? (code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`)
  })
}
