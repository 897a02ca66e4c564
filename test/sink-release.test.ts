// The sink's release callbacks against the reader's buffer recycling. A
// conversion hands each page batch's buffer to the sink by reference and,
// when the sink releases it, back to the reader, which fills it with the
// next batch. A buffer released while still queued for writing would have
// its pages replaced before they are written: a silent corruption. Here each
// released buffer is poisoned at once and then recycled, so any byte the
// sink took from it after the release shows up in the output.
import {closeSync, fstatSync, openSync, readFileSync} from 'node:fs'
import * as net from 'node:net'
import {join} from 'node:path'
import {describe, expect, test} from 'vitest'
import {ByteReader} from '../src/io/reader.js'
import {type ByteSink, FdSink, HoldingSink, MemorySink} from '../src/io/sink.js'
import {BufferSource} from '../src/io/source.js'
import {fillBytes} from './builders/legacy.js'
import {tempDir} from './helpers/cli.js'

const PAGE = 4096
/** Pages per batch: small ones gather in the sink, large ones go out at once, and buffers of the same size are reused. */
const BATCHES = [64, 1, 3, 1024, 1024, 17, 64, 1024, 2, 256, 1024, 1, 1, 512, 1024, 64]

interface Run {
  expected: Buffer
  /** Batch index of each release, in the order they came. */
  released: number[]
  /** Distinct memory blocks the batches' buffers lived in. */
  blocks: number
}

/**
 * Read every batch's pages through a ByteReader and write a small header and
 * then the pages to `sink`, as a conversion does; on release, poison the
 * buffer and hand it back to the reader. `atRelease` sees each release.
 */
async function writeBatches(sink: ByteSink, atRelease: (batch: number, end: number) => void = () => {}): Promise<Run> {
  const pages = fillBytes(11, BATCHES.reduce((n, b) => n + b, 0) * PAGE)
  const reader = new ByteReader(new BufferSource(pages))
  const expected: Buffer[] = []
  const released: number[] = []
  const blocks = new Set<ArrayBufferLike>()
  let written = 0
  for (const [i, count] of BATCHES.entries()) {
    const head = Buffer.alloc(16, i + 1)
    const data = await reader.read(count * PAGE, 'page data')
    blocks.add(data.buffer)
    expected.push(head, Buffer.from(data))
    await sink.write(head)
    written += head.length + data.length
    const end = written
    await sink.write(data, () => {
      released.push(i)
      atRelease(i, end)
      data.fill(0xee)
      reader.recycle(data)
    })
  }
  await sink.flush()
  await reader.close()
  return {expected: Buffer.concat(expected), released, blocks: blocks.size}
}

const inOrder = BATCHES.map((_, i) => i)

describe('a released page buffer is never still waiting to be written', () => {
  test('FdSink on a file: every batch written intact, released in order, and only once the file holds it', async () => {
    const path = join(tempDir(), 'out')
    const fd = openSync(path, 'w')
    try {
      const run = await writeBatches(new FdSink(fd, 'out'), (batch, end) => {
        expect(fstatSync(fd).size, `batch ${batch} released before it was written`).toBeGreaterThanOrEqual(end)
      })
      expect(run.released).toEqual(inOrder)
      // The reader did reuse buffers: the same memory held several batches.
      expect(run.blocks).toBeLessThan(BATCHES.length)
      expect(readFileSync(path).equals(run.expected)).toBe(true)
    } finally {
      closeSync(fd)
    }
  })

  test('FdSink on a socket: the bytes the other end receives are every batch intact', async () => {
    const sockPath = join(tempDir(), 'sock')
    const received: Buffer[] = []
    let ended!: () => void
    const done = new Promise<void>((resolve) => (ended = resolve))
    const server = net.createServer((conn) => {
      conn.on('data', (d) => received.push(d))
      conn.on('end', ended)
    })
    await new Promise<void>((resolve) => server.listen(sockPath, resolve))
    try {
      const socket = net.connect(sockPath)
      await new Promise<void>((resolve) => socket.once('connect', resolve))
      const sink = new FdSink(-1, 'socket', socket)
      const run = await writeBatches(sink)
      await sink.close()
      await done
      expect(run.released).toEqual(inOrder)
      expect(Buffer.concat(received).equals(run.expected)).toBe(true)
    } finally {
      server.close()
    }
  })

  test('HoldingSink over FdSink (what convert writes through): held buffers are released only after they are written', async () => {
    const path = join(tempDir(), 'out')
    const fd = openSync(path, 'w')
    try {
      const sink = new HoldingSink(new FdSink(fd, 'out'))
      // The first batches are held (not released, not written) until open().
      const held: number[] = []
      const head = Buffer.from('held header')
      const first = Buffer.alloc(PAGE, 0x42)
      await sink.write(head)
      await sink.write(first, () => held.push(0))
      expect(held).toEqual([])
      expect(fstatSync(fd).size).toBe(0)
      await sink.open()
      const run = await writeBatches(sink, (batch, end) => {
        expect(fstatSync(fd).size, `batch ${batch} released before it was written`).toBeGreaterThanOrEqual(head.length + first.length + end)
      })
      expect(held).toEqual([0])
      expect(run.released).toEqual(inOrder)
      expect(readFileSync(path).equals(Buffer.concat([head, first, run.expected]))).toBe(true)
    } finally {
      closeSync(fd)
    }
  })

  test('MemorySink copies and releases at once: later changes to the buffer do not reach the output', async () => {
    const sink = new MemorySink()
    const run = await writeBatches(sink)
    expect(run.released).toEqual(inOrder)
    expect(sink.data.equals(run.expected)).toBe(true)
  })

  test('abandon() releases what is still pending without writing it', async () => {
    const path = join(tempDir(), 'out')
    const fd = openSync(path, 'w')
    try {
      const sink = new FdSink(fd, 'out')
      const released: number[] = []
      // Small pieces: they wait in the sink for more.
      for (let i = 0; i < 3; i++) await sink.write(Buffer.alloc(100, i), () => released.push(i))
      expect(released).toEqual([])
      expect(await sink.abandon()).toBe(0)
      expect(released).toEqual([0, 1, 2])
      expect(fstatSync(fd).size).toBe(0)
    } finally {
      closeSync(fd)
    }
  })
})
