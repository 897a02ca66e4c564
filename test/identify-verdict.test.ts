// identify's verdict on a v2 stream says only what was checked: "v2,
// restorable" for headers a restorer reads and, from a file, a stream the
// verifier passes; "damaged" with the first error otherwise; "v2 stream, not
// verified" from a pipe or through gzip, where only the headers are read.
import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {describe, expect, it} from 'vitest'
import {DomainType, Rec} from '../src/v2/libxc/layout.js'
import {libxlStream, pvStream, rawLibxcHeaders, rawLibxlHeader, Stream} from './builders/v2.js'
import {tempDir, tempFile} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'
import {verifyReport} from './helpers/verify-json.js'

async function identifyJson(args: string[], input?: Buffer) {
  const r = await runXstInProcess(['identify', '--json', ...args], {input})
  return {code: r.code, stderr: r.stderr, images: JSON.parse(r.stdout).images}
}

describe('identify checks what its verdict claims', () => {
  it('a well-formed stream from a file is "v2, restorable"; from a pipe or gzip, "v2 stream, not verified" (exit 0)', async () => {
    const {bytes} = await pvStream().build()
    const file = tempFile('good.save', bytes)
    const gz = tempFile('good.save.gz', gzipSync(bytes))
    const r = await identifyJson([file, gz])
    expect(r.code, r.stderr).toBe(0)
    expect(r.images.map((x: {verdict: string}) => x.verdict)).toEqual(['v2, restorable', 'v2 stream, not verified'])
    const piped = await identifyJson(['-'], bytes)
    expect(piped.code).toBe(0)
    expect(piped.images[0].verdict).toBe('v2 stream, not verified')
    const text = await runXstInProcess(['identify', '-'], {input: bytes})
    expect(text.stdout).toMatch(/^stdin: libxc v3 stream, PV 64-bit guest: v2 stream, not verified; restored by /)
  })

  it('a libxc version 4 stream is damaged at byte 12, from a file or a pipe (exit 1)', async () => {
    const s = pvStream()
    s.parts[0] = {kind: 'raw', bytes: rawLibxcHeaders({version: 4})}
    const {bytes} = await s.build()
    const file = tempFile('v4.save', bytes)
    for (const r of [await identifyJson([file]), await identifyJson(['-'], bytes)]) {
      expect(r.code).toBe(1)
      expect(r.images[0]).toMatchObject({verdict: 'damaged', error: {code: 'unknown-version', offset: 12}, stream: {libxcVersion: 4}})
      expect(r.images[0].restore.by).toEqual([])
    }
    const text = await runXstInProcess(['identify', file])
    expect(text.code).toBe(1)
    expect(text.stdout).toMatch(/: damaged: libxc stream version 4 is unknown/)
    expect(text.stdout).not.toMatch(/restorable/)
  })

  it('a libxl stream whose libxl header is version 3 is damaged', async () => {
    const s = libxlStream(pvStream())
    s.parts[0] = {kind: 'raw', bytes: rawLibxlHeader({version: 3})}
    const {bytes} = await s.build()
    const r = await identifyJson([tempFile('libxl3.save', bytes)])
    expect(r.code).toBe(1)
    expect(r.images[0]).toMatchObject({verdict: 'damaged', error: {code: 'unknown-version', offset: 8}})
  })

  it('a truncated stream and a corrupt one, from a file, are damaged with the first error', async () => {
    const {bytes} = await pvStream().build()
    const cut = tempFile('cut.save', bytes.subarray(0, bytes.length - 100))
    const corrupt = await new Stream(pvStream().parts).remove(Rec.X86_PV_INFO).build()
    const bad = tempFile('corrupt.save', corrupt.bytes)
    const r = await identifyJson([cut, bad])
    expect(r.code).toBe(1)
    expect(r.images[0]).toMatchObject({verdict: 'damaged', error: {code: 'truncated'}})
    expect(r.images[1].verdict).toBe('damaged')
    expect(r.images[1].error.code).toBeTruthy()
    // verify agrees on the first error.
    const v = await runXstInProcess(['verify', '--json', bad])
    expect(verifyReport(v).errors[0].code).toBe(r.images[1].error.code)
  })

  it('a PV stream whose domain header says HVM is damaged, not restorable', async () => {
    const s = pvStream()
    s.parts[0] = {kind: 'raw', bytes: rawLibxcHeaders({type: DomainType.X86_HVM})}
    const r = await identifyJson([tempFile('mixed.save', (await s.build()).bytes)])
    expect(r.images[0].verdict).toBe('damaged')
  })
})

describe('identify names what a glob catches besides images, as file(1) does', () => {
  it('a directory and a dangling symlink: named on stdout, not errors (exit 0), in text and --json', async () => {
    const dir = tempDir()
    const {bytes} = await pvStream().build()
    const image = join(dir, 'a.save')
    writeFileSync(image, bytes)
    mkdirSync(join(dir, 'sub'))
    symlinkSync(join(dir, 'gone'), join(dir, 'link'))
    // A link to a directory is a directory, and a link to an image is read as the image.
    symlinkSync(join(dir, 'sub'), join(dir, 'subl'))
    symlinkSync(image, join(dir, 'imgl'))
    const files = ['a.save', 'imgl', 'link', 'sub', 'subl'].map((f) => join(dir, f))
    const r = await runXstInProcess(['identify', ...files])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toBe('')
    const lines = r.stdout.split('\n').filter((l) => l && !l.startsWith(' '))
    expect(lines.slice(2)).toEqual([`${files[2]}: broken symbolic link to ${join(dir, 'gone')}`, `${files[3]}: directory`, `${files[4]}: directory`])
    const j = await identifyJson(files)
    expect(j.code).toBe(0)
    expect(j.images.map((x: {verdict: string}) => x.verdict)).toEqual(['v2, restorable', 'v2, restorable', 'broken symlink', 'directory', 'directory'])
    expect(j.images[2]).toMatchObject({note: `broken symbolic link to ${join(dir, 'gone')}`, error: null, input: {path: files[2], size: null, bytes: null}})
    // With a damaged image beside them, the status is the image's.
    const bad = join(dir, 'bad.save')
    writeFileSync(bad, bytes.subarray(0, 100))
    expect((await runXstInProcess(['identify', bad, ...files.slice(2)])).code).toBe(1)
  })
})
