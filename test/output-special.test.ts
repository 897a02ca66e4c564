// `xst convert` writing to something that is not a plain file: a FIFO, a
// socket, a character device (/dev/null, one made with mknod) are written in
// place and never replaced; a symlink is followed and stays a symlink; a
// block device is only written with --force. (The mode of a file written,
// which depends on the process's umask: integration/output-mode.test.ts.)
import {execFileSync, spawnSync} from 'node:child_process'
import {createReadStream, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {once} from 'node:events'
import * as net from 'node:net'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {vectorBytes} from './helpers/fixtures.js'
import {inputsDir, tempDir} from './helpers/cli.js'
import {runXstInProcess} from './helpers/in-process.js'

const PV = () => vectorBytes('legacy', 'pv64-xl.legacy.gz')
const PV_LIBXL = () => vectorBytes('legacy', 'pv64-xl.libxl.v2.gz')

/** Read a FIFO to its end, as another process would. */
function readFifo(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    const s = createReadStream(path)
    s.on('data', (d) => parts.push(d as Buffer))
    s.on('end', () => resolve(Buffer.concat(parts)))
    s.on('error', reject)
  })
}

/** mknod works here (root, and not forbidden by the container). */
const canMknod = (() => {
  const dir = tempDir('xst-mknod-')
  return spawnSync('mknod', [join(dir, 'probe'), 'c', '1', '3'], {stdio: 'ignore'}).status === 0
})()

describe('convert: a FIFO as NEW', () => {
  it('is written in place for its reader (no --force, no temp file, still a FIFO)', async () => {
    const dir = inputsDir()
    const fifo = join(dir, 'pipe')
    execFileSync('mkfifo', [fifo])
    const [r, got] = await Promise.all([runXstInProcess(['convert', join(dir, 'in.legacy'), fifo]), readFifo(fifo)])
    expect(r.code, r.stderr).toBe(0)
    expect(got.equals(PV_LIBXL())).toBe(true)
    expect(lstatSync(fifo).isFIFO()).toBe(true)
    expect(readdirSync(dir).sort()).toEqual(['cut.legacy', 'in.legacy', 'pipe'])
  })

  it('a failed conversion leaves it a FIFO, and its reader sees the end', async () => {
    const dir = inputsDir()
    const fifo = join(dir, 'pipe')
    execFileSync('mkfifo', [fifo])
    const [r, got] = await Promise.all([runXstInProcess(['convert', join(dir, 'cut.legacy'), fifo]), readFifo(fifo)])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^xst convert: stream ends at byte \d+ inside/)
    expect(got.length).toBeLessThan(PV_LIBXL().length * 4)
    expect(lstatSync(fifo).isFIFO()).toBe(true)
    expect(readdirSync(dir).sort()).toEqual(['cut.legacy', 'in.legacy', 'pipe'])
  })
})

describe('convert: a socket as NEW', () => {
  it('connects and writes the stream to whoever listens', async () => {
    const dir = inputsDir()
    const sock = join(dir, 'sock')
    const parts: Buffer[] = []
    let ended!: () => void
    const gotAll = new Promise<void>((r) => (ended = r))
    const server = net.createServer((c) => {
      c.on('data', (d) => parts.push(d))
      c.on('end', ended)
    })
    server.listen(sock)
    await once(server, 'listening')
    try {
      const r = await runXstInProcess(['convert', join(dir, 'in.legacy'), sock])
      expect(r.code, r.stderr).toBe(0)
      await gotAll
      expect(Buffer.concat(parts).equals(PV_LIBXL())).toBe(true)
      expect(lstatSync(sock).isSocket()).toBe(true)
    } finally {
      server.close()
    }
  })

  it('nobody listening: exit 1, one line', async () => {
    const dir = inputsDir()
    const sock = join(dir, 'sock')
    // A listener killed outright leaves its socket file behind: connecting is refused.
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`])
    expect(lstatSync(sock).isSocket()).toBe(true)
    const r = await runXstInProcess(['convert', join(dir, 'in.legacy'), sock])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(`xst convert: ${sock}: nothing is listening on this socket\n`)
    expect(lstatSync(sock).isSocket()).toBe(true)
  })
})

describe('convert: a character device as NEW', () => {
  it('/dev/null is written to, not replaced (no --force needed)', async () => {
    const before = statSync('/dev/null')
    const dir = inputsDir()
    const r = await runXstInProcess(['convert', join(dir, 'in.legacy'), '/dev/null'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('-> /dev/null')
    const after = statSync('/dev/null')
    expect(after.isCharacterDevice()).toBe(true)
    expect(after.ino).toBe(before.ino)
    expect(readdirSync('/dev').filter((f) => f.includes('xst-partial'))).toEqual([])
  })

  it.skipIf(!canMknod)('a device node made with mknod is written in place, also when the conversion fails', async () => {
    const dir = inputsDir()
    const dev = join(dir, 'null')
    execFileSync('mknod', [dev, 'c', '1', '3'])
    const ino = statSync(dev).ino
    const ok = await runXstInProcess(['convert', join(dir, 'in.legacy'), dev])
    expect(ok.code, ok.stderr).toBe(0)
    const bad = await runXstInProcess(['convert', join(dir, 'cut.legacy'), dev, '--force'])
    expect(bad.code).toBe(1)
    const st = lstatSync(dev)
    expect(st.isCharacterDevice()).toBe(true)
    expect(st.ino).toBe(ino)
    expect(readdirSync(dir).sort()).toEqual(['cut.legacy', 'in.legacy', 'null'])
  })

  it.skipIf(!canMknod)('a block device holds data: refused without --force', async () => {
    const dir = inputsDir()
    const dev = join(dir, 'disk')
    // A loop device number; it is never opened, since the command is refused.
    execFileSync('mknod', [dev, 'b', '7', '250'])
    const r = await runXstInProcess(['convert', join(dir, 'in.legacy'), dev])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(`xst convert: ${dev}: already exists; use --force to replace it\n`)
    expect(lstatSync(dev).isBlockDevice()).toBe(true)
  })
})

describe('convert: a symlink as NEW', () => {
  it('the link stays and the file it names gets the stream (temp file beside the target)', async () => {
    const dir = inputsDir()
    const elsewhere = join(dir, 'store')
    mkdirSync(elsewhere)
    writeFileSync(join(elsewhere, 'guest.v2'), 'old image')
    const link = join(dir, 'current.v2')
    symlinkSync('store/guest.v2', link)
    const refused = await runXstInProcess(['convert', join(dir, 'in.legacy'), link])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('already exists; use --force')
    const r = await runXstInProcess(['convert', '--force', join(dir, 'in.legacy'), link])
    expect(r.code, r.stderr).toBe(0)
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(readlinkSync(link)).toBe('store/guest.v2')
    expect(readFileSync(join(elsewhere, 'guest.v2')).equals(PV_LIBXL())).toBe(true)
    expect(readdirSync(elsewhere)).toEqual(['guest.v2'])
  })

  it('a dangling link: the file it names is created, the link kept', async () => {
    const dir = inputsDir()
    const link = join(dir, 'new.v2')
    // Through a chain of two links.
    symlinkSync('middle', link)
    symlinkSync('final.v2', join(dir, 'middle'))
    const r = await runXstInProcess(['convert', join(dir, 'in.legacy'), link])
    expect(r.code, r.stderr).toBe(0)
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(lstatSync(join(dir, 'middle')).isSymbolicLink()).toBe(true)
    expect(readFileSync(join(dir, 'final.v2')).equals(PV_LIBXL())).toBe(true)
    // A new file, with the input's mode (see 'the mode of a file written').
    expect(statSync(join(dir, 'final.v2')).mode & 0o777).toBe(statSync(join(dir, 'in.legacy')).mode & 0o666 & ~process.umask())
  })

  it('a link to a FIFO: the FIFO is written, not replaced', async () => {
    const dir = inputsDir()
    const fifo = join(dir, 'pipe')
    execFileSync('mkfifo', [fifo])
    symlinkSync('pipe', join(dir, 'link'))
    const [r, got] = await Promise.all([runXstInProcess(['convert', join(dir, 'in.legacy'), join(dir, 'link')]), readFifo(fifo)])
    expect(r.code, r.stderr).toBe(0)
    expect(got.equals(PV_LIBXL())).toBe(true)
    expect(lstatSync(fifo).isFIFO()).toBe(true)
    expect(lstatSync(join(dir, 'link')).isSymbolicLink()).toBe(true)
  })

  it('a link loop, or a link into a missing directory: exit 2, one line', async () => {
    const dir = inputsDir()
    symlinkSync('b', join(dir, 'a'))
    symlinkSync('a', join(dir, 'b'))
    const loop = await runXstInProcess(['convert', join(dir, 'in.legacy'), join(dir, 'a')])
    expect(loop.code).toBe(2)
    expect(loop.stderr).toMatch(/^xst convert: .*\/a: too many levels of symbolic links\n$/)
    symlinkSync('nowhere/x.v2', join(dir, 'c'))
    const missing = await runXstInProcess(['convert', join(dir, 'in.legacy'), join(dir, 'c')])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/^xst convert: .*\/c: the directory does not exist\n$/)
  })

  it('the input is still never overwritten through a link, a chain of links or a link to its directory', async () => {
    const dir = inputsDir()
    symlinkSync('in.legacy', join(dir, 'l1'))
    symlinkSync('l1', join(dir, 'l2'))
    symlinkSync('.', join(dir, 'here'))
    for (const target of [join(dir, 'l2'), join(dir, 'here', 'in.legacy'), join(dir, 'here', 'l1')]) {
      const r = await runXstInProcess(['convert', '--force', join(dir, 'in.legacy'), target])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('is the input file')
    }
    expect(readFileSync(join(dir, 'in.legacy')).equals(PV())).toBe(true)
  })
})

describe('dump-core: a device or FIFO as the output', () => {
  /** The raw dump of in.legacy, to a regular file: what a device or FIFO must get too. */
  async function rawToFile(dir: string): Promise<Buffer> {
    const r = await runXstInProcess(['dump-core', '--format', 'raw', join(dir, 'in.legacy'), join(dir, 'core.raw')])
    expect(r.code, r.stderr).toBe(0)
    return readFileSync(join(dir, 'core.raw'))
  }

  it.each(['raw', 'elf'])('--format %s to /dev/null: written as a stream (it was: "ftruncate: invalid argument" for raw)', async (format) => {
    const dir = inputsDir()
    const r = await runXstInProcess(['dump-core', '--format', format, join(dir, 'in.legacy'), '/dev/null'])
    expect(r.code, r.stderr).toBe(0)
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true)
  })

  it('--format raw to a FIFO: its reader gets every byte, the holes as zeros', async () => {
    const dir = inputsDir()
    const want = await rawToFile(dir)
    const fifo = join(dir, 'pipe')
    execFileSync('mkfifo', [fifo])
    const [r, got] = await Promise.all([runXstInProcess(['dump-core', '--format', 'raw', join(dir, 'in.legacy'), fifo]), readFifo(fifo)])
    expect(r.code, r.stderr).toBe(0)
    expect(got.equals(want)).toBe(true)
    expect(lstatSync(fifo).isFIFO()).toBe(true)
  })
})

/** A loop device over a 64 KiB file can be set up here (root, and loop devices in the container). */
function smallLoopDevice(): {dev: string; detach(): void} | undefined {
  const backing = join(tempDir('xst-loop-'), 'disk')
  writeFileSync(backing, Buffer.alloc(65536))
  const r = spawnSync('losetup', ['-f', '--show', backing], {encoding: 'utf8'})
  const dev = r.status === 0 ? r.stdout.trim() : ''
  if (!dev) return undefined
  return {dev, detach: () => spawnSync('losetup', ['-d', dev])}
}
const loopProbe = smallLoopDevice()
loopProbe?.detach()

describe('a block device too small for the output', () => {
  it.skipIf(!loopProbe).each([
    ['convert', []],
    ['dump-core', ['--format', 'elf']],
    ['dump-core', ['--format', 'raw']],
  ])('%s %s: no-space, and says how much of an incomplete output it holds', async (cmd, flags) => {
    const loop = smallLoopDevice()!
    try {
      const dir = inputsDir()
      const [text, json] = [
        await runXstInProcess([cmd, ...flags, '--force', join(dir, 'in.legacy'), loop.dev]),
        await runXstInProcess([cmd, ...flags, '--force', '--json', join(dir, 'in.legacy'), loop.dev]),
      ]
      expect(text.code).toBe(1)
      expect(text.stderr).toBe(`xst ${cmd}: ${loop.dev}: no space left on device; 65536 bytes were written to ${loop.dev} before that, an incomplete output: discard it\n`)
      expect(JSON.parse(json.stdout).error).toMatchObject({code: 'no-space', partialOutput: {output: loop.dev, bytes: 65536}})
    } finally {
      loop.detach()
    }
  })
})
