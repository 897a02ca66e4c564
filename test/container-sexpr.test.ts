// The two s-expression readers: Sexplib's syntax (xenopsd's Xenops record)
// and xend's SXP (the xm save domain config).
import fc from 'fast-check'
import {describe, expect, test} from 'vitest'
import {atomValue, children, head, MAX_SEXP_DEPTH, parseSexplib, parseXendSxp, type Sexp, SexpError, sexplibAtom, sexplibQuote} from '../src/container/sexpr.js'

/** A tree as plain data: atoms as strings, lists as arrays. */
function plain(node: Sexp): unknown {
  return node.kind === 'atom' ? node.value : node.items.map(plain)
}

function syntaxError(f: () => unknown): SexpError {
  try {
    f()
  } catch (err) {
    expect(err).toBeInstanceOf(SexpError)
    return err as SexpError
  }
  throw new Error('expected a syntax error')
}

describe('Sexplib syntax', () => {
  test('the Xenops record of the conformance images', () => {
    const tree = parseSexplib('((time "20150312T10:11:12Z")(word_size 64))')
    expect(plain(tree)).toEqual([
      ['time', '20150312T10:11:12Z'],
      ['word_size', '64'],
    ])
    expect(atomValue(tree, 'time')).toBe('20150312T10:11:12Z')
    expect(atomValue(tree, 'word_size')).toBe('64')
  })

  test("xenopsd's own machine form (time unquoted) reads the same", () => {
    expect(plain(parseSexplib('((time 20150312T10:11:12Z)(word_size 64))'))).toEqual(plain(parseSexplib('((time "20150312T10:11:12Z")(word_size 64))')))
  })

  test('offsets of every node', () => {
    const tree = parseSexplib(' ((a "b") c)')
    expect(tree.offset).toBe(1)
    const [ab, c] = (tree as Extract<Sexp, {kind: 'list'}>).items
    expect(ab.offset).toBe(2)
    expect((ab as Extract<Sexp, {kind: 'list'}>).items.map((n) => n.offset)).toEqual([3, 5])
    expect(c.offset).toBe(10)
  })

  test.each([
    ['"a\\"b"', 'a"b'],
    ['"back\\\\slash"', 'back\\slash'],
    ['"\\n\\t\\r\\b\\ \\\'"', "\n\t\r\b '"],
    ['"\\065\\x41\\x4a"', 'AAJ'],
    ['"\\255"', '\xff'],
    ['"keep \\q and \\x4"', 'keep \\q and \\x4'],
    ['"joined \\\n     here"', 'joined here'],
    ['"dos \\\r\n\there"', 'dos here'],
    ['"two\nlines"', 'two\nlines'],
    ['"(not a list) ; not a comment"', '(not a list) ; not a comment'],
    ['""', ''],
  ])('quoted string %j', (text, value) => {
    const node = parseSexplib(text)
    expect(node).toMatchObject({kind: 'atom', value, quoted: true})
  })

  test('comments: line, nested block and datum', () => {
    const text = '; leading\n(a #| block #| nested |# "|#" |# b #;(dropped (x)) c ; trailing\n #;d)'
    expect(plain(parseSexplib(text))).toEqual(['a', 'b', 'c'])
  })

  test.each([
    ['(a (b)', 'is never closed', 0],
    ['(a)) ', 'no "("', 3],
    ['(a "open)', 'quoted string is never closed', 3],
    ['"\\256"', 'above 255', 1],
    ['(a) (b)', 'more than one', 4],
    ['  ; only a comment', 'no s-expression', 18],
    ['', 'no s-expression', 0],
    ['(a#|b)', 'comment marker inside an unquoted atom', 2],
    ['(a |# b)', 'with no comment to end', 3],
    ['(a #| open', 'never closed', 3],
    ['(a #;)', 'nothing after it', 5],
    ['#;', 'nothing after it', 2],
  ])('syntax error in %j', (text, message, at) => {
    const err = syntaxError(() => parseSexplib(text))
    expect(err.message).toContain(message)
    expect(err.at).toBe(at)
  })

  test('deep nesting is refused, not a stack overflow', () => {
    const deep = '('.repeat(200_000) + ')'.repeat(200_000)
    const err = syntaxError(() => parseSexplib(deep))
    expect(err.message).toContain(`nested more than ${MAX_SEXP_DEPTH}`)
    expect(err.at).toBe(MAX_SEXP_DEPTH)
    const ok = '('.repeat(MAX_SEXP_DEPTH) + ')'.repeat(MAX_SEXP_DEPTH)
    expect(parseSexplib(ok).kind).toBe('list')
  })

  test('quoting writes what Sexplib writes, and reads back to the same bytes', () => {
    expect(sexplibQuote('a"b\\c\n\t\r\b\x01\xe9 z')).toBe('"a\\"b\\\\c\\n\\t\\r\\b\\001\\233 z"')
    expect(sexplibAtom('20150312T10:11:12Z')).toBe('20150312T10:11:12Z')
    expect(sexplibAtom('20150312T10:11:12Z', true)).toBe('"20150312T10:11:12Z"')
    expect(sexplibAtom('two words')).toBe('"two words"')
    expect(sexplibAtom('')).toBe('""')
    expect(sexplibAtom('a#|b')).toBe('"a#|b"')
    fc.assert(
      fc.property(fc.uint8Array({maxLength: 40}), fc.boolean(), (bytes, always) => {
        const s = Buffer.from(bytes).toString('latin1')
        const node = parseSexplib(`(${sexplibAtom(s, always)})`)
        expect(node.kind === 'list' && node.items[0].kind === 'atom' && node.items[0].value).toBe(s)
      }),
      {numRuns: 500},
    )
  })
})

describe('xend SXP', () => {
  const config = '(domain (domid 7) (name web400) (memory 256) (vcpus 2) (image (linux (kernel /boot/vmlinuz))))'

  test('the domain config of the conformance images', () => {
    const {value, end} = parseXendSxp(config)
    expect(end).toBe(config.length)
    expect(head(value)).toBe('domain')
    expect(atomValue(value, 'name')).toBe('web400')
    expect(atomValue(value, 'memory')).toBe('256')
    expect(plain(children(value, 'image')[0])).toEqual(['image', ['linux', ['kernel', '/boot/vmlinuz']]])
  })

  test.each([
    ["'single'", 'single'],
    ['"double"', 'double'],
    ['"it\'s"', "it's"],
    ['\'say "hi"\'', 'say "hi"'],
    ['"\\a\\b\\t\\n\\v\\f\\r\\\\\\\'\\""', '\x07\b\t\n\v\f\r\\\'"'],
    ['"\\x41\\x4\\101\\7x"', 'A\x04A\x07x'],
    ['"\\q"', '\\q'],
  ])('string %j', (text, value) => {
    expect(parseXendSxp(text).value).toMatchObject({kind: 'atom', value, quoted: true})
  })

  test('comments, separators and only the first value', () => {
    const {value, end} = parseXendSxp('# header\n(a # comment\n b[c d"e) (ignored')
    expect(plain(value)).toEqual(['a', 'b', '[c', 'd"e'])
    expect(end).toBe(31)
  })

  test.each([
    ['(domain (name x)', 'is never closed', 0],
    [') (a)', 'no "("', 0],
    ['(a "open', 'never closed', 3],
    ['(a \x01)', 'cannot start a value', 3],
    ['(a \xe9)', 'cannot start a value', 3],
    ['   # nothing', 'no value', 12],
    ['"\\400"', 'above 255', 1],
  ])('syntax error in %j', (text, message, at) => {
    const err = syntaxError(() => parseXendSxp(text))
    expect(err.message).toContain(message)
    expect(err.at).toBe(at)
  })

  test('deep nesting is refused, not a stack overflow', () => {
    expect(syntaxError(() => parseXendSxp('('.repeat(100_000))).message).toContain('nested')
  })
})
