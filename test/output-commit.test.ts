// The commit of a file output (src/io/output.ts): without --force the
// check that NEW is free is made again when the file appears (link(2)
// fails on a taken name), so a job that wrote NEW meanwhile is never
// replaced; any legal name (NAME_MAX, 255 bytes) can be written, however
// long, since the temporary name is cut to fit.
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {UsageError} from '../src/errors.js'
import {openOutput} from '../src/io/output.js'
import {tempDir} from './helpers/cli.js'
import {runXstInProcess as runXst} from './helpers/in-process.js'
import {vectorBytes} from './helpers/fixtures.js'

describe('committing a file output', () => {
  it('without --force, a NEW that appeared while writing is left alone: output-exists, nothing written, nothing left', async () => {
    const dir = tempDir()
    const target = join(dir, 'new.v2')
    const out = await openOutput(target)
    await out.sink.write(Buffer.from('ours'))
    writeFileSync(target, 'theirs')
    const err = await out.commit().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(UsageError)
    expect((err as UsageError).code).toBe('output-exists')
    expect((err as Error).message).toMatch(/already exists \(it appeared while xst was writing/)
    expect(readFileSync(target, 'utf8')).toBe('theirs')
    expect(readdirSync(dir)).toEqual(['new.v2'])
  })

  it('with --force, it is replaced', async () => {
    const dir = tempDir()
    const target = join(dir, 'new.v2')
    writeFileSync(target, 'old')
    const out = await openOutput(target, {force: true})
    await out.sink.write(Buffer.from('ours'))
    await out.commit()
    expect(readFileSync(target, 'utf8')).toBe('ours')
    expect(readdirSync(dir)).toEqual(['new.v2'])
  })

  it('a NEW whose name is 255 bytes is written, as cp writes it (also with multi-byte characters)', async () => {
    const dir = tempDir()
    const input = join(dir, 'in')
    writeFileSync(input, vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    for (const name of ['n'.repeat(255), 'é'.repeat(127) + 'x']) {
      expect(Buffer.byteLength(name)).toBe(255)
      const r = await runXst(['convert', input, join(dir, name)])
      expect(r.code, r.stderr).toBe(0)
      expect(existsSync(join(dir, name))).toBe(true)
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.xst-partial'))).toEqual([])
  })
})

describe('aborting a file output', () => {
  it('a temporary file that cannot be removed is said on stderr, with its name, not left silently', async () => {
    const dir = tempDir()
    const target = join(dir, 'new.v2')
    const lines: string[] = []
    const out = await openOutput(target, {warn: (l) => lines.push(l)})
    await out.sink.write(Buffer.from('part'))
    // Something put a directory where the temporary file was: unlink(2) fails (EISDIR).
    const [tmpName] = readdirSync(dir)
    rmSync(join(dir, tmpName))
    mkdirSync(join(dir, tmpName))
    out.abort()
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^warning: ${target}: the temporary file ${join(dir, tmpName).replace(/[.]/g, '\\.')} could not be removed \\(EISDIR\\)`))])
    expect(existsSync(target)).toBe(false)
  })

  it('a temporary file removed normally, or already gone, says nothing', async () => {
    for (const gone of [false, true]) {
      const dir = tempDir()
      const lines: string[] = []
      const out = await openOutput(join(dir, 'new.v2'), {warn: (l) => lines.push(l)})
      if (gone) rmSync(join(dir, readdirSync(dir)[0]))
      out.abort()
      expect(lines).toEqual([])
      expect(readdirSync(dir)).toEqual([])
    }
  })
})
