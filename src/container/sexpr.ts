// Two small s-expression readers for the text that containers carry:
//
// - the Sexplib form xenopsd writes its Xenops record in (XenServer
//   structured images): machine form `((time 20150312T10:11:12Z)(word_size 64))`,
//   atoms quoted only when they must be, quoted strings with backslash escapes;
// - the SXP form xend writes its domain config in (`xm save` files):
//   `(domain (name foo) (memory 512) ...)`, strings in "..." or '...'.
//
// Both give the same tree, with each node's byte offset in the text (text is
// handled as latin1, one character per byte, so offsets are byte offsets).
// Both are iterative with a nesting bound, so hostile text cannot exhaust
// the stack.
import {hex} from '../text.js'

export interface SexpAtom {
  kind: 'atom'
  value: string
  /** Written in quotes in the text. */
  quoted: boolean
  offset: number
}

export interface SexpList {
  kind: 'list'
  items: Sexp[]
  offset: number
}

export type Sexp = SexpAtom | SexpList

/** A syntax error at byte `at` of the text; `tooMany`: the text holds more elements than are kept (not a syntax error). */
export class SexpError extends Error {
  constructor(
    message: string,
    readonly at: number,
    readonly tooMany = false,
  ) {
    super(message)
  }
}

/** Deeper nesting than this is refused (neither writer nests more than a few levels). */
export const MAX_SEXP_DEPTH = 256

/**
 * Most atoms and lists one text may hold: memory follows the count, not the
 * length (3 million `(k v)` lists fit in 16 MiB and would take over a GB
 * as trees). An xend config or a Xenops record holds hundreds.
 */
export const MAX_SEXP_NODES = 200_000

interface Frame {
  list: SexpList
  /** `#;` comments waiting for the datum they remove (Sexplib). */
  drops: number
}

/** Collects data into nested lists; shared by both dialects. */
class TreeBuilder {
  private readonly stack: Frame[] = []
  readonly top: Frame = {list: {kind: 'list', items: [], offset: 0}, drops: 0}

  get depth(): number {
    return this.stack.length
  }

  private get frame(): Frame {
    return this.stack.length ? this.stack[this.stack.length - 1] : this.top
  }

  private nodes = 0

  add(node: Sexp): void {
    if (++this.nodes > MAX_SEXP_NODES) {
      throw new SexpError(`more than ${MAX_SEXP_NODES} atoms and lists, more than xst keeps (a real one holds hundreds)`, node.offset, true)
    }
    const f = this.frame
    if (f.drops > 0) f.drops--
    else f.list.items.push(node)
  }

  open(at: number): void {
    if (this.stack.length >= MAX_SEXP_DEPTH) throw new SexpError(`lists nested more than ${MAX_SEXP_DEPTH} deep`, at)
    this.stack.push({list: {kind: 'list', items: [], offset: at}, drops: 0})
  }

  close(at: number): void {
    const f = this.stack.pop()
    if (!f) throw new SexpError('")" with no "(" to close', at)
    if (f.drops > 0) throw new SexpError('"#;" with nothing after it to comment out', at)
    this.add(f.list)
  }

  dropNext(): void {
    this.frame.drops++
  }

  /** Offset of the innermost open list, if any. */
  get openAt(): number | undefined {
    return this.stack.length ? this.stack[this.stack.length - 1].list.offset : undefined
  }
}

// ---------------------------------------------------------------------------
// Sexplib (xenopsd)

const SEXPLIB_SPACE = new Set([' ', '\t', '\f', '\n', '\r'])
const SEXPLIB_SIMPLE_ESCAPES: Record<string, string> = {'\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t', b: '\b', r: '\r', ' ': ' '}

function isSexplibAtomChar(c: string): boolean {
  return !SEXPLIB_SPACE.has(c) && c !== ';' && c !== '(' && c !== ')' && c !== '"'
}

/**
 * Parse text holding exactly one s-expression in the syntax Sexplib reads:
 * `;` line comments, `#| |#` block comments (nested), `#;` datum comments,
 * unquoted atoms, and quoted strings with `\\ \" \' \n \t \b \r \space`,
 * `\DDD` (decimal, at most 255), `\xHH` and backslash-newline escapes (any
 * other backslash is kept as it is).
 */
export function parseSexplib(text: string): Sexp {
  const t = new TreeBuilder()
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text[i]
    if (SEXPLIB_SPACE.has(c)) {
      i++
    } else if (c === ';') {
      while (i < n && text[i] !== '\n' && text[i] !== '\r') i++
    } else if (c === '(') {
      t.open(i++)
    } else if (c === ')') {
      t.close(i++)
    } else if (c === '"') {
      const [value, next] = sexplibString(text, i)
      t.add({kind: 'atom', value, quoted: true, offset: i})
      i = next
    } else if (c === '#' && text[i + 1] === '|') {
      i = sexplibBlockComment(text, i)
    } else if (c === '#' && text[i + 1] === ';') {
      t.dropNext()
      i += 2
    } else if (c === '|' && text[i + 1] === '#') {
      throw new SexpError('"|#" with no comment to end', i)
    } else {
      const start = i
      while (i < n && isSexplibAtomChar(text[i])) i++
      const value = text.slice(start, i)
      const bad = value.search(/#\||\|#/)
      if (bad >= 0) throw new SexpError('comment marker inside an unquoted atom', start + bad)
      t.add({kind: 'atom', value, quoted: false, offset: start})
    }
  }
  if (t.openAt !== undefined) throw new SexpError('"(" is never closed', t.openAt)
  if (t.top.drops > 0) throw new SexpError('"#;" with nothing after it to comment out', n)
  const items = t.top.list.items
  if (items.length === 0) throw new SexpError('no s-expression', n)
  if (items.length > 1) throw new SexpError('more than one s-expression', items[1].offset)
  return items[0]
}

/** A quoted string starting at `start` (the quote); returns its value and the offset after it. */
function sexplibString(text: string, start: number): [string, number] {
  let out = ''
  let i = start + 1
  const n = text.length
  while (i < n) {
    const c = text[i]
    if (c === '"') return [out, i + 1]
    if (c !== '\\') {
      out += c
      i++
      continue
    }
    const e = text[i + 1]
    if (e === undefined) break
    if (e === '\n' || (e === '\r' && text[i + 2] === '\n')) {
      i += e === '\n' ? 2 : 3
      while (text[i] === ' ' || text[i] === '\t') i++
    } else if (e in SEXPLIB_SIMPLE_ESCAPES) {
      out += SEXPLIB_SIMPLE_ESCAPES[e]
      i += 2
    } else if (/^[0-9]{3}$/.test(text.slice(i + 1, i + 4))) {
      const v = Number(text.slice(i + 1, i + 4))
      if (v > 255) throw new SexpError(`escape \\${text.slice(i + 1, i + 4)} is above 255`, i)
      out += String.fromCharCode(v)
      i += 4
    } else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      out += String.fromCharCode(parseInt(text.slice(i + 2, i + 4), 16))
      i += 4
    } else {
      out += '\\' + e
      i += 2
    }
  }
  throw new SexpError('quoted string is never closed', start)
}

/** A `#| ... |#` comment starting at `start`, nested ones and quoted strings inside; returns the offset after it. */
function sexplibBlockComment(text: string, start: number): number {
  let depth = 0
  let i = start
  const n = text.length
  while (i < n) {
    if (text[i] === '#' && text[i + 1] === '|') {
      depth++
      i += 2
    } else if (text[i] === '|' && text[i + 1] === '#') {
      depth--
      i += 2
      if (depth === 0) return i
    } else if (text[i] === '"') {
      i = sexplibString(text, i)[1]
    } else {
      i++
    }
  }
  throw new SexpError('"#|" comment is never closed', start)
}

/** Characters an unquoted atom may not hold in Sexplib's machine form. */
function sexplibMustQuote(s: string): boolean {
  if (s.length === 0) return true
  if (/["();\\\x00-\x20\x7f-\xff]/.test(s)) return true
  return s.includes('#|') || s.includes('|#')
}

/** A string as a quoted Sexplib atom (escapes as Sexplib writes them). */
export function sexplibQuote(s: string): string {
  let out = '"'
  for (const c of s) {
    const code = c.charCodeAt(0)
    if (c === '"' || c === '\\') out += '\\' + c
    else if (c === '\n') out += '\\n'
    else if (c === '\t') out += '\\t'
    else if (c === '\r') out += '\\r'
    else if (c === '\b') out += '\\b'
    else if (code >= 0x20 && code <= 0x7e) out += c
    else if (code <= 0xff) out += '\\' + String(code).padStart(3, '0')
    else throw new Error('internal: Sexplib atoms are bytes; encode text as latin1 first')
  }
  return out + '"'
}

/**
 * Sexplib's machine form of an atom: bare when it can be, quoted otherwise;
 * `alwaysQuote` quotes it anyway (both read back the same).
 */
export function sexplibAtom(s: string, alwaysQuote = false): string {
  return alwaysQuote || sexplibMustQuote(s) ? sexplibQuote(s) : s
}

// ---------------------------------------------------------------------------
// xend SXP

const SXP_SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r'])
/** Characters that end an unquoted atom (besides white space and `#`). */
const SXP_SEPARATORS = new Set(['{', '}', '(', ')', '<', '>', '[', ']', '!', ';'])
const SXP_SIMPLE_ESCAPES: Record<string, string> = {a: '\x07', b: '\b', t: '\t', n: '\n', v: '\v', f: '\f', r: '\r', '\\': '\\', "'": "'", '"': '"'}

function sxpPrintable(c: string): boolean {
  const code = c.charCodeAt(0)
  return code >= 0x21 && code <= 0x7e
}

export interface SxpParse {
  /** The first complete value (xend reads only that one). */
  value: Sexp
  /** Offset after it: anything from here on xend ignores. */
  end: number
}

/**
 * Parse the first value of xend SXP text: `#` comments to the end of the
 * line, strings in double or single quotes with `\a \b \t \n \v \f \r \\ \' \"`,
 * `\xH[H]` and octal `\O[O[O]]` escapes (an unknown escape is kept with its
 * backslash), atoms of printable characters up to white space, `#` or one
 * of `{}()<>[]!;`.
 */
export function parseXendSxp(text: string): SxpParse {
  const t = new TreeBuilder()
  let i = 0
  const n = text.length
  const done = () => t.depth === 0 && t.top.list.items.length > 0
  while (i < n && !done()) {
    const c = text[i]
    if (SXP_SPACE.has(c)) {
      i++
    } else if (c === '#') {
      while (i < n && text[i] !== '\n') i++
    } else if (c === '(') {
      t.open(i++)
    } else if (c === ')') {
      t.close(i++)
    } else if (c === '"' || c === "'") {
      const [value, next] = sxpString(text, i)
      t.add({kind: 'atom', value, quoted: true, offset: i})
      i = next
    } else if (c === '\x04') {
      // End of text.
      break
    } else if (sxpPrintable(c)) {
      const start = i++
      while (i < n && !SXP_SPACE.has(text[i]) && !SXP_SEPARATORS.has(text[i]) && text[i] !== '#') i++
      t.add({kind: 'atom', value: text.slice(start, i), quoted: false, offset: start})
    } else {
      throw new SexpError(`character ${hex(c.charCodeAt(0), 2)} cannot start a value`, i)
    }
  }
  if (!done()) {
    if (t.openAt !== undefined) throw new SexpError('"(" is never closed', t.openAt)
    throw new SexpError('no value', i)
  }
  return {value: t.top.list.items[0], end: i}
}

function sxpString(text: string, start: number): [string, number] {
  const delim = text[start]
  let out = ''
  let i = start + 1
  const n = text.length
  while (i < n) {
    const c = text[i]
    if (c === delim) return [out, i + 1]
    if (c !== '\\') {
      out += c
      i++
      continue
    }
    const e = text[i + 1]
    if (e === undefined) break
    if (e in SXP_SIMPLE_ESCAPES) {
      out += SXP_SIMPLE_ESCAPES[e]
      i += 2
    } else if (e === 'x') {
      const m = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 2, i + 4))
      if (!m) throw new SexpError('\\x escape without hex digits', i)
      out += String.fromCharCode(parseInt(m[0], 16))
      i += 2 + m[0].length
    } else if (e >= '0' && e <= '7') {
      const m = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4))!
      const v = parseInt(m[0], 8)
      if (v > 0xff) throw new SexpError(`octal escape \\${m[0]} is above 255`, i)
      out += String.fromCharCode(v)
      i += 1 + m[0].length
    } else {
      out += '\\' + e
      i += 2
    }
  }
  throw new SexpError('quoted string is never closed', start)
}

// ---------------------------------------------------------------------------
// Looking things up in a tree

/** The head atom of a list, e.g. `name` for `(name foo)`. */
export function head(node: Sexp): string | undefined {
  return node.kind === 'list' && node.items[0]?.kind === 'atom' ? node.items[0].value : undefined
}

/** Child lists of `node` whose head is `key`. */
export function children(node: Sexp, key: string): SexpList[] {
  if (node.kind !== 'list') return []
  return node.items.filter((c): c is SexpList => head(c) === key)
}

/** The atom in `(key value)` directly inside `node`, for the first such child. */
export function atomValue(node: Sexp, key: string): string | undefined {
  const c = children(node, key)[0]
  const v = c?.items[1]
  return v?.kind === 'atom' ? v.value : undefined
}
