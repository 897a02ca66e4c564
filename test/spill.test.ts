// Lists that wait in a temporary file (SpillList) and the JSON documents
// that stream them (jsonPieces): the rows come back as they went in, the
// document is byte for byte what JSON.stringify would write, memory does
// not grow with the rows, and inspect-legacy --verbose says the same
// whether its chunk lines spilled or not, leaving no file behind.
import {spawnSync} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {jsonPieces} from '../src/cli/json.js'
import {SpillList} from '../src/io/spill.js'
import {tempDir} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {ROOT} from './helpers/fixtures.js'

interface Row {
  i: number
  text: string
  n: number | null
}

/** Rows with multi-byte text (so reads split characters), empty text, and a few longer than the 64 KiB read and write buffers. */
function rows(count: number): Row[] {
  return Array.from({length: count}, (_, i) => ({
    i,
    text: i % 97 === 5 ? 'é€😀'.repeat(30_000) : i % 3 ? `row ${i} — ${'ü'.repeat(i % 50)}` : '',
    n: i % 4 ? i * 4096 : null,
  }))
}

const fromPieces = (value: unknown) => Buffer.concat([...jsonPieces(value)].map((p) => Buffer.from(p))).toString('utf8')

describe('SpillList', () => {
  it.each([0, 1, 10, 1000])('keeping %i rows in memory, gives back every row in order, as often as asked', (memoryRows) => {
    const want = rows(400)
    const list = new SpillList<Row>(memoryRows)
    for (const r of want) list.push(r)
    expect(list.length).toBe(400)
    expect(list.onDisk).toBe(memoryRows < 400)
    expect([...list]).toEqual(want)
    expect([...list]).toEqual(want)
    expect(JSON.stringify(list)).toBe(JSON.stringify(want))
    list.close()
    expect(() => [...list]).toThrow(/internal: a spill list read after it was closed/)
  })

  it('leaves nothing in the temporary directory, even while open', () => {
    const dir = tempDir('xst-spill-')
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import {SpillList} from ${JSON.stringify(join(ROOT, 'dist/io/spill.js'))}; import {readdirSync} from 'node:fs'; const l = new SpillList(0); for (let i = 0; i < 5000; i++) l.push({i}); console.log(l.onDisk, readdirSync(process.env.TMPDIR).length, [...l].length)`,
      ],
      {env: {...process.env, TMPDIR: dir}, encoding: 'utf8'},
    )
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe('true 0 5000')
    expect(readdirSync(dir)).toEqual([])
  })
})

describe('jsonPieces', () => {
  it('writes what JSON.stringify(value, null, 2) writes, lists streamed wherever they are', () => {
    const spilled = (n: number, memoryRows = 2) => {
      const l = new SpillList<Row>(memoryRows)
      for (const r of rows(n)) l.push(r)
      return l
    }
    const doc = {
      ok: true,
      chunks: spilled(300),
      nested: {deeper: {list: spilled(7, 100), empty: spilled(0), after: 'x'}},
      inArray: [1, spilled(3), {list: spilled(1)}],
      // A string that looks like the marker cannot be taken for one.
      text: '\u0000xst-rows-0:0',
    }
    const plain = JSON.parse(JSON.stringify(doc)) as unknown
    expect(fromPieces(doc)).toBe(JSON.stringify(plain, null, 2) + '\n')
    // Pieces are about 64 KiB: the 300 rows (some of 270 KB) do not come as one.
    expect([...jsonPieces(doc)].length).toBeGreaterThan(10)
    // Outside jsonPieces a list is an array again.
    expect(JSON.stringify(doc.chunks)).toBe(JSON.stringify(rows(300)))
  })

  it('a document without lists is one piece, as before', () => {
    const doc = {ok: false, error: {code: 'x', offset: 3}, warnings: ['a', 'b']}
    expect([...jsonPieces(doc)]).toEqual([JSON.stringify(doc, null, 2) + '\n'])
  })

  it('its memory does not grow with the rows (400,000 rows peak within 20 MB of twenty thousand)', () => {
    const peak = (n: number) => {
      const script = `import {SpillList} from ${JSON.stringify(join(ROOT, 'dist/io/spill.js'))}
        import {jsonPieces} from ${JSON.stringify(join(ROOT, 'dist/cli/json.js'))}
        const l = new SpillList()
        for (let i = 0; i < ${n}; i++) l.push({index: i, offset: i * 4202500, what: 'page batch', size: null, detail: '1024 entries, 1024 with data'})
        let bytes = 0
        for (const p of jsonPieces({ok: true, chunks: l})) bytes += p.length
        console.log(bytes, process.resourceUsage().maxRSS)`
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8'})
      expect(r.stderr).toBe('')
      const [bytes, kib] = r.stdout.trim().split(' ').map(Number)
      expect(bytes).toBeGreaterThan(n * 150)
      return kib
    }
    const small = peak(20_000)
    const large = peak(400_000)
    expect(large - small, `peak ${small} KiB for 20,000 rows, ${large} KiB for 400,000`).toBeLessThan(20 * 1024)
  }, 60_000)
})

describe('inspect-legacy --verbose', () => {
  const image = join(ROOT, 'fixtures/conformance/legacy/pv64-smp-xsave.legacy.gz')

  it.each([[[] as string[]], [['--json']]])('%j: the same report whether the chunk lines spilled or not, and no file left', async (extra) => {
    const dir = tempDir('xst-spill-cli-')
    const kept = await runXstInProcess(['inspect-legacy', '--verbose', ...extra, image], {env: {TMPDIR: dir}})
    const spilled = await runXstInProcess(['inspect-legacy', '--verbose', ...extra, image], {env: {TMPDIR: dir, XST_SPILL_ROWS: '1'}})
    expect(kept.code, kept.stderr).toBe(0)
    expect(spilled.code, spilled.stderr).toBe(0)
    expect(spilled.stdout).toBe(kept.stdout)
    const lines = extra.length ? JSON.parse(kept.stdout).chunks.length : kept.stdout.split('\n').filter((l) => /^ +\d+ /.test(l)).length
    expect(lines).toBeGreaterThan(5)
    expect(readdirSync(dir)).toEqual([])
  })
})
