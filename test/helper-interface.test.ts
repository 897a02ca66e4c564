// `xst convert` run exactly as Xen's toolstacks run their conversion helper:
// libxl (LIBXL_CONVERT_HELPER) and XenServer's xenopsd hand it descriptors by
// number, with the input's offset already past what they read themselves,
// and go on using the input descriptor afterwards.
import {execFileSync, spawn} from 'node:child_process'
import {closeSync, constants, openSync, readFileSync, readSync, writeFileSync} from 'node:fs'
import * as net from 'node:net'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {ByteReader} from '../src/io/reader.js'
import {BufferSource} from '../src/io/source.js'
import {readXlHeader} from '../src/xl/header.js'
import {BIN, runXst, tempDir, tempFile} from './helpers/cli.js'
import {vectorBytes} from './helpers/fixtures.js'

// ---- plumbing a toolstack would set up -------------------------------------

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** A named pipe; the test holds its read end (non-blocking, read on the event loop). */
function fifo(): {path: string; readFd: number} {
  const path = join(tempDir(), 'pipe')
  execFileSync('mkfifo', [path])
  return {path, readFd: openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)}
}

/** Everything that arrives on a pipe's read end until its last writer closes it. */
function drain(fd: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = new net.Socket({fd, readable: true, writable: false})
    const parts: Buffer[] = []
    s.on('data', (d: Buffer) => parts.push(d))
    s.on('end', () => resolve(Buffer.concat(parts)))
    s.on('error', reject)
  })
}

/**
 * Run `cmd` with `fds` as its descriptors 3, 4, ... (as libxl and xenopsd
 * pass them), closing `closeAfterSpawn` in this process once the child has
 * its copies (a pipe's write end: its reader sees EOF when the child exits).
 */
function spawnWith(cmd: string, args: string[], fds: number[], opts: {closeAfterSpawn?: number[]; env?: Record<string, string>; input?: Buffer} = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe', ...fds], env: {...process.env, ...opts.env}})
    for (const fd of opts.closeAfterSpawn ?? []) closeSync(fd)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d) => (stdout += d))
    child.stderr!.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({code, signal, stdout, stderr}))
    if (opts.input) {
      child.stdin!.on('error', () => {})
      child.stdin!.end(opts.input)
    }
  })
}

const xst = (args: string[], fds: number[], opts: Parameters<typeof spawnWith>[3] = {}) => spawnWith(process.execPath, [BIN, ...args], fds, opts)

/** The file offset of one of this process's descriptors. */
function offsetOf(fd: number): number {
  return Number(/^pos:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1])
}

/** Read from `fd` at its offset (moving it) until the end of the file. */
function readRest(fd: number): Buffer {
  const parts: Buffer[] = []
  for (;;) {
    const b = Buffer.alloc(1 << 16)
    const n = readSync(fd, b, 0, b.length, null)
    if (n === 0) return Buffer.concat(parts)
    parts.push(b.subarray(0, n))
  }
}

/** Length of the xl header (with its optional data) an image starts with. */
async function xlHeaderLength(image: Buffer): Promise<number> {
  return (await readXlHeader(new ByteReader(new BufferSource(image)))).raw.length
}

describe('helper interface: descriptor numbers the caller did not pass', () => {
  // Node opens its own descriptors (epoll, eventfd, wake-up pipes) at the
  // lowest free numbers, so with only 0-2 passed, 3 and 4 are Node's (3 an
  // epoll instance, 4 a wake-up pipe) and 5+ are Node's or closed. Using them
  // aborted Node (SIGABRT) or hung; each must be refused up front.
  for (const args of [
    ['--in', '3', '--out', '/dev/null'],
    ['--in', '4', '--out', '/dev/null'],
    ['--in', '5', '--out', '6'],
    ['--in', '0', '--out', '6'],
    ['--in', '0', '--out', '3'],
    ['--in', '250', '--out', '1'],
  ]) {
    it(`convert ${args.join(' ')} exits 2 naming the descriptor`, async () => {
      const r = await runXst(['convert', ...args, '--width', '64', '--guest', 'pv'], {stdio: ['ignore', 'pipe', 'pipe']})
      const bad = args[1] === '0' ? args[3] : args[1]
      expect(r.signal).toBeNull()
      expect(r.code).toBe(2)
      expect(r.stderr).toBe(`xst convert: descriptor ${bad} is not open\n`)
      expect(r.stdout).toBe('')
    })
  }

  it('--in 3 is used when the caller passed descriptor 3 (but 5, not passed, is still refused)', async () => {
    const dir = tempDir()
    const inFd = openSync('/dev/null', 'r')
    try {
      const r = await runXst(['convert', '--in', '3', '--out', '5', '--width', '64', '--guest', 'pv'], {stdio: ['ignore', 'pipe', 'pipe', inFd]})
      expect(r.code).toBe(2)
      expect(r.stderr).toBe('xst convert: descriptor 5 is not open\n')
      // Descriptor 3 itself was accepted: an empty input is a bad image (exit 1), not a usage error.
      const r2 = await runXst(['convert', '--in', '3', '--out', join(dir, 'out'), '--width', '64', '--guest', 'pv'], {stdio: ['ignore', 'pipe', 'pipe', inFd]})
      expect(r2.code).toBe(1)
      expect(r2.stderr).toMatch(/stream ends at byte 0/)
    } finally {
      closeSync(inFd)
    }
  })

  it('two read ends of one caller pipe (3<&0) are the caller\'s, not Node\'s', async () => {
    const out = join(tempDir(), 'out')
    const r = await new Promise<{code: number | null; stderr: string}>((resolve) => {
      const child = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" convert --in 3 --out "${out}" --width 64 --guest pv 3<&0`], {stdio: ['pipe', 'ignore', 'pipe']})
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      child.stdin.end()
      child.on('close', (code) => resolve({code, stderr}))
    })
    // An empty pipe is a bad image (exit 1): the descriptor was used.
    expect(r.stderr).toMatch(/stream ends at byte 0/)
    expect(r.code).toBe(1)
  })
})

// libxl: `xl restore` reads the xl header itself, sees no STREAMv2 flag, and
// libxl runs HELPER --in FD --out FD --width W --guest pv|hvm --format libxl
// with FD the save file at the offset after the header and the output a
// pipe it reads the libxl stream from (libxl_convert_callout.c). The
// helper's output is what libxl_stream_read.c reads first: the libxl
// header, so no xl header (xl consumed it). The expected bytes are
// Xen's own converter's for the whole file, less its copy of the xl header.
describe('helper interface: as libxl runs it', () => {
  for (const [name, guest] of [
    ['pv64-xl', 'pv'],
    ['pv64-no-tsc-lastcp', 'pv'],
    ['hvm64-xl-physmap', 'hvm'],
  ] as const) {
    it(`${name}: save file after the xl header -> the libxl stream exactly, offset left at the end of the image`, async () => {
      const image = vectorBytes('legacy', `${name}.legacy.gz`)
      const expected = vectorBytes('legacy', `${name}.libxl.v2.gz`)
      const hdr = await xlHeaderLength(image)
      // Bytes after the image are not the helper's; they show where it stopped.
      const after = Buffer.from('not part of the image\n')
      const inFd = openSync(tempFile('saved.img', Buffer.concat([image, after])), 'r')
      try {
        expect(readSync(inFd, Buffer.alloc(hdr), 0, hdr, null)).toBe(hdr) // xl reads its header
        const out = fifo()
        const outFd = openSync(out.path, 'w')
        const got = drain(out.readFd)
        const r = await xst(['convert', '--in', '3', '--out', '4', '--width', '64', '--guest', guest, '--format', 'libxl'], [inFd, outFd], {closeAfterSpawn: [outFd]})
        expect(r.code, r.stderr).toBe(0)
        const bytes = await got
        expect(bytes.length).toBe(expected.length - hdr)
        expect(bytes.equals(expected.subarray(hdr))).toBe(true)
        // Read from where xl left the offset, and left exactly at the end of the image.
        expect(offsetOf(inFd)).toBe(image.length)
        expect(readRest(inFd).equals(after)).toBe(true)
      } finally {
        closeSync(inFd)
      }
    })
  }

  it('hvm64-xl-physmap over a pipe (xl migrate-receive): the libxl stream, and the bytes after the image stay in the pipe', async () => {
    const image = vectorBytes('legacy', 'hvm64-xl-physmap.legacy.gz')
    const expected = vectorBytes('legacy', 'hvm64-xl-physmap.libxl.v2.gz')
    const hdr = await xlHeaderLength(image)
    const after = Buffer.from('migration protocol goes on here\n')
    const dir = tempDir()
    const img = join(dir, 'stream')
    writeFileSync(img, Buffer.concat([image, after]))
    const rest = join(dir, 'rest')
    const out = fifo()
    const got = drain(out.readFd)
    // A real pipe in, a real pipe out; the receiver reads the xl header, then runs the helper, then reads on.
    const script = `cat "$IMG" | { dd bs=${hdr} count=1 iflag=fullblock of=/dev/null status=none && "$NODE" "$BIN" convert --in 3 --out 4 --width 64 --guest hvm --format libxl 3<&0 4>"$FIFO" </dev/null; rc=$?; cat > "$REST"; exit $rc; }`
    const r = await spawnWith('sh', ['-c', script], [], {env: {IMG: img, NODE: process.execPath, BIN, FIFO: out.path, REST: rest}})
    expect(r.code, r.stderr).toBe(0)
    expect((await got).equals(expected.subarray(hdr))).toBe(true)
    expect(readFileSync(rest).equals(after)).toBe(true)
  })
})
