// Output that can be as large as the image (inspect-legacy --verbose's
// chunk lines), made in pieces of about 64 KiB that the caller can write as
// the reader takes them, never as one string in memory: `pieces` packs
// texts into them, and `jsonPieces` lays out a JSON document exactly as
// JSON.stringify(value, null, 2) would, with every SpillList in it read
// row by row.
import {SpillList, TextPacker} from '../io/spill.js'

/**
 * `texts` in pieces of about 64 KiB (TextPacker), each ready to write.
 * Memory stays flat however many texts there are, but for V8's young
 * generation, which a long run of allocation grows to its limit (32 MB:
 * formatting a million lines peaks at ~100 MB in a bare node, twenty
 * thousand at ~55 MB).
 */
export function* pieces(texts: Iterable<string>): Generator<string | Buffer> {
  const out: Array<string | Buffer> = []
  const packer = new TextPacker((piece) => out.push(piece))
  for (const t of texts) {
    packer.add(t)
    if (out.length) {
      yield* out
      out.length = 0
    }
  }
  packer.flush()
  yield* out
}

export function jsonPieces(value: unknown): Iterable<string | Buffer> {
  const lists: Array<SpillList<unknown>> = []
  // A marker no image can have put in a string: it differs on every run.
  const mark = `\u0000xst-rows-${Math.random().toString(36).slice(2)}:`
  let text: string
  SpillList.placeholder = (list) => mark + (lists.push(list) - 1)
  try {
    text = JSON.stringify(value, null, 2)
  } finally {
    SpillList.placeholder = undefined
  }
  return lists.length ? pieces(jsonTexts(text, mark, lists)) : [text + '\n']
}

/** The document's text with each list's marker replaced by its rows, as JSON.stringify lays out an array. */
function* jsonTexts(text: string, mark: string, lists: Array<SpillList<unknown>>): Generator<string> {
  // In the text, JSON.stringify wrote the marker's NUL as \u0000.
  const quoted = new RegExp(`"${JSON.stringify(mark).slice(1, -1).replace(/\\/g, '\\\\')}(\\d+)"`, 'g')
  let from = 0
  for (const m of text.matchAll(quoted)) {
    yield text.slice(from, m.index)
    // The array opens on a line indented by `indent`; its rows are one step in.
    const indent = /^ */.exec(text.slice(text.lastIndexOf('\n', m.index) + 1))![0]
    const inner = indent + '  '
    let first = true
    for (const row of lists[Number(m[1])]) {
      yield (first ? '[\n' : ',\n') + inner + JSON.stringify(row, null, 2).replace(/\n/g, '\n' + inner)
      first = false
    }
    yield first ? '[]' : '\n' + indent + ']'
    from = m.index! + m[0].length
  }
  yield text.slice(from) + '\n'
}
