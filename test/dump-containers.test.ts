// dump-core reads the containers the other commands read (libvirt, XenServer
// legacy, xend, gzip): the dump of a wrapped image is the dump of the stream
// it wraps, which the test takes from the vector's expected conversion.
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {runXst, tempDir} from './helpers/cli.js'
import {containerBytes} from './helpers/containers.js'
import {hasStackTrace} from './fuzz/procs.js'

// [the wrapped image, a file holding the same guest's stream (the vector's expected conversion)]
const PAIRS: Array<[string, string]> = [
  ['libvirt-v1-pv64.img.gz', 'libvirt-v1-pv64.expected.gz'],
  ['libvirt-v1-hvm64.img.gz', 'libvirt-v1-hvm64.expected.gz'],
  ['xend-pv64.img.gz', 'xend-pv64.expected.gz'],
  ['xend-hvm64.img.gz', 'xend-hvm64.expected.gz'],
  ['xenserver-legacy-hvm32.img.gz', 'xenserver-legacy-hvm32.libxc.expected.gz'],
  ['xenserver-legacy-pv32.img.gz', 'xenserver-legacy-pv32.libxc.expected.gz'],
  ['gzip-xl-pv64.img.gz', 'gzip-xl-pv64.expected.gz'],
]

describe.concurrent('dump-core through containers', () => {
  it.for(PAIRS)('%s dumps the pages of the stream it wraps', async ([wrapped, inner], {expect}) => {
    const dir = tempDir('xst-dump-containers-')
    const a = join(dir, 'wrapped')
    const b = join(dir, 'inner')
    writeFileSync(a, containerBytes(wrapped))
    writeFileSync(b, containerBytes(inner))
    for (const format of ['raw', 'elf']) {
      const [ra, rb] = await Promise.all([
        runXst(['dump-core', '--format', format, a, `${a}.${format}`]),
        runXst(['dump-core', '--format', format, b, `${b}.${format}`]),
      ])
      expect(ra.code, ra.stderr).toBe(0)
      expect(rb.code, rb.stderr).toBe(0)
      const [da, db] = [readFileSync(`${a}.${format}`), readFileSync(`${b}.${format}`)]
      expect(da.length).toBeGreaterThan(0)
      expect(da.equals(db), `${wrapped} --format ${format}`).toBe(true)
    }
    // From a pipe too (a gzip input is always read once, like a pipe).
    const piped = await runXst(['dump-core', '--format', 'raw', '-', join(dir, 'piped.raw')], {input: containerBytes(wrapped)})
    expect(piped.code, piped.stderr).toBe(0)
    expect(readFileSync(join(dir, 'piped.raw')).equals(readFileSync(`${a}.raw`))).toBe(true)
  })

  it('a XenServer structured image is refused with one line, nothing left', async () => {
    const dir = tempDir('xst-dump-containers-')
    const file = join(dir, 'image')
    writeFileSync(file, containerBytes('xenserver-v2-native-hvm64.img.gz'))
    const r = await runXst(['dump-core', file, join(dir, 'core')])
    expect(r.code).toBe(1)
    expect(hasStackTrace(r.stdout + r.stderr)).toBe(false)
    expect(r.stderr.trim()).toMatch(/^xst dump-core: byte 0: dump-core does not read XenServer structured images yet/)
    expect(readdirSync(dir)).toEqual(['image'])
  })
})
