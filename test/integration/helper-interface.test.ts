// `xst convert` run exactly as Xen's toolstacks run their conversion helper:
// libxl (LIBXL_CONVERT_HELPER) and XenServer's xenopsd hand it descriptors by
// number, with the input's offset already past what they read themselves,
// and go on using the input descriptor afterwards.
import {execFileSync, spawn} from 'node:child_process'
import {closeSync, constants, existsSync, openSync, readFileSync, readSync, writeFileSync} from 'node:fs'
import {once} from 'node:events'
import * as net from 'node:net'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import Convert from '../../src/commands/convert.js'
import {ByteReader} from '../../src/io/reader.js'
import {walkLegacy} from '../../src/legacy/walker.js'
import {BufferSource} from '../../src/io/source.js'
import {readXlHeader} from '../../src/xl/header.js'
import {BIN, runXst, tempDir, tempFile} from '../helpers/cli.js'
import {vectorBytes} from '../helpers/fixtures.js'

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
function spawnWith(cmd: string, args: string[], fds: number[], opts: {closeAfterSpawn?: number[]; env?: Record<string, string>; input?: Buffer; cwd?: string} = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe', ...fds], env: {...process.env, ...opts.env}, cwd: opts.cwd})
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

const XS_SIGNATURE = Buffer.from('XenSavedDomain\n')

/**
 * A XenServer legacy suspend image from the hvm32-tw32 vector (a 32-bit
 * toolstack's HVM image, as XenServer before 6.5 wrote): the legacy stream
 * up to the HVM context, then the qemu record as XenServer writes it,
 * "QemuDeviceModelRecord\n" + big-endian u32 length + state. `legacy` is the
 * stream alone (legacy libxc stream followed by that qemu record), `file`
 * the whole image with its signature, and `libxc` the exact stream
 * convert-legacy-stream --skip-qemu writes for it: Xen's libxc output for
 * the vector less the device-model record it copies after END.
 */
async function xenserverImage(): Promise<{legacy: Buffer; file: Buffer; qemuRecord: Buffer; libxc: Buffer}> {
  const vector = vectorBytes('legacy', 'hvm32-tw32.legacy.gz')
  const xenLibxc = vectorBytes('legacy', 'hvm32-tw32.libxc.v2.gz')
  let qemu: {offset: number; length: number} | undefined
  for await (const ev of walkLegacy(new ByteReader(new BufferSource(vector)), {width: 32, guest: 'hvm'})) {
    if (ev.kind === 'qemu-record') qemu = {offset: ev.offset, length: ev.length!}
  }
  const dmRecord = vector.subarray(qemu!.offset)
  expect(dmRecord.length).toBe(21 + 4 + qemu!.length)
  expect(xenLibxc.subarray(xenLibxc.length - dmRecord.length).equals(dmRecord)).toBe(true)
  const state = dmRecord.subarray(25)
  const len = Buffer.alloc(4)
  len.writeUInt32BE(state.length)
  const qemuRecord = Buffer.concat([Buffer.from('QemuDeviceModelRecord\n'), len, state])
  const legacy = Buffer.concat([vector.subarray(0, qemu!.offset), qemuRecord])
  return {legacy, file: Buffer.concat([XS_SIGNATURE, legacy]), qemuRecord, libxc: xenLibxc.subarray(0, xenLibxc.length - dmRecord.length)}
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

  it("two read ends of one caller pipe (3<&0) are the caller's, not Node's", async () => {
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

  it('stdin as a file: read from its offset, and left right after the image for the next reader', async () => {
    const image = vectorBytes('legacy', 'pv64-xl.legacy.gz')
    const after = Buffer.from('the caller reads on from here\n')
    const dir = tempDir()
    writeFileSync(join(dir, 'in'), Buffer.concat([Buffer.from('skip me'), image, after]))
    const script = `{ dd bs=7 count=1 of=/dev/null status=none && "$NODE" "$BIN" convert - "$OUT" >/dev/null; rc=$?; cat > "$REST"; exit $rc; } < "$IN"`
    const r = await spawnWith('sh', ['-c', script], [], {env: {IN: join(dir, 'in'), OUT: join(dir, 'out'), REST: join(dir, 'rest'), NODE: process.execPath, BIN}})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toBe('') // bytes after the image on an inherited descriptor are the caller's: no warning
    expect(readFileSync(join(dir, 'out')).equals(vectorBytes('legacy', 'pv64-xl.libxl.v2.gz'))).toBe(true)
    expect(readFileSync(join(dir, 'rest')).equals(after)).toBe(true)
  })

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

// Xen's convert-legacy-stream defaults to --format libxc and prints nothing
// unless -v; xenopsd relies on the first (it passes no --format), xl on the
// second (the helper shares xl's stdout and stderr).
describe("helper interface: format default and output, as Xen's helper", () => {
  it('--in/--out without --format writes libxc; OLD NEW without it writes libxl', async () => {
    const dir = tempDir()
    const input = join(dir, 'pv.legacy')
    writeFileSync(input, vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    const r = await runXst(['convert', '--in', input, '--out', join(dir, 'a')])
    expect(r.code, r.stderr).toBe(0)
    expect(readFileSync(join(dir, 'a')).equals(vectorBytes('legacy', 'pv64-xl.libxc.v2.gz'))).toBe(true)
    const p = await runXst(['convert', input, join(dir, 'b')])
    expect(p.code, p.stderr).toBe(0)
    expect(readFileSync(join(dir, 'b')).equals(vectorBytes('legacy', 'pv64-xl.libxl.v2.gz'))).toBe(true)
  })

  it('descriptors without --format or -v: a libxc stream, and nothing at all on stdout or stderr', async () => {
    const inFd = openSync(tempFile('in.legacy', vectorBytes('legacy', 'hvm64-shuffled.legacy.gz')), 'r')
    const out = fifo()
    const outFd = openSync(out.path, 'w')
    const got = drain(out.readFd)
    try {
      const r = await xst(['convert', '--in', '3', '--out', '4', '--width', '64', '--guest', 'hvm'], [inFd, outFd], {closeAfterSpawn: [outFd]})
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toBe('')
      expect(r.stderr).toBe('')
      expect((await got).equals(vectorBytes('legacy', 'hvm64-shuffled.libxc.v2.gz'))).toBe(true)
    } finally {
      closeSync(inFd)
    }
  })

  it('-v: the report on stderr (naming the descriptors), still nothing on stdout and only the stream on the output', async () => {
    const inFd = openSync(tempFile('in.legacy', vectorBytes('legacy', 'pv64-xl.legacy.gz')), 'r')
    const out = fifo()
    const outFd = openSync(out.path, 'w')
    const got = drain(out.readFd)
    try {
      const r = await xst(['convert', '--in', '3', '--out', '4', '--format', 'libxl', '-v'], [inFd, outFd], {closeAfterSpawn: [outFd]})
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toBe('')
      expect(r.stderr).toContain('converting fd 3: legacy PV, 64-bit toolstack, to a libxl stream on fd 4\n')
      expect(r.stderr).toContain('converted fd 3 -> fd 4 (libxl v2 / libxc v3 stream, legacy-converted)\n')
      expect(r.stderr).toMatch(/^ {2}libxc {5}X86_PV_INFO 1, /m)
      expect((await got).equals(vectorBytes('legacy', 'pv64-xl.libxl.v2.gz'))).toBe(true)
    } finally {
      closeSync(inFd)
    }
  })

  it('a warning goes to stderr as one line, and nothing else is printed', async () => {
    // No qemu record after the HVM context: converted, with a warning, in libxl format.
    const inFd = openSync(tempFile('in.legacy', vectorBytes('legacy', 'hvm64-noqemu.legacy.gz')), 'r')
    try {
      const r = await xst(['convert', '--in', '3', '--out', join(tempDir(), 'out'), '--width', '64', '--guest', 'hvm', '--format', 'libxl'], [inFd])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toBe('')
      expect(r.stderr).toMatch(/^warning: the HVM image has no device-model \(qemu\) record; [^\n]*\n$/)
    } finally {
      closeSync(inFd)
    }
  })

  it.skipIf(!hasCommand('script'))('on a terminal (xl restore run by hand) the helper draws no task list and prints nothing', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'old.save'), vectorBytes('legacy', 'pv64-xl.legacy.gz'))
    // `script` gives xst a terminal as stdout and stderr; everything written to it lands in `typescript`.
    const cmd = `"${process.execPath}" "${BIN}" convert --in 3 --out 4 --format libxl 3<old.save 4>new.save; echo "rc=$?"`
    const r = await spawnWith('script', ['-qec', cmd, join(dir, 'typescript')], [], {cwd: dir, env: {TERM: 'xterm'}, input: Buffer.alloc(0)})
    expect(r.code).toBe(0)
    expect(r.stdout.replace(/\r/g, '').trim()).toBe('rc=0')
    expect(readFileSync(join(dir, 'new.save')).equals(vectorBytes('legacy', 'pv64-xl.libxl.v2.gz'))).toBe(true)
  })

  it('--help says what the defaults are, and its helper examples run as typed', async () => {
    const help = await runXst(['convert', '--help'])
    expect(help.stdout).toMatch(/default libxl with OLD NEW,\s+libxc\s+with --in\/--out/)
    expect(help.stdout).toMatch(/without --format it writes a bare libxc stream/)
    expect(help.stdout).not.toContain('--in 5')
    const examples = Convert.examples.filter((e) => typeof e !== 'string' && e.command.includes('--in 3')) as Array<{description: string; command: string}>
    expect(examples.map((e) => e.description)).toEqual([expect.stringMatching(/libxl/), expect.stringMatching(/xenopsd/)])
    const dir = tempDir()
    writeFileSync(join(dir, 'old.save'), vectorBytes('legacy', 'hvm64-xl-physmap.legacy.gz'))
    const xs = await xenserverImage()
    // A whole XenServer legacy image, as a user has it (xenopsd itself has read the signature first): the example still writes the bare libxc stream.
    writeFileSync(join(dir, 'old.img'), xs.file)
    const run = (e: {command: string}) =>
      spawnWith('sh', ['-c', e.command.replace('<%= config.bin %>', `"${process.execPath}" "${BIN}"`).replace('<%= command.id %>', 'convert')], [], {
        cwd: dir,
        // No syslog socket: the xenopsd example's messages fall back to stderr.
        env: {XST_SYSLOG_SOCKET: join(dir, 'no-syslog-here')},
      })
    const libxl = await run(examples[0])
    expect(libxl.code, libxl.stderr).toBe(0)
    expect(libxl.stdout + libxl.stderr).toBe('')
    expect(readFileSync(join(dir, 'new.save')).equals(vectorBytes('legacy', 'hvm64-xl-physmap.libxl.v2.gz'))).toBe(true)
    const xenopsd = await run(examples[1])
    expect(xenopsd.code, xenopsd.stderr).toBe(0)
    expect(xenopsd.stdout).toBe('')
    expect(xenopsd.stderr).toContain('converted fd 3 -> fd 4 (libxc v3 stream, legacy-converted)')
    expect(readFileSync(join(dir, 'new.libxc')).equals(xs.libxc)).toBe(true)
    // From the stream alone (as xenopsd passes it), the same bytes.
    writeFileSync(join(dir, 'old.img'), xs.legacy)
    const bare = await run(examples[1])
    expect(bare.code, bare.stderr).toBe(0)
    expect(readFileSync(join(dir, 'new.libxc')).equals(xs.libxc)).toBe(true)
  })
})

/**
 * A stand-in syslog: a fake `logger` first on PATH that records its
 * arguments and the lines it is given, and a socket file for
 * XST_SYSLOG_SOCKET (xst only uses syslog when the socket is there).
 */
async function fakeSyslog(script?: string): Promise<{env: Record<string, string>; socket: string; log(): string; close(): void}> {
  const dir = tempDir()
  const log = join(dir, 'log')
  writeFileSync(join(dir, 'logger'), script ?? `#!/bin/sh\n{ printf 'ARGS %s\\n' "$*"; sed 's/^/LINE /'; } >> "${log}"\n`, {mode: 0o755})
  const socket = join(dir, 'log.sock')
  const server = net.createServer().listen(socket)
  await once(server, 'listening')
  return {
    env: {PATH: `${dir}:${process.env.PATH}`, XST_SYSLOG_SOCKET: socket},
    socket,
    log: () => (existsSync(log) ? readFileSync(log, 'utf8') : ''),
    close: () => server.close(),
  }
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

// XenServer's xenopsd (suspend_image.ml) reads the 15-byte signature of a
// legacy suspend image, runs the helper as below with no --format (so Xen's
// script writes libxc) and --skip-qemu (the image ends after the HVM
// context as far as the helper is concerned), reads the libxc stream from
// the pipe, and then reads "QemuDeviceModelRecord\n" + BE u32 length + qemu
// state from the same input descriptor itself.
const XENOPSD_ARGS = ['convert', '--in', '3', '--out', '4', '--width', '32', '--skip-qemu', '--guest-type', 'hvm', '--syslog', '--verbose']

describe('helper interface: as xenopsd runs it', () => {
  it('file: the exact libxc stream, nothing printed (-v goes to syslog), and the qemu record left to read from the descriptor', async () => {
    const xs = await xenserverImage()
    const inFd = openSync(tempFile('suspend.img', xs.file), 'r')
    const sys = await fakeSyslog()
    try {
      const sig = Buffer.alloc(XS_SIGNATURE.length)
      readSync(inFd, sig, 0, sig.length, null) // xenopsd reads the signature
      expect(sig.equals(XS_SIGNATURE)).toBe(true)
      const out = fifo()
      const outFd = openSync(out.path, 'w')
      const got = drain(out.readFd)
      const r = await xst(XENOPSD_ARGS, [inFd, outFd], {closeAfterSpawn: [outFd], env: sys.env})
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toBe('')
      expect(r.stderr).toBe('')
      expect((await got).equals(xs.libxc)).toBe(true)
      expect(offsetOf(inFd)).toBe(xs.file.length - xs.qemuRecord.length)
      // What xenopsd reads next, from its own copy of the descriptor: exactly the qemu record.
      expect(readRest(inFd).equals(xs.qemuRecord)).toBe(true)
      const log = sys.log()
      expect(log).toContain(`ARGS -t xst -p user.info -u ${sys.socket}\n`)
      expect(log).toContain('LINE converting fd 3: legacy HVM, 32-bit toolstack, to a libxc stream on fd 4\n')
      expect(log).toContain('LINE converted fd 3 -> fd 4 (libxc v3 stream, legacy-converted)\n')
    } finally {
      closeSync(inFd)
      sys.close()
    }
  })

  for (const kind of ['pipe', 'socket'] as const) {
    it(`${kind}: the exact libxc stream, and the qemu record left in the ${kind} for xenopsd to read`, async () => {
      const xs = await xenserverImage()
      const dir = tempDir()
      const img = join(dir, 'suspend.img')
      writeFileSync(img, xs.file)
      const rest = join(dir, 'rest')
      const out = fifo()
      const got = drain(out.readFd)
      const sys = await fakeSyslog()
      // The reader (sh) holds the input on stdin: it reads the signature, hands it to
      // xst as descriptor 3, then reads on itself. Exit 9 if the input is not the kind meant.
      const check = kind === 'pipe' ? 'test -p /dev/stdin' : 'test -S /dev/stdin'
      const reader = `{ ${check} || exit 9; dd bs=15 count=1 iflag=fullblock of=/dev/null status=none && "$NODE" "$BIN" ${XENOPSD_ARGS.join(' ')} 3<&0 4>"$FIFO" </dev/null; rc=$?; cat > "$REST"; exit $rc; }`
      // A pipe made by the shell; or the socket node gives a child's stdin.
      const script = kind === 'pipe' ? `cat "$IMG" | ${reader}` : reader
      try {
        const r = await spawnWith('sh', ['-c', script], [], {
          env: {...sys.env, IMG: img, NODE: process.execPath, BIN, FIFO: out.path, REST: rest},
          input: kind === 'socket' ? xs.file : undefined,
        })
        expect(r.code, r.stderr).toBe(0)
        expect(r.stdout + r.stderr).toBe('')
        expect((await got).equals(xs.libxc)).toBe(true)
        expect(readFileSync(rest).equals(xs.qemuRecord)).toBe(true)
        expect(sys.log()).toContain('LINE converted fd 3 -> fd 4 (libxc v3 stream, legacy-converted)\n')
      } finally {
        sys.close()
      }
    })
  }
})

// --syslog: through `logger` when the socket is there; otherwise on stderr,
// without complaint about syslog.
describe('helper interface: --syslog', () => {
  const cut = () => {
    const whole = vectorBytes('legacy', 'pv64-basic.legacy.gz')
    return tempFile('cut.legacy', whole.subarray(0, 6000))
  }

  it('an error, a warning and a usage error go to syslog at err/warning priority, not to stderr', async () => {
    const sys = await fakeSyslog()
    try {
      const bad = await xst(['convert', '--in', cut(), '--out', join(tempDir(), 'o'), '--syslog'], [], {env: sys.env})
      expect(bad.code).toBe(1)
      expect(bad.stdout + bad.stderr).toBe('')
      expect(sys.log()).toMatch(new RegExp(`ARGS -t xst -p user.err -u ${sys.socket}\nLINE xst convert: stream ends at byte 6000 inside `))

      const noqemu = tempFile('noqemu.legacy', vectorBytes('legacy', 'hvm64-noqemu.legacy.gz'))
      const warned = await xst(['convert', '--in', noqemu, '--out', join(tempDir(), 'o'), '--format', 'libxl', '--syslog'], [], {env: sys.env})
      expect(warned.code).toBe(0)
      expect(warned.stdout + warned.stderr).toBe('')
      expect(sys.log()).toMatch(/ARGS -t xst -p user\.warning -u \S+\nLINE warning: the HVM image has no device-model \(qemu\) record; /)

      const usage = await xst(['convert', '--in', '0', '--out', '1', '--width', '48', '--syslog'], [], {env: sys.env})
      expect(usage.code).toBe(2)
      expect(usage.stdout + usage.stderr).toBe('')
      expect(sys.log()).toMatch(/ARGS -t xst -p user\.err -u \S+\nLINE xst convert: Expected --width=48 to be one of: 32, 64\n/)
    } finally {
      sys.close()
    }
  })

  it('falls back to stderr when the syslog socket is missing, logger is missing, or logger fails', async () => {
    const failing = await fakeSyslog('#!/bin/sh\ncat >/dev/null\nexit 1\n')
    const noLogger = await fakeSyslog()
    const cases: Array<[string, Record<string, string>]> = [
      ['no socket', {XST_SYSLOG_SOCKET: join(tempDir(), 'nothing-here')}],
      ['no logger', {XST_SYSLOG_SOCKET: noLogger.socket, PATH: tempDir()}],
      ['logger fails', failing.env],
    ]
    try {
      for (const [what, env] of cases) {
        const r = await xst(['convert', '--in', cut(), '--out', join(tempDir(), 'o'), '--syslog'], [], {env})
        expect(r.code, what).toBe(1)
        expect(r.stderr, what).toMatch(/^xst convert: stream ends at byte 6000 inside [^\n]*\n$/)
        expect(r.stdout, what).toBe('')
      }
    } finally {
      failing.close()
      noLogger.close()
    }
  })

  it.skipIf(!hasCommand('logger') || !hasCommand('python3'))('reaches a real syslog socket through util-linux logger (XST_SYSLOG_SOCKET)', async () => {
    const socket = join(tempDir(), 'dev-log')
    // A datagram socket like /dev/log, which node cannot create: a few lines of Python print what arrives.
    const server = spawn(
      'python3',
      [
        '-u',
        '-c',
        ['import socket, sys', 's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)', 's.bind(sys.argv[1])', 'print("ready")', 'while True: print(s.recv(65536).decode("utf-8", "replace"))'].join(
          '\n',
        ),
        socket,
      ],
      {stdio: ['ignore', 'pipe', 'inherit']},
    )
    let received = ''
    server.stdout.on('data', (d) => (received += d))
    try {
      const deadline = Date.now() + 20_000
      while (!received.includes('ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      const noqemu = tempFile('noqemu.legacy', vectorBytes('legacy', 'hvm64-noqemu.legacy.gz'))
      const r = await xst(['convert', '--in', noqemu, '--out', join(tempDir(), 'o'), '--format', 'libxl', '--syslog'], [], {env: {XST_SYSLOG_SOCKET: socket}})
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout + r.stderr).toBe('')
      while (!received.includes('warning:') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      // <12>: facility user (1) * 8 + priority warning (4); then the ident.
      expect(received).toMatch(/^<12>.*\bxst: warning: the HVM image has no device-model \(qemu\) record; /m)
    } finally {
      server.kill()
    }
  })
})
